// Keyboard shortcuts declared in markup, on the elements they press.
//
//   <button data-key="1 Numpad1">Good</button>        pressing 1 clicks it
//   <button data-key="Mod+Enter" data-key-global>      works while typing too (Mod = Ctrl or Cmd)
//   <li data-key-scope="step" tabindex="-1">           keys inside act only when this scope is
//                                                      active: it holds focus or aria-current
//   <ol data-key-next="j ArrowDown" data-key-prev="k ArrowUp">  moves the active scope
//
// Each declared element gets a <kbd class="key-hint"> badge and aria-keyshortcuts; "?" opens
// an overlay listing the shortcuts on the page.

const NAVIGATION_SELECTOR = "[data-key-next], [data-key-prev]";
const SCOPE_SELECTOR = "[data-key-scope]";
const NON_TEXT_INPUTS = new Set(["checkbox", "radio", "button", "submit", "reset", "range", "color", "file", "image"]);
const KEY_ALIASES = { esc: "Escape", space: " ", up: "ArrowUp", down: "ArrowDown", left: "ArrowLeft", right: "ArrowRight", del: "Delete", return: "Enter" };
const MODIFIERS = { ctrl: "Ctrl", control: "Ctrl", alt: "Alt", option: "Alt", meta: "Meta", cmd: "Meta", shift: "Shift" };
const KEY_SYMBOLS = { ArrowUp: "↑", ArrowDown: "↓", ArrowLeft: "←", ArrowRight: "→", Enter: "↵", Escape: "Esc", " ": "Space" };
const HELP_KEY = "?";
const MOD_SYMBOL = /Mac|iPhone|iPad/.test(navigator.platform) ? "⌘" : "Ctrl";

/** Canonical combos ("Ctrl+Enter", "j", "?") for one declared token; "Mod" yields two. */
export function parseCombo(token) {
  const parts = token.split("+");
  let key = parts.pop();
  if (key === "" && parts.length > 0) key = "+"; // "Ctrl++"
  key = KEY_ALIASES[key.toLowerCase()] ?? key;
  const modifiers = new Set();
  let mod = false;
  for (const part of parts.filter(Boolean)) {
    if (part.toLowerCase() === "mod") mod = true;
    else if (MODIFIERS[part.toLowerCase()]) modifiers.add(MODIFIERS[part.toLowerCase()]);
  }
  const variants = mod ? [new Set([...modifiers, "Ctrl"]), new Set([...modifiers, "Meta"])] : [modifiers];
  return variants.map((set) => canonical(set, key));
}

function comboOfEvent(event) {
  const modifiers = new Set();
  if (event.ctrlKey) modifiers.add("Ctrl");
  if (event.altKey) modifiers.add("Alt");
  if (event.metaKey) modifiers.add("Meta");
  if (event.shiftKey) modifiers.add("Shift");
  return canonical(modifiers, event.key);
}

// A printable character already says whether Shift was held ("?" vs "/", "J" vs "j"), unless
// Ctrl/Alt/Meta is held too, where browsers disagree on the case: then compare lower case.
function canonical(modifiers, key) {
  const printable = key.length === 1;
  const chorded = modifiers.has("Ctrl") || modifiers.has("Alt") || modifiers.has("Meta");
  const name = printable && chorded ? key.toLowerCase() : key;
  const order = ["Ctrl", "Alt", "Meta", ...(printable && !chorded ? [] : ["Shift"])];
  return [...order.filter((m) => modifiers.has(m)), name].join("+");
}

function declaredCombos(element, attribute = "data-key") {
  return (element.getAttribute(attribute) ?? "").split(/\s+/).filter(Boolean).flatMap(parseCombo);
}

function isTyping(target) {
  if (!(target instanceof Element)) return false;
  if (target.isContentEditable || target.matches("textarea, select")) return true;
  return target.matches("input") && !NON_TEXT_INPUTS.has(target.type);
}

function isVisible(element) {
  return element.checkVisibility
    ? element.checkVisibility({ visibilityProperty: true })
    : element.getClientRects().length > 0;
}

function isUsable(element) {
  if (element.matches(":disabled") || element.closest("[aria-disabled='true'], [inert]")) return false;
  return isVisible(element);
}

