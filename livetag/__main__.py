"""``python -m livetag run app.py``: the same as the ``livetag`` command."""

from __future__ import annotations

import sys

from .runners.cli import main

if __name__ == "__main__":
    sys.exit(main())
