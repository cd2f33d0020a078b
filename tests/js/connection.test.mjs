import assert from "node:assert/strict";
import { afterEach, beforeEach, mock, test } from "node:test";
import { codec } from "../../livetag/client/src/codec.js";
import {
  Connection, CONNECTING, ENDED, EXPIRED_NOTICE_MS, EXPIRED_TEXT, JOINED, OFFLINE_TEXT, RELOADING, WAITING,
} from "../../livetag/client/src/connection.js";
import { PROTOCOL } from "../../livetag/client/src/protocol.js";

// Fake transports: each records the link it was opened with and what it was sent.
let opened;
const fake = (kind) => (link) => {
  const t = { kind, link, sent: [], closed: false, send(m) { this.sent.push(m); }, close() { this.closed = true; } };
  opened.push(t);
  return t;
};
const TRANSPORTS = { ws: fake("ws"), sse: fake("sse"), http: fake("http") };

function connection(options = {}) {
  const ui = { statuses: [], errors: [], status(text) { this.statuses.push(text); }, error(m) { this.errors.push(m.msg); } };
  const received = [];
  const conn = new Connection({
    base: "/ui", token: "tok", codec: codec(null), modes: ["ws", "sse", "http"], ui, transports: TRANSPORTS,
    receive: (m) => received.push(m), rev: () => 7, reload: () => { conn.reloaded = (conn.reloaded || 0) + 1; }, ...options,
  });
  return { conn, ui, received, last: () => opened.at(-1) };
}

beforeEach(() => {
  opened = [];
  const store = new Map();
  globalThis.sessionStorage = { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, v) };
  mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_000_000 });
  mock.method(console, "info", () => {});
});

afterEach(() => {
  mock.timers.reset();
  mock.restoreAll();
});

test("connect opens the best transport, which joins with the page's revision", () => {
  const { conn, last } = connection();
  assert.equal(conn.state, "idle");
  conn.connect();
  assert.equal(conn.state, CONNECTING);
  assert.equal(last().kind, "ws");
  assert.deepEqual(last().link.join(), { t: "join", v: PROTOCOL, token: "tok", cid: null, rev: 7 });
  assert.equal(last().link.base, "/ui");
});

test("joined: events flow; a later join is the answer to a resync; the client id is reused", () => {
  const { conn, last } = connection();
  conn.connect();
  conn.send({ t: "ev" });
  assert.deepEqual(last().sent, [], "nothing is sent before the join");
  assert.equal(conn.join("cid-1"), true);
  assert.equal(conn.state, JOINED);
  assert.equal(conn.joined, true);
  conn.send({ t: "ev" });
  assert.deepEqual(last().sent, [{ t: "ev" }]);
  assert.equal(conn.join("cid-1"), false);
  assert.equal(last().link.join().cid, "cid-1");
  assert.equal(last().link.cid(), "cid-1");
});

test("a transport that never got through falls back at once, down to the last one, then waits", () => {
  const { conn, ui, last } = connection();
  conn.connect();
  last().link.lost(false);
  assert.deepEqual([conn.state, conn.kind], [CONNECTING, "sse"]);
  last().link.lost(false);
  assert.deepEqual([conn.state, conn.kind], [CONNECTING, "http"]);
  last().link.lost(false);
  // Nothing got through: the server is away; start over from the best after a backoff.
  assert.deepEqual([conn.state, conn.kind, conn.transport], [WAITING, "ws", null]);
  assert.deepEqual(ui.statuses, [OFFLINE_TEXT]);
  assert.equal(opened.length, 3);
  mock.timers.tick(150);
  assert.deepEqual([conn.state, last().kind, opened.length], [CONNECTING, "ws", 4]);
});

test("a transport that got through is kept: losing it means reconnecting, with a growing backoff", () => {
  const { conn, last } = connection();
  conn.connect();
  last().link.lost(false); // ws refused
  conn.join("c");
  last().link.lost(true); // sse worked, then dropped
  assert.deepEqual([conn.state, conn.kind, conn.settled], [WAITING, "sse", true]);
  for (let retry = 1; retry <= 8; retry++) {
    mock.timers.tick(5000 * 1.25);
    assert.deepEqual([conn.state, last().kind], [CONNECTING, "sse"]);
    last().link.lost(false);
    assert.equal(conn.retries, retry + 1);
  }
  mock.timers.tick(6250);
  conn.join("c");
  assert.equal(conn.retries, 0);
});

test("expired: a notice, then reload once, after a moment the first time, after 3 s when reloads come in a loop", () => {
  const { conn, ui, last } = connection();
  conn.connect();
  conn.join("c");
  last().link.expired();
  last().link.expired(); // "bye" then the 4404 close: one reload
  assert.equal(conn.state, RELOADING);
  assert.equal(conn.joined, false);
  assert.deepEqual(ui.statuses, [EXPIRED_TEXT]); // said before anything else happens
  mock.timers.tick(EXPIRED_NOTICE_MS - 1);
  assert.equal(conn.reloaded, undefined);
  mock.timers.tick(1);
  assert.equal(conn.reloaded, 1);
  last().link.lost(false); // the socket closing after: nothing more
  assert.equal(opened.length, 1);

  const again = connection(); // the fresh page, refused again within 5 s
  again.conn.connect();
  again.last().link.expired();
  mock.timers.tick(2999);
  assert.equal(again.conn.reloaded, undefined);
  mock.timers.tick(1);
  assert.equal(again.conn.reloaded, 1);
});