/** Scopes that are active, most specific first: the focus chain, then aria-current ones. */
function activeScopes() {
  const scopes = [];
  let scope = document.activeElement?.closest?.(SCOPE_SELECTOR);
  while (scope) {
    scopes.push(scope);
    scope = scope.parentElement?.closest(SCOPE_SELECTOR);
  }
  for (const current of document.querySelectorAll(`${SCOPE_SELECTOR}[aria-current]:not([aria-current='false'])`)) {
    if (!scopes.includes(current)) scopes.push(current);
  }
  return scopes;
}

function modalRoot() {
  const dialog = [...document.querySelectorAll("dialog[open]")].find((d) => d.matches(":modal"));
  return dialog ?? document;
}

/** The element a key press should click: in the most specific active scope, else page-level. */
function findTarget(combo, typing) {
  const scopes = activeScopes();
  let best = null;
  let bestRank = Infinity;
  for (const element of modalRoot().querySelectorAll("[data-key]")) {
    if (typing && !element.hasAttribute("data-key-global")) continue;
    if (!declaredCombos(element).includes(combo) || !isUsable(element)) continue;
    const scope = element.closest(SCOPE_SELECTOR);
    const rank = scope ? scopes.indexOf(scope) : scopes.length;
    if (rank !== -1 && rank < bestRank) {
      best = element;
      bestRank = rank;
    }
  }
  return best;
}

function navigableScopes(container) {
  return [...container.querySelectorAll(SCOPE_SELECTOR)].filter(
    (scope) => scope.parentElement.closest(NAVIGATION_SELECTOR) === container && isUsable(scope),
  );
}

/** Makes `scope` the active one among its siblings: aria-current, focus, scrolled into view. */
export function activateScope(scope, { focus = true } = {}) {
  const container = scope.parentElement?.closest(NAVIGATION_SELECTOR);
  if (container) {
    for (const other of navigableScopes(container)) other.removeAttribute("aria-current");
  }
  scope.setAttribute("aria-current", "true");
  if (focus) {
    if (!scope.hasAttribute("tabindex")) scope.setAttribute("tabindex", "-1");
    scope.focus({ preventScroll: true });
    scope.scrollIntoView({ block: "nearest" });
  }
  scope.dispatchEvent(new CustomEvent("keys:scopechange", { bubbles: true }));
}

function moveScope(combo, typing) {
  if (typing) return false;
  for (const container of modalRoot().querySelectorAll(NAVIGATION_SELECTOR)) {
    const step = declaredCombos(container, "data-key-next").includes(combo)
      ? 1
      : declaredCombos(container, "data-key-prev").includes(combo) ? -1 : 0;
    if (step === 0 || !isUsable(container)) continue;
    const scopes = navigableScopes(container);
    if (scopes.length === 0) continue;
    const active = activeScopes();
    const current = scopes.findIndex((scope) => active.includes(scope));
    const next = current === -1 ? 0 : Math.min(scopes.length - 1, Math.max(0, current + step));
    activateScope(scopes[next]);
    return true;
  }
  return false;
}

function onKeydown(event) {
  if (event.defaultPrevented || event.isComposing || event.key === undefined) return;
  if (["Control", "Alt", "Meta", "Shift"].includes(event.key)) return;
  const combo = comboOfEvent(event);
  const typing = isTyping(event.target);
  if (moveScope(combo, typing)) {
    event.preventDefault();
    return;
  }
  if (event.repeat) return;
  const target = findTarget(combo, typing);
  if (target) {
    event.preventDefault();
    target.click();
  } else if (combo === HELP_KEY && !typing) {
    event.preventDefault();
    toggleHelp();
  }
}

function onFocusIn(event) {
  const scope = event.target.closest?.(SCOPE_SELECTOR);
  if (scope?.parentElement?.closest(NAVIGATION_SELECTOR) && scope.getAttribute("aria-current") !== "true") {
    activateScope(scope, { focus: false });
  }
}

function displayKey(token) {
  return token
    .split("+")
    .map((part, i, parts) => {
      if (part === "" && i === parts.length - 1) return "+";
      if (part.toLowerCase() === "mod") return MOD_SYMBOL;
      const key = KEY_ALIASES[part.toLowerCase()] ?? part;
      return KEY_SYMBOLS[key] ?? key;
    })
    .filter(Boolean)
    .join("+");
}

