"""A TCP proxy in front of Redis that a test can cut and heal: one machine of a cluster
reaches Redis through it, so cutting it partitions that machine alone off Redis (the
others, the pages and the relay still reach it), which stopping Redis cannot show."""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading


class Partition:
    """``Partition(redis_port).start()``; ``url`` (``redis://`` through the proxy);
    ``cut()``: every connection through it is closed and new ones are closed at once;
    ``heal()``; ``close()``."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.cut_off = False
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._accept, name="partition-proxy", daemon=True)

    def start(self) -> Partition:
        self._thread.start()
        return self

    def cut(self) -> None:
        self.cut_off = True
        with self._lock:
            pairs, self._pairs = self._pairs, set()
        for pair in pairs:
            for sock in pair:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def heal(self) -> None:
        self.cut_off = False

    def close(self) -> None:
        self._closed = True
        self.cut()
        self.listener.close()
        self._thread.join(5)

    def _accept(self) -> None:
        self.listener.settimeout(0.2)
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.cut_off:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=2)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.add((client, upstream))
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        sel = selectors.DefaultSelector()
        a.setblocking(False)
        b.setblocking(False)
        sel.register(a, selectors.EVENT_READ, b)
        sel.register(b, selectors.EVENT_READ, a)
        try:
            while True:
                for key, _ in sel.select(0.5):
                    src: socket.socket = key.fileobj  # type: ignore[assignment]
                    data = src.recv(65536)
                    if not data:
                        return
                    key.data.setblocking(True)
                    key.data.sendall(data)
                    key.data.setblocking(False)
                if self.cut_off:
                    return
        except OSError:
            return
        finally:
            sel.close()
            with self._lock:
                self._pairs.discard((a, b))
            for sock in (a, b):
                sock.close()
