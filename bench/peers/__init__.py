"""livetag next to its peers, htag 2 and NiceGUI, in one interleaved run (issue 11).

Run ``.venv/bin/python bench/run.py --peers`` (``--quick`` for a smoke run, ``--idle N``
for the idle-sessions measurement). Each peer is installed in its own virtual
environment under ``bench/.venvs/`` (git-ignored; built on first use by ``envs.py``) and
serves the same apps as livetag (``htag_apps.py``, ``nicegui_apps.py``) under the same
uvicorn settings (``serve.py``); this process drives each with a client speaking that
framework's protocol (``clients.py``) and reads the servers' CPU time and memory from
``/proc`` (``measure.py``). Nothing here imports a peer into livetag's environment.
"""
