"""Build + render a table of ROWS rows x 3 cells in-process, outside any app, with one
framework (run by that framework's environment):
``python -m bench.peers.buildrender {livetag|htag} ROWS REPEATS`` prints one line per
repeat, ``BUILD <ms> RENDER <ms> BYTES <n>`` (CPU time of this process).

The tree is ``Tag.table(Tag.tbody([Tag.tr([Tag.td(f"r{i}c{j}") for j in range(3)]) for
i in range(ROWS)]))`` and its HTML is ``str()`` of it, the same code for both.
"""

from __future__ import annotations

import gc
import sys
import time


def main() -> None:
    framework, rows, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if framework == "htag":
        from htag import Tag  # type: ignore[import-not-found]
    else:
        from livetag import Tag
    for _ in range(repeats):
        gc.collect()
        t0 = time.process_time()
        table = Tag.table(Tag.tbody([Tag.tr([Tag.td(f"r{i}c{j}") for j in range(3)]) for i in range(rows)]))
        t1 = time.process_time()
        html = str(table)
        t2 = time.process_time()
        print(f"BUILD {(t1 - t0) * 1e3:.3f} RENDER {(t2 - t1) * 1e3:.3f} BYTES {len(html.encode())}", flush=True)
        del table, html


if __name__ == "__main__":
    main()
