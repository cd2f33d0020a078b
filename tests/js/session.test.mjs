import assert from "node:assert/strict";
import { afterEach, beforeEach, mock, test } from "node:test";
import { Session } from "../../livetag/client/src/session.js";
import { $, page } from "./dom.mjs";

// A joined connection that records what it is asked to send.
function session() {
  const conn = {
    joined: false, sent: [], expired: 0, endedWith: [],
    join() { const first = !this.joined; this.joined = true; return first; },
    send(m) { if (this.joined) this.sent.push(m); },
    expire() { this.expired += 1; },
    end(msg) { this.endedWith.push(msg); },
  };
  const forms = { take: () => ({}) };
  const s = new Session({ rev: 0, forms, added: () => {}, joinedFirst: () => { s.firsts = (s.firsts || 0) + 1; }, debug: false, base: "", token: "t" });
  s.conn = conn;
  return s;
}
const up = (rev, text, ack = 0) => ({ t: "up", rev, ack, p: [["t", "x", text]] });

beforeEach(() => {
  page('<p id="x">0</p>');
  mock.timers.enable({ apis: ["setTimeout"] });
});
afterEach(() => mock.timers.reset());

test("events are numbered, queued until joined, re-sent on each rejoin until acknowledged", async () => {
  const s = session();
  assert.equal(s.send("b", "click", {}), 1);
  assert.equal(document.body.classList.contains("lt-busy"), true);
  const done = s.sendAndWait("b", "custom", { value: 1 });
  assert.deepEqual(s.conn.sent, []);
  s.receive({ t: "joined", cid: "c", ack: 0, rev: 0, p: [] });
  assert.deepEqual(s.conn.sent.map((m) => [m.t, m.s, m.n]), [["ev", 1, "click"], ["ev", 2, "custom"]]);
  s.receive({ t: "ack", ack: 1 });
  s.conn.joined = false; // lost, then joined again: only event 2 is re-sent
  s.receive({ t: "joined", cid: "c", ack: 1, rev: 0, p: [] });
  assert.deepEqual(s.conn.sent.slice(2).map((m) => m.s), [2]);
  s.receive({ t: "ack", ack: 2 });
  await done;
  assert.equal(document.body.classList.contains("lt-busy"), false);
  assert.equal(s.firsts, 1);
});

test("updates apply in revision order: an early one waits for the one it follows", () => {
  const s = session();
  s.receive({ t: "joined", cid: "c", ack: 0, rev: 0, p: [] });
  s.receive(up(2, "two"));
  assert.equal($("#x").textContent, "0");
  s.receive(up(1, "one"));
  assert.equal($("#x").textContent, "two");
  assert.equal(s.rev, 2);
  s.receive(up(2, "stale"));
  assert.equal($("#x").textContent, "two");
});

test("a missing update, or an op on a missing element, asks once for the whole page", () => {
  const s = session();
  s.receive({ t: "joined", cid: "c", ack: 0, rev: 0, p: [] });
  s.receive(up(3, "three"));
  mock.timers.tick(1000);
  assert.deepEqual(s.conn.sent, [{ t: "sync" }]);
  s.receive({ t: "up", rev: 1, ack: 0, p: [["t", "missing", "x"]] });
  assert.deepEqual(s.conn.sent, [{ t: "sync" }], "one resync at a time");
  s.receive({ t: "joined", cid: "c", ack: 0, rev: 3, p: [["t", "x", "all"]] });
  assert.equal($("#x").textContent, "all");
  assert.equal(s.held.size, 0);
  assert.equal(s.firsts, 1);
});

test("bye: expired reloads, anything else ends the session with its message", () => {
  const s = session();
  s.receive({ t: "bye", code: "expired", msg: "x" });
  s.receive({ t: "bye", code: "evicted", msg: "opened elsewhere" });
  assert.equal(s.conn.expired, 1);
  assert.deepEqual(s.conn.endedWith, ["opened elsewhere"]);
});

test("err: a failing handler shows in the page as text; other errors go to the console", () => {
  const s = session();
  mock.method(console, "error", () => {});
  mock.method(console, "warn", () => {});
  s.receive({ t: "err", code: "handler_error", msg: "<b>boom</b>", eid: "e1", trace: "Traceback" });
  assert.equal($("#lt-error .lt-error-msg").textContent, "<b>boom</b> (error id e1)");
  assert.equal($("#lt-error .lt-error-trace").textContent, "Traceback");
  assert.equal($("#lt-error b"), null);
  s.receive({ t: "err", code: "unknown_target", msg: "gone" });
  assert.equal(console.warn.mock.callCount(), 1);
  mock.restoreAll();
});
