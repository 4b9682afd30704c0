"""A relying party's back-channel logout endpoint on a real socket, for tests.

It records what it receives; `status` sets its answer, and `hang()` makes it hold every
request until `release()` (a relying party that does not answer).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from tests.conftest import free_port


@dataclass
class Receiver:
    uri: str
    received: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    arrived: threading.Event = field(default_factory=threading.Event)
    _gate: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._gate.set()

    def hang(self) -> None:
        self._gate.clear()

    def release(self) -> None:
        self._gate.set()


@contextmanager
def backchannel_receiver() -> Iterator[Receiver]:
    port = free_port()
    receiver = Receiver(f"http://127.0.0.1:{port}/backchannel-logout")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers["Content-Length"])
            body = parse_qs(self.rfile.read(length).decode())
            receiver.received.append({"path": self.path, "ctype": self.headers["Content-Type"],
                                      "token": body["logout_token"][0]})
            receiver.arrived.set()
            receiver._gate.wait(30)
            self.send_response(receiver.status)
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.release()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