test("ended: final, said in the page, the transport closed, no reconnect", () => {
  const { conn, ui, last } = connection();
  conn.connect();
  conn.join("c");
  const t = last();
  t.link.ended("stopped: too slow");
  assert.equal(conn.state, ENDED);
  assert.equal(t.closed, true);
  assert.deepEqual(ui.errors, ["stopped: too slow"]);
  assert.deepEqual(ui.statuses, [null]);
  t.link.lost(true);
  t.link.expired();
  t.link.ended("again");
  assert.deepEqual([conn.state, opened.length, ui.errors.length], [ENDED, 1, 1]);
  assert.throws(() => conn.connect(), /cannot go from ended to connecting/);
});

test("ended while waiting: the backoff timer does not reconnect; the default message", () => {
  const { conn, ui, last } = connection({ modes: ["http"] });
  conn.connect();
  last().link.lost(false);
  assert.equal(conn.state, WAITING);
  conn.end();
  mock.timers.tick(10000);
  assert.deepEqual([conn.state, opened.length], [ENDED, 1]);
  assert.match(ui.errors[0], /This session has ended/);
});

test("a reload in progress can still be told the session ended", () => {
  const { conn, ui } = connection();
  conn.connect();
  conn.expire();
  conn.end("gone");
  assert.deepEqual([conn.state, ui.errors], [ENDED, ["gone"]]);
});

test("payloads are decoded and received in arrival order, whatever each one takes", async () => {
  mock.timers.reset();
  const slow = {
    async decode(p) {
      await new Promise((r) => setTimeout(r, p.length)); // the longer, the later
      const data = JSON.parse(p);
      return Array.isArray(data) ? data : [data];
    },
  };
  const { conn, received } = connection({ codec: slow });
  conn.deliver('{"n":1,"padding":"xxxxxxxxxxxxxxxxxxx"}');
  conn.deliver('{"n":2}');
  mock.method(console, "error", () => {});
  conn.deliver("broken");
  await conn.deliver('[{"n":3},{"n":4}]');
  assert.deepEqual(received.map((m) => m.n), [1, 2, 3, 4]);
  const errors = console.error.mock.calls.filter((c) => String(c.arguments[0]).startsWith("livetag:"));
  assert.equal(errors.length, 1);
});

test("heartbeat: a ping after a silence, the transport given up after twice that", () => {
  const { conn, ui, last } = connection({ heartbeat: 1000 });
  conn.connect();
  conn.join("cid-1");
  const first = last();
  mock.timers.tick(500);
  assert.deepEqual(first.sent, [], "nothing to ask yet");
  mock.timers.tick(500);
  assert.deepEqual(first.sent, [{ t: "ping" }]);
  conn.deliver('{"t":"pong"}'); // an answer, or anything else the server says
  mock.timers.tick(1500);
  assert.equal(conn.state, JOINED, "the answer counted");
  assert.equal(first.closed, false);
  mock.timers.tick(500);
  assert.equal(first.closed, true, "no word for twice the heartbeat: the socket is dead");
  assert.equal(conn.state, WAITING);
  assert.deepEqual(ui.statuses, [OFFLINE_TEXT]);
  mock.timers.tick(5000);
  assert.notEqual(last(), first, "and a new transport joins");
  assert.equal(conn.state, CONNECTING);
});

test("heartbeat: link.heard (an empty HTTP answer) keeps the connection; 0 turns it off", () => {
  const { conn, last } = connection({ heartbeat: 1000 });
  conn.connect();
  conn.join("cid-1");
  for (let i = 0; i < 10; i++) {
    mock.timers.tick(900);
    last().link.heard();
  }
  assert.equal(conn.state, JOINED);
  const off = connection({ heartbeat: 0 });
  off.conn.connect();
  off.conn.join("cid-2");
  mock.timers.tick(60_000);
  assert.equal(off.conn.state, JOINED);
  assert.deepEqual(off.last().sent, []);
});

test("heartbeat: a join without an answer is given up (a frozen machine's kernel accepts it)", () => {
  const { conn, last } = connection({ heartbeat: 1000 });
  conn.connect();
  const first = last();
  mock.timers.tick(1999);
  assert.equal(conn.state, CONNECTING);
  mock.timers.tick(1);
  assert.equal(first.closed, true);
  assert.equal(last().kind, "sse", "never got through: the next transport");
  conn.join("cid-1"); // the next one answers: the join's timer is the heartbeat's now
  mock.timers.tick(1500);
  assert.equal(conn.state, JOINED);
});
