#!/usr/bin/env python3
"""Print pip constraints pinning every direct dependency to the floor pyproject.toml allows.

    python3 scripts/floors.py [EXTRA ...] > floors.txt
    pip install -c floors.txt -e ".[test]"

Each requirement of ``[project].dependencies`` and of the named optional-dependency
groups (default: ``test``) must carry a ``>=`` lower bound; it becomes ``name==bound``
(extras dropped: a constraint names a distribution, PEP 508). Transitive dependencies
stay free, as in uv's ``--resolution lowest-direct``: that is what a user who pins our
floors gets. Exits with status 2, naming the requirement, when one has no ``>=`` bound
(a floor that is not written cannot be tested).

Standard library only (``tomllib``), so it runs on a fresh machine before any venv.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

# PEP 508 subset that pyproject.toml uses: name, optional [extras], version specifiers.
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(.*?)\s*(?:;.*)?$")


def floors(pyproject: Path, extras: list[str]) -> dict[str, str]:
    """Map each direct dependency's normalised name (PEP 503) to its ``>=`` version.

    Raises ``ValueError`` for a requirement without a ``>=`` bound and ``KeyError``
    for an unknown extra.
    """
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    requirements = list(project.get("dependencies", []))
    optional = project.get("optional-dependencies", {})
    for extra in extras:
        if extra not in optional:
            raise KeyError(f"expected an optional-dependencies group of {pyproject}, got {extra!r}")
        requirements += optional[extra]
    out: dict[str, str] = {}
    for requirement in requirements:
        match = _REQUIREMENT.match(requirement)
        bound = match and re.search(r">=\s*([^,\s]+)", match.group(2))
        if not match or not bound:
            raise ValueError(f"expected a requirement with a '>=' floor, got {requirement!r}")
        name = re.sub(r"[-_.]+", "-", match.group(1)).lower()
        # The same package in two groups: the higher floor is the one that binds.
        version = bound.group(1)
        if name not in out or _key(version) > _key(out[name]):
            out[name] = version
    return out


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


def main(argv: list[str]) -> int:
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    try:
        pins = floors(pyproject, argv or ["test"])
    except (ValueError, KeyError) as err:
        print(f"floors.py: {err}", file=sys.stderr)
        return 2
    for name, version in sorted(pins.items()):
        print(f"{name}=={version}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
