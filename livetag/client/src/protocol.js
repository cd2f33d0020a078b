// The wire vocabulary, the twin of livetag/protocol/ and of the close codes and routes in
// livetag/server/. tests/unit/test_protocol_client.py reads this file and checks every
// constant against the Python side: change both in one commit. Values only (strings and
// numbers), so that the check can parse them.

export const PROTOCOL = 1; // messages.PROTOCOL_VERSION: sent in every join

// Message types (the "t" field): client -> server, then server -> client.
export const MSG = {
  JOIN: "join", EVENT: "ev", SYNC: "sync", PING: "ping",
  JOINED: "joined", UPDATE: "up", ACK: "ack", ERROR: "err", BYE: "bye", COOKIE: "cookie", PONG: "pong",
};

// Patch operations: livetag.protocol.patch.OpCode, name for name.
export const OP = {
  REMOVE: "-", SET_ATTRS: "a", SET_TEXT: "t", SET_HTML: "h", APPEND: "+", MORPH: "o", INSERT: "i", MOVE: "m",
};

// WebSocket close codes: the CLOSE_* constants of the server, name for name.
export const CLOSE = { NORMAL: 1000, POLICY: 1008, TOO_LARGE: 1009, SESSION_EXPIRED: 4404, SESSION_ENDED: 4410 };

// HTTP statuses of the HTTP transports' errors (livetag/server/http.py).
export const HTTP = { BAD: 400, REFUSED: 403, REJOIN: 409, ENDED: 410, TOO_LARGE: 413, SLOW_DOWN: 429, STOPPING: 503 };

// A join refused for these reasons comes from a stale page: a fresh one fixes it.
export const REFUSED = { CSRF: "csrf", VERSION: "version" };

// "err" codes the user sees in the page; any other goes to the console only.
export const ERR = { HANDLER: "handler_error", RENDER: "render_error", RESTORED: "restored" };

// "bye" codes: expired reloads into a new session; ended and evicted are final; rejoin
// comes with an HTTP 409, whose status says it all.
export const BYE = { EXPIRED: "expired", ENDED: "ended", EVICTED: "evicted", REJOIN: "rejoin" };

// Endpoints, under the page's mount path.
export const PATH = {
  WS: "/_lt/ws", JOIN: "/_lt/join", EVENT: "/_lt/event", POLL: "/_lt/poll", SSE: "/_lt/sse", COOKIE: "/_lt/cookie",
  UPLOAD: "/_lt/upload", DOWNLOAD: "/_lt/download/{token}",
};
