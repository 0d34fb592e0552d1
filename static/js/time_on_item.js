// Time on an item: the page counts the annotator's time on it and hands it to the server in
// flushes; the server adds them up, bounded (annotation/workspace/services/time_on_item.py).
// So a reload, a second tab or a wait for the model's continuation loses nothing and counts
// nothing twice.
//
// Counted: time the page is visible and the annotator did something in the last minute, or
// waits for the model (waitForModel). Flushed: every heartbeatMs, when the page is hidden or
// left (pagehide: a reload too, sent with keepalive), and on flush() (before a path change, a
// continuation request, a reload, a submit).
import { readCookie } from "./autosave.js";

const ACTIVITY = ["keydown", "pointerdown", "input", "scroll"];
const MAX_TICK_MS = 5000; // a longer gap between ticks is a sleeping machine, not work

export function startTimeOnItem({ url, initialMs = 0, onTick = () => {}, heartbeatMs = 60_000, idleMs = 60_000 }) {
  let total = initialMs; // what the page shows: the server's total when loaded, plus what it counted
  let pending = 0; // counted, not yet handed to the server
  let lastTick = Date.now();
  let lastActivity = Date.now();
  let waitingUntil = 0;
  let stopped = false;

  for (const type of ACTIVITY) {
    document.addEventListener(type, () => (lastActivity = Date.now()), { passive: true, capture: true });
  }

  function tick() {
    const now = Date.now();
    const step = Math.min(Math.max(0, now - lastTick), MAX_TICK_MS);
    lastTick = now;
    if (stopped || document.hidden) return;
    if (now - lastActivity < idleMs || now < waitingUntil) {
      pending += step;
      total += step;
      onTick(total);
    }
  }

  async function flush() {
    tick();
    const elapsed = Math.round(pending);
    if (elapsed <= 0) return;
    pending = 0;
    try {
      await fetch(url, {
        method: "POST",
        keepalive: true, // survives the page's unload
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": readCookie("csrftoken") },
        body: JSON.stringify({ elapsed_ms: elapsed }),
      });
    } catch {
      pending += elapsed; // offline: handed over with the next flush
    }
  }

  const ticking = setInterval(tick, 1000);
  const beating = setInterval(flush, heartbeatMs);
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) flush();
    else lastTick = Date.now(); // hidden time is not counted
  });
  window.addEventListener("pagehide", () => flush());
  onTick(total);

  return {
    flush,
    /** Counts on while the model continues the path (at most `forMs` from now). */
    waitForModel(forMs = 10 * 60_000) {
      tick();
      waitingUntil = Date.now() + forMs;
    },
    /** Submitted: counts no more (flush before the submit). */
    stop() {
      stopped = true;
      pending = 0;
      clearInterval(ticking);
      clearInterval(beating);
    },
    get ms() {
      return total;
    },
  };
}
