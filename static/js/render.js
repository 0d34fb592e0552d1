// Renders user-written text (markdown + TeX math) into sanitized HTML.
//
// The server emits the text HTML-escaped inside <div class="user-content" data-render="markdown"
// hx-disable>; we read textContent, show bidi controls and other invisible characters as visible
// marks (the server has marked those it sent: annotation/core/templatetags/shown_visibly.py),
// pull the math out before
// markdown sees it, render markdown without raw HTML, render math with KaTeX (untrusted, bounded
// in size and in number per item), and sanitize the result. app.css clips each container, so
// nothing rendered draws outside its own item.
import katex from "../vendor/katex/katex.mjs";
import MarkdownIt from "../vendor/markdown-it/markdown-it.esm.min.mjs";
import createDOMPurify from "../vendor/dompurify/purify.es.mjs";

const PENDING_SELECTOR = ".user-content[data-render]:not([data-rendered])";
const SAFE_URL = /^(?:https?:|mailto:)/i;
const MAX_TEX_LENGTH = 4000;
// Formulas rendered per item; the rest stay TeX source, so one item costs ~100 ms at most.
export const MAX_FORMULAS_PER_ITEM = 200;
// The largest length (in em, either sign) a formula may draw: \rule, \kern, \hspace,
// \raisebox, ... KaTeX clamps positive \rule and \kern sizes to maxSize itself, but not negative
// ones, and passes \raisebox's offset through as written; checkMathSizes refuses those.
const MAX_SIZE_EM = 20;
// Rendering many items yields to the browser after this long, so the page stays responsive.
const SLICE_MS = 50;

// Bidirectional formatting characters (embeddings, overrides, isolates, marks) reorder what a
// reader sees without being visible themselves ("Trojan Source"): each is shown as its name.
const BIDI_CONTROLS = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g;
const BIDI_NAMES = {
  "\u061C": "ALM", "\u200E": "LRM", "\u200F": "RLM", "\u202A": "LRE", "\u202B": "RLE",
  "\u202C": "PDF", "\u202D": "LRO", "\u202E": "RLO", "\u2066": "LRI", "\u2067": "RLI",
  "\u2068": "FSI", "\u2069": "PDI",
};

// Unicode's default-ignorable code points, as in annotation/core/text_policy.py: invisible, so
// each is shown as its code point, ⟦U+200B⟧, the way the server shows it.
const INVISIBLE =
  /[\u00AD\u034F\u061C\u115F\u1160\u17B4\u17B5\u180B-\u180F\u200B-\u200F\u202A-\u202E\u2060-\u206F\u3164\uFE00-\uFE0F\uFEFF\uFFA0\uFFF0-\uFFF8\u{1BCA0}-\u{1BCA3}\u{1D173}-\u{1D17A}\u{E0000}-\u{E0FFF}]/gu;
// A mark of an invisible character in rendered text, put in a span.invisible-char.
const MARK = /⟦U\+[0-9A-F]{4,6}⟧|⟨(?:ALM|LRM|RLM|LRE|RLE|PDF|LRO|RLO|LRI|RLI|FSI|PDI)⟩/g;

// Placeholders use private-use characters; the same characters in user text are replaced first.
const OPEN = "\uE000";
const CLOSE = "\uE001";
const PLACEHOLDER = /\uE000(\d+)\uE001/g;
const PLACEHOLDER_SPLIT = /\uE000(\d+)\uE001/;

const KATEX_OPTIONS = {
  output: "mathml", // MathML needs no inline style attributes, so `style` can be forbidden outright
  throwOnError: true,
  strict: "ignore",
  maxExpand: 500,
  maxSize: MAX_SIZE_EM,
};

// Lengths in KaTeX's MathML (mspace, mpadded, mglyph), and TeX units in em (KaTeX: 1em = 10pt).
const LENGTH_ATTRIBUTE = /\s(?:width|height|depth|voffset|lspace|valign)="([^"]*)"/g;
const LENGTH = /^[+-]?(\d*\.?\d+(?:e[+-]?\d+)?)([a-z%]*)$/i;
const EM_PER_UNIT = new Map(Object.entries({
  "": 1, em: 1, ex: 0.431, mu: 1 / 18, pt: 0.1, px: 0.1 * (803 / 800), bp: 0.1 * (803 / 800),
  pc: 1.2, mm: 0.1 * (7227 / 2540), cm: 0.1 * (7227 / 254), in: 7.227, dd: 0.1 * (1238 / 1157),
  cc: 0.1 * (14856 / 1157), nd: 0.1 * (685 / 642), nc: 0.1 * (1370 / 107), sp: 0.1 / 65536,
}));
// Relative to the formula's own content ("-1width" is \mathllap's shift), so bounded by it.
const RELATIVE_UNITS = new Set(["width", "height", "depth", "%"]);

