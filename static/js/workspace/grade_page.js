// The step-grading page: the annotator rates each step of a trace (+1, 0, -1, unsure), with a
// critique and a correction on a -1, says how the trace ended, changes the path (choose an
// alternative, write a step, undo, let the model continue) and submits.
import { activateScope } from "../keys.js";
import { makeReadOnly, readJson, readOnly, root, setPressed, showError } from "./page.js";
import { postPathChange, startAutosave, startTimer, submitWork, watchContinuation } from "./saving.js";

export function gradePage() {
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
  const { autosave, onConflict } = startAutosave({
    getPayload: payload,
    applyDraft: (saved) => {
      state.grades = saved.grades ?? {};
      state.finish = saved.finish ?? null;
      apply();
    },
    describe: (current) =>
      pathSteps.map((step) => {
        const grade = current.grades?.[step.dataset.node];
        const rating = grade?.rating === null || grade?.rating === undefined ? "not rated" : grade.rating > 0 ? "+1" : String(grade.rating);
        return `Step ${positionOf(step) + 1}: ${rating}${grade?.unsure ? " (unsure)" : ""}`;
      }),
  });
  const saving = { autosave, time, onConflict };

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

  const changePath = (body) => postPathChange(root.dataset.pathUrl, saving, body);

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
      postPathChange(root.dataset.continueUrl, saving, { position: positionOf(step) }),
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
    const answer = await submitWork(saving, { ...payload(), finish_reason: finish });
    if (answer) window.location.assign(answer.next_url);
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
