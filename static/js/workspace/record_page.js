// The thought-record editor: the annotator writes a long thought as a list of thoughts (an
// attempt, a reflection, a backtrack to an earlier attempt), a final answer, and submits after
// a checklist.
import { renderToHtml } from "../render.js";
import { makeReadOnly, readJson, readOnly, root, setPressed, showError } from "./page.js";
import { startAutosave, startTimer, submitWork } from "./saving.js";

export function recordPage() {
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
  const { autosave, onConflict } = startAutosave({
    getPayload: payload,
    applyDraft: (saved) => {
      state.thoughts = saved.thoughts ?? [];
      state.final_answer = saved.final_answer ?? "";
      state.finish = saved.finish ?? "solution";
      build();
      applyFinish();
    },
    describe: (theirs) => [
      ...(theirs.thoughts ?? []).map((t, i) => `${i + 1}. [${t.kind}] ${t.text}`),
      `Final answer: ${theirs.final_answer || "—"}`,
    ],
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
    const body = await submitWork(
      { autosave, time, onConflict },
      {
        ...payload(),
        finish_reason: state.finish,
        checklist: { attempts: checks.attempts.checked, common_knowledge: checks.common_knowledge.checked },
      },
    );
    if (body) {
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
