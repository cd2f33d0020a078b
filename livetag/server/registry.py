"""``SessionRegistry``: the in-process map from session id to ``Session``."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from ..dom.tag import Tag
from ..errors import TooManySessions
from ..execution import init_runs_on_loop
from ..pubsub import Broker, LocalBroker
from ..session import AppSource, Session

log = logging.getLogger("livetag.server.registry")


class SessionRegistry:
    """Sessions of one ``WebApp``, keyed by server-issued 256-bit random ids.

    With an app *instance* as source there is one shared ``Session`` under one id, given
    to every visitor: visitors are not sessions, so they neither count towards
    ``max_sessions`` nor pile up (the shared session never expires).
    """

    #: ``WebApp`` sets the session cookie of a new session only when this is true; the
    #: process-per-session ``Runner`` binds a registry to one id that its web workers issue.
    issues_cookies = True

    def __init__(self, source: AppSource, *, debug: bool, max_sessions: int = 10_000, join_grace: float = 30.0,
                 broker: Broker | None = None) -> None:
        self.source = source
        #: What its sessions publish through (``livetag.pubsub``): shared by all of them.
        self.broker: Broker = broker if broker is not None else LocalBroker()
        self.debug = debug
        self.max_sessions = max_sessions
        self.join_grace = join_grace
        self._sessions: dict[str, Session] = {}
        #: Sessions no page has joined yet: id -> time.monotonic() deadline. Oldest first.
        self._unjoined: dict[str, float] = {}
        self._unjoined_ids: dict[Session, str] = {}
        self._reserved = 0  # sessions being made (``make_room`` counted them in)
        self._shared: Session | None = None
        self._shared_id: str | None = None
        #: Build new sessions on the event loop (the app's init talks to asyncio) rather
        #: than in a worker thread; see ``livetag.execution``.
        self.creates_on_loop = not isinstance(source, Tag) and init_runs_on_loop(source)
        #: Told each session discarded on purpose (expired, ``?n``, made room for), not
        #: the ones ``close_all`` ends: the persistence layer forgets their snapshots.
        self.on_discard: Callable[[Session], None] | None = None
        self._closing = False

    def __len__(self) -> int:
        return len(self._sessions)

    def get(self, session_id: str | None) -> Session | None:
        """The session for ``session_id``; ``None`` for an unknown, malformed or missing id
        (an id the server did not issue is never adopted)."""
        if not session_id:
            return None
        return self._sessions.get(session_id)

    def create(self, request: Any = None) -> tuple[str, Session]:
        """A new session id and its session (runs the app's ``init``; raises what it raises).

        Call it off the event loop unless ``creates_on_loop``: ``init`` is user code and
        may block. Raises ``TooManySessions`` when ``max_sessions`` are live (call
        ``make_room`` first, on the loop). The caller then makes it wait for its page
        (``await_join``).
        """
        if self._shared is not None and self._shared_id is not None:
            return self._shared_id, self._shared
        reserved, self._reserved = self._reserved > 0, max(0, self._reserved - 1)
        if not reserved and len(self._sessions) >= self.max_sessions:
            raise TooManySessions(self.max_sessions)
        session_id = secrets.token_urlsafe(32)  # 256 bits
        session = Session(self.source, debug=self.debug, request=request, broker=self.broker)
        if isinstance(self.source, Tag):
            self._shared, self._shared_id = session, session_id
        self._sessions[session_id] = session
        log.info("session %s created (%d live)", session.log_id, len(self._sessions))
        return session_id, session

    def adopt(self, session_id: str, request: Any = None) -> Session:
        """A new session under ``session_id``, an id this server issued before a restart
        (the caller proved it: a snapshot exists under its hash). Runs the app's ``init``
        as ``create`` does (same thread rules); raises ``TooManySessions`` or what ``init``
        raises. Call ``make_room`` first, and ``await_join`` after."""
        existing = self._sessions.get(session_id)
        if existing is not None and not existing.closed:
            return existing
        reserved, self._reserved = self._reserved > 0, max(0, self._reserved - 1)
        if not reserved and len(self._sessions) >= self.max_sessions:
            raise TooManySessions(self.max_sessions)
        session = Session(self.source, debug=self.debug, request=request, broker=self.broker)
        self._sessions[session_id] = session
        log.info("session %s re-created to resume (%d live)", session.log_id, len(self._sessions))
        return session

    @property
    def shared(self) -> bool:
        """Every visitor gets the one session of an app instance (no new session per visitor)."""
        return isinstance(self.source, Tag)

    def make_room(self) -> None:
        """Reserve a place for the session ``create`` will make next (call it on the
        loop): when ``max_sessions`` are live or reserved, discard the oldest session no
        page ever joined (a page load that went no further), else raise
        ``TooManySessions``. A session a page joined is never discarded to make room."""
        while len(self._sessions) + self._reserved >= self.max_sessions:
            if not self._unjoined:
                raise TooManySessions(self.max_sessions)
            oldest = next(iter(self._unjoined))
            log.info("session table full: discarding a session no page joined")
            self.discard(oldest)
        self._reserved += 1

    def await_join(self, session_id: str, session: Session) -> None:
        """``session`` (just made by a page load) is discarded unless a page joins it
        within ``join_grace`` seconds (see ``joined``). A reload of it starts the wait again.
        The shared session of an app instance belongs to everyone and never waits."""
        if session is self._shared:
            return
        self._unjoined.pop(session_id, None)  # re-inserted last: the dict stays oldest first
        self._unjoined[session_id] = time.monotonic() + self.join_grace
        self._unjoined_ids[session] = session_id

    def joined(self, session: Session) -> None:
        """A page joined ``session``: it is a real session from now on (idle expiry only)."""
        session_id = self._unjoined_ids.pop(session, None)
        if session_id is not None:
            self._unjoined.pop(session_id, None)

    def is_unjoined(self, session: Session) -> bool:
        return session in self._unjoined_ids

    def expire(self, idle_seconds: float) -> int:
        """Discard sessions without a connected client for ``idle_seconds`` (their
        ``on_destroy`` runs). The shared session of an app instance never expires.
        Returns how many were discarded."""
        now = time.monotonic()
        stale = [
            sid for sid, s in list(self._sessions.items())  # create() may insert from a handler thread
            if s is not self._shared and not s.connected_clients and now - s.last_active > idle_seconds
        ]
        stale += [sid for sid, deadline in list(self._unjoined.items()) if deadline < now and sid not in stale]
        for sid in stale:
            self.discard(sid)
        return len(stale)

    def discard(self, session_id: str) -> None:
        """Forget ``session_id``; its session closes (``on_destroy`` runs). The shared
        session stays: it belongs to everyone (only ``close_all`` ends it)."""
        if session_id == self._shared_id:
            return
        session = self._sessions.pop(session_id, None)
        if self._unjoined.pop(session_id, None) is not None and session is not None:
            self._unjoined_ids.pop(session, None)
        if session is not None:
            if session is not self._shared:
                if self.on_discard is not None and not self._closing:
                    self.on_discard(session)
                session.close()
            log.info("session %s discarded (%d live)", session.log_id, len(self._sessions))

    def close_all(self) -> None:
        self._closing = True
        try:
            for session_id in list(self._sessions):
                self.discard(session_id)
            if self._shared is not None:
                self._shared.close()
        finally:
            self._closing = False
