"""The NTS emulator's transport: requests to the provider's own issuer served in-process.

Apart from idp/adapters/nts.py so that a provider that never uses the emulator never imports
requests for it (issue 10, memory).
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict


class LoopbackTransport(BaseAdapter):
    """Serves requests to the provider's own issuer from the running Flask app, in-process
    (no socket: a development server with one thread, or a test without one, still answers).
    Other hosts fail as an unreachable server does. A call that took longer than its read
    timeout raises ReadTimeout, as a socket would have."""

    def __init__(self, issuer: str) -> None:
        super().__init__()
        self.host = urlsplit(issuer).netloc

    def send(self, request: requests.PreparedRequest, stream: bool = False,
             timeout: Any = None, verify: Any = True, cert: Any = None,
             proxies: Any = None) -> requests.Response:
        from flask import current_app
        from werkzeug.test import Client

        url = urlsplit(request.url or "")
        if url.netloc != self.host:
            raise requests.ConnectionError(f"no route to {url.netloc}")
        try:
            app = current_app._get_current_object()  # type: ignore[attr-defined]
        except RuntimeError:  # outside an app context there is no emulator to reach
            raise requests.ConnectionError("no application context: the emulator is "
                                           "served by the running app") from None
        started = time.monotonic()
        answer = Client(app).open(
            path=url.path, query_string=url.query, method=request.method,
            headers={k: v for k, v in request.headers.items()
                     if k.lower() != "content-length"},
            data=request.body, base_url=f"{url.scheme}://{url.netloc}")
        read_timeout = timeout[1] if isinstance(timeout, tuple) else timeout
        if read_timeout is not None and time.monotonic() - started > float(read_timeout):
            raise requests.ReadTimeout(f"no answer within {read_timeout} s")
        out = requests.Response()
        out.status_code = answer.status_code
        out._content = answer.get_data()
        out.headers = CaseInsensitiveDict(dict(answer.headers))
        out.url = request.url or ""
        out.request = request
        out.encoding = "utf-8"
        return out

    def close(self) -> None:
        pass
