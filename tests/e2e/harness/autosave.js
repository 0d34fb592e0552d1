// The autosave harness page's script (a file: the CSP allows no inline script).
import { createAutosave } from "/static/js/autosave.js";

// Query parameters shorten the timings for tests: ?debounce=50&retry=200&version=1
const params = new URLSearchParams(location.search);
const text = document.getElementById("text");
const seen = [];
let conflict = null;
let autosave = null; // onStatus("restored") runs before createAutosave returns
autosave = createAutosave({
  url: "/api/autosave",
  storageKey: "harness-draft",
  version: Number(params.get("version") ?? 1),
  debounceMs: Number(params.get("debounce") ?? 800),
  retryBaseMs: Number(params.get("retry") ?? 1000),
  getPayload: () => ({ text: text.value }),
  applyDraft: (payload) => {
    text.value = payload.text;
  },
  onConflict: (body) => {
    conflict = body;
    document.getElementById("conflict").textContent = JSON.stringify(body);
  },
  onStatus: (status) => {
    seen.push(status);
    document.getElementById("status").textContent = status;
    document.getElementById("log").textContent = seen.join(" ");
    document.getElementById("version").textContent = String(autosave?.version ?? "");
    const toast = document.getElementById("toast");
    toast.hidden = false;
    toast.dataset.status = status;
    toast.textContent = status;
  },
});
document.getElementById("version").textContent = String(autosave.version);
text.addEventListener("input", () => autosave.changed());
document.getElementById("keep-mine").addEventListener("click", () => {
  autosave.setVersion(conflict.version);
  autosave.changed();
});
