"""Rewrite some ``## `` sections of a Markdown report and keep the others, so that several
benchmark scripts can share one file (``docs/benchmarks-cluster.md``)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


def split(text: str) -> tuple[str, list[tuple[str, str]]]:
    """``(preamble, [(heading line, whole section text), ...])``: the text before the
    first ``## `` heading, then each ``## `` section with its heading, in order."""
    preamble: list[str] = []
    sections: list[tuple[str, list[str]]] = []
    for line in text.splitlines(keepends=True):
        if line.startswith("## "):
            sections.append((line.strip(), [line]))
        elif sections:
            sections[-1][1].append(line)
        else:
            preamble.append(line)
    return "".join(preamble), [(heading, "".join(lines)) for heading, lines in sections]


def replace_sections(path: Path, title: str, owned: Iterable[str], text: str) -> None:
    """Write ``text`` (one or more ``## `` sections) into ``path`` in place of the
    sections whose headings start with one of ``owned`` (at the place of the first of
    them, or at the end); the other sections stay as they are. A missing file starts
    with ``# title``."""
    prefixes = tuple(owned)
    old = path.read_text() if path.exists() else ""
    preamble, sections = split(old)
    if not preamble.strip():
        preamble = f"# {title}\n\n"
    out, placed = [], False
    for heading, body in sections:
        if heading.startswith(prefixes):
            if not placed:
                out.append(text.rstrip("\n") + "\n\n")
                placed = True
            continue
        out.append(body.rstrip("\n") + "\n\n")
    if not placed:
        out.append(text.rstrip("\n") + "\n\n")
    path.write_text(preamble.rstrip("\n") + "\n\n" + "".join(out).rstrip("\n") + "\n")
