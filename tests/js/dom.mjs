// A fresh happy-dom page for each test, its window's classes installed as globals: the
// client modules use the browser's globals, as they do in a page.
import { Window } from "happy-dom";

const GLOBALS = ["document", "location", "sessionStorage", "Node", "Element", "HTMLElement", "HTMLInputElement",
  "HTMLTextAreaElement", "HTMLSelectElement", "HTMLButtonElement", "HTMLFormElement", "Event", "CustomEvent",
  "HashChangeEvent", "KeyboardEvent", "MouseEvent", "DOMParser", "CSS"];

export function page(body = "", { url = "http://127.0.0.1:8000/" } = {}) {
  const window = new Window({ url, settings: { disableJavaScriptEvaluation: true, disableJavaScriptFileLoading: true, disableCSSFileLoading: true } });
  window.document.write(`<!DOCTYPE html><html><head></head><body>${body}</body></html>`);
  globalThis.window = window;
  for (const name of GLOBALS) globalThis[name] = window[name];
  return window;
}

export const $ = (selector) => document.querySelector(selector);
