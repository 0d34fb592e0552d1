// Reasoning-tree view and keyword highlighting for the tree pages.
//
// The tree comes from a JSON endpoint as compact columns. Only the rows inside the scroll
// viewport are in the DOM (a virtual list over the expanded nodes), so trees of thousands of
// nodes stay responsive. Step texts are shown with textContent in the list and through
// render.js (sanitized) in the detail panel; nothing a model wrote is ever parsed as HTML
// without the sanitizer.
import { renderToHtml, renderUserContent } from "./render.js";

const ROW_HEIGHT = 26;
const OVERSCAN = 12;
const SNIPPET = 400; // characters of a step shown in its row (CSS ends the line with …)
const HAS_MATH = /\$|\\\(|\\\[/;

/**
 * A step's text on one line for its row, at most `limit` characters, never ending inside a
 * formula (an odd number of unescaped $ means one was cut: the snippet ends before it).
 */
export function rowSnippet(text, limit = SNIPPET) {
  const line = text.replace(/\s+/g, " ").trim();
  if (line.length <= limit) return line;
  let cut = line.slice(0, limit);
  const dollars = [...cut.matchAll(/(?<!\\)\$/g)].map((match) => match.index);
  if (dollars.length % 2 === 1) cut = cut.slice(0, dollars[dollars.length - 1]);
  return `${cut.trimEnd()}…`;
}

/** Fills `element` with `text`, its math rendered by render.js (sanitized) when it has any. */
function fillWithMath(element, text) {
  if (!HAS_MATH.test(text)) {
    element.textContent = text;
    return;
  }
  try {
    element.innerHTML = renderToHtml(text, "math"); // sanitized by render.js
  } catch {
    element.textContent = text;
  }
}

/** An answer as math: "\\frac{5}{6}" is drawn as a fraction. */
function answerMath(answer) {
  const span = document.createElement("span");
  span.className = "answer-math";
  fillWithMath(span, `$${answer}$`);
  return span;
}

const VERDICT_SOURCES = {
  answer: "answer checked wrong",
  judge: "judge: incorrect",
  prm: "PRM score under the threshold",
  critic: "critic rejected it",
  limit: "attempt ended without an answer",
};

/** A stored wrong verdict: who gave it and its number. */
function wrongVerdict(verdict) {
  const said = VERDICT_SOURCES[verdict.source] || verdict.source;
  return verdict.value === null ? said : `${said} (${verdict.value.toFixed(4)})`;
}

// ---- keyword highlighting -----------------------------------------------------------------

function keywordPattern(list) {
  const words = [...new Set(list.split(",").map((w) => w.trim().toLowerCase()).filter(Boolean))];
  if (!words.length) return null;
  words.sort((a, b) => b.length - a.length);
  const escaped = words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  return new RegExp(`\\b(${escaped.join("|")})\\b`, "gi");
}

/** Wrap keyword matches in the text nodes under `root` in <mark class="kw">. */
export function highlightKeywords(root, list) {
  const pattern = keywordPattern(list);
  if (!pattern) return 0;
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {
    acceptNode: (node) =>
      node.parentElement?.closest("math, mark, code, pre") ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT,
  });
  const nodes = [];
  while (walker.nextNode()) nodes.push(walker.currentNode);
  let count = 0;
  for (const node of nodes) {
    const text = node.nodeValue;
    pattern.lastIndex = 0;
    if (!pattern.test(text)) continue;
    pattern.lastIndex = 0;
    const fragment = document.createDocumentFragment();
    let last = 0;
    for (const match of text.matchAll(pattern)) {
      fragment.append(text.slice(last, match.index));
      const mark = document.createElement("mark");
      mark.className = "kw";
      mark.dataset.keyword = match[1].toLowerCase();
      mark.textContent = match[0];
      fragment.append(mark);
      last = match.index + match[0].length;
      count += 1;
    }
    fragment.append(text.slice(last));
    node.replaceWith(fragment);
  }
  return count;
}

async function highlightPage() {
  await renderUserContent(document); // keywords are marked in the rendered text
  for (const container of document.querySelectorAll("[data-highlight]")) {
    highlightKeywords(container, container.dataset.highlight || "");
  }
}

// ---- the tree -----------------------------------------------------------------------------

class TreeModel {
  constructor(payload) {
    const columns = payload.columns;
    const at = Object.fromEntries(columns.map((name, i) => [name, i]));
    const rows = payload.nodes;
    this.size = rows.length;
    this.parent = new Int32Array(this.size).fill(-1);
    this.children = Array.from({ length: this.size }, () => []);
    this.rows = rows;
    this.at = at;
    this.lowerText = new Array(this.size);
    for (const row of rows) {
      const index = row[at.index];
      const parent = row[at.parent];
      if (parent !== null) {
        this.parent[index] = parent;
        this.children[parent].push(index);
      }
    }
  }

  get(index, column) {
    return this.rows[index][this.at[column]];
  }

  text(index) {
    return this.get(index, "text") ?? "";
  }

  lower(index) {
    return (this.lowerText[index] ??= this.text(index).toLowerCase());
  }

  ancestors(index) {
    const out = [];
    for (let node = this.parent[index]; node !== -1; node = this.parent[node]) out.push(node);
    return out;
  }

  grade(index) {
    const correct = this.get(index, "correct");
    if (correct === true) return "correct";
    if (correct === false) return "wrong";
    return this.get(index, "pruned") ? "pruned" : "kept";
  }
}

class TreeView {
  constructor(root) {
    this.root = root;
    this.scroll = root.querySelector("[data-role=scroll]");
    this.spacer = root.querySelector("[data-role=spacer]");
    this.detail = root.querySelector("[data-role=detail]");
    this.count = root.querySelector("[data-role=count]");
    this.colour = root.querySelector("[data-control=colour]");
    this.keywordInput = root.querySelector("[data-control=keyword]");
    this.nodeBase = root.dataset.nodeBase;
    this.expanded = new Set([0]);
    this.selected = null;
    this.keyword = "";
    this.visible = [];
    this.frame = 0;
    this.rowTexts = new Map();
  }

  async load() {
    const response = await fetch(this.root.dataset.src, { credentials: "same-origin" });
    if (!response.ok) throw new Error(`tree: ${response.status}`);
    this.model = new TreeModel(await response.json());
    this.bind();
    this.refresh();
    this.root.dataset.ready = "true";
    this.revealHash();
    window.addEventListener("hashchange", () => this.revealHash());
  }

  revealHash() {
    const match = /^#node-(\d+)$/.exec(window.location.hash);
    if (match) this.reveal(Number(match[1]));
  }

  bind() {
    this.scroll.addEventListener("scroll", () => this.schedule(), { passive: true });
    window.addEventListener("resize", () => this.schedule());
    this.root.addEventListener("click", (event) => this.onClick(event));
    this.colour.addEventListener("change", () => {
      this.root.dataset.colour = this.colour.value;
      this.draw();
    });
    this.root.dataset.colour = this.colour.value;
    let timer = 0;
    this.keywordInput.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => this.setKeyword(this.keywordInput.value), 120);
    });
    this.scroll.addEventListener("keydown", (event) => this.onKey(event));
  }

  onClick(event) {
    const action = event.target.closest("[data-action]")?.dataset.action;
    if (action === "expand-all") return this.setExpanded(this.allIndexes());
    if (action === "collapse-all") return this.setExpanded([0]);
    if (action === "expand-path") return this.expandCorrectPaths();
    const row = event.target.closest(".tree-row");
    if (!row) return;
    const index = Number(row.dataset.index);
    if (event.target.closest(".toggle")) this.toggle(index);
    else this.select(index);
  }

  onKey(event) {
    if (this.selected === null) return;
    const position = this.visible.indexOf(this.selected);
    const moves = { ArrowDown: 1, ArrowUp: -1 };
    if (event.key in moves) {
      const next = this.visible[position + moves[event.key]];
      if (next !== undefined) this.select(next, { scroll: true });
    } else if (event.key === "ArrowRight" && !this.expanded.has(this.selected)) {
      this.toggle(this.selected);
    } else if (event.key === "ArrowLeft" && this.expanded.has(this.selected)) {
      this.toggle(this.selected);
    } else return;
    event.preventDefault();
  }

  allIndexes() {
    return Array.from({ length: this.model.size }, (_, i) => i);
  }

  setExpanded(indexes) {
    this.expanded = new Set(indexes);
    this.refresh();
  }

  expandCorrectPaths() {
    const open = [0];
    for (let i = 0; i < this.model.size; i += 1) if (this.model.get(i, "on_path")) open.push(i);
    this.setExpanded([...new Set([...this.expanded, ...open])]);
  }

  toggle(index) {
    if (!this.model.children[index].length) return;
    if (this.expanded.has(index)) this.expanded.delete(index);
    else this.expanded.add(index);
    this.refresh();
  }

  setKeyword(value) {
    this.keyword = value.trim().toLowerCase();
    this.refresh();
  }

  reveal(index) {
    if (index < 0 || index >= this.model.size) return;
    for (const ancestor of this.model.ancestors(index)) this.expanded.add(ancestor);
    this.refresh();
    this.select(index, { scroll: true });
  }

  /** Depth-first over expanded nodes; with a keyword, only matches and their ancestors. */
  refresh() {
    const model = this.model;
    let keep = null;
    if (this.keyword) {
      keep = new Set();
      for (let i = 0; i < model.size; i += 1) {
        if (i !== 0 && model.lower(i).includes(this.keyword)) {
          keep.add(i);
          for (const a of model.ancestors(i)) keep.add(a);
        }
      }
    }
    const out = [];
    const stack = [0];
    while (stack.length) {
      const index = stack.pop();
      if (keep && !keep.has(index)) continue;
      out.push(index);
      const open = keep ? true : this.expanded.has(index);
      if (open) {
        const kids = model.children[index];
        for (let k = kids.length - 1; k >= 0; k -= 1) stack.push(kids[k]);
      }
    }
    this.visible = out;
    this.spacer.style.height = `${out.length * ROW_HEIGHT}px`;
    const matches = keep ? keep.size - (keep.has(0) ? 1 : 0) : null;
    this.count.textContent =
      `${model.size} nodes · ${out.length} shown` +
      (matches === null ? "" : ` · ${[...keep].filter((i) => i && model.lower(i).includes(this.keyword)).length} match`);
    this.draw();
  }

  schedule() {
    if (!this.frame) {
      this.frame = requestAnimationFrame(() => {
        this.frame = 0;
        this.draw();
      });
    }
  }

  draw() {
    const top = this.scroll.scrollTop;
    const height = this.scroll.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(this.visible.length, Math.ceil((top + height) / ROW_HEIGHT) + OVERSCAN);
    const rows = [];
    for (let position = first; position < last; position += 1) {
      rows.push(this.row(this.visible[position], position));
    }
    this.spacer.replaceChildren(...rows);
  }

  row(index, position) {
    const model = this.model;
    const row = document.createElement("div");
    row.className = "tree-row";
    row.dataset.index = String(index);
    row.dataset.testid = "tree-row";
    row.dataset.grade = model.grade(index);
    const kind = model.get(index, "kind");
    if (kind) row.dataset.kind = kind;
    row.setAttribute("role", "treeitem");
    row.style.transform = `translateY(${position * ROW_HEIGHT}px)`;
    row.style.paddingLeft = `${0.4 + model.get(index, "depth") * 1.1}rem`;
    if (model.get(index, "on_path")) row.classList.add("on-path");
    if (index === this.selected) row.setAttribute("aria-selected", "true");
    const score = model.get(index, "score");
    if (score !== null) row.style.setProperty("--score", String(Math.max(0, Math.min(1, score))));
    else row.classList.add("no-score");

    const toggle = document.createElement("button");
    toggle.type = "button";
    toggle.className = "toggle";
    toggle.tabIndex = -1;
    const kids = model.children[index].length;
    if (kids) {
      const open = this.keyword ? true : this.expanded.has(index);
      toggle.textContent = open ? "▾" : "▸";
      toggle.setAttribute("aria-label", `${open ? "Collapse" : "Expand"} ${kids} children`);
      row.setAttribute("aria-expanded", String(open));
    } else {
      toggle.textContent = "·";
      toggle.disabled = true;
    }
    const dot = document.createElement("span");
    dot.className = "dot";
    dot.dataset.grade = row.dataset.grade;
    const label = document.createElement("span");
    label.className = "tree-text";
    label.append(this.rowText(index).cloneNode(true));
    const meta = document.createElement("span");
    meta.className = "tree-meta";
    const answer = model.get(index, "final_answer");
    if (kind && kind !== "step") meta.append(kind, " ");
    if (score !== null) meta.append(score.toFixed(2), " ");
    if (answer !== null) meta.append("→ ", answerMath(answer), " ");
    if (kids) meta.append(`(${kids})`);
    row.append(toggle, dot, label, meta);
    return row;
  }

  /** The row's text with its math rendered, made once per node (rows are redrawn on scroll). */
  rowText(index) {
    let made = this.rowTexts.get(index);
    if (!made) {
      const text = index === 0 ? `Problem: ${this.model.text(0)}` : this.model.text(index);
      made = document.createElement("span");
      fillWithMath(made, rowSnippet(text));
      this.rowTexts.set(index, made);
    }
    return made;
  }

  async select(index, { scroll = false } = {}) {
    this.selected = index;
    if (scroll) {
      const position = this.visible.indexOf(index);
      const top = position * ROW_HEIGHT;
      if (top < this.scroll.scrollTop || top > this.scroll.scrollTop + this.scroll.clientHeight - ROW_HEIGHT) {
        this.scroll.scrollTop = Math.max(0, top - this.scroll.clientHeight / 2);
      }
    }
    this.draw();
    this.scroll.focus({ preventScroll: true });
    const response = await fetch(`${this.nodeBase}${index}.json`, { credentials: "same-origin" });
    if (this.selected !== index) return;
    if (!response.ok) {
      this.detail.textContent = `Could not load node ${index} (${response.status}).`;
      return;
    }
    this.showDetail(await response.json());
  }

  showDetail(node) {
    const parts = [];
    const heading = document.createElement("h3");
    heading.textContent = node.index === 0 ? "Problem (root)" : `Node ${node.index} · depth ${node.depth}`;
    heading.dataset.testid = "detail-title";
    parts.push(heading);
    parts.push(userContent(node.text, "detail-text"));
    const facts = document.createElement("dl");
    facts.className = "facts";
    const add = (name, value) => {
      if (value === null || value === undefined || value === "") return;
      const dt = document.createElement("dt");
      dt.textContent = name;
      const dd = document.createElement("dd");
      if (value instanceof Node) dd.append(value);
      else dd.textContent = String(value);
      dd.dataset.fact = name;
      facts.append(dt, dd);
    };
    add("kind", node.kind && node.kind !== "step" ? node.kind : null);
    add("score", node.score === null ? null : node.score.toFixed(4));
    add("judged", node.judged_correct === null ? null : node.judged_correct ? "correct" : "incorrect");
    add("pruned", node.pruned ? "yes" : "no");
    add("identical candidates merged", node.copies > 1 ? node.copies : null);
    add("final answer", node.final_answer === null ? null : answerMath(node.final_answer));
    add("answer graded", node.correct === null ? null : node.correct ? "correct" : "wrong");
    add("on a correct path", node.on_path ? "yes" : "no");
    // The evidence a long thought may reflect on: pruned alone is not wrong.
    add("wrong verdict", node.wrong_verdict ? wrongVerdict(node.wrong_verdict) : null);
    parts.push(facts);
    if (node.reason) {
      const title = document.createElement("h4");
      title.textContent = "Judge's reason";
      parts.push(title, userContent(node.reason, "detail-reason"));
    }
    const grades = titledSection(`Human grades (${node.human_grades.length})`);
    for (const grade of node.human_grades) {
      const item = document.createElement("p");
      item.dataset.testid = "human-grade";
      item.textContent = `${grade.source}: ${ratingText(grade.rating)}${grade.unsure ? " (unsure)" : ""}`;
      grades.append(item);
      if (grade.critique) grades.append(userContent(grade.critique, "human-critique"));
    }
    parts.push(grades);
    if (node.machine_grades.length > 0) {
      const scores = titledSection(`Model scores and imported labels (${node.machine_grades.length})`);
      for (const grade of node.machine_grades) {
        const item = document.createElement("p");
        item.className = "small muted";
        item.dataset.testid = "machine-grade";
        // rounded as the node's own score above
        item.textContent = `${grade.source}: ${grade.score === null ? ratingText(grade.rating) : grade.score.toFixed(4)}`;
        scores.append(item);
      }
      parts.push(scores);
    }
    this.detail.replaceChildren(...parts);
    this.detail.dataset.index = String(node.index);
  }
}

function ratingText(rating) {
  return rating === null || rating === undefined ? "—" : rating > 0 ? "+1" : String(rating);
}

function titledSection(title) {
  const section = document.createElement("section");
  const heading = document.createElement("h4");
  heading.textContent = title;
  section.append(heading);
  return section;
}

function userContent(text, testid) {
  const box = document.createElement("div");
  box.className = "user-content";
  box.dataset.testid = testid;
  box.setAttribute("hx-disable", "");
  try {
    box.innerHTML = renderToHtml(text); // sanitized by render.js
  } catch {
    box.textContent = text;
  }
  return box;
}

function start() {
  highlightPage();
  for (const root of document.querySelectorAll("[data-tree-view]")) {
    const view = new TreeView(root);
    view.load().catch((error) => {
      root.dataset.ready = "failed";
      root.querySelector("[data-role=detail]").textContent = `Could not load the tree: ${error.message}`;
    });
  }
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
