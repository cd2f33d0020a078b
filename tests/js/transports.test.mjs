import assert from "node:assert/strict";
import { afterEach, beforeEach, mock, test } from "node:test";
import { codec } from "../../livetag/client/src/codec.js";
import { http, MAX_BATCH, webSocket } from "../../livetag/client/src/transports.js";

// What a transport reports to its connection, in order.
function link(overrides = {}) {
  const events = [];
  const l = {
    events, heards: 0, base: "/ui", token: "tok", codec: codec(null),
    join: () => ({ t: "join", cid: null }), cid: () => "cid-1",
    deliver: async (payload) => { events.push(["deliver", payload]); },
    lost: (established) => events.push(["lost", established]),
    expired: () => events.push(["expired"]),
    ended: (msg) => events.push(["ended", msg]),
    heard: () => { l.heards += 1; }, // an answer without messages: the server is there
    ...overrides,
  };
  return l;
}
const settle = () => new Promise((r) => setImmediate(r));

let sockets;
class FakeWebSocket {
  constructor(url) { this.url = url; this.readyState = 0; this.sent = []; this.closed = false; sockets.push(this); }
  send(data) { this.sent.push(data); }
  close() { this.closed = true; }
}

beforeEach(() => {
  sockets = [];
  globalThis.WebSocket = FakeWebSocket;
  globalThis.location = new URL("https://example.test:8443/ui/");
});
afterEach(() => mock.restoreAll());

test("ws: joins on open, sends in order once open, delivers what comes", async () => {
  const l = link();
  const t = webSocket(l);
  const ws = sockets[0];
  assert.equal(ws.url, "wss://example.test:8443/ui/_lt/ws");
  ws.readyState = 1;
  ws.onopen();
  t.send({ t: "ev", s: 1 });
  await settle();
  assert.deepEqual(ws.sent.map((p) => JSON.parse(p).t), ["join", "ev"]);
  ws.onmessage({ data: '{"t":"joined"}' });
  assert.deepEqual(l.events, [["deliver", '{"t":"joined"}']]);
  ws.readyState = 3;
  t.send({ t: "ev", s: 2 });
  await settle();
  assert.equal(ws.sent.length, 2, "nothing is sent on a closed socket");
});

test("ws: what each close code means", () => {
  const cases = [
    [{ code: 4404, reason: "" }, ["expired"]],
    [{ code: 4410, reason: "stopped" }, ["ended", "stopped"]],
    [{ code: 1008, reason: "csrf" }, ["expired"]],
    [{ code: 1008, reason: "version" }, ["expired"]],
    [{ code: 1008, reason: "rate limit: too many messages" }, ["lost", false]],
    [{ code: 1006, reason: "" }, ["lost", false]],
  ];
  for (const [close, expected] of cases) {
    const l = link();
    webSocket(l);
    sockets.at(-1).onclose(close);
    assert.deepEqual(l.events, [expected], JSON.stringify(close));
  }
  const l = link();
  webSocket(l);
  sockets.at(-1).onmessage({ data: "{}" });
  sockets.at(-1).onclose({ code: 1006, reason: "" });
  assert.deepEqual(l.events.at(-1), ["lost", true], "a socket that delivered was established");
});

test("ws: close() is not a loss", () => {
  const l = link();
  const t = webSocket(l);
  t.close();
  assert.equal(sockets[0].closed, true);
  assert.equal(sockets[0].onclose, null);
});

// A fake fetch: answers each request with the next response queued for its path.
function server(routes) {
  const requests = [];
  globalThis.fetch = async (url, init = {}) => {
    const path = url.split("?")[0];
    requests.push({ url, method: init.method || "GET", headers: init.headers || {}, body: init.body });
    const queue = routes[path];
    const next = queue && queue.length ? queue.shift() : null;
    if (!next) return new Promise(() => {}); // a long-poll that never answers
    if (next instanceof Error) throw next;
    const { status = 200, body = "", headers = {} } = next;
    return { status, headers: new Headers(headers), text: async () => body, json: async () => JSON.parse(body) };
  };
  return requests;
}

