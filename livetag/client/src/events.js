// DOM events -> livetag events. An element with handlers says so in `data-lt`
// ("click input.prevent submit.stop": the event names, each with its flags); the
// document listens once per event type that some element handles.
import { controlValue, formValue } from "./forms.js";

// Events that do not bubble: handled in the capture phase, on their target only.
const NON_BUBBLING = new Set(["focus", "blur", "mouseenter", "mouseleave", "pointerenter",
  "pointerleave", "load", "error", "scroll", "toggle", "invalid", "play", "pause", "ended"]);
// Events of the window, delivered to every element that has a handler for them.
const WINDOW_EVENTS = new Set(["hashchange", "popstate", "resize", "online", "offline"]);

// The fields of DOM event `e` on element `el` that the server's Event gets.
export function eventData(e, el) {
  const d = {};
  if (e.type === "submit" && el instanceof HTMLFormElement) d.value = formValue(el);
  else if (el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement || el instanceof HTMLSelectElement || el instanceof HTMLButtonElement) {
    d.value = el.tagName === "SELECT" && el.multiple ? controlValue(el) : el.value;
    if (el.type === "checkbox" || el.type === "radio") d.checked = el.checked;
  }
  if ("key" in e) Object.assign(d, { key: e.key, code: e.code });
  if ("clientX" in e) Object.assign(d, { clientX: e.clientX, clientY: e.clientY, pageX: e.pageX, pageY: e.pageY,
    offsetX: e.offsetX, offsetY: e.offsetY, button: e.button });
  if ("altKey" in e) Object.assign(d, { altKey: e.altKey, ctrlKey: e.ctrlKey, shiftKey: e.shiftKey, metaKey: e.metaKey });
  if ("deltaY" in e) Object.assign(d, { deltaX: e.deltaX, deltaY: e.deltaY });
  if (e instanceof CustomEvent && e.detail !== null) d.detail = e.detail;
  if (e instanceof HashChangeEvent) Object.assign(d, { newURL: e.newURL, oldURL: e.oldURL });
  return d;
}

// The flags of `el`'s handler for `type` (["prevent", "stop"]...), or null: no handler.
export function handlerFlags(el, type) {
  const spec = el.getAttribute && el.getAttribute("data-lt");
  if (!spec) return null;
  for (const entry of spec.split(" ")) {
    const [name, ...flags] = entry.split(".");
    if (name === type) return flags;
  }
  return null;
}

// `send(id, name, data)` sends one event (session.js); `upload(el, name)` (files.js)
// takes the event of a file input instead, when it returns true.
export class DomEvents {
  constructor(send, upload = () => false) {
    this.send = send;
    this.upload = upload;
    this.listening = new Set();
    this.onDom = (e) => this.dom(e);
    this.onWindow = (e) => this.window(e);
  }

  dom(e) {
    const type = e.type;
    let el = e.target;
    while (el && el !== document) {
      const flags = handlerFlags(el, type);
      if (flags) {
        // A form submit always stays in the page: the handler is the submission.
        if (flags.includes("prevent") || type === "submit") e.preventDefault();
        if (!this.upload(el, type)) this.send(el.id, type, eventData(e, el));
        if (flags.includes("stop")) { e.stopPropagation(); return; }
      }
      if (NON_BUBBLING.has(type)) return;
      el = el.parentNode;
    }
  }

  window(e) {
    const d = { value: location.hash, hash: location.hash };
    // HashChangeEvent's own fields (HTML standard), which htag handlers read.
    if (e.type === "hashchange") Object.assign(d, { newURL: e.newURL || location.href, oldURL: e.oldURL || "" });
    for (const el of document.querySelectorAll("[data-lt]")) {
      if (handlerFlags(el, e.type)) this.send(el.id, e.type, d);
    }
  }

  listen(type) {
    if (this.listening.has(type)) return;
    this.listening.add(type);
    if (WINDOW_EVENTS.has(type)) window.addEventListener(type, this.onWindow);
    else document.addEventListener(type, this.onDom, { capture: NON_BUBBLING.has(type) });
  }

  // Listen to the events `node` and its descendants handle (new markup from a patch).
  scan(node) {
    if (node.nodeType !== 1) return;
    const found = node.hasAttribute("data-lt") ? [node] : [];
    for (const el of found.concat(Array.from(node.querySelectorAll("[data-lt]")))) {
      for (const entry of el.getAttribute("data-lt").split(" ")) if (entry) this.listen(entry.split(".")[0]);
    }
  }
}
