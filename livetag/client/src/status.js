// What the page shows of livetag itself: the busy cursor, the connection status and the
// error overlay (styled by livetag/server/page.py). Overlays stay last in <body>, and
// patches leave them alone (patch.js).
export const STATUS_ID = "lt-status";
export const ERROR_ID = "lt-error";

let statusTimer = null;

// `text`: what to say ("reconnecting…"), or null when all is well again.
export function setStatus(text) {
  clearTimeout(statusTimer);
  const show = () => {
    let el = document.getElementById(STATUS_ID);
    document.body.classList.toggle("lt-offline", text !== null);
    if (text === null) return el && el.remove();
    if (!el) {
      el = document.createElement("div");
      el.id = STATUS_ID;
      el.setAttribute("role", "status");
      document.body.appendChild(el);
    }
    el.textContent = text;
  };
  // A blip shorter than half a second is not worth a flicker.
  if (text === null) show(); else statusTimer = setTimeout(show, 500);
}

// Events sent and not yet acknowledged: the progress cursor.
export function setBusy(busy) {
  document.body.classList.toggle("lt-busy", busy);
}

// `m`: an "err" message ({msg, eid?, trace?}) or any {msg}. Always as text, never markup.
export function showError(m) {
  let el = document.getElementById(ERROR_ID);
  if (!el) {
    el = document.createElement("pre");
    el.id = ERROR_ID;
    el.setAttribute("role", "alert");
    el.title = "click to dismiss";
    el.onclick = () => el.remove();
    document.body.appendChild(el);
  }
  const id = m.eid ? ` (error id ${m.eid})` : "";
  el.textContent = m.msg + id + (m.trace ? "\n\n" + m.trace : "");
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
