// livetag client, entry module: the browser side of livetag/protocol/ (read its
// docstrings first). It numbers and sends events, applies patches without stealing
// focus, caret or scroll, and reconnects, re-sending what the server has not
// acknowledged. The modules, one concept each:
//   protocol.js    the wire vocabulary (checked against Python by a test)
//   codec.js       messages <-> payloads: JSON, AES-GCM in parano mode
//   transports.js  WebSocket, SSE + POST, HTTP long-poll
//   connection.js  the connection's state machine: join, fall back, reconnect, stop
//   session.js     event numbering and acknowledgement, updates in revision order
//   patch.js       patch operations applied to the DOM, morphing
//   forms.js       live values of form controls
//   events.js      DOM events -> livetag events
//   files.js       uploads (file inputs, drop zones) and downloads
//   router.js      path routing: links and Back/Forward -> "navigate" events
//   status.js      busy bar, connection banner, error overlay
import { codec } from "./codec.js";
import { Connection } from "./connection.js";
import { eventData, DomEvents } from "./events.js";
import { download, isFileInput, Uploads } from "./files.js";
import { DirtyControls } from "./forms.js";
import { PathLinks } from "./router.js";
import { Session } from "./session.js";
import { setStatus, showError, showPageErrors } from "./status.js";

const doc = document.documentElement;
const base = doc.dataset.ltBase || "";
const token = doc.dataset.ltToken || "";
const debug = doc.hasAttribute("data-lt-debug");
const key = doc.dataset.ltKey || null; // parano mode: the session's AES-GCM key
const secure = Boolean(window.crypto && crypto.subtle); // WebCrypto: https or localhost only
// Transports, best first. The page (`data-lt-mode`, a server's http_only) or a
// `livetag_mode=sse|http` cookie forces one.
const forced = (/^(sse|http)$/.test(doc.dataset.ltMode || "") && doc.dataset.ltMode)
  || (document.cookie.match(/(?:^|;\s*)(?:livetag|htag)_mode=(sse|http)(?:;|$)/) || [])[1];

const forms = new DirtyControls();
const session = new Session({
  rev: Number(doc.dataset.ltRev || 0), forms, debug, base, token,
  added: (el) => events.scan(el),
  // A deep link (/#/users/7): the server never sees the hash, so tell it now.
  joinedFirst: () => {
    if (location.hash) events.window(new HashChangeEvent("hashchange", { newURL: location.href, oldURL: "" }));
  },
});
const uploads = new Uploads({ base, token, send: (id, name, data) => session.send(id, name, data) });
const events = new DomEvents((id, name, data) => session.send(id, name, data),
  (el, name) => name === "change" && isFileInput(el) && uploads.start(el, name));
const links = new PathLinks((id, name, data) => session.send(id, name, data), base);
const conn = session.conn = new Connection({
  base, token, codec: codec(key && secure ? key : null), modes: forced ? [forced] : ["ws", "sse", "http"],
  receive: (m) => session.receive(m), rev: () => session.rev, ui: { status: setStatus, error: showError },
  heartbeat: Number(doc.dataset.ltHeartbeat || 0) * 1000,
});

// An event the page's own script fires. `data` is copied through JSON now: the event
// carries the value of the moment, and a value JSON cannot carry (a cycle, a BigInt)
// throws here, in the caller, instead of breaking the transport on every resend.
function pageEvent(id, name, data) {
  if (typeof name !== "string" || !name) throw new TypeError(`livetag: expected an event name, got ${typeof name}`);
  return session.sendAndWait(String(id), name, JSON.parse(JSON.stringify(data)));
}

// htag 2's page API, same transport: a primitive (or an array) arrives as `e.value`,
// an object's own properties become the Event's fields (`e.key`; never `e.target` or
// `e.name`, which the server owns), and a DOM event is read as livetag reads its own.
function htagEvent(id, name, value) {
  let data;
  if (value === undefined) data = {};
  else if (value instanceof Event) data = eventData(value, value.target instanceof Element ? value.target : null);
  else if (value !== null && typeof value === "object" && !Array.isArray(value)) data = { ...value };
  else data = { value };
  return pageEvent(id, name, data);
}

window.htag_event = htagEvent;
window.livetag = {
  /** Fire a custom event on a tag: Python receives it with ``e.value`` = value.
   *  Resolves once the server has handled it (its handler ran, or failed and said so). */
  event(id, name, value) {
    return pageEvent(id, name, value === undefined ? {} : { value });
  },
  /** htag 2's ``htag_event(id, name, value)``: an object's properties become fields. */
  htag_event: htagEvent,
  /** Save the file at ``url`` (what ``Tag.download`` sends). */
  download,
  get connected() { return conn.joined; },
  /** "ws", "sse" or "http": the transport in use (or being tried). */
  get transport() { return conn.kind; },
};

if (debug) showPageErrors();
document.addEventListener("input", (e) => forms.mark(e), true);
document.addEventListener("change", (e) => forms.mark(e), true);
events.scan(document.body);
links.start();
uploads.listen();
if (key && !secure) {
  // Never fall back to clear text: parano mode was asked for.
  showError({ msg: "This app runs in parano mode, which needs WebCrypto: open it over https or on localhost." });
} else {
  conn.connect();
}
