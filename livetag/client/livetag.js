// livetag client: the browser side of livetag/protocol.py (read its docstring first).
// It numbers and sends events, applies patches without stealing focus, caret or scroll,
// and reconnects, re-sending what the server has not acknowledged.
(() => {
  "use strict";
  const PROTOCOL = 1;
  const MAX_BATCH = 50; // events per HTTP POST; the server's default burst is 100
  const doc = document.documentElement;
  const config = {
    base: doc.dataset.ltBase || "",
    token: doc.dataset.ltToken || "",
    debug: doc.hasAttribute("data-lt-debug"),
  };
  // Events that do not bubble: handled in the capture phase, on their target only.
  const NON_BUBBLING = new Set(["focus", "blur", "mouseenter", "mouseleave", "pointerenter",
    "pointerleave", "load", "error", "scroll", "toggle", "invalid", "play", "pause", "ended"]);

  const key = doc.dataset.ltKey || null; // parano mode: the session's AES-GCM key
  // Transports, best first. The page (`data-lt-mode`, a server's http_only) or a
  // `livetag_mode=sse|http` cookie forces one.
  const forced = (/^(sse|http)$/.test(doc.dataset.ltMode || "") && doc.dataset.ltMode)
    || (document.cookie.match(/(?:^|;\s*)(?:livetag|htag)_mode=(sse|http)(?:;|$)/) || [])[1];
  const MODES = forced ? [forced] : ["ws", "sse", "http"];

  let rev = Number(doc.dataset.ltRev || 0);
  let transport = null; // the transport in use, or null while (re)connecting
  let mode = 0; // index in MODES
  let settled = false; // a transport worked: this page load keeps it (no fallback)
  let clientId = null;
  let joined = false;
  let resyncing = false; // a full render was asked for and has not arrived yet
  let seq = 0;
  let unacked = []; // sent or queued events, oldest first, until the server acknowledges them
  let retries = 0;
  let everJoined = false;
  let statusTimer = null;
  const held = new Map(); // rev -> update that arrived before the one it follows
  let heldTimer = null;
  const dirtyControls = new Set(); // form controls whose live value the server has not seen

  // -- payloads (parano mode seals them with AES-GCM, like livetag/server/parano.py) -------

  const b64 = {
    decode(s) {
      const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4));
      return Uint8Array.from(bin, (c) => c.charCodeAt(0));
    },
    encode(bytes) {
      let bin = "";
      for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    },
  };
  const secure = Boolean(window.crypto && crypto.subtle); // WebCrypto: https or localhost only
  const codec = key && secure
    ? (async () => {
        const aes = await crypto.subtle.importKey("raw", b64.decode(key), "AES-GCM", false, ["encrypt", "decrypt"]);
        return {
          async seal(text) {
            const iv = crypto.getRandomValues(new Uint8Array(12));
            const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv }, aes, new TextEncoder().encode(text)));
            const out = new Uint8Array(12 + sealed.length);
            out.set(iv);
            out.set(sealed, 12);
            return b64.encode(out);
          },
          async open(payload) {
            const data = b64.decode(payload);
            const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: data.subarray(0, 12) }, aes, data.subarray(12));
            return new TextDecoder().decode(plain);
          },
        };
      })()
    : Promise.resolve({ seal: async (t) => t, open: async (t) => t });

  // Payloads are opened and handled strictly one after the other, in arrival order.
  let inbound = Promise.resolve();
  function deliver(payload) {
    inbound = inbound
      .then(() => codec)
      .then((c) => c.open(payload))
      .then((text) => {
        const data = JSON.parse(text);
        for (const m of Array.isArray(data) ? data : [data]) receive(m);
      })
      .catch((err) => console.error("livetag: cannot read a message from the server", err));
    return inbound;
  }

  function joinMessage() {
    return { t: "join", v: PROTOCOL, token: config.token, cid: clientId, rev };
  }

  // -- transports: each joins, sends messages in order, and calls lost(established) once ----

  function webSocketTransport(lost) {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + location.host + config.base + "/_lt/ws");
    let established = false;
    let out = Promise.resolve();
    const t = {
      send(msg) {
        const text = JSON.stringify(msg);
        out = out.then(() => codec).then((c) => c.seal(text)).then((p) => { if (ws.readyState === 1) ws.send(p); });
      },
      close() { ws.onclose = null; ws.close(); },
    };
    ws.onopen = () => t.send(joinMessage());
    ws.onmessage = (e) => { established = true; deliver(e.data); };
    ws.onclose = (e) => {
      if (e.code === 4404) return reloadIntoNewSession();
      if (e.code === 4410) return sessionEnded(e.reason);
      if (e.code === 1008 && (e.reason === "csrf" || e.reason === "version")) return reloadIntoNewSession();
      lost(established);
    };
    return t;
  }

  // SSE down + POST up ("sse"), or POST up with updates in the responses and a long-poll
  // for the server's own updates ("http"). See livetag/server/http.py.
  function httpTransport(kind, lost) {
    let alive = true;
    let established = false;
    let cid = null;
    let stream = null;
    let busy = false;
    const queue = [];
    const url = (path) => config.base + path;
    const fail = () => {
      if (!alive) return;
      alive = false;
      if (stream) stream.close();
      lost(established);
    };
    async function post(path, body) {
      const c = await codec;
      return fetch(url(path), {
        method: "POST", credentials: "same-origin", cache: "no-store",
        headers: { "Content-Type": "text/plain", "X-Livetag-Token": config.token }, body: await c.seal(body),
      });
    }
    // True when the response was good; otherwise reacts (reload, rejoin...) and says false.
    async function handle(res) {
      if (res.status === 200) { await deliver(await res.text()); return true; }
      if (res.status === 204) return true;
      if (res.status === 410 || res.status === 403) {
        alive = false;
        const bye = res.status === 410 ? ((await res.json().catch(() => [])) || []).find((m) => m && m.t === "bye") : null;
        if (bye && bye.code === "ended") sessionEnded(bye.msg); else reloadIntoNewSession();
        return false;
      }
      if (res.status === 400 || res.status === 413) { console.error("livetag: message refused", await res.text()); return true; }
      fail(); // 409 (join again), 5xx, proxies...
      return false;
    }
    async function pump() {
      if (busy || !alive || cid === null || !queue.length) return;
      busy = true;
      // Bounded, so that a long disconnection's backlog fits the server's event burst.
      const batch = queue.splice(0, MAX_BATCH);
      try {
        const res = await post(`/_lt/event?cid=${encodeURIComponent(cid)}&mode=${kind}`, JSON.stringify(batch));
        if (res.status === 429) {
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
          const res = await fetch(url(`/_lt/poll?cid=${encodeURIComponent(cid)}`), { credentials: "same-origin", cache: "no-store" });
          if (!(await handle(res))) return;
        } catch (err) {
          return fail();
        }
      }
    }
    (async () => {
      try {
        if (!(await handle(await post("/_lt/join", JSON.stringify(joinMessage()))))) return;
        cid = clientId;
        if (kind === "sse") {
          stream = new EventSource(url(`/_lt/sse?cid=${encodeURIComponent(cid)}`));
          stream.onopen = () => { established = true; };
          stream.onmessage = (e) => deliver(e.data);
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

  function connect() {
    const kind = MODES[mode];
    transport = kind === "ws" ? webSocketTransport(lost) : httpTransport(kind, lost);
  }

  function lost(established) {
    transport = null;
    joined = false;
    if (reloading || ended) return;
    if (established) settled = true;
    if (!settled && mode + 1 < MODES.length) {
      mode += 1; // the server answers but this transport does not get through: fall back now
      console.info("livetag: falling back to", MODES[mode]);
      return connect();
    }
    if (!settled) mode = 0; // nothing got through: the server is away; start over from the best
    setStatus("reconnecting…");
    const delay = Math.min(5000, 100 * 2 ** retries) * (0.75 + Math.random() / 2);
    retries += 1;
    setTimeout(connect, delay);
  }

  // The server ended this session for good (its process was stopped: a timeout, a crash,
  // a memory limit...): say so in the page, stop reconnecting, do not reload by itself.
  let ended = false;
  function sessionEnded(msg) {
    if (ended) return;
    ended = true;
    if (transport) transport.close();
    transport = null;
    joined = false;
    setStatus(null);
    showError({ msg: msg || "This session has ended. Reload the page to start a new one." });
  }

  let reloading = false;
  function reloadIntoNewSession() {
    if (ended) return;
    if (reloading) return; // "bye" and the 4404 close that follows both ask: reload once
    reloading = true;
    // Guard against a reload loop when the server keeps refusing the fresh page.
    const last = Number(sessionStorage.getItem("lt-reload") || 0);
    const wait = Date.now() - last < 5000 ? 3000 : 0;
    sessionStorage.setItem("lt-reload", String(Date.now() + wait));
    setStatus("session expired, reloading…");
    setTimeout(() => location.reload(), wait);
  }

  function receive(m) {
    switch (m.t) {
      case "joined": {
        const reconnected = !joined; // else: the answer to a resync
        clientId = m.cid;
        joined = true;
        resyncing = false;
        if (m.st) addStatics(m.st);
        if (m.p.length) applyPatch(m.p);
        rev = m.rev;
        for (const r of Array.from(held.keys())) if (r <= rev) held.delete(r);
        acknowledge(m.ack);
        if (!reconnected) break;
        retries = 0;
        for (const ev of unacked) transport.send(ev);
        setStatus(null);
        if (!everJoined) {
          everJoined = true;
          // A deep link (/#/users/7): the server never sees the hash, so tell it now.
          if (location.hash) fireWindowEvent(new HashChangeEvent("hashchange", { newURL: location.href, oldURL: "" }));
        }
        break;
      }
      case "up":
        if (m.rev <= rev) { acknowledge(m.ack); break; } // already applied
        if (m.rev > rev + 1) { hold(m); break; }
        applyUpdate(m);
        while (held.has(rev + 1)) {
          const next = held.get(rev + 1);
          held.delete(rev + 1);
          applyUpdate(next);
        }
        if (!held.size) { clearTimeout(heldTimer); heldTimer = null; }
        break;
      case "ack":
        acknowledge(m.ack);
        break;
      case "cookie": // a handler changed request.session: only HTTP can set the cookie
        fetch(config.base + "/_lt/cookie", { method: "POST", credentials: "same-origin", headers: { "X-Livetag-Token": config.token } })
          .catch((err) => console.error("livetag: cookie update failed", err));
        break;
      case "err":
        // A failing handler is for the user to see. Anything else (an event on a tag
        // the server removed a moment before, a rejected message) is a race or a bug
        // of the page that the user cannot act on: console only.
        if (m.code === "handler_error" || m.code === "render_error") showError(m);
        else console.warn("livetag:", m.code, m.msg);
        break;
      case "bye":
        if (m.code === "expired") reloadIntoNewSession();
        else sessionEnded(m.msg); // "ended", "evicted": final, and said in the page
        break;
    }
  }

  function applyUpdate(m) {
    if (m.st) addStatics(m.st);
    if (m.p.length) applyPatch(m.p);
    rev = m.rev;
    acknowledge(m.ack);
    if (m.js) m.js.forEach(runScript);
  }

  // An update ahead of a missing one waits a moment for it (HTTP responses may cross);
  // if it does not come, the page asks for everything.
  function hold(m) {
    held.set(m.rev, m);
    if (!heldTimer) heldTimer = setTimeout(() => { heldTimer = null; if (held.size) requestResync(); }, 1000);
  }

  function acknowledge(ack) {
    if (unacked.length && unacked[0].s <= ack) unacked = unacked.filter((ev) => ev.s > ack);
    for (const [s, resolve] of applied) if (s <= ack) { applied.delete(s); resolve(); }
    document.body.classList.toggle("lt-busy", unacked.length > 0);
  }

  function requestResync() {
    if (!joined || resyncing || !transport) return; // one full render answers every loss until then
    resyncing = true;
    transport.send({ t: "sync" });
  }

  function setStatus(text) {
    clearTimeout(statusTimer);
    const show = () => {
      let el = document.getElementById("lt-status");
      document.body.classList.toggle("lt-offline", text !== null);
      if (text === null) return el && el.remove();
      if (!el) {
        el = document.createElement("div");
        el.id = "lt-status";
        el.setAttribute("role", "status");
        document.body.appendChild(el);
      }
      el.textContent = text;
    };
    // A blip shorter than half a second is not worth a flicker.
    if (text === null) show(); else statusTimer = setTimeout(show, 500);
  }

  function showError(m) {
    let el = document.getElementById("lt-error");
    if (!el) {
      el = document.createElement("pre");
      el.id = "lt-error";
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
  function pageError(title, err, where) {
    const trace = err && err.stack ? String(err.stack) : "";
    showError({ msg: title + ": " + (err && err.message ? err.message : String(err)) + (where || ""), trace });
  }
  if (config.debug) {
    window.addEventListener("error", (e) => {
      pageError("JavaScript error", e.error || e.message, e.filename ? ` (${e.filename}:${e.lineno}:${e.colno})` : "");
    });
    window.addEventListener("unhandledrejection", (e) => pageError("Unhandled promise rejection", e.reason));
  }

  function runScript(code) {
    try {
      new Function(code)();
    } catch (err) {
      if (config.debug) pageError("call_js failed", err);
      else console.error("livetag: call_js failed", err);
    }
  }

  // -- events -------------------------------------------------------------------------

  const applied = new Map(); // seq -> resolve, for the page's own events (livetag.event)

  function sendEvent(id, name, data) {
    seq += 1;
    const ev = { t: "ev", s: seq, id, n: name, d: data, sync: takeSync() };
    unacked.push(ev);
    document.body.classList.add("lt-busy");
    if (joined && transport) transport.send(ev);
    return seq;
  }

  function controlValue(el) {
    if (el.type === "checkbox" || el.type === "radio") return el.checked;
    if (el.tagName === "SELECT" && el.multiple) return Array.from(el.selectedOptions, (o) => o.value);
    return el.value;
  }

  function takeSync() {
    const sync = {};
    for (const el of dirtyControls) if (el.id && el.isConnected) sync[el.id] = controlValue(el);
    dirtyControls.clear();
    return sync;
  }

  function markDirty(e) {
    const el = e.target;
    if (!(el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement || el instanceof HTMLSelectElement)) return;
    dirtyControls.add(el);
    if (el.type === "radio" && el.name) {
      // Checking one radio unchecks its group without an event on the others.
      const scope = el.form || document;
      for (const r of scope.querySelectorAll(`input[type=radio][name="${CSS.escape(el.name)}"]`)) dirtyControls.add(r);
    }
  }

  function formValue(form) {
    const out = {};
    for (const el of form.elements) {
      if (!el.name || el.disabled || el.type === "file") continue;
      if (el.type === "checkbox") out[el.name] = el.checked;
      else if (el.type === "radio") { if (el.checked || !(el.name in out)) out[el.name] = el.checked ? el.value : null; }
      else if (el.tagName === "SELECT" && el.multiple) out[el.name] = Array.from(el.selectedOptions, (o) => o.value);
      else if (el.tagName !== "BUTTON" && el.type !== "submit" && el.type !== "button") out[el.name] = el.value;
    }
    return out;
  }

  function eventData(e, el) {
    const d = {};
    if (e.type === "submit" && el instanceof HTMLFormElement) d.value = formValue(el);
    else if (el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement || el instanceof HTMLSelectElement || el instanceof HTMLButtonElement) {
      d.value = el.tagName === "SELECT" && el.multiple ? controlValue(el) : el.value;
      if (el.type === "checkbox" || el.type === "radio") d.checked = el.checked;
    }
    if ("key" in e) Object.assign(d, { key: e.key, code: e.code });
    if ("clientX" in e) Object.assign(d, { clientX: e.clientX, clientY: e.clientY, pageX: e.pageX, pageY: e.pageY,
      offsetX: e.offsetX, offsetY: e.offsetY, button: e.button });
    if ("altKey" in e) Object.assign(d, { altKey: e.altKey, ctrlKey: e.ctrlKey, shiftKey: e.shiftKey, metaKey: e.metaKey });
    if ("deltaY" in e) Object.assign(d, { deltaX: e.deltaX, deltaY: e.deltaY });
    if (e instanceof CustomEvent && e.detail !== null) d.detail = e.detail;
    if (e instanceof HashChangeEvent) Object.assign(d, { newURL: e.newURL, oldURL: e.oldURL });
    return d;
  }

  function handlerFlags(el, type) {
    const spec = el.getAttribute && el.getAttribute("data-lt");
    if (!spec) return null;
    for (const entry of spec.split(" ")) {
      const [name, ...flags] = entry.split(".");
      if (name === type) return flags;
    }
    return null;
  }

  function onDomEvent(e) {
    const type = e.type;
    let el = e.target;
    while (el && el !== document) {
      const flags = handlerFlags(el, type);
      if (flags) {
        // A form submit always stays in the page: the handler is the submission.
        if (flags.includes("prevent") || type === "submit") e.preventDefault();
        sendEvent(el.id, type, eventData(e, el));
        if (flags.includes("stop")) { e.stopPropagation(); return; }
      }
      if (NON_BUBBLING.has(type)) return;
      el = el.parentNode;
    }
  }

  // Events of the window, delivered to every element that has a handler for them.
  const WINDOW_EVENTS = new Set(["hashchange", "popstate", "resize", "online", "offline"]);
  function fireWindowEvent(e) {
    const d = { value: location.hash, hash: location.hash };
    // HashChangeEvent's own fields (HTML standard), which htag handlers read.
    if (e.type === "hashchange") Object.assign(d, { newURL: e.newURL || location.href, oldURL: e.oldURL || "" });
    for (const el of document.querySelectorAll("[data-lt]")) {
      if (handlerFlags(el, e.type)) sendEvent(el.id, e.type, d);
    }
  }

  const listening = new Set();
  function listen(type) {
    if (listening.has(type)) return;
    listening.add(type);
    if (WINDOW_EVENTS.has(type)) window.addEventListener(type, fireWindowEvent);
    else document.addEventListener(type, onDomEvent, { capture: NON_BUBBLING.has(type) });
  }

  function scan(node) {
    if (node.nodeType !== 1) return;
    const found = node.hasAttribute("data-lt") ? [node] : [];
    for (const el of found.concat(Array.from(node.querySelectorAll("[data-lt]")))) {
      for (const entry of el.getAttribute("data-lt").split(" ")) if (entry) listen(entry.split(".")[0]);
    }
  }

  // -- patching -----------------------------------------------------------------------

  function applyPatch(ops) {
    let lost = false;
    for (const op of ops) {
      const el = document.getElementById(op[1]);
      if (!el) { lost = lost || op[0] !== "-"; continue; }
      switch (op[0]) {
        case "-": el.remove(); break;
        case "a": setAttributes(el, op[2]); break;
        case "t": setText(el, op[2]); break;
        case "h": morphChildren(el, parseChildren(el, op[2])); scan(el); break;
        case "+": el.insertAdjacentHTML("beforeend", op[2]); scan(el); break;
        case "o": morphElement(el, parseOuter(el, op[2])); scan(el); break;
        case "i": insertBefore(el, Array.from(parseChildren(el, op[3]).childNodes), op[2]); scan(el); break;
        case "m": {
          const parent = document.getElementById(op[2]);
          if (!parent) { lost = true; break; }
          insertBefore(parent, [el], op[3]);
          break;
        }
        default: lost = true;
      }
    }
    if (lost) requestResync();
  }

  function insertBefore(parent, nodes, beforeId) {
    let before = beforeId === null ? null : document.getElementById(beforeId);
    if (beforeId !== null && !before) return requestResync();
    // livetag's own overlays stay last in <body>.
    if (before === null && parent === document.body) before = document.getElementById("lt-status") || document.getElementById("lt-error");
    for (const node of nodes) parent.insertBefore(node, before);
  }

  const staticsAdded = new Set();
  function addStatics(list) {
    for (const html of list) {
      if (staticsAdded.has(html)) continue;
      staticsAdded.add(html);
      const holder = document.createElement("template");
      holder.innerHTML = html;
      for (const node of Array.from(holder.content.childNodes)) {
        if (node.nodeName === "SCRIPT") {
          // A parsed <script> never runs; a created one does.
          const script = document.createElement("script");
          for (const { name, value } of Array.from(node.attributes)) script.setAttribute(name, value);
          script.textContent = node.textContent;
          document.head.appendChild(script);
        } else {
          document.head.appendChild(node);
        }
      }
    }
  }

  function setAttributes(el, attrs) {
    for (const [name, value] of Object.entries(attrs)) {
      if (value === null) el.removeAttribute(name); else el.setAttribute(name, value);
      // An explicit change from the server also moves the live state.
      if (name === "value" && "value" in el && el.value !== (value ?? "")) el.value = value ?? "";
      else if (name === "checked" && "checked" in el) el.checked = value !== null;
      else if (name === "data-lt" && value) scan(el);
    }
  }

  function setText(el, text) {
    if (el.tagName === "TEXTAREA") {
      el.defaultValue = text;
      if (el.value !== text) el.value = text;
    } else if (el.childNodes.length === 1 && el.firstChild.nodeType === 3) {
      el.firstChild.nodeValue = text;
    } else {
      el.textContent = text;
    }
  }

  function parseChildren(el, html) {
    const holder = el.cloneNode(false); // same context, so <tr> parses inside a <tbody>
    holder.removeAttribute("id");
    holder.innerHTML = html;
    return holder;
  }

  function parseOuter(el, html) {
    if (el === document.body) {
      return new DOMParser().parseFromString("<!DOCTYPE html><html>" + html + "</html>", "text/html").body;
    }
    const holder = el.parentNode.cloneNode(false);
    holder.removeAttribute("id");
    holder.innerHTML = html;
    return holder.firstElementChild;
  }

  function morphElement(from, to) {
    const fromAttrs = from.attributes;
    for (let i = fromAttrs.length - 1; i >= 0; i--) {
      const name = fromAttrs[i].name;
      if (!to.hasAttribute(name) && !(from === document.body && (name === "class"))) from.removeAttribute(name);
    }
    for (const { name, value } of Array.from(to.attributes)) {
      if (from.getAttribute(name) !== value) from.setAttribute(name, value);
    }
    if (from === document.body) from.classList.toggle("lt-busy", unacked.length > 0);
    const focused = from === document.activeElement;
    if (from.tagName === "INPUT") {
      // The element the user is typing in keeps its live value, caret and selection.
      if (!focused) {
        const v = to.getAttribute("value") ?? "";
        if (from.value !== v) from.value = v;
        from.checked = to.hasAttribute("checked");
      }
      return;
    }
    if (from.tagName === "TEXTAREA") {
      if (!focused && from.value !== to.value) from.value = to.value;
      return;
    }
    morphChildren(from, to);
    if (from.tagName === "SELECT" && to.hasAttribute("value")) from.value = to.getAttribute("value");
  }

  function morphChildren(from, to) {
    const byId = new Map();
    for (const c of from.children) if (c.id && !c.id.startsWith("lt-status") && c.id !== "lt-error") byId.set(c.id, c);
    const kept = new Set();
    for (const c of to.children) if (c.id) kept.add(c.id);
    const overlay = (n) => n.id === "lt-status" || n.id === "lt-error";
    let cur = from.firstChild;
    let next = to.firstChild;
    while (next) {
      const after = next.nextSibling;
      let match = null;
      if (next.nodeType === 1 && next.id) {
        match = byId.get(next.id) || null;
        if (match) byId.delete(next.id);
        if (match && match.tagName !== next.tagName) match = null;
      } else if (cur && cur.nodeType === next.nodeType && (next.nodeType !== 1 || (!cur.id && cur.tagName === next.tagName))) {
        match = cur;
      }
      if (match && match !== cur) {
        // Drop the nodes in the way that the new content does not keep, instead of
        // moving `match` back: moving an element blurs it when it has the focus.
        while (cur && cur !== match && !overlay(cur) && !(cur.nodeType === 1 && cur.id && kept.has(cur.id))) {
          const gone = cur;
          cur = cur.nextSibling;
          from.removeChild(gone);
        }
      }
      if (match) {
        if (match === cur) cur = cur.nextSibling; else from.insertBefore(match, cur);
        if (match.nodeType === 1) morphElement(match, next);
        else if (match.nodeValue !== next.nodeValue) match.nodeValue = next.nodeValue;
      } else {
        from.insertBefore(next, cur); // adopts the parsed node
      }
      next = after;
    }
    while (cur) {
      const after = cur.nextSibling;
      if (!overlay(cur)) from.removeChild(cur);
      cur = after;
    }
  }

  // -- public API ---------------------------------------------------------------------

  // An event the page's own script fires. `data` is copied through JSON now: the event
  // carries the value of the moment, and a value JSON cannot carry (a cycle, a BigInt)
  // throws here, in the caller, instead of breaking the transport on every resend.
  function pageEvent(id, name, data) {
    if (typeof name !== "string" || !name) throw new TypeError(`livetag: expected an event name, got ${typeof name}`);
    const s = sendEvent(String(id), name, JSON.parse(JSON.stringify(data)));
    return new Promise((resolve) => applied.set(s, resolve));
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
    get connected() { return joined; },
    /** "ws", "sse" or "http": the transport in use (or being tried). */
    get transport() { return MODES[mode]; },
  };

  document.addEventListener("input", markDirty, true);
  document.addEventListener("change", markDirty, true);
  scan(document.body);
  if (key && !secure) {
    // Never fall back to clear text: parano mode was asked for.
    showError({ msg: "This app runs in parano mode, which needs WebCrypto: open it over https or on localhost." });
  } else {
    connect();
  }
})();