test("http: joins, long-polls, and posts events in batches with the token", async () => {
  const requests = server({ "/ui/_lt/join": [{ body: '[{"t":"joined"}]' }], "/ui/_lt/poll": [{ body: '{"t":"up"}' }],
    "/ui/_lt/event": [{ status: 204 }, { status: 204 }] });
  const l = link();
  const t = http("http", l);
  for (let s = 1; s <= MAX_BATCH + 1; s++) t.send({ t: "ev", s });
  await settle();
  await settle();
  const join = requests[0];
  assert.deepEqual([join.url, join.method, join.headers["X-Livetag-Token"]], ["/ui/_lt/join", "POST", "tok"]);
  assert.deepEqual(JSON.parse(join.body), { t: "join", cid: null });
  assert.ok(requests.some((r) => r.url === "/ui/_lt/poll?cid=cid-1"));
  const posts = requests.filter((r) => r.url.startsWith("/ui/_lt/event"));
  assert.equal(posts[0].url, "/ui/_lt/event?cid=cid-1&mode=http");
  assert.deepEqual(posts.map((r) => JSON.parse(r.body).length), [MAX_BATCH, 1]);
  assert.equal(l.heards, 2, "each 204 says the server is there");
  assert.deepEqual(l.events.slice(0, 2), [["deliver", '[{"t":"joined"}]'], ["deliver", '{"t":"up"}']]);
  assert.ok(!l.events.some(([kind]) => kind === "lost"));
});

test("http: a 429 keeps the batch and retries after Retry-After", async () => {
  mock.timers.enable({ apis: ["setTimeout"] });
  const requests = server({ "/ui/_lt/join": [{ body: "[]" }], "/ui/_lt/event": [{ status: 429, headers: { "Retry-After": "2" } }, { status: 204 }] });
  const t = http("http", link());
  t.send({ t: "ev", s: 1 });
  for (let i = 0; i < 5; i++) await settle();
  assert.equal(requests.filter((r) => r.url.includes("/_lt/event")).length, 1);
  mock.timers.tick(2000);
  for (let i = 0; i < 5; i++) await settle();
  const posts = requests.filter((r) => r.url.includes("/_lt/event"));
  assert.deepEqual(posts.map((r) => r.body), ['[{"t":"ev","s":1}]', '[{"t":"ev","s":1}]']);
  mock.timers.reset();
});

test("http: what each refusal means", async () => {
  const cases = [
    [{ status: 410, body: '[{"t":"bye","code":"ended","msg":"stopped"}]' }, ["ended", "stopped"]],
    [{ status: 410, body: '[{"t":"bye","code":"expired","msg":"x"}]' }, ["expired"]],
    [{ status: 403, body: '{"t":"err","code":"csrf"}' }, ["expired"]],
    [{ status: 409, body: '[{"t":"bye","code":"rejoin"}]' }, ["lost", false]],
    [{ status: 502, body: "" }, ["lost", false]],
    [new TypeError("network down"), ["lost", false]],
  ];
  for (const [response, expected] of cases) {
    server({ "/ui/_lt/join": [response] });
    const l = link();
    http("http", l);
    for (let i = 0; i < 5; i++) await settle();
    assert.deepEqual(l.events, [expected], JSON.stringify(response));
  }
});

test("sse: events come on an EventSource; its error is a loss, once", async () => {
  const streams = [];
  globalThis.EventSource = class { constructor(url) { this.url = url; this.closed = false; streams.push(this); } close() { this.closed = true; } };
  server({ "/ui/_lt/join": [{ body: "[]" }] });
  const l = link();
  http("sse", l);
  for (let i = 0; i < 5; i++) await settle();
  assert.equal(streams[0].url, "/ui/_lt/sse?cid=cid-1");
  streams[0].onopen();
  streams[0].onmessage({ data: '{"t":"up"}' });
  streams[0].onerror();
  streams[0].onerror();
  assert.deepEqual(l.events.slice(1), [["deliver", '{"t":"up"}'], ["lost", true]]);
  assert.equal(streams[0].closed, true);
});