function ariaKey(combo) {
  return combo.replace(/^Ctrl\+/, "Control+").replace(/\+ $|^ $/, (m) => m.replace(" ", "Space"));
}

function labelOf(element) {
  const explicit = element.getAttribute("data-key-label") ?? element.getAttribute("aria-label") ?? element.getAttribute("title");
  if (explicit) return explicit;
  const copy = element.cloneNode(true);
  for (const hint of copy.querySelectorAll(".key-hint")) hint.remove();
  return copy.textContent.replace(/\s+/g, " ").trim() || element.getAttribute("value") || "";
}

/** Adds <kbd> hints and aria-keyshortcuts to declared elements in `root` that lack them. */
export function decorateShortcuts(root = document) {
  for (const element of root.querySelectorAll("[data-key]")) {
    const tokens = (element.getAttribute("data-key") ?? "").split(/\s+/).filter(Boolean);
    if (tokens.length === 0) continue;
    if (!element.hasAttribute("aria-keyshortcuts")) {
      element.setAttribute("aria-keyshortcuts", tokens.flatMap(parseCombo).map(ariaKey).join(" "));
    }
    if (element.getAttribute("data-key-hint") === "off" || hintOf(element)) continue;
    const hint = document.createElement("kbd");
    hint.className = "key-hint";
    hint.setAttribute("aria-hidden", "true");
    hint.textContent = displayKey(tokens[0]);
    if (element.matches("input, textarea, select")) element.after(hint);
    else element.append(hint);
  }
}

function hintOf(element) {
  if (element.matches("input, textarea, select")) return element.nextElementSibling?.matches(".key-hint") ?? false;
  return element.querySelector(":scope > .key-hint") !== null;
}

/** The shortcuts on the page: [{keys, label, scope}], without duplicates, in document order. */
export function listShortcuts(root = document) {
  const seen = new Set();
  const rows = [];
  const add = (keys, label, scope) => {
    const id = `${keys}\u0000${label}\u0000${scope}`;
    if (keys && !seen.has(id)) {
      seen.add(id);
      rows.push({ keys, label, scope });
    }
  };
  for (const container of root.querySelectorAll(NAVIGATION_SELECTOR)) {
    const name = navigableScopes(container)[0]?.getAttribute("data-key-scope") || "item";
    add(container.getAttribute("data-key-next") ?? "", `Next ${name}`, "page");
    add(container.getAttribute("data-key-prev") ?? "", `Previous ${name}`, "page");
  }
  for (const element of root.querySelectorAll("[data-key]")) {
    if (!isVisible(element)) continue;
    const scope = element.closest(SCOPE_SELECTOR)?.getAttribute("data-key-scope") || "page";
    add(element.getAttribute("data-key").trim(), labelOf(element), scope);
  }
  add(HELP_KEY, "Show or hide this list", "page");
  return rows;
}

let helpDialog = null;

function toggleHelp() {
  if (helpDialog?.open) {
    helpDialog.close();
    return;
  }
  helpDialog?.remove();
  helpDialog = document.createElement("dialog");
  helpDialog.className = "key-help";
  helpDialog.setAttribute("aria-label", "Keyboard shortcuts");
  const heading = document.createElement("h2");
  heading.textContent = "Keyboard shortcuts";
  const table = document.createElement("table");
  for (const row of listShortcuts(document)) {
    const tr = table.insertRow();
    const keysCell = tr.insertCell();
    for (const token of row.keys.split(/\s+/)) {
      const kbd = document.createElement("kbd");
      kbd.textContent = displayKey(token);
      keysCell.append(kbd, " ");
    }
    tr.insertCell().textContent = row.label;
    tr.insertCell().textContent = row.scope;
  }
  const close = document.createElement("button");
  close.type = "button";
  close.textContent = "Close";
  close.addEventListener("click", () => helpDialog.close());
  helpDialog.append(heading, table, close);
  document.body.append(helpDialog);
  helpDialog.showModal();
}

function start() {
  decorateShortcuts(document);
  let queued = false;
  new MutationObserver(() => {
    if (queued) return;
    queued = true;
    queueMicrotask(() => {
      queued = false;
      decorateShortcuts(document);
    });
  }).observe(document.body, { childList: true, subtree: true });
}

document.addEventListener("keydown", onKeydown);
document.addEventListener("focusin", onFocusIn);
if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", start, { once: true });
} else {
  start();
}