const FORBIDDEN_TAGS = [
  "form", "input", "button", "textarea", "select", "option", "iframe", "frame", "frameset",
  "object", "embed", "script", "style", "link", "meta", "base", "img", "svg", "template",
];

const PURIFY_CONFIG = {
  ALLOW_DATA_ATTR: false,
  // Values that look like a URL scheme must be http(s)/mailto; plain values ("katex", "block")
  // pass. Hrefs are held to SAFE_URL in the afterSanitizeAttributes hook.
  ALLOWED_URI_REGEXP: /^(?:(?:https?|mailto):|[^a-z]|[a-z+.-]+(?:[^a-z+.\-:]|$))/i,
  FORBID_TAGS: FORBIDDEN_TAGS,
  FORBID_ATTR: ["style", "id", "name", "srcset", "action", "formaction"],
  // KaTeX's MathML carries the TeX source in <annotation>, which DOMPurify does not allow;
  // dropping its content keeps that source from showing up as stray text.
  ADD_FORBID_CONTENTS: ["annotation", "annotation-xml"],
  RETURN_DOM_FRAGMENT: true,
};

const purifier = createDOMPurify(window);

purifier.addHook("uponSanitizeAttribute", (_node, data) => {
  const name = data.attrName.toLowerCase();
  if (name.startsWith("on") || name.startsWith("hx-") || name.startsWith("data-") || name === "style") {
    data.keepAttr = false;
  }
});

purifier.addHook("afterSanitizeAttributes", (node) => {
  if (node.hasAttribute?.("href") && !SAFE_URL.test(node.getAttribute("href").trim())) {
    node.removeAttribute("href");
  }
  if (node.nodeName === "A" && node.hasAttribute("href")) {
    node.setAttribute("rel", "noopener noreferrer nofollow");
    node.setAttribute("target", "_blank");
  }
});

const markdown = new MarkdownIt({ html: false, linkify: false, typographer: false, breaks: true });
markdown.disable(["image"]); // no third-party requests from user content; ![a](u) stays text
markdown.validateLink = (url) => SAFE_URL.test(url.trim());
markdown.core.ruler.push("math_placeholders", splitMathPlaceholders);
markdown.renderer.rules.math = (tokens, index, _options, env) =>
  renderMath(env.mathSpans[tokens[index].meta.index], env.macros);

let rendering = Promise.resolve();

/**
 * Renders every not-yet-rendered `.user-content[data-render]` element in `root`, a few at a time
 * (yielding to the browser every SLICE_MS). Resolves when they are all rendered.
 */
export function renderUserContent(root = document) {
  const elements = [...root.querySelectorAll(PENDING_SELECTOR)];
  if (root instanceof Element && root.matches(PENDING_SELECTOR)) elements.unshift(root);
  rendering = rendering.then(() => renderInSlices(elements));
  return rendering;
}

async function renderInSlices(elements) {
  let sliceStart = performance.now();
  for (const element of elements) {
    if (element.hasAttribute("data-rendered")) continue; // rendered by an earlier call
    renderElement(element);
    if (performance.now() - sliceStart > SLICE_MS) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      sliceStart = performance.now();
    }
  }
}

/** Returns the sanitized HTML string for `source` ("markdown" or "math" mode), for previews. */
export function renderToHtml(source, mode = "markdown") {
  const container = document.createElement("div");
  container.append(renderFragment(source, mode));
  return container.innerHTML;
}

function renderElement(element) {
  const source = (element.textContent ?? "").replace(/^\s*\n/, "").trimEnd();
  try {
    element.replaceChildren(renderFragment(source, element.dataset.render));
    element.setAttribute("data-rendered", "");
  } catch (error) {
    element.setAttribute("data-rendered", "failed"); // the escaped text stays as it was
    console.error("render.js: could not render user content", error);
  }
}

function renderFragment(source, mode) {
  const { text, spans } = extractMath(showInvisible(source), { skipCode: mode !== "math" });
  // Past the budget, formulas stay TeX source (the note below says so).
  for (const span of spans.slice(MAX_FORMULAS_PER_ITEM)) span.overBudget = true;
  // A fresh macro table per item: \gdef in one item never reaches another.
  const env = { mathSpans: spans, macros: {} };
  let html = mode === "math" ? renderMathText(text, env) : markdown.render(text, env);
  html = html.replace(PLACEHOLDER, (_match, index) => escapeHtml(spans[index].source));
  if (spans.length > MAX_FORMULAS_PER_ITEM) {
    html += `<p class="render-note">The first ${MAX_FORMULAS_PER_ITEM} of ${spans.length} formulas are shown as math, the rest as TeX.</p>`;
  }
  return markInvisible(purifier.sanitize(html, PURIFY_CONFIG));
}

