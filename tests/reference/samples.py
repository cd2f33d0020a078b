"""Run a reference document's code sample as a module (its pages are then served and
driven with ``livetag.testing.wire``)."""

from __future__ import annotations

import textwrap
from types import ModuleType


def run_sample(source: str, name: str) -> ModuleType:
    """Execute a reference code sample as the module ``name``. Its name is not
    ``"__main__"``, so an ``if __name__ == "__main__":`` block (starting a server) does not
    run: the tests serve the objects the sample built instead."""
    module = ModuleType(name)
    module.__file__ = f"<reference sample {name}>"
    exec(compile(textwrap.dedent(source), module.__file__, "exec"), module.__dict__)
    return module
