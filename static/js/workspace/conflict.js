// The conflict dialog: someone saved this work elsewhere; the annotator keeps theirs or takes
// the other version. Final work (submitted or skipped) has nothing to choose: read-only.
import { makeReadOnly, showError } from "./page.js";

/** Wires the dialog's buttons; returns the handler of a 409 body. `describe(current)` gives
 * the other version as lines of text. */
export function setupConflictDialog(describe, getAutosave) {
  const dialog = document.getElementById("conflict-dialog");
  document.getElementById("conflict-keep").addEventListener("click", () => {
    const autosave = getAutosave();
    autosave.setVersion(Number(dialog.dataset.version));
    autosave.changed();
    dialog.close();
  });
  document.getElementById("conflict-take").addEventListener("click", () => {
    getAutosave().discardDraft();
    window.location.reload();
  });
  return (body) => {
    if (body.locked) {
      showError(body.error);
      makeReadOnly();
      return;
    }
    dialog.dataset.version = body.version;
    document.getElementById("conflict-message").textContent = body.error ?? "Someone saved this work elsewhere.";
    const list = document.getElementById("conflict-theirs");
    list.replaceChildren(
      ...describe(body.current ?? {}).map((line) => {
        const item = document.createElement("li");
        item.textContent = line; // their text, shown as text
        return item;
      }),
    );
    if (!dialog.open) dialog.showModal();
  };
}