/** `text` with every bidi control replaced by a visible mark such as ⟨RLO⟩. */
export function showBidiControls(text) {
  return text.replace(BIDI_CONTROLS, (control) => `⟨${BIDI_NAMES[control]}⟩`);
}

/** `text` with bidi controls named (⟨RLO⟩) and every other invisible character as ⟦U+XXXX⟧. */
export function showInvisible(text) {
  return showBidiControls(text).replace(INVISIBLE, (char) => {
    const code = char.codePointAt(0).toString(16).toUpperCase().padStart(4, "0");
    return `⟦U+${code}⟧`;
  });
}

/** Each mark in the text of `fragment` (outside math) in a span.invisible-char with a title. */
function markInvisible(fragment) {
  const walker = document.createTreeWalker(fragment, NodeFilter.SHOW_TEXT, {
    acceptNode: (node) =>
      node.parentElement?.closest("math") ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT,
  });
  const texts = [];
  while (walker.nextNode()) {
    MARK.lastIndex = 0;
    if (MARK.test(walker.currentNode.nodeValue)) texts.push(walker.currentNode);
  }
  for (const node of texts) {
    const parts = [];
    let last = 0;
    for (const match of node.nodeValue.matchAll(MARK)) {
      parts.push(node.nodeValue.slice(last, match.index));
      const mark = document.createElement("span");
      mark.className = "invisible-char";
      mark.title = `${match[0].slice(1, -1)}: an invisible character`;
      mark.textContent = match[0];
      parts.push(mark);
      last = match.index + match[0].length;
    }
    parts.push(node.nodeValue.slice(last));
    node.replaceWith(...parts.filter((part) => part !== ""));
  }
  return fragment;
}

function renderMathText(text, env) {
  return text
    .split(PLACEHOLDER_SPLIT)
    .map((part, i) =>
      i % 2 === 1
        ? renderMath(env.mathSpans[Number(part)], env.macros)
        : escapeHtml(part.replaceAll("\\$", "$")),
    )
    .join("");
}

function renderMath(span, macros) {
  if (span.overBudget) return `<span class="math-source">${escapeHtml(span.source)}</span>`;
  if (span.tex.length > MAX_TEX_LENGTH) return mathError(span.source, "formula too long");
  let untrusted = null;
  try {
    const html = katex.renderToString(span.tex, {
      ...KATEX_OPTIONS,
      displayMode: span.display,
      macros,
      // Untrusted commands (\href, \url, \includegraphics, \htmlData, ...) fail the whole
      // formula so the reader sees the source instead of half-rendered output.
      trust: (context) => {
        untrusted = context.command;
        return false;
      },
    });
    if (untrusted !== null) return mathError(span.source, `${untrusted} is not allowed`);
    const sizeError = checkMathSizes(html);
    if (sizeError) return mathError(span.source, sizeError);
    return span.display ? `<span class="math-display">${html}</span>` : html;
  } catch (error) {
    // KaTeX's rawMessage omits the underlined excerpt that `message` carries.
    return mathError(span.source, error?.rawMessage ?? String(error));
  }
}

/** Why the rendered formula draws too far (see MAX_SIZE_EM), or null when it does not. */
function checkMathSizes(html) {
  for (const [, value] of html.matchAll(LENGTH_ATTRIBUTE)) {
    const length = LENGTH.exec(value.trim());
    if (length && RELATIVE_UNITS.has(length[2].toLowerCase())) continue;
    const emPerUnit = length && EM_PER_UNIT.get(length[2].toLowerCase());
    if (!emPerUnit) return `size ${value} is not allowed`;
    if (Number(length[1]) * emPerUnit > MAX_SIZE_EM) {
      return `sizes over ${MAX_SIZE_EM}em are not allowed (${value})`;
    }
  }
  return null;
}

function mathError(source, reason) {
  return `<span class="math-error" title="${escapeHtml(reason)}">${escapeHtml(source)}</span>`;
}

