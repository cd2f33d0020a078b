// Applies the patch operations of an update (livetag.protocol.patch) to the page, without
// stealing focus, caret or scroll: new markup is morphed into the elements in place, and
// the element the user is typing in keeps its live value.
import { OP } from "./protocol.js";
import { ERROR_ID, STATUS_ID } from "./status.js";

// livetag's own elements in <body>: the banner, the busy bar (ids "lt-status..."), the overlay.
const overlay = (n) => n.nodeType === 1 && (n.id === ERROR_ID || n.id.startsWith(STATUS_ID));

// Applies `ops` in order; `added(el)` is told of every element that got new markup or
// handlers. True when the page lost track (an element an op names is not there): the
// caller then asks the server for the whole page.
export function applyPatch(ops, added = () => {}) {
  let lost = false;
  for (const op of ops) {
    const el = document.getElementById(op[1]);
    if (!el) { lost = lost || op[0] !== OP.REMOVE; continue; }
    switch (op[0]) {
      case OP.REMOVE: el.remove(); break;
      case OP.SET_ATTRS: setAttributes(el, op[2], added); break;
      case OP.SET_TEXT: setText(el, op[2]); break;
      case OP.SET_HTML: morphChildren(el, parseChildren(el, op[2])); added(el); break;
      case OP.APPEND: el.insertAdjacentHTML("beforeend", op[2]); added(el); break;
      case OP.MORPH: morphElement(el, parseOuter(el, op[2])); added(el); break;
      case OP.INSERT: lost = !insertBefore(el, Array.from(parseChildren(el, op[3]).childNodes), op[2]) || lost; added(el); break;
      case OP.MOVE: {
        const parent = document.getElementById(op[2]);
        lost = !parent || !insertBefore(parent, [el], op[3]) || lost;
        break;
      }
      default: lost = true;
    }
  }
  return lost;
}

// False when `beforeId` names no element (nothing inserted).
function insertBefore(parent, nodes, beforeId) {
  let before = beforeId === null ? null : document.getElementById(beforeId);
  if (beforeId !== null && !before) return false;
  // livetag's own overlays stay last in <body>.
  if (before === null && parent === document.body) before = Array.from(parent.children).find(overlay) || null;
  for (const node of nodes) parent.insertBefore(node, before);
  return true;
}

// Statics (<style>, <link>, <script>...) go to <head>, each once per page.
const staticsAdded = new Set();
export function addStatics(list) {
  for (const html of list) {
    if (staticsAdded.has(html)) continue;
    staticsAdded.add(html);
    const holder = document.createElement("template");
    holder.innerHTML = html;
    for (const node of Array.from(holder.content.childNodes)) {
      if (node.nodeName === "SCRIPT") {
        // A parsed <script> never runs; a created one does.
        const script = document.createElement("script");
        for (const { name, value } of Array.from(node.attributes)) script.setAttribute(name, value);
        script.textContent = node.textContent;
        document.head.appendChild(script);
      } else {
        document.head.appendChild(node);
      }
    }
  }
}

function setAttributes(el, attrs, added) {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null) el.removeAttribute(name); else el.setAttribute(name, value);
    // An explicit change from the server also moves the live state.
    if (name === "value" && "value" in el && el.value !== (value ?? "")) el.value = value ?? "";
    else if (name === "checked" && "checked" in el) el.checked = value !== null;
    else if (name === "data-lt" && value) added(el);
  }
}

function setText(el, text) {
  if (el.tagName === "TEXTAREA") {
    el.defaultValue = text;
    if (el.value !== text) el.value = text;
  } else if (el.childNodes.length === 1 && el.firstChild.nodeType === 3) {
    el.firstChild.nodeValue = text;
  } else {
    el.textContent = text;
  }
}

function parseChildren(el, html) {
  const holder = el.cloneNode(false); // same context, so <tr> parses inside a <tbody>
  holder.removeAttribute("id");
  holder.innerHTML = html;
  return holder;
}

function parseOuter(el, html) {
  if (el === document.body) {
    return new DOMParser().parseFromString("<!DOCTYPE html><html>" + html + "</html>", "text/html").body;
  }
  const holder = el.parentNode.cloneNode(false);
  holder.removeAttribute("id");
  holder.innerHTML = html;
  return holder.firstElementChild;
}

// Makes `from` (in the page) look like `to` (parsed), keeping `from` and every element
// both share by id. <body> keeps its class and aria-busy attributes (lt-busy...) when `to`
// has none.
function morphElement(from, to) {
  const fromAttrs = from.attributes;
  for (let i = fromAttrs.length - 1; i >= 0; i--) {
    const name = fromAttrs[i].name;
    if (!to.hasAttribute(name) && !(from === document.body && (name === "class" || name === "aria-busy"))) from.removeAttribute(name);
  }
  for (const { name, value } of Array.from(to.attributes)) {
    if (from.getAttribute(name) !== value) from.setAttribute(name, value);
  }
  const focused = from === document.activeElement;
  if (from.tagName === "INPUT") {
    // The element the user is typing in keeps its live value, caret and selection.
    if (!focused) {
      const v = to.getAttribute("value") ?? "";
      if (from.value !== v) from.value = v;
      from.checked = to.hasAttribute("checked");
    }
    return;
  }
  if (from.tagName === "TEXTAREA") {
    if (!focused && from.value !== to.value) from.value = to.value;
    return;
  }
  morphChildren(from, to);
  if (from.tagName === "SELECT" && to.hasAttribute("value")) from.value = to.getAttribute("value");
}

function morphChildren(from, to) {
  const byId = new Map();
  for (const c of from.children) if (c.id && !overlay(c)) byId.set(c.id, c);
  const kept = new Set();
  for (const c of to.children) if (c.id) kept.add(c.id);
  let cur = from.firstChild;
  let next = to.firstChild;
  while (next) {
    const after = next.nextSibling;
    let match = null;
    if (next.nodeType === 1 && next.id) {
      match = byId.get(next.id) || null;
      if (match) byId.delete(next.id);
      if (match && match.tagName !== next.tagName) match = null;
    } else if (cur && cur.nodeType === next.nodeType && (next.nodeType !== 1 || (!cur.id && cur.tagName === next.tagName))) {
      match = cur;
    }
    if (match && match !== cur) {
      // Drop the nodes in the way that the new content does not keep, instead of
      // moving `match` back: moving an element blurs it when it has the focus.
      while (cur && cur !== match && !overlay(cur) && !(cur.nodeType === 1 && cur.id && kept.has(cur.id))) {
        const gone = cur;
        cur = cur.nextSibling;
        from.removeChild(gone);
      }
    }
    if (match) {
      if (match === cur) cur = cur.nextSibling; else from.insertBefore(match, cur);
      if (match.nodeType === 1) morphElement(match, next);
      else if (match.nodeValue !== next.nodeValue) match.nodeValue = next.nodeValue;
    } else {
      from.insertBefore(next, cur); // adopts the parsed node
    }
    next = after;
  }
  while (cur) {
    const after = cur.nextSibling;
    if (!overlay(cur)) from.removeChild(cur);
    cur = after;
  }
}
