"""A TCP proxy that a test can cut and restore: a dependency outage, for real.

The app under test talks to PostgreSQL or Redis through it. `cut()` closes every open
connection and stops listening (new connections are refused), as a crashed or restarted server
looks from the client; `restore()` listens again on the same port. `freeze()` is a server
that stopped answering (a hung host, a dropped route): new connections are accepted and then
hear nothing.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class CuttableProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self._acceptor: threading.Thread | None = None
        self._frozen = False
        self._held: list[socket.socket] = []
        self.port = 0

    def start(self) -> CuttableProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.05)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._stop.clear()
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()
        return self

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._frozen:
                with self._lock:
                    self._held.append(client)
                continue
            try:
                upstream = socket.create_connection(self._target, timeout=5)
            except OSError:
                client.close()
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            with self._lock:
                self._sockets.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            self._drop(src)
            self._drop(dst)

    def _drop(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def cut(self) -> None:
        """The server is gone: open connections break, new ones are refused."""
        self._stop.set()
        if self._acceptor is not None:
            self._acceptor.join(timeout=5)
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            live = list(self._sockets)
        for sock in live:
            self._drop(sock)

    def freeze(self) -> None:
        """New connections are accepted and never answered (connections already open are
        left alone: close them first if the test needs only new ones)."""
        self._frozen = True

    def _release_held(self) -> None:
        self._frozen = False
        with self._lock:
            held, self._held = self._held, []
        for sock in held:
            sock.close()

    def restore(self) -> None:
        """The server is back, on the same address."""
        self._release_held()
        if self._listener is None:
            self.start()

    def close(self) -> None:
        self._release_held()
        self.cut()
