"""The client's wire vocabulary (``livetag/client/src/protocol.js``) against the Python side.

Every constant the client module exports is parsed here and compared with what the
server actually uses, both ways: a code the client does not know, or one it knows that
the server no longer sends, fails. The Python side names each value once, in
``livetag.protocol`` (``MessageType``, ``OpCode``, ``CloseCode``, ``HttpStatus``,
``ByeCode``, ``PAGE_ERRORS``, ``STALE_PAGE_CODES``); ``python_side()`` reads them there
and checks that the modules which send them use those names, not literals of their own.
If a constant moves on the Python side, only ``python_side()`` changes.
"""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path
from typing import Any

import livetag
from livetag import Tag, WebApp
from livetag.protocol import messages
from livetag.protocol.closing import STALE_PAGE_CODES, CloseCode, HttpStatus
from livetag.protocol.messages import MessageType
from livetag.protocol.patch import OpCode
from livetag.protocol.server_messages import PAGE_ERRORS, ByeCode, ErrorCode
from livetag.server import websocket
from livetag.server.assets import CLIENT_FILES
from livetag.server.processes import runner, sessions

PACKAGE = Path(livetag.__file__).parent
PROTOCOL_JS = PACKAGE / "client" / "src" / "protocol.js"

_EXPORT = re.compile(r"^export const (\w+) = (.*?);[ \t]*(?://[^\n]*)?$", re.M | re.S)


def parse_client_constants(source: str) -> dict[str, Any]:
    """``export const NAME = <number, string or flat object of those>;`` -> {NAME: value}.
    Anything else exported fails: the module must stay plain data."""
    constants = {}
    for name, literal in _EXPORT.findall(source):
        text = re.sub(r"//[^\n]*", "", literal)  # comments inside an object
        text = re.sub(r"([{,]\s*)([A-Za-z_]\w*)\s*:", r'\1"\2":', text)  # bare keys -> JSON
        text = re.sub(r",\s*}", "}", text)  # trailing comma
        constants[name] = json.loads(text)
    exported = re.findall(r"^export\b", source, re.M)
    assert len(exported) == len(constants), "expected every export of protocol.js to be a plain constant"
    return constants


def _sources(*modules: Any) -> str:
    return "\n".join(inspect.getsource(m) for m in modules)


def _all_python_sources() -> str:
    return "\n".join(p.read_text() for p in sorted(PACKAGE.rglob("*.py")))


def python_side() -> dict[str, Any]:
    """What each client constant must equal, read from where the server defines it; each
    read also checks that the modules sending these values name them from there."""
    every = _all_python_sources()
    # Close codes: CloseCode; the names other modules still export are aliases of it.
    close = {code.name: code.value for code in CloseCode}
    for module in (websocket, runner):
        for name, value in vars(module).items():
            if name.startswith("CLOSE_") and isinstance(value, int):
                assert close.get(name.removeprefix("CLOSE_")) == value, f"{module.__name__}.{name} is not CloseCode's"
    # Message types: MessageType; any "t" written in livetag (docstrings included) is one.
    types = {kind.value for kind in MessageType}
    written = set(re.findall(r"""["']t["']\s*:\s*["'](\w+)["']""", every))
    assert written <= types, f"messages of types {written - types} are written outside MessageType"
    # A "bye" code: ByeCode, which names every end reason of a session process too.
    byes = {code.value for code in ByeCode}
    assert {reason.code for reason in sessions.EndReason} <= byes
    # Join refusals that mean "this page is stale": StalePage is raised with no other code.
    refused = {code.value for code in STALE_PAGE_CODES}
    raised = set(re.findall(r"StalePage\([^)]*?ErrorCode\.(\w+)\)", every, re.S))
    assert raised and {ErrorCode[name].value for name in raised} <= refused
    # err codes shown in the page: the failures of the app's own code, as livetag.session sends them.
    source = _sources(livetag.session)
    sent = set(re.findall(r"_send_error\(\s*\w+,\s*ErrorCode\.(\w+)", source))
    sent |= set(re.findall(r"_report_failure\([^)]*?ErrorCode\.(\w+)", source, re.S))
    shown = {code.value for code in PAGE_ERRORS}
    assert {ErrorCode[name].value for name in sent} == shown

    class Page(Tag.App):
        pass

    paths = {route.path for route in WebApp(Page).app.routes if route.path.startswith("/_lt/")}
    return {
        "PROTOCOL": messages.PROTOCOL_VERSION,
        "MSG": types,
        "OP": {code.name: code.value for code in OpCode},
        "CLOSE": close,
        "HTTP": {status.name: status.value for status in HttpStatus},
        "REFUSED": refused,
        "ERR": shown,
        "BYE": byes,
        "PATH": paths - {f"/_lt/{name}" for name in CLIENT_FILES},
    }


def test_every_client_constant_matches_the_python_side() -> None:
    client = parse_client_constants(PROTOCOL_JS.read_text())
    expected = python_side()
    assert set(client) == set(expected), "expected a check for each constant of protocol.js"
    for name, want in expected.items():
        have = client[name]
        if isinstance(want, set):  # the server has values, the client names them
            have = set(have.values())
        assert have == want, f"{name}: protocol.js has {have}, the server {want}"


def test_the_parser_reads_objects_numbers_and_comments() -> None:
    source = ('// a comment\nexport const A = 1; // why\n'
              'export const B = {\n  X: "x", Y_2: 4404, // note\n  Z: "-",\n};\n')
    assert parse_client_constants(source) == {"A": 1, "B": {"X": "x", "Y_2": 4404, "Z": "-"}}


def test_the_client_modules_use_the_vocabulary_not_literals() -> None:
    # A close code or patch letter written as a literal elsewhere would escape the check.
    for path in sorted((PACKAGE / "client" / "src").glob("*.js")):
        if path.name == "protocol.js":
            continue
        code = re.sub(r"//[^\n]*", "", path.read_text())
        assert not re.search(r"\b(1008|1009|4404|4410)\b", code), path.name
        assert not re.search(r"""case\s+["'][-+a-z]["']""", code), path.name
        assert not re.search(r"""\.t\s*===?\s*["']""", code), path.name
        assert not re.search(r"""["']/_lt/""", code), path.name
