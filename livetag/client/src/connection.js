// The connection to the session: which transport, and one explicit state machine for
// joining, falling back, reconnecting and stopping.
//
//   connecting --join--> joined --lost--> connecting (next transport, at once)
//        |                                waiting --(backoff)--> connecting
//        +-- any live state --expired--> reloading;  any state but ended --ended--> ended
//
// A transport that got through once (`settled`) is kept for the page's life: losing it
// then means a network blip, not a proxy that refuses it.
//
// Heartbeat: a machine that died or froze sends no TCP reset, so a socket to it stays
// open in the browser. After `heartbeat` ms without a word from the server the page asks
// (`ping`); after twice that it takes the connection for dead and reconnects. A join
// that gets no answer in that time (a frozen machine accepts connections in its kernel,
// then says nothing) is given up the same way.
import { MSG, PROTOCOL } from "./protocol.js";
import { http, webSocket } from "./transports.js";

export const CONNECTING = "connecting";
export const JOINED = "joined";
export const WAITING = "waiting";
export const RELOADING = "reloading";
export const ENDED = "ended";
// What the banner says (status.js shows it; kinds "offline" and "expired").
export const OFFLINE_TEXT = "Connection lost. Reconnecting…";
export const EXPIRED_TEXT = "The server no longer has this session (it restarted, or the session expired): starting a fresh one…";
// How long the "starting a fresh session" notice shows before the reload.
export const EXPIRED_NOTICE_MS = 1500;

const NEXT = {
  idle: [CONNECTING, ENDED],
  [CONNECTING]: [JOINED, CONNECTING, WAITING, RELOADING, ENDED],
  [JOINED]: [CONNECTING, WAITING, RELOADING, ENDED],
  [WAITING]: [CONNECTING, RELOADING, ENDED],
  [RELOADING]: [ENDED],
  [ENDED]: [],
};

export const TRANSPORTS = { ws: webSocket, sse: (link) => http("sse", link), http: (link) => http("http", link) };

export class Connection {
  // base, token: the page's mount path and CSRF token; codec: see codec.js; modes: the
  // transports to try, best first; receive(message), rev(): the page's side (session.js);
  // ui: { status(text | null, kind), error({msg}) }; heartbeat: ms (0: none); transports
  // and reload: for tests.
  constructor({ base, token, codec, modes, receive, rev, ui, heartbeat = 0, transports = TRANSPORTS,
    reload = () => location.reload() }) {
    Object.assign(this, { base, token, codec, modes, receive, rev, ui, heartbeat, transports, reload });
    this.heardAt = 0; // Date.now() when the server last said anything
    this.beat = null; // the heartbeat's timer
    this.state = "idle";
    this.mode = 0; // index in modes
    this.settled = false;
    this.retries = 0;
    this.transport = null; // the transport in use, or null while waiting
    this.cid = null; // the client id the server gave, sent again on a rejoin
    this.inbound = Promise.resolve();
  }

  get kind() { return this.modes[this.mode]; }
  get joined() { return this.state === JOINED; }

  to(state) {
    if (!NEXT[this.state].includes(state)) throw new Error(`livetag: connection cannot go from ${this.state} to ${state}`);
    this.state = state;
  }

  connect() {
    this.to(CONNECTING);
    const link = {
      base: this.base, token: this.token, codec: this.codec,
      join: () => ({ t: MSG.JOIN, v: PROTOCOL, token: this.token, cid: this.cid, rev: this.rev() }),
      cid: () => this.cid,
      deliver: (payload) => this.deliver(payload),
      heard: () => this.heard(),
      lost: (established) => this.lost(established),
      expired: () => this.expire(),
      ended: (msg) => this.end(msg),
    };
    const transport = this.transport = this.transports[this.kind](link);
    clearTimeout(this.beat);
    this.beat = this.heartbeat ? setTimeout(() => {
      this.beat = null;
      if (this.state !== CONNECTING || this.transport !== transport) return;
      console.info(`livetag: no answer to the join in ${Math.round(2 * this.heartbeat / 1000)} s: trying again`);
      transport.close();
      this.lost(false);
    }, 2 * this.heartbeat) : null;
  }

  // Payloads are opened and handled strictly one after the other, in arrival order.
  deliver(payload) {
    this.heard();
    this.inbound = this.inbound
      .then(() => this.codec.decode(payload))
      .then((messages) => { for (const m of messages) this.receive(m); })
      .catch((err) => console.error("livetag: cannot read a message from the server", err));
    return this.inbound;
  }

  send(msg) {
    if (this.state === JOINED) this.transport.send(msg);
  }

  // The server answered a join: true when that (re)connects the page, false when it is
  // the answer to a resync (or comes late from a transport already given up).
  join(cid) {
    this.cid = cid;
    if (this.state !== CONNECTING) return false;
    this.to(JOINED);
    this.retries = 0;
    this.heard();
    this.watch();
    return true;
  }

  heard() { this.heardAt = Date.now(); }

  // While joined, every heartbeat/2: ping after `heartbeat` of silence, give the
  // transport up after twice that.
  watch() {
    clearTimeout(this.beat);
    this.beat = null;
    if (!this.heartbeat || this.state !== JOINED) return;
    this.beat = setTimeout(() => {
      this.beat = null;
      if (this.state !== JOINED) return;
      const silent = Date.now() - this.heardAt;
      if (silent >= 2 * this.heartbeat) {
        console.info(`livetag: no word from the server for ${Math.round(silent / 1000)} s: reconnecting`);
        const transport = this.transport;
        if (transport) transport.close(); // it reports nothing more: lost() is said here
        return this.lost(true);
      }
      if (silent >= this.heartbeat) this.transport.send({ t: MSG.PING });
      this.watch();
    }, this.heartbeat / 2);
  }

  lost(established) {
    this.transport = null;
    if (this.state === RELOADING || this.state === ENDED) return;
    if (established) this.settled = true;
    if (!this.settled && this.mode + 1 < this.modes.length) {
      this.mode += 1; // the server answers but this transport does not get through: fall back now
      console.info("livetag: falling back to", this.kind);
      return this.connect();
    }
    if (!this.settled) this.mode = 0; // nothing got through: the server is away; start over from the best
    this.to(WAITING);
    this.ui.status(OFFLINE_TEXT, "offline");
    const delay = Math.min(5000, 100 * 2 ** this.retries) * (0.75 + Math.random() / 2);
    this.retries += 1;
    setTimeout(() => { if (this.state === WAITING) this.connect(); }, delay);
  }

  // The session is gone (expired, or this page is stale): reload into a new one, once
  // ("bye" and the 4404 close that follows both ask).
  expire() {
    if (this.state === RELOADING || this.state === ENDED) return;
    this.to(RELOADING);
    // Guard against a reload loop when the server keeps refusing the fresh page.
    const last = Number(sessionStorage.getItem("lt-reload") || 0);
    const wait = Date.now() - last < 5000 ? 3000 : EXPIRED_NOTICE_MS;
    sessionStorage.setItem("lt-reload", String(Date.now() + wait));
    this.ui.status(EXPIRED_TEXT, "expired"); // said before the page starts afresh
    setTimeout(this.reload, wait);
  }

  // The server ended this session for good (its process was stopped: a timeout, a crash,
  // a memory limit...): say so in the page, stop reconnecting, do not reload by itself.
  end(msg) {
    if (this.state === ENDED) return;
    this.to(ENDED);
    if (this.transport) this.transport.close();
    this.transport = null;
    this.ui.status(null);
    this.ui.error({ msg: msg || "This session has ended. Reload the page to start a new one." });
  }
}
