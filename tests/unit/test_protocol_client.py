"""The client's wire vocabulary (``livetag/client/src/protocol.js``) against the Python side.

Every constant the client module exports is parsed here and compared with what the
server actually uses, both ways: a code the client does not know, or one it knows that
the server no longer sends, fails. Where the Python side has no named constant yet (HTTP
statuses, message types, error and bye codes), the values are read off the modules that
send them. If a constant moves on the Python side, only ``python_side()`` changes.
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
from livetag.protocol.patch import OpCode
from livetag.server import http, websocket
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
    """What each client constant must equal, read from where the server defines or uses it."""
    every = _all_python_sources()
    close = {name.removeprefix("CLOSE_"): value
             for module in (websocket, runner) for name, value in vars(module).items()
             if name.startswith("CLOSE_") and isinstance(value, int)}
    # A message type: the "t" of any message written in livetag (docstrings included).
    types = set(re.findall(r"""["']t["']\s*:\s*["'](\w+)["']""", every))
    # A "bye" code: written in a bye message, a session process's end reason, or the body
    # of an HTTP 409/410 (livetag.server.http makes those "bye").
    byes = set(re.findall(r""""t":\s*"bye",\s*"code":\s*"(\w+)\"""", every))
    byes |= {reason.code for reason in sessions.EndReason}
    byes |= set(re.findall(r"""_error\(\s*(?:409|410),\s*"(\w+)\"""", _sources(http)))
    # Join refusals that mean "this page is stale": what both transports single out.
    refused = [set(re.findall(r'"(\w+)"', group))
               for group in re.findall(r"exc\.code in \(([^)]*)\)", _sources(http, websocket))]
    assert len(refused) == 2 and refused[0] == refused[1], "expected one set of refusal codes in http.py and websocket.py"

    class Page(Tag.App):
        pass

    paths = {route.path for route in WebApp(Page).app.routes if route.path.startswith("/_lt/")}
    return {
        "PROTOCOL": messages.PROTOCOL_VERSION,
        "MSG": types,
        "OP": {code.name: code.value for code in OpCode},
        "CLOSE": close,
        "HTTP": {int(s) for s in re.findall(r"_error\(\s*(\d{3})", _sources(http))},
        "REFUSED": refused[0],
        # err codes shown in the page: the failures of the app's own code (livetag.session).
        "ERR": set(re.findall(r"""_send_error\(\s*\w+,\s*"(\w+)\"""", _sources(livetag.session))),
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
