"""The BackchannelSender port: HTTP POSTs to relying parties, and a fake that records them.

OpenID Connect Back-Channel Logout 1.0 §2.5: the logout token travels as the form parameter
`logout_token` of a POST to the relying party's `backchannel_logout_uri`; §2.8: the relying
party answers 200 (204 is accepted as well: it also means "done, nothing to say").
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from idp.services.ports import BackchannelDelivery

ACCEPTED_STATUSES = (200, 204)


class HttpBackchannelSender:
    """The real relying parties, over HTTP with a timeout (a hanging RP costs at most that)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout

    def send(self, uri: str, logout_token: str) -> BackchannelDelivery:
        import requests  # on the first delivery, not with the module (issue 10, memory)

        try:
            resp = requests.post(  # a connection per POST: rare, and none left open
                uri,
                data={"logout_token": logout_token},
                timeout=self.timeout,
                allow_redirects=False,  # §2.5: the RP answers itself; never follow elsewhere
                headers={"Cache-Control": "no-store"},
            )
        except requests.RequestException as exc:
            return BackchannelDelivery(False, None, f"{type(exc).__name__}: {exc}"[:500])
        resp.close()
        if resp.status_code not in ACCEPTED_STATUSES:
            return BackchannelDelivery(False, resp.status_code, f"HTTP {resp.status_code}")
        return BackchannelDelivery(True, resp.status_code)


@dataclass(frozen=True)
class SentLogoutToken:
    uri: str
    logout_token: str


class RecordingBackchannelSender:
    """A fake for tests: records every delivery; answers as told per URI (default 200).

    `answer(uri, 503)` makes that relying party fail with HTTP 503, `answer(uri, None)` makes
    it unreachable, like a connection refused or a timeout of the real sender.
    """

    def __init__(self) -> None:
        self.sent: list[SentLogoutToken] = []
        self._answers: dict[str, int | None] = {}
        self._lock = threading.Lock()

    def answer(self, uri: str, status: int | None) -> None:
        self._answers[uri] = status

    def send(self, uri: str, logout_token: str) -> BackchannelDelivery:
        with self._lock:
            self.sent.append(SentLogoutToken(uri, logout_token))
        status = self._answers.get(uri, 200)
        if status is None:
            return BackchannelDelivery(False, None, "ConnectionError: unreachable (fake)")
        if status not in ACCEPTED_STATUSES:
            return BackchannelDelivery(False, status, f"HTTP {status}")
        return BackchannelDelivery(True, status)
