"""The SmsSender port over an HTTP SMS gateway: one JSON POST per message.

Korean SMS gateways (NHN Cloud, Solapi, Aligo, ...) all take "send this text from this
registered sender number to that number" as one HTTPS request with an API key; their field
names differ. This adapter speaks one documented, generic shape, so an operator points it at
the vendor directly when the names match, or at a small relay that maps it:

    POST {sms.url}
    {sms.api_key_header}: {sms.api_key}          (default header: X-API-Key)
    Content-Type: application/json; charset=utf-8

    {"from": "<sms.sender, digits>", "to": "01012345678",
     "text": "[KOTRA] 인증번호는 [123456]입니다.", "type": "SMS"}

`type` is "SMS" up to 90 bytes of EUC-KR (the Korean carriers' short-message limit) and "LMS"
(long message) beyond. Any 2xx answer means accepted; anything else, a redirect, a timeout or
a refused connection raises MessageNotSent (the caller shows "잠시 후 다시 시도해 주세요").
"""

from __future__ import annotations

import logging
from typing import Any

from idp.services.ports import MessageNotSent, SmsMessage

log = logging.getLogger(__name__)

SMS_MAX_BYTES = 90  # EUC-KR bytes of one short message; longer texts go as LMS


def message_type(text: str) -> str:
    try:
        size = len(text.encode("euc-kr"))
    except UnicodeEncodeError:
        size = len(text.encode("utf-8"))
    return "SMS" if size <= SMS_MAX_BYTES else "LMS"


class HttpSmsSender:
    def __init__(self, *, url: str, api_key: str, sender: str, timeout: float = 5.0,
                 api_key_header: str = "X-API-Key") -> None:
        self.url, self.api_key, self.sender = url, api_key, sender
        self.timeout, self.api_key_header = timeout, api_key_header

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> HttpSmsSender:
        section = settings["sms"]
        if not section["url"]:
            # Not refused at start (the provider runs without SMS), but loud at each send.
            log.warning("sms.url (IDP_SMS_URL) is empty: every SMS will fail")
        return cls(url=section["url"], api_key=section["api_key"], sender=section["sender"],
                   timeout=section["timeout"], api_key_header=section["api_key_header"])

    def payload(self, message: SmsMessage) -> dict[str, str]:
        return {"from": "".join(c for c in self.sender if c.isdigit()),
                "to": "".join(c for c in message.to if c.isdigit()),
                "text": message.text, "type": message_type(message.text)}

    def send(self, message: SmsMessage) -> None:
        if not self.url:
            raise MessageNotSent("sms.url (IDP_SMS_URL) is not set")
        headers = {"Accept": "application/json"}
        if self.api_key:
            headers[self.api_key_header] = self.api_key
        import requests  # on the first SMS, not with the module (issue 10, memory)

        try:
            resp = requests.post(self.url, json=self.payload(message), headers=headers,
                                 timeout=self.timeout, allow_redirects=False)
        except requests.RequestException as exc:
            raise MessageNotSent(f"SMS gateway: {type(exc).__name__}: {exc}"[:500]) from exc
        resp.close()
        if not 200 <= resp.status_code < 300:
            raise MessageNotSent(f"SMS gateway answered HTTP {resp.status_code}: "
                                 f"{resp.text[:200]}")