function escapeHtml(text) {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

// markdown-it core rule: turn placeholders inside text tokens into `math` tokens. Placeholders
// elsewhere (code, link titles) are put back as their source text by renderFragment.
function splitMathPlaceholders(state) {
  for (const block of state.tokens) {
    if (block.type !== "inline" || !block.children) continue;
    block.children = block.children.flatMap((token) => {
      if (token.type !== "text" || !token.content.includes(OPEN)) return [token];
      return token.content.split(PLACEHOLDER_SPLIT).flatMap((part, i) => {
        if (i % 2 === 1) {
          const math = new state.Token("math", "", 0);
          math.meta = { index: Number(part) };
          return [math];
        }
        if (part === "") return [];
        const text = new state.Token("text", "", 0);
        text.content = part;
        return [text];
      });
    });
  }
}

/**
 * Replaces $...$, $$...$$, \(...\) and \[...\] with placeholders, skipping code spans and
 * fenced code blocks when `skipCode`. Returns the new text and the spans, in order.
 */
export function extractMath(input, { skipCode = true } = {}) {
  const source = input.replace(/[\uE000\uE001]/g, "\uFFFD");
  const spans = [];
  let text = "";
  let i = 0;
  const take = (end, tex, display) => {
    text += `${OPEN}${spans.length}${CLOSE}`;
    spans.push({ source: source.slice(i, end), tex, display });
    i = end;
  };
  while (i < source.length) {
    const ch = source[i];
    if (skipCode && (i === 0 || source[i - 1] === "\n")) {
      const fenceEnd = fencedCodeEnd(source, i);
      if (fenceEnd > i) {
        text += source.slice(i, fenceEnd);
        i = fenceEnd;
        continue;
      }
    }
    if (skipCode && ch === "`") {
      const end = codeSpanEnd(source, i);
      text += source.slice(i, end);
      i = end;
      continue;
    }
    if (ch === "\\" && (source[i + 1] === "(" || source[i + 1] === "[")) {
      const display = source[i + 1] === "[";
      const close = source.indexOf(display ? "\\]" : "\\)", i + 2);
      if (close !== -1) {
        take(close + 2, source.slice(i + 2, close), display);
        continue;
      }
    }
    if (ch === "\\") {
      text += source.slice(i, i + 2); // keeps \$ and other escapes for markdown
      i += 2;
      continue;
    }
    if (ch === "$" && source[i + 1] === "$") {
      const close = source.indexOf("$$", i + 2);
      if (close > i + 2) {
        take(close + 2, source.slice(i + 2, close), true);
        continue;
      }
      text += "$$";
      i += 2;
      continue;
    }
    if (ch === "$") {
      const close = inlineDollarEnd(source, i);
      if (close !== -1) {
        take(close + 1, source.slice(i + 1, close), false);
        continue;
      }
    }
    text += ch;
    i += 1;
  }
  return { text, spans };
}

// Pandoc's rule: no space after the opening $, none before the closing $, no digit after it;
// inline math never crosses a blank line.
function inlineDollarEnd(source, open) {
  if (!source[open + 1] || /\s/.test(source[open + 1])) return -1;
  for (let j = open + 1; j < source.length; j++) {
    const ch = source[j];
    if (ch === "\\") {
      j += 1;
    } else if (ch === "\n" && /^\n[ \t]*(\n|$)/.test(source.slice(j, j + 80))) {
      return -1;
    } else if (ch === "$" && !/\s/.test(source[j - 1]) && !/\d/.test(source[j + 1] ?? "")) {
      return j;
    }
  }
  return -1;
}

function codeSpanEnd(source, start) {
  let runEnd = start;
  while (source[runEnd] === "`") runEnd += 1;
  const run = source.slice(start, runEnd);
  let search = runEnd;
  while (search < source.length) {
    const found = source.indexOf(run, search);
    if (found === -1) break;
    let after = found + run.length;
    if (source[after] !== "`" && source[found - 1] !== "`") return after;
    while (source[after] === "`") after += 1;
    search = after;
  }
  return runEnd; // unmatched backticks are literal text
}

function fencedCodeEnd(source, start) {
  const opening = /^ {0,3}(`{3,}|~{3,})([^\n]*)/.exec(source.slice(start, start + 1000));
  if (!opening || (opening[1][0] === "`" && opening[2].includes("`"))) {
    return start;
  }
  const fence = opening[1];
  const closing = new RegExp(`\\n {0,3}${fence[0] === "`" ? "`" : "~"}{${fence.length},}[ \\t]*(?=\\n|$)`);
  const rest = source.slice(start + opening[0].length);
  const match = closing.exec(rest);
  return match ? start + opening[0].length + match.index + match[0].length : source.length;
}

function start() {
  renderUserContent(document);
  for (const name of ["htmx:afterSwap", "htmx:oobAfterSwap"]) {
    document.addEventListener(name, () => renderUserContent(document));
  }
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", start, { once: true });
} else {
  start();
}
