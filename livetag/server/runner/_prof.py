"""TEMPORARY instrumentation (to be removed)."""
import os, time
_PATH = os.environ.get("LT_PROF")
def mark(label: str, key: str = "") -> None:
    if _PATH:
        with open(_PATH, "a") as f:
            f.write(f"{time.monotonic():.6f} {os.getpid()} {label} {key}\n")

def patch_forkserver() -> None:
    if not _PATH:
        return
    from multiprocessing import forkserver, spawn, process as mp
    orig_serve = forkserver._serve_one
    def serve_one(*a, **k):
        mark("F.child")
        return orig_serve(*a, **k)
    forkserver._serve_one = serve_one
    orig_prepare = spawn.prepare
    def prepare(*a, **k):
        mark("F.prepare")
        r = orig_prepare(*a, **k)
        mark("F.prepared")
        return r
    spawn.prepare = prepare
    orig_boot = mp.BaseProcess._bootstrap
    def boot(self, *a, **k):
        mark("F.bootstrap")
        return orig_boot(self, *a, **k)
    mp.BaseProcess._bootstrap = boot

BASE: set = set()
def snapshot() -> None:
    import sys
    BASE.update(sys.modules)
def new_modules() -> None:
    import sys
    if _PATH and BASE:
        mark("MODS " + ",".join(sorted(set(sys.modules) - BASE)))
