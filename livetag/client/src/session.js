// The page's side of its session (livetag/session.py): events numbered and kept until the
// server acknowledges them, so that a reconnect re-sends exactly those; updates applied
// in revision order, an early one held a moment for the one it follows.
import { BYE, ERR, MSG, PATH } from "./protocol.js";
import { addStatics, applyPatch } from "./patch.js";
import { pageError, setBusy, setStatus, showError } from "./status.js";

export class Session {
  // rev: the revision of the page as served; forms: a DirtyControls (forms.js);
  // added(el): told of new markup (DomEvents.scan); joinedFirst(): run once, on the
  // first join; debug: call_js errors in the page. `conn` (connection.js) is set before use.
  constructor({ rev, forms, added, joinedFirst, debug, base, token }) {
    Object.assign(this, { rev, forms, added, joinedFirst, debug, base, token });
    this.conn = null;
    this.seq = 0;
    this.unacked = []; // sent or queued events, oldest first, until the server acknowledges them
    this.applied = new Map(); // seq -> resolve, for the page's own events (livetag.event)
    this.held = new Map(); // rev -> update that arrived before the one it follows
    this.heldTimer = null;
    this.resyncing = false; // a full render was asked for and has not arrived yet
    this.everJoined = false;
  }

  // Numbers and sends (or queues) one event; its sequence number.
  send(id, name, data) {
    this.seq += 1;
    const ev = { t: MSG.EVENT, s: this.seq, id, n: name, d: data, sync: this.forms.take() };
    this.unacked.push(ev);
    setBusy(true, this.unacked.length);
    this.conn.send(ev); // while disconnected: kept in unacked, sent on the next join
    return this.seq;
  }

  // Like send, for the page's own script: resolves once the server has handled it.
  sendAndWait(id, name, data) {
    const s = this.send(id, name, data);
    return new Promise((resolve) => this.applied.set(s, resolve));
  }

  receive(m) {
    switch (m.t) {
      case MSG.JOINED: {
        const reconnected = this.conn.join(m.cid); // else: the answer to a resync
        this.resyncing = false;
        if (m.st) addStatics(m.st);
        if (m.p.length) this.patch(m.p);
        this.rev = m.rev;
        for (const r of Array.from(this.held.keys())) if (r <= this.rev) this.held.delete(r);
        this.acknowledge(m.ack);
        if (!reconnected) break;
        for (const ev of this.unacked) this.conn.send(ev);
        setStatus(null);
        if (!this.everJoined) {
          this.everJoined = true;
          this.joinedFirst();
        }
        break;
      }
      case MSG.UPDATE:
        if (m.rev <= this.rev) { this.acknowledge(m.ack); break; } // already applied
        if (m.rev > this.rev + 1) { this.hold(m); break; }
        this.update(m);
        while (this.held.has(this.rev + 1)) {
          const next = this.held.get(this.rev + 1);
          this.held.delete(this.rev + 1);
          this.update(next);
        }
        if (!this.held.size) { clearTimeout(this.heldTimer); this.heldTimer = null; }
        break;
      case MSG.ACK:
        this.acknowledge(m.ack);
        break;
      case MSG.PONG: // the server is there: the connection noted it (heard)
        break;
      case MSG.COOKIE: // a handler changed request.session: only HTTP can set the cookie
        fetch(this.base + PATH.COOKIE, { method: "POST", credentials: "same-origin", headers: { "X-Livetag-Token": this.token } })
          .catch((err) => console.error("livetag: cookie update failed", err));
        break;
      case MSG.ERROR:
        // A failing handler is for the user to see. Anything else (an event on a tag
        // the server removed a moment before, a rejected message) is a race or a bug
        // of the page that the user cannot act on: console only.
        if (Object.values(ERR).includes(m.code)) showError(m);
        else console.warn("livetag:", m.code, m.msg);
        break;
      case MSG.BYE:
        if (m.code === BYE.EXPIRED) this.conn.expire();
        else this.conn.end(m.msg); // "ended", "evicted": final, and said in the page
        break;
    }
  }

  patch(ops) {
    if (applyPatch(ops, this.added)) this.resync();
  }

  update(m) {
    if (m.st) addStatics(m.st);
    if (m.p.length) this.patch(m.p);
    this.rev = m.rev;
    this.acknowledge(m.ack);
    if (m.js) m.js.forEach((code) => this.run(code));
  }

  // An update ahead of a missing one waits a moment for it (HTTP responses may cross);
  // if it does not come, the page asks for everything.
  hold(m) {
    this.held.set(m.rev, m);
    if (!this.heldTimer) this.heldTimer = setTimeout(() => { this.heldTimer = null; if (this.held.size) this.resync(); }, 1000);
  }

  acknowledge(ack) {
    if (this.unacked.length && this.unacked[0].s <= ack) this.unacked = this.unacked.filter((ev) => ev.s > ack);
    for (const [s, resolve] of this.applied) if (s <= ack) { this.applied.delete(s); resolve(); }
    setBusy(this.unacked.length > 0, this.unacked.length);
  }

  resync() {
    if (!this.conn.joined || this.resyncing) return; // one full render answers every loss until then
    this.resyncing = true;
    this.conn.send({ t: MSG.SYNC });
  }

  // A call_js script from the server.
  run(code) {
    try {
      new Function(code)();
    } catch (err) {
      if (this.debug) pageError("call_js failed", err);
      else console.error("livetag: call_js failed", err);
    }
  }
}
