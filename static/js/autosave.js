// "Never lose work": a local draft on every change, debounced saves with optimistic versioning.
//
// The server contract (docs/frontend.md): the request body is the payload plus "version", the
// version the edit started from. 200 -> {"version": N, ...}; 409 -> {"error": "...",
// "current": {...}, "version": N}. Network failures and 502/503/504 are retried with backoff.

const RETRYABLE_STATUSES = new Set([502, 503, 504]);

/** The value of cookie `name`, or "" (Django's CSRF cookie is `csrftoken`). */
export function readCookie(name) {
  const prefix = `${name}=`;
  const found = document.cookie.split("; ").find((part) => part.startsWith(prefix));
  return found ? decodeURIComponent(found.slice(prefix.length)) : "";
}

/**
 * Statuses passed to onStatus(status, detail):
 *   "restored"  a local draft was found and applied (detail: {draft})
 *   "pending"   a change is stored locally, the save is scheduled
 *   "saving"    a request is in flight
 *   "saved"     the server accepted it (detail: {version, response})
 *   "retrying"  the network failed; next try in detail.delayMs (detail: {attempt, delayMs})
 *   "conflict"  409: someone else saved first; saving pauses until setVersion() (detail: body)
 *   "error"     any other refusal; the draft stays local (detail: {status, body})
 */
export function createAutosave({
  url,
  getPayload,
  version,
  onConflict = () => {},
  onStatus = () => {},
  storageKey,
  applyDraft = null,
  method = "PUT",
  debounceMs = 800,
  retryBaseMs = 1000,
  retryMaxMs = 30000,
}) {
  let currentVersion = version;
  let timer = null;
  let inFlight = false;
  let changedDuringFlight = false;
  let paused = false;
  let attempt = 0;

  const report = (status, detail = {}) => onStatus(status, detail);

  function storeDraft() {
    const draft = { payload: getPayload(), version: currentVersion, savedAt: Date.now() };
    try {
      localStorage.setItem(storageKey, JSON.stringify(draft));
    } catch {
      // Storage full or disabled: the server save still runs.
    }
  }

  function readDraft() {
    try {
      return JSON.parse(localStorage.getItem(storageKey) ?? "null");
    } catch {
      return null;
    }
  }

  function schedule(delayMs) {
    clearTimeout(timer);
    timer = setTimeout(save, delayMs);
  }

  /** Call on every edit: stores the draft now and schedules a save. */
  function changed() {
    storeDraft();
    if (inFlight) changedDuringFlight = true;
    if (paused) return;
    attempt = 0;
    report("pending");
    schedule(debounceMs);
  }

  async function save() {
    clearTimeout(timer);
    timer = null;
    if (inFlight) {
      changedDuringFlight = true;
      return;
    }
    if (paused) return;
    inFlight = true;
    changedDuringFlight = false;
    report("saving");
    let response;
    try {
      response = await fetch(url, {
        method,
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json",
          "X-CSRFToken": readCookie("csrftoken"),
        },
        body: JSON.stringify({ ...getPayload(), version: currentVersion }),
      });
    } catch {
      inFlight = false;
      retryLater();
      return;
    }
    const body = await response.json().catch(() => null);
    inFlight = false;
    if (response.ok) {
      attempt = 0;
      currentVersion = body?.version ?? currentVersion;
      if (changedDuringFlight) {
        storeDraft(); // the newer edit now builds on the version just saved
        schedule(debounceMs);
      } else {
        localStorage.removeItem(storageKey);
      }
      report("saved", { version: currentVersion, response: body });
    } else if (response.status === 409) {
      paused = true;
      report("conflict", body ?? {});
      onConflict(body ?? {});
    } else if (RETRYABLE_STATUSES.has(response.status)) {
      retryLater();
    } else {
      report("error", { status: response.status, body });
    }
  }

  function retryLater() {
    attempt += 1;
    const delayMs = Math.min(retryMaxMs, retryBaseMs * 2 ** (attempt - 1));
    report("retrying", { attempt, delayMs });
    schedule(delayMs);
  }

  /** After a conflict: continue from `newVersion` (e.g. "keep mine" saves over theirs). */
  function setVersion(newVersion) {
    currentVersion = newVersion;
    paused = false;
    storeDraft();
  }

  /** Forgets the local draft (e.g. "take theirs") and stops any scheduled save. */
  function discardDraft() {
    clearTimeout(timer);
    timer = null;
    localStorage.removeItem(storageKey);
  }

  /** Saves now instead of waiting for the debounce. */
  function flush() {
    if (timer !== null || readDraft() !== null) return save();
    return Promise.resolve();
  }

  const onOnline = () => {
    if (attempt > 0) save();
  };
  window.addEventListener("online", onOnline);

  const draft = readDraft();
  if (draft && applyDraft) {
    currentVersion = draft.version ?? currentVersion; // the draft was written against this one
    applyDraft(draft.payload);
    report("restored", { draft });
    schedule(debounceMs);
  }

  return {
    changed,
    flush,
    setVersion,
    discardDraft,
    hasDraft: () => readDraft() !== null,
    get version() {
      return currentVersion;
    },
    destroy() {
      clearTimeout(timer);
      window.removeEventListener("online", onOnline);
    },
  };
}
