// How a workspace page talks to the server about the work: the autosaved draft (autosave.js,
// with the conflict dialog), the time on the item (time_on_item.js), and the two writes that
// first save both: a change of the annotator's path, and the submit.
import { createAutosave, readCookie } from "../autosave.js";
import { startTimeOnItem } from "../time_on_item.js";
import { setupConflictDialog } from "./conflict.js";
import { root, showError, showStatus } from "./page.js";

function formatDuration(ms) {
  const seconds = Math.floor(ms / 1000);
  const minutes = Math.floor(seconds / 60);
  return `${minutes}:${String(seconds % 60).padStart(2, "0")}`;
}

/** The annotator's time on the item, counted by the server from the page's flushes. */
export function startTimer() {
  const display = document.getElementById("time-spent");
  return startTimeOnItem({
    url: root.dataset.timeUrl,
    initialMs: Number(root.dataset.timeSpent || 0),
    onTick: (ms) => display && (display.textContent = formatDuration(ms)),
  });
}

/** The page's autosaved draft: `getPayload()` is what is saved, `applyDraft(payload)` shows a
 * restored one, `describe(current)` the other version in a conflict. Returns
 * {autosave, onConflict}. */
export function startAutosave({ getPayload, applyDraft, describe }) {
  let autosave = null;
  const onConflict = setupConflictDialog(describe, () => autosave);
  autosave = createAutosave({
    url: root.dataset.saveUrl,
    storageKey: root.dataset.storageKey,
    version: Number(root.dataset.version),
    getPayload,
    applyDraft,
    onConflict,
    onStatus: showStatus,
  });
  return { autosave, onConflict };
}

async function postJson(url, body) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": readCookie("csrftoken") },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json().catch(() => ({})) };
}

/** Posts `body` to `url` once the edits and the time are saved, at the draft's version.
 * Returns the answer's body when the server took it; on a conflict opens the dialog, on any
 * other refusal shows `refused` (the server's own error first) and returns null. */
async function postSaved({ url, autosave, time, onConflict, body, refused }) {
  showError(null);
  await autosave.flush();
  await time.flush();
  const { status, body: answer } = await postJson(url, { ...body, version: autosave.version });
  if (status === 200 || status === 202) return answer;
  if (status === 409) {
    showStatus("conflict", answer);
    onConflict(answer);
  } else {
    showError(answer.error ?? `The server answered ${status}; ${refused}.`);
  }
  return null;
}

/** A change of the annotator's path (choose, write, undo, continue); reloads when done. */
export async function postPathChange(url, { autosave, time, onConflict }, body) {
  const answer = await postSaved({ url, autosave, time, onConflict, body, refused: "nothing was changed" });
  if (answer === null) return;
  autosave.discardDraft();
  await time.flush();
  window.location.reload();
}

/** Submits the work; returns the server's answer once it is final, else null. */
export async function submitWork({ autosave, time, onConflict }, body) {
  const answer = await postSaved({
    url: root.dataset.submitUrl,
    autosave,
    time,
    onConflict,
    body,
    refused: "your draft is kept",
  });
  if (answer === null) return null;
  autosave.discardDraft();
  time.stop();
  return answer;
}

/** Reloads the page when the model's continuation is ready (the wait counted as time on the
 * item); says so if it failed. */
export function watchContinuation(time) {
  const banner = document.getElementById("continuing");
  if (!banner) return;
  time.waitForModel();
  const poll = async () => {
    const response = await fetch(banner.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    const body = await response.json().catch(() => ({}));
    if (body.status === "succeeded") {
      await time.flush();
      window.location.reload();
    } else if (body.status === "failed" || body.status === "cancelled") {
      time.waitForModel(0);
      banner.className = "message error";
      banner.textContent = `The model could not continue: ${body.error ?? body.status}`;
    } else {
      setTimeout(poll, 2000);
    }
  };
  setTimeout(poll, 1000);
}
