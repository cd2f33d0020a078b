"""The ``livetag`` command (also ``python -m livetag``).

    livetag run path/to/app.py[:AppClass] [--host 127.0.0.1] [--port 8000] [--reload]
                [--desktop] [--debug | --no-debug] [--log-level info]
    livetag --version

Without ``:AppClass`` the file's single ``Tag.App`` subclass is served (several: they are
listed and the exit status is 2). Errors are one line on stderr, ``livetag: error: ...``,
with exit status 2 for a wrong argument (missing file, no or several App classes) and 1
for a failure (import error, port in use, no browser).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from ..errors import RunnerError
from ..server.logs import LOG_LEVELS, configure_logging

log = logging.getLogger("livetag.runners")

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def build_parser() -> argparse.ArgumentParser:
    from ..version import __version__

    parser = argparse.ArgumentParser(prog="livetag", description="Serve livetag apps: web or desktop.")
    parser.add_argument("--version", action="version", version=f"livetag {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = commands.add_parser("run", help="serve an app",
                              description="Serve an app in the browser or a desktop window.")
    run.add_argument("target", metavar="APP",
                     help="path/to/app.py[:AppClass] (or package.module[:name]); without :AppClass, "
                          "the file's single Tag.App subclass")
    run.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    run.add_argument("--port", type=int, default=None,
                     help="port to listen on; 0 = a free port (default: 8000, or 0 with --desktop)")
    run.add_argument("--reload", action="store_true",
                     help="restart the server when a .py file changes; the page refreshes itself")
    run.add_argument("--desktop", action="store_true", help="open the app in its own Chromium window (ChromeApp)")
    run.add_argument("--debug", action=argparse.BooleanOptionalAction, default=None,
                     help="show escaped tracebacks in the page (default: on when serving on the loopback "
                          "interface, with --reload or with --desktop)")
    run.add_argument("--log-level", choices=LOG_LEVELS, default="info", type=str.lower,
                     help="livetag's and uvicorn's log level (default: info; debug logs every event)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (the console script exits with it)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return _run(args)
    except RunnerError as exc:
        return _fail(str(exc), exc.exit_status)
    except (ValueError, OSError) as exc:  # a malformed import string, an address not on this host
        return _fail(str(exc), 2 if isinstance(exc, ValueError) else 1)
    except KeyboardInterrupt:
        return 130


def _fail(message: str, status: int) -> int:
    sys.stderr.write(f"livetag: error: {message}\n")
    return status


def _run(args: argparse.Namespace) -> int:
    from .loader import ImportString, servable

    configure_logging(args.log_level)
    ref = ImportString.parse(args.target)
    ref.check_exists()
    debug = args.debug if args.debug is not None else (args.reload or args.desktop or args.host in _LOOPBACK)
    port = args.port if args.port is not None else (0 if args.desktop else 8000)
    if not 0 <= port <= 65535:
        return _fail(f"expected a port between 0 and 65535, got {port}", 2)
    target = str(ref)
    if ref.is_path:
        target = str(ImportString(str(ref.path), ref.attr))  # absolute: the reload processes may chdir

    if args.desktop:
        from .chrome import ChromeApp

        if args.host not in _LOOPBACK:
            return _fail(f"--desktop serves on the loopback interface only (127.0.0.1, ::1), got --host {args.host}", 2)
        chrome = ChromeApp.from_import_string(target, debug=debug)
        if not args.reload:
            _ = chrome.webapp  # import now: an error is reported before any window opens
        chrome.run(host=args.host, port=port, reload=args.reload, log_level=args.log_level)
        return 0

    from .serve import bind_socket, serve

    sock = bind_socket(args.host, port)
    try:
        if args.reload:
            from .reload import serve_with_reload

            return serve_with_reload(target, sock=sock, webapp_options={"debug": debug}, log_level=args.log_level)
        loaded = ref.load()
        app = servable(loaded, {"debug": debug})
        if app is loaded and args.debug is not None:
            log.warning("--debug/--no-debug ignored: %s is a ready-made app with its own settings", args.target)
        elif app is loaded and debug and getattr(app, "debug_default", False):
            app.set_debug(True)  # a WebApp made without debug=..., served for development
        if callable(getattr(app, "persist_by_default", None)):
            app.persist_by_default()  # sessions survive a restart, as with WebApp.run()
        if callable(getattr(app, "bind", None)):
            app.bind(args.host)  # a host name given with --host is served (allowed_hosts)
        serve(app, sock=sock, log_level=args.log_level)
        return 0
    finally:
        sock.close()
