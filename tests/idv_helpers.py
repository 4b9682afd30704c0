"""Driving the emulated identity-verification popups through the Flask test client, and
giving a member the identity the emulator derives (issue 6)."""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any
from urllib.parse import urlsplit

from idp.adapters.identity_emulator import emulator_ci_di
from idp.extensions import db
from idp.models import DevMessage, Member, MemberIdentity

PERSON = {"name": "홍길동", "birthdate": "19850301", "gender": "M", "mobile": "01012345678",
          "carrier": "SKT", "app": "kakao", "card": "shinhan",
          "card_number": "4111111111111111", "agree": "y"}


def local(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html[:400]
    return match.group(1)


def open_popup(client: Any, start: Any) -> str:
    """From the 303 of /verify/start to the popup's path (/dev/verify/<fid>)."""
    assert start.status_code == 303, start.get_data(as_text=True)[:300]
    assert "/dev/verify/start?" in start.headers["Location"]
    opened = client.get(local(start.headers["Location"]))
    assert opened.status_code == 303, opened.get_data(as_text=True)[:300]
    return local(opened.headers["Location"])


def submit(client: Any, popup: str, **fields: str) -> Any:
    page = client.get(popup.split("?")[0])
    assert page.status_code == 200, page.get_data(as_text=True)[:300]
    return client.post(popup.split("?")[0], data={"csrf_token": csrf(page.get_data(
        as_text=True)), **fields})


def last_code(app: Any) -> str:
    with app.app_context():
        msg = db.session.query(DevMessage).order_by(DevMessage.id.desc()).first()
        assert msg is not None and msg.channel == "sms"
        match = re.search(r"\[(\d{6})\]", msg.body)
        assert match, msg.body
        return match.group(1)


def result_link(delivered: Any) -> str:
    """The link (followed by script) that carries the signed result to the callback."""
    assert delivered.status_code == 200, delivered.get_data(as_text=True)[:300]
    match = re.search(r'id="verify-continue" data-autofollow href="([^"]+)"',
                      delivered.get_data(as_text=True))
    assert match, delivered.get_data(as_text=True)[:500]
    url = html.unescape(match.group(1))
    assert "/verify/callback/" in url
    return local(url)


def post_back(client: Any, delivered: Any) -> Any:
    """Follow the result link to the callback; its answer (303 to next)."""
    return client.get(result_link(delivered))


def verify(app: Any, client: Any, start: Any, method: str = "mobile", **person: str) -> Any:
    """The whole popup, correctly filled in; returns the callback's answer (303 to next)."""
    popup = open_popup(client, start)
    fields = {**PERSON, **person}
    resp = submit(client, popup, action="next", **fields)
    if method == "mobile":
        assert resp.status_code == 303, resp.get_data(as_text=True)[:500]
        resp = submit(client, popup, action="verify", code=last_code(app))
    elif method == "simple":
        assert resp.status_code == 303, resp.get_data(as_text=True)[:500]
        resp = submit(client, popup, action="approve")
    return post_back(client, resp)


def give_identity(app: Any, login_id: str, *, name: str = "홍길동",
                  birthdate: str = "19850301", mobile: str = "01012345678") -> None:
    """Record on `login_id` the identity the emulator derives for this person."""
    born = dt.datetime.strptime(birthdate, "%Y%m%d").date()
    ci, di = emulator_ci_di(name, born, mobile)
    with app.app_context():
        pd = app.extensions["idp"].personal_data
        member = db.session.query(Member).filter_by(login_id=login_id).one()
        db.session.add(MemberIdentity(
            member_id=member.id, ci_hash=pd.lookup_hash("ci", ci),
            di_hash=pd.lookup_hash("di", di), ci_sealed=pd.seal(ci, "ci"),
            di_sealed=pd.seal(di, "di"), name=name, birthdate=born, gender="M",
            nationality="domestic", carrier="SKT", method="mobile", vendor="emulator"))
        db.session.commit()
