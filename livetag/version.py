"""livetag's version, in a leaf module so that any layer (the CLI, the package) can read it."""

from __future__ import annotations

__version__ = "0.1.0"
