"""``SessionRegistry``: the in-process map from session id to ``Session``."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from ..dom.tag import Tag
from ..session import AppSource, Session

log = logging.getLogger("livetag.server.registry")


class SessionRegistry:
    """Sessions of one ``WebApp``, keyed by server-issued 256-bit random ids.

    With an app *instance* as source, every session id maps to one shared ``Session``.
    """

    def __init__(self, source: AppSource, *, debug: bool) -> None:
        self.source = source
        self.debug = debug
        self._sessions: dict[str, Session] = {}
        self._shared: Session | None = None

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

        Call it off the event loop: ``init`` is user code and may block.
        """
        session_id = secrets.token_urlsafe(32)  # 256 bits
        if self._shared is not None:
            session = self._shared
        else:
            session = Session(self.source, debug=self.debug, request=request)
            if isinstance(self.source, Tag):
                self._shared = session
        self._sessions[session_id] = session
        log.info("session %s created (%d live)", session.log_id, len(self._sessions))
        return session_id, session

    def discard(self, session_id: str) -> None:
        session = self._sessions.pop(session_id, None)
        if session is not None:
            if session is not self._shared:
                session.close()
            log.info("session %s discarded (%d live)", session.log_id, len(self._sessions))

    def close_all(self) -> None:
        for session_id in list(self._sessions):
            self.discard(session_id)
        if self._shared is not None:
            self._shared.close()
