// Page glue of the annotator workspace: the step-grading page and the thought-record editor.
//
// State lives in one object per page, is saved by autosave.js (versioned, retried, kept in
// localStorage until the server has it) and shown by re-applying it to the markup. Keys are
// declared on the buttons (keys.js); user text is rendered by render.js, never as raw HTML.
import { createAutosave, readCookie } from "./autosave.js";
import { activateScope } from "./keys.js";
import { renderToHtml } from "./render.js";
import { startTimeOnItem } from "./time_on_item.js";

const root = document.getElementById("workspace");

const STATUS_TEXT = {
  restored: () => "Restored your unsaved draft",
  pending: () => "Unsaved changes…",
  saving: () => "Saving…",
  saved: () => "All changes saved",
  retrying: (d) => `Not saved: network problem. Retrying in ${Math.round(d.delayMs / 1000)} s (attempt ${d.attempt})`,
  conflict: (d) => (d.locked ? `Not saved: ${d.error}` : "Saved elsewhere: choose which version to keep"),
  error: (d) => `Not saved: ${d.body?.error ?? `server answered ${d.status}`}`,
};

function readJson(id, fallback) {
  const element = document.getElementById(id);
  return element ? JSON.parse(element.textContent) : fallback;
}

function formatDuration(ms) {
  const seconds = Math.floor(ms / 1000);
  const minutes = Math.floor(seconds / 60);
  return `${minutes}:${String(seconds % 60).padStart(2, "0")}`;
}

/** The annotator's time on the item, counted by the server from the page's flushes. */
function startTimer() {
  const display = document.getElementById("time-spent");
  return startTimeOnItem({
    url: root.dataset.timeUrl,
    initialMs: Number(root.dataset.timeSpent || 0),
    onTick: (ms) => display && (display.textContent = formatDuration(ms)),
  });
}

function showStatus(status, detail) {
  const toast = document.getElementById("save-status");
  toast.hidden = false;
  toast.dataset.status = status;
  toast.textContent = STATUS_TEXT[status]?.(detail ?? {}) ?? status;
}

function setupConflictDialog(describe, getAutosave) {
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
      // Submitted or skipped work is final: nothing to choose, the page becomes read-only.
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

async function postJson(url, body) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": readCookie("csrftoken") },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json().catch(() => ({})) };
}

function setPressed(buttons, predicate) {
  for (const button of buttons) button.setAttribute("aria-pressed", String(predicate(button)));
}

function showError(message) {
  const box = document.getElementById("submit-error");
  box.hidden = !message;
  box.textContent = message ?? "";
}

