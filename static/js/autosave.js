// "Never lose work": a local draft on every change, debounced saves with optimistic versioning.
//
// The server contract (docs/frontend.md): the request body is the payload plus "version", the
// version the edit started from. 200 -> {"version": N, ...}; 409 -> {"error": "...",
// "current": {...}, "version": N}. Network failures and 502/503/504 are retried with backoff.
//
// A page left with a save pending (a reload, a closed tab) sends it as it goes (pagehide, with
// keepalive), and keeps the local draft: the next page restores it. That save may land after
// the next page read the version, so a 409 whose stored work is a payload this page sent or
// restored is its own earlier save: the page builds on that version and saves again, once.

const RETRYABLE_STATUSES = new Set([502, 503, 504]);

/** JSON with every object's keys sorted: equal payloads give equal text (PostgreSQL's jsonb
 * gives the keys back in its own order). */
function canonical(value) {
  return JSON.stringify(value, (_key, item) =>
    item && typeof item === "object" && !Array.isArray(item)
      ? Object.fromEntries(Object.keys(item).sort().map((key) => [key, item[key]]))
      : item,
  );
}

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
  let retriedOwn = false; // a 409 from our own earlier save was answered by saving again
  const ownPayloads = new Set(); // canonical() of every payload this page sent or restored

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
      response = await send();
    } catch {
      inFlight = false;
      retryLater();
      return;
    }
    const body = await response.json().catch(() => null);
    inFlight = false;
    if (response.ok) {
      attempt = 0;
      retriedOwn = false;
      currentVersion = body?.version ?? currentVersion;
      if (changedDuringFlight) {
        storeDraft(); // the newer edit now builds on the version just saved
        schedule(debounceMs);
      } else {
        localStorage.removeItem(storageKey);
      }
      report("saved", { version: currentVersion, response: body });
    } else if (response.status === 409 && isOwnSave(body)) {
      retriedOwn = true;
      currentVersion = body.version;
      if (!changedDuringFlight && canonical(body.current) === canonical(getPayload())) {
        retriedOwn = false;
        localStorage.removeItem(storageKey); // the server has exactly this: nothing to save
        report("saved", { version: currentVersion, response: body });
      } else {
        storeDraft();
        await save();
      }
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

  /** The save request of the current payload at the current version. */
  function send(options = {}) {
    const payload = getPayload();
    ownPayloads.add(canonical(payload));
    return fetch(url, {
      method,
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRFToken": readCookie("csrftoken"),
      },
      body: JSON.stringify({ ...payload, version: currentVersion }),
      ...options,
    });
  }

  /** A conflict with work this page (or the page before a reload) saved itself. */
  function isOwnSave(body) {
    return (
      !retriedOwn &&
      Number.isInteger(body?.version) &&
      !body.locked &&
      body.current != null &&
      ownPayloads.has(canonical(body.current))
    );
  }

  /** The page is left (reload, navigation, closed tab): a pending save goes now, with
   * keepalive so that it outlives the page; the local draft stays for the next page. A save
   * already in flight is on its way; a paused one waits for the conflict's answer. */
  function sendOnLeave() {
    if (timer === null || paused || inFlight) return;
    clearTimeout(timer);
    timer = null;
    send({ keepalive: true }).catch(() => {}); // e.g. over keepalive's 64 KiB: the draft stays
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
  window.addEventListener("pagehide", sendOnLeave);

  const draft = readDraft();
  if (draft && applyDraft) {
    currentVersion = draft.version ?? currentVersion; // the draft was written against this one
    ownPayloads.add(canonical(draft.payload)); // the page before may have sent it as it left
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
      window.removeEventListener("pagehide", sendOnLeave);
    },
  };
}
