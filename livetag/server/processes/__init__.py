"""Sessions in OS processes: the ``Runner``'s machinery (``livetag.Runner`` adds ``run()``,
see ``livetag.runners.apps``).

Web worker side:
- ``runner``             ``Runner``: the ASGI app of each web worker; relays pages and transports
- ``answers``            what a worker answers itself when no process can: gone, moved, retry
- ``supervisor_client``  ``SupervisorClient``: find or start the supervisor, its control RPC
- ``bridge``             ASGI over IPC (length-prefixed frames) to a session process
- ``direct``             a WebSocket handed to its session process (``SCM_RIGHTS``), served there
Supervisor (one process per server):
- ``bootstrap``          its entry point; ``anchor``: it ends with the server process
- ``config``             ``SupervisorConfig``, the typed configuration workers send it
- ``supervisor``         ``Supervisor``: find-or-create a session's process, shut down
- ``control``            the control socket (``page``, ``status``, ``hello``, ``list``, ``shutdown``,
                         and the ``pubsub`` and ``store`` links of session processes)
- ``sessions``           the session table, end reasons, tombstones, signals
- ``spares``             the spare pool (processes started ahead of need)
- ``watchdog``           timeouts, heartbeats, memory, files check
- ``priority``           OS priorities (nice, ``SCHED_IDLE``) of spares and sessions
- ``files``              its private files (keys, sockets) and their repair; ``paths``: the directory rules
Session processes:
- ``process``            a ``WebApp`` bound to one session, serving ASGI over IPC; ``SharedField``
- ``listener``           its listening socket: relayed connections, and WebSockets handed over
- ``store_link``         its snapshots, through the supervisor's store (both ends of the link)
- ``forkserver``         the supervisor's side of the fork server; ``SharedDoubles``
- ``zygote``             the fork server: preloaded, forks session and spare processes
- ``preload``            what the fork server imports and warms up (``forkwarm``)
- ``ksm``                their memory marked mergeable by the kernel's samepage merging
- ``warmup``             the built-in app, page load and WebSocket session of the warm-ups
- ``appref``             naming an app so that another process imports it
"""

from __future__ import annotations

from .runner import CLOSE_SESSION_ENDED, Runner

__all__ = ["CLOSE_SESSION_ENDED", "Runner"]
