"""The peers' virtual environments, built on first use under ``bench/.venvs/`` (git-
ignored) with ``python -m venv`` and pip from PyPI, and rebuilt when their pinned
requirements change (a stamp file records them).

- htag: ``htag==2.0.28`` with ``starlette==0.52.1`` (what it needs).
- NiceGUI: the latest release (the run reports the version it got).
Both get ``uvicorn[standard]`` so that they are served with uvloop and httptools, as
livetag is. livetag itself runs from the checkout's ``.venv`` (this interpreter).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENVS = ROOT / "bench" / ".venvs"
REQUIREMENTS: dict[str, list[str]] = {
    "htag": ["htag==2.0.28", "starlette==0.52.1", "uvicorn[standard]"],
    "nicegui": ["nicegui", "uvicorn[standard]"],
}
#: The distribution whose version names each environment in the report.
MAIN = {"htag": "htag", "nicegui": "nicegui"}


def python(name: str) -> Path:
    """The interpreter of environment ``name`` ("livetag": this one)."""
    if name == "livetag":
        return Path(sys.executable)
    return VENVS / name / "bin" / "python"


def ensure(name: str, log: Callable[[str], None] = print) -> Path:
    """Build environment ``name`` unless it exists with the same requirements; returns
    its interpreter. Raises ``subprocess.CalledProcessError`` when venv or pip fails."""
    stamp = VENVS / name / "bench-requirements.txt"
    wanted = "\n".join(REQUIREMENTS[name]) + "\n"
    if python(name).exists() and stamp.exists() and stamp.read_text() == wanted:
        return python(name)
    log(f"building the {name} environment in {VENVS / name} (pip: {' '.join(REQUIREMENTS[name])})")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENVS / name)], check=True)
    subprocess.run([str(python(name)), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    *REQUIREMENTS[name]], check=True)
    stamp.write_text(wanted)
    return python(name)


def ensure_all(log: Callable[[str], None] = print) -> None:
    for name in REQUIREMENTS:
        ensure(name, log)


def versions() -> dict[str, str]:
    """Versions of the frameworks and server stack in each environment."""
    out = {}
    for name, dist in MAIN.items():
        out[name] = _version_in(name, dist)
    out["htag's starlette"] = _version_in("htag", "starlette")
    out["NiceGUI's python-socketio"] = _version_in("nicegui", "python-socketio")
    for dist in ("uvicorn", "starlette", "websockets", "uvloop", "httptools", "python-socketio"):
        try:
            out[f"livetag env {dist}"] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[f"livetag env {dist}"] = "not installed"
    return out


def _version_in(name: str, dist: str) -> str:
    result = subprocess.run([str(python(name)), "-c", f"import importlib.metadata as m; print(m.version({dist!r}))"],
                            capture_output=True, text=True, timeout=60)
    return result.stdout.strip() or "?"
