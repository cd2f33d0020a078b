// The three transports, best first: WebSocket ("ws"); SSE down + POST up ("sse"); POST up
// with updates in the responses and a long-poll for the server's own updates ("http").
// See livetag/server/websocket.py and livetag/server/http.py.
//
// Each one is opened with a `link` (see connection.js): it joins with link.join(), sends
// messages in order, hands every payload that comes to link.deliver, and reports its end
// once: link.lost(established), link.expired() (reload into a new session) or
// link.ended(msg) (the session is over for good). An HTTP answer with nothing in it
// still tells that the server is there: link.heard().
import { BYE, CLOSE, HTTP, MSG, PATH, REFUSED } from "./protocol.js";

export const MAX_BATCH = 50; // events per HTTP POST; the server's default burst is 100

export function webSocket(link) {
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const ws = new WebSocket(scheme + location.host + link.base + PATH.WS);
  let established = false;
  let out = Promise.resolve();
  const t = {
    send(msg) {
      const payload = link.codec.encode(msg);
      out = out.then(() => payload).then((p) => { if (ws.readyState === 1) ws.send(p); });
    },
    close() { ws.onclose = null; ws.close(); },
  };
  ws.onopen = () => t.send(link.join());
  ws.onmessage = (e) => { established = true; link.deliver(e.data); };
  ws.onclose = (e) => {
    if (e.code === CLOSE.SESSION_EXPIRED) return link.expired();
    if (e.code === CLOSE.SESSION_ENDED) return link.ended(e.reason);
    if (e.code === CLOSE.POLICY && (e.reason === REFUSED.CSRF || e.reason === REFUSED.VERSION)) return link.expired();
    link.lost(established);
  };
  return t;
}

export function http(kind, link) {
  let alive = true;
  let established = false;
  let cid = null;
  let stream = null;
  let busy = false;
  const queue = [];
  const url = (path) => link.base + path;
  const fail = () => {
    if (!alive) return;
    alive = false;
    if (stream) stream.close();
    link.lost(established);
  };
  async function post(path, msg) {
    return fetch(url(path), {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: { "Content-Type": "text/plain", "X-Livetag-Token": link.token }, body: await link.codec.encode(msg),
    });
  }
  // True when the response was good; otherwise reacts (reload, rejoin...) and says false.
  async function handle(res) {
    if (res.status === 200) { await link.deliver(await res.text()); return true; }
    if (res.status === 204) { link.heard(); return true; }
    if (res.status === HTTP.ENDED || res.status === HTTP.REFUSED) {
      alive = false;
      const bye = res.status === HTTP.ENDED ? ((await res.json().catch(() => [])) || []).find((m) => m && m.t === MSG.BYE) : null;
      if (bye && bye.code === BYE.ENDED) link.ended(bye.msg); else link.expired();
      return false;
    }
    if (res.status === HTTP.BAD || res.status === HTTP.TOO_LARGE) { console.error("livetag: message refused", await res.text()); return true; }
    fail(); // 409 (join again), 503 (HTTP.STOPPING: the next server takes over), other 5xx, proxies...
    return false;
  }
  async function pump() {
    if (busy || !alive || cid === null || !queue.length) return;
    busy = true;
    // Bounded, so that a long disconnection's backlog fits the server's event burst.
    const batch = queue.splice(0, MAX_BATCH);
    try {
      const res = await post(`${PATH.EVENT}?cid=${encodeURIComponent(cid)}&mode=${kind}`, batch);
      if (res.status === HTTP.SLOW_DOWN) {
        queue.unshift(...batch);
        const wait = Number(res.headers.get("Retry-After") || 1);
        await new Promise((r) => setTimeout(r, wait * 1000));
      } else {
        await handle(res);
      }
    } catch (err) {
      fail();
    }
    busy = false;
    pump();
  }
  async function poll() {
    while (alive) {
      try {
        const res = await fetch(url(`${PATH.POLL}?cid=${encodeURIComponent(cid)}`), { credentials: "same-origin", cache: "no-store" });
        if (!(await handle(res))) return;
      } catch (err) {
        return fail();
      }
    }
  }
  (async () => {
    try {
      if (!(await handle(await post(PATH.JOIN, link.join())))) return;
      cid = link.cid();
      if (kind === "sse") {
        stream = new EventSource(url(`${PATH.SSE}?cid=${encodeURIComponent(cid)}`));
        stream.onopen = () => { established = true; };
        stream.onmessage = (e) => link.deliver(e.data);
        stream.onerror = fail; // it would retry on its own; rejoining is what keeps exactly-once
      } else {
        established = true;
        poll();
      }
      pump();
    } catch (err) {
      fail();
    }
  })();
  return {
    send(msg) { queue.push(msg); pump(); },
    close() { alive = false; if (stream) stream.close(); },
  };
}
