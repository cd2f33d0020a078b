"""The import graph of ``livetag/``: no cycle, and every arrow points down the layers.

Every module of the package is parsed with ``ast`` (nothing is imported) and every
import is an arrow, wherever it is written: at the top, inside a function, under
``if TYPE_CHECKING:``. The layers, lowest first (a module may import its own layer and
the ones below it, never one above):

0. ``livetag.errors``, ``livetag.protocol.patch``, ``livetag.version``, ``livetag.lifecycle``,
   ``livetag.tracebacks``: vocabulary every layer may use
1. ``livetag.dom``: tags, state, rendering; pure Python, no I/O
2. ``livetag.protocol``: messages and codecs
3. ``livetag.threads``, ``livetag.execution``, ``livetag.waiting``, ``livetag.guards``: where user code runs;
   ``livetag.pubsub``: the broker interface sessions publish through
4. ``livetag.session``: one app and its event discipline, transport-free; its clients
   (``livetag.clients``) and the tasks its code starts (``livetag.background``)
5. ``livetag.testing``: the browserless test client
6. ``livetag.server`` and its subpackages: ASGI, cookies, limits, session processes
7. ``livetag.runners``: reload, browsers, the command line
8. ``livetag`` (``__init__``) and ``livetag.__main__``: the public face

A module that no layer names fails the test: a new top-level module gets a layer here
in the commit that adds it (see ``docs/architecture.md`` / ``DESIGN.md``, "Layers").

Arrows are resolved as Python executes them: ``from .pkg import name`` is an arrow to
the submodule ``pkg.name`` when there is one, else to ``pkg`` (its ``__init__``); an
import of a submodule does not add arrows to its parent packages (their ``__init__`` is
running or done by then, so it cannot close a cycle of its own).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import livetag

PACKAGE = Path(livetag.__file__).resolve().parent

#: (prefix, layer): the longest matching prefix gives a module's layer.
LAYERS: tuple[tuple[str, int], ...] = (
    ("livetag.errors", 0),
    ("livetag.version", 0),
    ("livetag.lifecycle", 0),
    ("livetag.tracebacks", 0),
    ("livetag.protocol.patch", 0),
    ("livetag.dom", 1),
    ("livetag.protocol", 2),
    ("livetag.threads", 3),
    ("livetag.execution", 3),
    ("livetag.waiting", 3),
    ("livetag.guards", 3),
    ("livetag.pubsub", 3),
    ("livetag.session", 4),
    ("livetag.clients", 4),
    ("livetag.background", 4),
    ("livetag.testing", 5),
    ("livetag.server", 6),
    ("livetag.runners", 7),
    ("livetag.__main__", 8),
    ("livetag", 8),  # the package's __init__ only: any other module must match above
)

#: Cycles allowed, as sorted pairs of modules: none.
KNOWN_CYCLES: frozenset[tuple[str, str]] = frozenset()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    """Every module of the package: dotted name -> file."""
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(name: str) -> int:
    """The layer of module ``name``. Raises ``LookupError`` for a module no layer names."""
    best: tuple[int, int] | None = None
    for prefix, layer in LAYERS:
        if (name == prefix or (name.startswith(prefix + ".") and prefix != "livetag")) and (
                best is None or len(prefix) > best[0]):
                best = (len(prefix), layer)
    if best is None:
        raise LookupError(f"expected module {name} to belong to a layer of LAYERS, it matches none")
    return best[1]


def _resolve(importer: str, is_package: bool, level: int, module: str | None) -> str:
    """The absolute name of ``from <level dots><module> import ...`` written in ``importer``."""
    if level == 0:
        return module or ""
    parts = importer.split(".")
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def imports_of(name: str, path: Path, known: set[str]) -> Iterator[tuple[str, int]]:
    """The livetag modules ``name`` imports (with the line), anywhere in its file."""
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "livetag":
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(name, is_package, node.level, node.module)
            if target.split(".")[0] != "livetag":
                continue
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                yield (submodule if submodule in known else target), node.lineno


def import_graph() -> dict[str, dict[str, int]]:
    """module -> {imported livetag module: first line of the import}."""
    found = modules()
    known = set(found)
    graph: dict[str, dict[str, int]] = {}
    for name, path in found.items():
        arrows: dict[str, int] = {}
        for target, line in imports_of(name, path, known):
            if target != name:
                arrows.setdefault(target, line)
        graph[name] = arrows
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_module_has_a_layer() -> None:
    unplaced = []
    for name in modules():
        try:
            layer_of(name)
        except LookupError:
            unplaced.append(name)
    assert not unplaced, f"expected every module in a layer of LAYERS, got none for {unplaced}"


def test_every_import_resolves_to_a_module() -> None:
    graph = import_graph()
    missing = sorted(f"{source} -> {target} (line {line})" for source, arrows in graph.items()
                     for target, line in arrows.items() if target not in graph)
    assert not missing, "expected imports of existing livetag modules, got:\n" + "\n".join(missing)


def test_no_upward_import() -> None:
    graph = import_graph()
    upward = sorted(f"{source} (layer {layer_of(source)}) -> {target} (layer {layer_of(target)}), line {line}"
                    for source, arrows in graph.items() for target, line in arrows.items()
                    if target in graph and layer_of(target) > layer_of(source))
    assert not upward, "expected imports to point down the layers, got:\n" + "\n".join(upward)


def _without_known(graph: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    return {source: {target: line for target, line in arrows.items()
                     if tuple(sorted((source, target))) not in KNOWN_CYCLES}
            for source, arrows in graph.items()}


def test_no_import_cycle() -> None:
    found = cycles(_without_known(import_graph()))
    assert not found, "expected no import cycle in livetag/, got:\n" + "\n".join(" <-> ".join(c) for c in found)


@pytest.mark.parametrize("pair", sorted(KNOWN_CYCLES))
def test_known_cycles_are_still_cycles(pair: tuple[str, str]) -> None:
    """An allow-listed cycle that is gone must leave ``KNOWN_CYCLES``: the list only shrinks."""
    a, b = pair
    together = any(a in component and b in component for component in cycles(import_graph()))
    assert together, f"expected {a} <-> {b} in a cycle as KNOWN_CYCLES says; it is gone: delete the entry"


def test_the_graph_sees_every_kind_of_import(tmp_path: Path) -> None:
    """Imports inside functions and under ``TYPE_CHECKING`` count as much as top-level ones."""
    source = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..runners import cli\n"
              "def f():\n    from ..dom import tag\n    import livetag.session\n")
    path = tmp_path / "probe.py"
    path.write_text(source)
    found = {t for t, _ in imports_of("livetag.server.probe", path, {"livetag.runners.cli", "livetag.dom.tag"})}
    assert found == {"livetag.runners.cli", "livetag.dom.tag", "livetag.session"}
