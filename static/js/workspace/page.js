// What both workspace pages share of the page itself: its root element and data, the save
// status toast, the error box, pressed buttons, and the read-only mode of final work.

export const root = document.getElementById("workspace");

const STATUS_TEXT = {
  restored: () => "Restored your unsaved draft",
  pending: () => "Unsaved changes…",
  saving: () => "Saving…",
  saved: () => "All changes saved",
  retrying: (d) => `Not saved: network problem. Retrying in ${Math.round(d.delayMs / 1000)} s (attempt ${d.attempt})`,
  conflict: (d) => (d.locked ? `Not saved: ${d.error}` : "Saved elsewhere: choose which version to keep"),
  error: (d) => `Not saved: ${d.body?.error ?? `server answered ${d.status}`}`,
};

/** The JSON the template put in <script id="..."> by json_script, or `fallback`. */
export function readJson(id, fallback) {
  const element = document.getElementById(id);
  return element ? JSON.parse(element.textContent) : fallback;
}

export function showStatus(status, detail) {
  const toast = document.getElementById("save-status");
  toast.hidden = false;
  toast.dataset.status = status;
  toast.textContent = STATUS_TEXT[status]?.(detail ?? {}) ?? status;
}

export function showError(message) {
  const box = document.getElementById("submit-error");
  box.hidden = !message;
  box.textContent = message ?? "";
}

export function setPressed(buttons, predicate) {
  for (const button of buttons) button.setAttribute("aria-pressed", String(predicate(button)));
}

export const readOnly = () => root.dataset.readOnly === "true";

/** Work that is final: every control off (the server refuses writes all the same). */
export function makeReadOnly(statusText = null) {
  root.dataset.readOnly = "true";
  try {
    localStorage.removeItem(root.dataset.storageKey); // nothing here can be saved any more
  } catch {
    // storage disabled
  }
  for (const control of root.querySelectorAll("button, select")) {
    if (!control.closest("dialog")) control.disabled = true;
  }
  for (const field of root.querySelectorAll("textarea, input")) field.readOnly = true;
  for (const form of root.querySelectorAll(".write-form, #next-step, .path-actions")) form.hidden = true;
  const pill = document.getElementById("status-pill");
  if (pill && statusText) {
    pill.textContent = statusText;
    pill.dataset.status = "submitted";
  }
}