/** Work that is final: every control off (the server refuses writes all the same). */
function makeReadOnly(statusText = null) {
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

const readOnly = () => root.dataset.readOnly === "true";

/** Posts a change of the annotator's path once their edits and time are saved; reloads on
 * success. */
async function postPathChange(url, autosave, time, body, onConflict) {
  showError(null);
  await autosave.flush();
  await time.flush();
  const { status, body: answer } = await postJson(url, { ...body, version: autosave.version });
  if (status === 200 || status === 202) {
    autosave.discardDraft();
    await time.flush();
    window.location.reload();
  } else if (status === 409) {
    showStatus("conflict", answer);
    onConflict(answer);
  } else {
    showError(answer.error ?? `The server answered ${status}; nothing was changed.`);
  }
}

/** Reloads the page when the model's continuation is ready (the wait counted as time on the
 * item); says so if it failed. */
function watchContinuation(time) {
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

// ---- step grading ----------------------------------------------------------------------

function gradePage() {
  const draft = readJson("draft-data", {});
  const state = { grades: draft.grades ?? {}, finish: draft.finish ?? null };
  const stopAtFirstBad = root.dataset.stopAtFirstBad === "true";
  const endsInAnswer = root.dataset.endsInAnswer !== "false";
  const steps = [...document.querySelectorAll("#steps > li.step")];
  const pathSteps = steps.filter((step) => step.dataset.onPath === "true");
  const finishButtons = [...document.querySelectorAll("#finish-reasons [data-finish]")];
  const gradeOf = (step) => (state.grades[step.dataset.node] ??= { rating: null, unsure: false });
  const positionOf = (step) => Number(step.dataset.position);

  /** Position of the first path step rated -1, or -1. */
  function firstBadPosition() {
    const bad = pathSteps.find((step) => state.grades[step.dataset.node]?.rating === -1);
    return bad ? positionOf(bad) : -1;
  }

  function effectiveFinish() {
    const firstBad = firstBadPosition();
    if (stopAtFirstBad && firstBad !== -1) return "found_error";
    if (state.finish) return state.finish;
    if (firstBad !== -1) return "found_error"; // a bad alternative left behind is no error
    const rated = (s) => [-1, 0, 1].includes(state.grades[s.dataset.node]?.rating) || s.hasAttribute("data-written");
    // a path that states no final answer is not a solution, however well its steps are rated
    return endsInAnswer && pathSteps.length > 0 && pathSteps.every(rated) ? "solution" : null;
  }

  function apply() {
    const firstBad = firstBadPosition();
    for (const step of steps) {
      const grade = state.grades[step.dataset.node] ?? { rating: null, unsure: false };
      if (grade.rating === null || grade.rating === undefined) step.removeAttribute("data-grade");
      else step.dataset.grade = String(grade.rating);
      step.toggleAttribute("data-unsure", Boolean(grade.unsure));
      setPressed(step.querySelectorAll("[data-rating]"), (b) => Number(b.dataset.rating) === grade.rating);
      setPressed(step.querySelectorAll("[data-unsure]"), () => Boolean(grade.unsure));
      const after = stopAtFirstBad && firstBad !== -1 && positionOf(step) > firstBad;
      step.classList.toggle("is-after-first-error", after);
      step.querySelector(".grade-buttons").toggleAttribute("inert", after);
      const extra = step.querySelector(".step-extra");
      if (extra) {
        extra.hidden = grade.rating !== -1;
        const critique = step.querySelector(".critique");
        const correction = step.querySelector(".correction");
        if (document.activeElement !== critique) critique.value = grade.critique ?? "";
        if (document.activeElement !== correction) correction.value = grade.correction ?? "";
      }
    }
    const finish = readOnly() ? null : effectiveFinish();
    if (finish !== null || !readOnly()) setPressed(finishButtons, (b) => b.dataset.finish === finish);
  }

  if (readOnly()) {
    apply();
    makeReadOnly();
    return;
  }
  const time = startTimer();
  const payload = () => ({ grades: state.grades, finish: state.finish });
  let autosave = null;
  const onConflict = setupConflictDialog(
    (current) =>
      pathSteps.map((step) => {
        const grade = current.grades?.[step.dataset.node];
        const rating = grade?.rating === null || grade?.rating === undefined ? "not rated" : grade.rating > 0 ? "+1" : String(grade.rating);
        return `Step ${positionOf(step) + 1}: ${rating}${grade?.unsure ? " (unsure)" : ""}`;
      }),
    () => autosave,
  );
  autosave = createAutosave({
    url: root.dataset.saveUrl,
    storageKey: root.dataset.storageKey,
    version: Number(root.dataset.version),
    getPayload: payload,
    applyDraft: (saved) => {
      state.grades = saved.grades ?? {};
      state.finish = saved.finish ?? null;
      apply();
    },
    onConflict,
    onStatus: showStatus,
  });

  function advanceFrom(step) {
    const next = steps[steps.indexOf(step) + 1];
    if (next && !next.classList.contains("is-after-first-error")) activateScope(next);
  }

  /** Where the project stops at the first error, a -1 on the path clears what follows it. */
  function clearAfter(step) {
    if (!stopAtFirstBad || step.dataset.onPath !== "true") return;
    for (const later of steps) {
      if (positionOf(later) > positionOf(step) && state.grades[later.dataset.node]) {
        state.grades[later.dataset.node] = { rating: null, unsure: false };
      }
    }
  }

  /** What choosing this alternative does to the path, in words. */
  function chooseConsequence(step) {
    const here = positionOf(step);
    const later = pathSteps.map(positionOf).filter((p) => p > here).map((p) => p + 1);
    const dropped = later.length === 0 ? "" : later.length === 1 ? ` and drops step ${later[0]} after it` : ` and drops steps ${later[0]} to ${later.at(-1)} after it`;
    return `Continuing with alternative ${step.dataset.number} replaces step ${here + 1}${dropped}; their grades leave your path until you undo it (z). Press c again to confirm, or move away to keep your path.`;
  }

  const changePath = (body) => postPathChange(root.dataset.pathUrl, autosave, time, body, onConflict);

  // Undo: the trace's own steps from where the path left it. Steps the annotator wrote there
  // are lost by it, so then the first press says so and the second restores.
  const restore = document.getElementById("restore");
  restore?.addEventListener("click", () => {
    const from = Number(restore.dataset.position);
    const written = pathSteps.filter((s) => s.hasAttribute("data-written") && positionOf(s) >= from);
    if (written.length > 0 && restore.dataset.confirm !== "true") {
      restore.dataset.confirm = "true";
      const numbers = written.map((s) => positionOf(s) + 1).join(", ");
      document.getElementById("departure-text").textContent = `Undoing also removes the step${written.length > 1 ? "s" : ""} you wrote (${numbers}). Press z again to undo, or move on to keep them.`;
      return;
    }
    changePath({ position: from, restore: true });
  });

  for (const step of steps) {
    for (const button of step.querySelectorAll("[data-rating]")) {
      button.addEventListener("click", () => {
        const grade = gradeOf(step);
        grade.rating = Number(button.dataset.rating);
        if (grade.rating === -1) clearAfter(step);
        if (grade.rating !== -1 && state.finish === "found_error") state.finish = null;
        apply();
        autosave.changed();
        if (grade.rating !== -1) advanceFrom(step);
        else activateScope(step);
      });
    }
    step.querySelector("[data-unsure]").addEventListener("click", () => {
      const grade = gradeOf(step);
      grade.unsure = !grade.unsure;
      apply();
      autosave.changed();
    });
    for (const name of ["critique", "correction"]) {
      step.querySelector(`.${name}`)?.addEventListener("input", (event) => {
        gradeOf(step)[name] = event.target.value;
        autosave.changed();
      });
    }
    step.querySelector(".choose")?.addEventListener("click", (event) => {
      // The first press says what the choice replaces; the second makes it.
      if (step.dataset.confirmChoose !== "true") {
        step.dataset.confirmChoose = "true";
        const note = step.querySelector(".choose-note");
        note.textContent = chooseConsequence(step);
        note.hidden = false;
        event.currentTarget.querySelector(".choose-label").textContent = "Confirm: continue with this";
        return;
      }
      changePath({ position: positionOf(step), choose: Number(step.dataset.option) });
    });
    const form = step.querySelector(".write-form");
    step.querySelector(".write-open")?.addEventListener("click", () => {
      form.hidden = false;
      form.querySelector("textarea").focus();
    });
    form?.querySelector(".write-cancel").addEventListener("click", () => {
      form.hidden = true;
      activateScope(step);
    });
    form?.querySelector(".write-save").addEventListener("click", () =>
      changePath({ position: positionOf(step), write: form.querySelector("textarea").value }),
    );
    step.querySelector(".continue")?.addEventListener("click", () =>
      postPathChange(root.dataset.continueUrl, autosave, time, { position: positionOf(step) }, onConflict),
    );
  }
  const next = document.getElementById("next-step");
  next?.querySelector("#next-step-save").addEventListener("click", () =>
    changePath({ position: Number(next.dataset.position), write: next.querySelector("textarea").value }),
  );
  for (const button of finishButtons) {
    button.addEventListener("click", () => {
      if (button.dataset.finish === "solution" && !endsInAnswer) {
        showError("The path ends without a final answer, so it is not a solution: write the next step, let the model continue, or finish as give up.");
        return;
      }
      showError(null);
      state.finish = button.dataset.finish;
      apply();
      autosave.changed();
    });
  }
  document.getElementById("submit").addEventListener("click", async () => {
    showError(null);
    const finish = effectiveFinish();
    if (!finish) {
      showError("Rate every step, or choose how the trace ended (bad problem, give up).");
      return;
    }
    await autosave.flush();
    await time.flush();
    const { status, body } = await postJson(root.dataset.submitUrl, {
      ...payload(),
      version: autosave.version,
      finish_reason: finish,
    });
    if (status === 200) {
      autosave.discardDraft();
      time.stop();
      window.location.assign(body.next_url);
    } else if (status === 409) {
      showStatus("conflict", body);
      onConflict(body);
    } else {
      showError(body.error ?? `The server answered ${status}; your draft is kept.`);
    }
  });
  apply();
  watchContinuation(time);
  keepCursorAcrossReloads(steps);
}

/** The current step survives a reload: it is kept in the address as #step-N. */
function keepCursorAcrossReloads(steps) {
  document.getElementById("steps")?.addEventListener("keys:scopechange", (event) => {
    const index = steps.indexOf(event.target);
    if (index !== -1) window.history.replaceState(window.history.state, "", `#step-${index + 1}`);
  });
  const kept = /^#step-(\d+)$/.exec(window.location.hash);
  const step = kept ? steps[Number(kept[1]) - 1] : undefined;
  if (step) activateScope(step);
}

// ---- thought record ----------------------------------------------------------------------

function recordPage() {
  const draft = readJson("draft-data", {});
  const kinds = readJson("thought-kinds", []);
  const state = {
    thoughts: draft.thoughts ?? [],
    final_answer: draft.final_answer ?? "",
    finish: draft.finish ?? "solution",
  };
  let current = 0;
  const list = document.getElementById("thoughts");
  const template = document.getElementById("thought-template");
  const answer = document.getElementById("final-answer");
  const finishButtons = [...document.querySelectorAll("#finish-reasons [data-finish]")];
  const previewTimers = new Map();

  function lastAttemptBefore(index) {
    for (let i = index - 1; i >= 0; i -= 1) if (state.thoughts[i].kind === "attempt") return i + 1;
    return index > 0 ? index : null;
  }

  function updatePreview(item, text) {
    clearTimeout(previewTimers.get(item));
    previewTimers.set(
      item,
      setTimeout(() => {
        // renderToHtml returns markup already sanitized by DOMPurify (see render.js).
        item.querySelector(".thought-preview").innerHTML = text.trim() ? renderToHtml(text) : "";
      }, 250),
    );
  }

  function applyKind(item, thought) {
    item.dataset.kind = thought.kind;
    item.querySelector(".thought-kind-badge").textContent = thought.kind;
    item.querySelector(".thought-kind-select").value = thought.kind;
    const target = item.querySelector(".backtrack-target");
    target.hidden = thought.kind !== "backtrack";
    item.querySelector(".backtrack-to").value = thought.backtrack_to ?? "";
  }

  function build() {
    const items = state.thoughts.map((thought, index) => {
      const item = template.content.firstElementChild.cloneNode(true);
      const select = item.querySelector(".thought-kind-select");
      for (const kind of kinds) select.add(new Option(kind, kind));
      const text = item.querySelector(".thought-text");
      text.value = thought.text;
      applyKind(item, thought);
      updatePreview(item, thought.text);
      item.dataset.index = String(index);
      text.addEventListener("input", () => {
        thought.text = text.value;
        updatePreview(item, text.value);
        autosave.changed();
      });
      select.addEventListener("change", () => setKind(index, select.value));
      item.querySelector(".backtrack-to").addEventListener("input", (event) => {
        thought.backtrack_to = event.target.value === "" ? null : Number(event.target.value);
        autosave.changed();
      });
      item.addEventListener("focusin", () => (current = index));
      return item;
    });
    list.replaceChildren(...items);
  }

  function focusThought(index) {
    const item = list.children[index];
    if (!item) return;
    current = index;
    item.querySelector(".thought-text").focus();
    item.scrollIntoView({ block: "nearest" });
  }

  function setKind(index, kind) {
    const thought = state.thoughts[index];
    if (!thought) return;
    thought.kind = kind;
    thought.backtrack_to = kind === "backtrack" ? (thought.backtrack_to ?? lastAttemptBefore(index)) : null;
    applyKind(list.children[index], thought);
    autosave.changed();
  }

  function restructure(focusIndex) {
    build();
    focusThought(focusIndex);
    autosave.changed();
  }

  const actions = {
    "thought-new": () => {
      const at = state.thoughts.length === 0 ? 0 : current + 1;
      const kind = state.thoughts.length === 0 ? "attempt" : "reflection";
      state.thoughts.splice(at, 0, { kind, text: "", backtrack_to: null });
      restructure(at);
    },
    "thought-kind": () => {
      const thought = state.thoughts[current];
      if (!thought) return;
      setKind(current, kinds[(kinds.indexOf(thought.kind) + 1) % kinds.length]);
      focusThought(current);
    },
    "thought-up": () => {
      if (current < 1) return;
      const [moved] = state.thoughts.splice(current, 1);
      state.thoughts.splice(current - 1, 0, moved);
      restructure(current - 1);
    },
    "thought-down": () => {
      if (current >= state.thoughts.length - 1) return;
      const [moved] = state.thoughts.splice(current, 1);
      state.thoughts.splice(current + 1, 0, moved);
      restructure(current + 1);
    },
    "thought-prev": () => focusThought(Math.max(0, current - 1)),
    "thought-next": () => focusThought(Math.min(state.thoughts.length - 1, current + 1)),
    "thought-delete": () => {
      if (!state.thoughts[current]) return;
      if (state.thoughts[current].text.trim() && !window.confirm("Delete this thought?")) return;
      state.thoughts.splice(current, 1);
      restructure(Math.max(0, current - 1));
    },
  };
  for (const [id, action] of Object.entries(actions)) {
    document.getElementById(id).addEventListener("click", action);
  }

  if (readOnly()) {
    build();
    applyFinish();
    makeReadOnly();
    return;
  }
  const time = startTimer();
  const payload = () => ({ ...state });
  let autosave = null;
  const onConflict = setupConflictDialog(
    (theirs) => [
      ...(theirs.thoughts ?? []).map((t, i) => `${i + 1}. [${t.kind}] ${t.text}`),
      `Final answer: ${theirs.final_answer || "—"}`,
    ],
    () => autosave,
  );
  autosave = createAutosave({
    url: root.dataset.saveUrl,
    storageKey: root.dataset.storageKey,
    version: Number(root.dataset.version),
    getPayload: payload,
    applyDraft: (saved) => {
      state.thoughts = saved.thoughts ?? [];
      state.final_answer = saved.final_answer ?? "";
      state.finish = saved.finish ?? "solution";
      build();
      applyFinish();
    },
    onConflict,
    onStatus: showStatus,
  });

  function applyFinish() {
    answer.value = state.final_answer;
    setPressed(finishButtons, (b) => b.dataset.finish === state.finish);
  }
  answer.addEventListener("input", () => {
    state.final_answer = answer.value;
    autosave.changed();
  });
  for (const button of finishButtons) {
    button.addEventListener("click", () => {
      state.finish = button.dataset.finish;
      applyFinish();
      autosave.changed();
    });
  }

  const checklist = document.getElementById("checklist");
  const checks = { attempts: document.getElementById("check-attempts"), common_knowledge: document.getElementById("check-knowledge") };
  document.getElementById("submit").addEventListener("click", () => {
    showError(null);
    for (const box of Object.values(checks)) box.checked = false;
    checklist.showModal();
    checks.attempts.focus();
  });
  document.getElementById("checklist-cancel").addEventListener("click", () => checklist.close());
  document.getElementById("checklist-confirm").addEventListener("click", async () => {
    checklist.close();
    await autosave.flush();
    await time.flush();
    const { status, body } = await postJson(root.dataset.submitUrl, {
      ...payload(),
      version: autosave.version,
      finish_reason: state.finish,
      checklist: { attempts: checks.attempts.checked, common_knowledge: checks.common_knowledge.checked },
    });
    if (status === 200) {
      autosave.discardDraft();
      time.stop();
      const result = document.getElementById("submit-result");
      result.hidden = false;
      result.className = `message ${body.is_correct === false ? "warning" : "success"}`;
      // is_correct is absent where the project hides the ground truth.
      const verdict = !("is_correct" in body)
        ? ""
        : body.is_correct === true ? " Your final answer matches the ground truth." : body.is_correct === false ? " Your final answer does not match the ground truth." : " Your final answer could not be checked.";
      result.textContent = `Submitted.${verdict} `;
      const next = document.createElement("a");
      next.href = body.next_url;
      next.textContent = "Back to the queue";
      result.append(next);
      root.dataset.status = "submitted";
      makeReadOnly("Submitted");
      next.focus();
    } else if (status === 409) {
      showStatus("conflict", body);
      onConflict(body);
    } else {
      showError(body.error ?? `The server answered ${status}; your draft is kept.`);
    }
  });

  build();
  applyFinish();
  if (state.thoughts.length === 0) {
    // An empty first thought to type in. Not an edit: nothing is saved until one is made.
    state.thoughts.push({ kind: "attempt", text: "", backtrack_to: null });
    build();
  }
  focusThought(0);
}

if (root?.dataset.page === "grade") gradePage();
else if (root?.dataset.page === "record") recordPage();
