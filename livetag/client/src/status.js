// What the page shows of livetag itself (styled by livetag/server/page.py, restyleable
// with the --lt-* CSS variables there): the busy bar, the connection banner and the
// error overlay. They stay last in <body>, and patches leave them alone (patch.js:
// every id starting with "lt-status", and ERROR_ID).
export const STATUS_ID = "lt-status";
export const BUSY_ID = "lt-status-busy";
export const ERROR_ID = "lt-error";
//: An event unanswered for this long shows the busy bar (a quick one never flickers it).
export const BUSY_DELAY_MS = 200;
//: A connection blip shorter than this is not worth a banner.
export const OFFLINE_DELAY_MS = 500;
//: Errors kept in the overlay, newest first.
const MAX_ERRORS = 5;

export const OFFLINE = "offline";
export const EXPIRED = "expired";

let statusTimer = null;
let shown = null; // {text, kind} of the banner, or null
let queued = 0; // events the server has not acknowledged

const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

function bannerText({ text, kind }) {
  if (!queued) return text;
  const actions = plural(queued, "action", "actions");
  if (kind === EXPIRED) return `${text} ${actions} made meanwhile could not be applied.`;
  return `${text} ${actions} will be sent when it is back.`;
}

function renderBanner() {
  let el = document.getElementById(STATUS_ID);
  document.body.classList.toggle("lt-offline", shown !== null);
  if (shown === null) {
    if (el) el.remove();
    return;
  }
  if (!el) {
    el = document.createElement("div");
    el.id = STATUS_ID;
    el.setAttribute("role", "status");
    el.setAttribute("aria-live", "polite");
    document.body.appendChild(el);
  }
  el.dataset.kind = shown.kind;
  el.textContent = bannerText(shown);
}

// The banner: `text` ("Connection lost. Reconnecting…"), of `kind` OFFLINE (shown after
// a moment, for a blip is not worth it) or EXPIRED (at once); null when all is well.
export function setStatus(text, kind = OFFLINE) {
  clearTimeout(statusTimer);
  const show = () => { shown = text === null ? null : { text, kind }; renderBanner(); };
  if (text === null || kind !== OFFLINE) show(); else statusTimer = setTimeout(show, OFFLINE_DELAY_MS);
}

let busyTimer = null;

// Events sent and not yet acknowledged (`pending` of them): the progress cursor at once,
// the busy bar and aria-busy once it takes longer than BUSY_DELAY_MS; the banner says
// how many wait for the connection.
export function setBusy(busy, pending = busy ? 1 : 0) {
  const body = document.body;
  body.classList.toggle("lt-busy", busy);
  if (queued !== pending) {
    queued = pending;
    if (shown !== null) renderBanner();
  }
  if (!busy) {
    clearTimeout(busyTimer);
    busyTimer = null;
    body.removeAttribute("aria-busy");
    const bar = document.getElementById(BUSY_ID);
    if (bar) bar.remove();
    return;
  }
  if (busyTimer !== null || document.getElementById(BUSY_ID)) return;
  busyTimer = setTimeout(() => {
    busyTimer = null;
    body.setAttribute("aria-busy", "true");
    const bar = document.createElement("div");
    bar.id = BUSY_ID;
    bar.setAttribute("aria-hidden", "true"); // aria-busy on <body> says it to assistive tech
    body.appendChild(bar);
  }, BUSY_DELAY_MS);
}

// `m`: an "err" message ({msg, eid?, trace?}) or any {msg}. Always as text, never markup:
// the newest first in the overlay, which a click on its button dismisses.
export function showError(m) {
  let el = document.getElementById(ERROR_ID);
  if (!el) {
    el = document.createElement("div");
    el.id = ERROR_ID;
    el.setAttribute("role", "alert");
    const head = document.createElement("div");
    head.className = "lt-error-head";
    const title = document.createElement("strong");
    title.textContent = "Error";
    const close = document.createElement("button");
    close.type = "button";
    close.className = "lt-error-close";
    close.textContent = "×";
    close.title = "dismiss";
    close.setAttribute("aria-label", "dismiss the error");
    close.onclick = () => el.remove();
    head.append(title, close);
    el.appendChild(head);
    document.body.appendChild(el);
  }
  const id = m.eid ? ` (error id ${m.eid})` : "";
  const entry = document.createElement("section");
  entry.className = "lt-error-entry";
  const msg = document.createElement("p");
  msg.className = "lt-error-msg";
  msg.textContent = m.msg + id;
  entry.appendChild(msg);
  if (m.trace) {
    const trace = document.createElement("pre");
    trace.className = "lt-error-trace";
    trace.textContent = m.trace;
    entry.appendChild(trace);
  }
  el.querySelector(".lt-error-head").after(entry);
  const entries = el.querySelectorAll(".lt-error-entry");
  for (let i = MAX_ERRORS; i < entries.length; i++) entries[i].remove();
  console.error("livetag:", m.msg + id, m.trace || "");
}

// An error the page did not catch (its own scripts, a call_js timer, a rejected
// promise): in debug, shown like a failing handler; otherwise the browser's console
// already has it. A cross-origin script's error comes as "Script error." only.
export function pageError(title, err, where) {
  const trace = err && err.stack ? String(err.stack) : "";
  showError({ msg: title + ": " + (err && err.message ? err.message : String(err)) + (where || ""), trace });
}

export function showPageErrors() {
  window.addEventListener("error", (e) => {
    pageError("JavaScript error", e.error || e.message, e.filename ? ` (${e.filename}:${e.lineno}:${e.colno})` : "");
  });
  window.addEventListener("unhandledrejection", (e) => pageError("Unhandled promise rejection", e.reason));
}
