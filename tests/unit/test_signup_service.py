"""The sign-up service (idp/services/signup.py) without the web: the flow's steps and rules,
single use, browser binding, expiry, duplicates and races."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from sqlalchemy import func, select

from idp.errors import AlreadyExists, InvalidInput
from idp.extensions import db
from idp.models import Member, MemberIdentity
from idp.services import signup, terms
from tests.helpers import verified_identity

PASSWORD = "Blue!ocean2026x"
NOW = dt.datetime(2026, 12, 2, 9, 0)


@pytest.fixture()
def ctx(app: Any) -> Any:
    with app.app_context():
        for kind, required in (("service", True), ("privacy", True), ("marketing", False)):
            terms.publish(db.session, kind=kind, version=1, title_ko=kind, title_en=kind,
                          body="본문", required=required, now=NOW)
        db.session.commit()
        yield app.extensions["idp"]


def _ready(p: Any, browser: str = "browser-1", identity: Any = None,
           login_id: str = "newmember1") -> tuple[str, Any]:
    identity = identity or verified_identity()
    flow = signup.begin(p.flows, browser=browser, ia=None)
    signup.agree_terms(db.session, p.flows, flow, {"service": True, "privacy": True,
                                                   "marketing": True}, {"email": True,
                                                                        "sms": False})
    flow = signup.load(p.flows, flow.id, browser)
    signup.verified(db.session, p.flows, p.personal_data, flow, identity)
    flow = signup.load(p.flows, flow.id, browser)
    signup.save_basic(db.session, p.flows, flow, p.passwords, p.policy, p.personal_data,
                      login_id=login_id, password=PASSWORD, confirm=PASSWORD,
                      email="new@example.com")
    db.session.commit()
    return flow.id, identity


def _count() -> int:
    return int(db.session.scalar(select(func.count(Member.id))) or 0)


def test_complete_creates_the_member_once(ctx):
    fid, identity = _ready(ctx)
    result = signup.complete(db.session, ctx.flows, ctx.store, ctx.personal_data, fid,
                             browser="browser-1", now=NOW)
    db.session.commit()
    assert result.login_id == "newmember1" and result.name == identity.name
    with pytest.raises(signup.SignupGone):
        signup.complete(db.session, ctx.flows, ctx.store, ctx.personal_data, fid,
                        browser="browser-1", now=NOW)
    assert _count() == 1
    assert signup.result_of(ctx.store, fid, browser="browser-1") == result
    assert signup.result_of(ctx.store, fid, browser="browser-2") is None


def test_the_flow_keeps_no_secret_in_clear(ctx):
    fid, identity = _ready(ctx)
    raw = str(ctx.store.get(f"flow:{fid}"))
    assert identity.di not in raw and identity.ci not in raw and PASSWORD not in raw
    assert identity.name not in raw


def test_another_browser_cannot_read_or_finish_the_flow(ctx):
    fid, _ = _ready(ctx)
    with pytest.raises(signup.SignupGone):
        signup.load(ctx.flows, fid, "browser-2")
    with pytest.raises(signup.SignupGone):
        signup.complete(db.session, ctx.flows, ctx.store, ctx.personal_data, fid,
                        browser="browser-2", now=NOW)
    assert _count() == 0


def test_an_expired_flow_is_gone(ctx, clock):
    fid, _ = _ready(ctx)
    clock.advance(signup.SIGNUP.ttl + 1)
    with pytest.raises(signup.SignupGone):
        signup.complete(db.session, ctx.flows, ctx.store, ctx.personal_data, fid,
                        browser="browser-1", now=NOW)


def test_steps_cannot_be_skipped(ctx):
    flow = signup.begin(ctx.flows, browser="b", ia=None)
    with pytest.raises(signup.StepMissing):
        signup.verified(db.session, ctx.flows, ctx.personal_data, flow, verified_identity())
    with pytest.raises(signup.StepMissing):
        signup.save_basic(db.session, ctx.flows, flow, ctx.passwords, ctx.policy,
                          ctx.personal_data, login_id="abc12345", password=PASSWORD,
                          confirm=PASSWORD, email="a@example.com")
    with pytest.raises(signup.StepMissing) as exc:
        signup.complete(db.session, ctx.flows, ctx.store, ctx.personal_data, flow.id,
                        browser="b", now=NOW)
    assert exc.value.step == signup.TERMS


def test_declining_a_required_document_is_refused(ctx):
    flow = signup.begin(ctx.flows, browser="b", ia=None)
    with pytest.raises(InvalidInput) as exc:
        signup.agree_terms(db.session, ctx.flows, flow, {"service": True, "privacy": False},
                           {})
    assert exc.value.field == "privacy"


def test_marketing_channels_need_the_marketing_consent(ctx):
    flow = signup.begin(ctx.flows, browser="b", ia=None)
    signup.agree_terms(db.session, ctx.flows, flow, {"service": True, "privacy": True,
                                                     "marketing": False}, {"sms": True})
    assert signup.load(ctx.flows, flow.id, "b").data["marketing"] == {"sms": False}


@pytest.mark.parametrize("same", ["di", "ci"])
def test_a_di_or_ci_with_an_account_is_already_a_member(ctx, same):
    """The DI, and the CI too: a vendor without DI (KG이니시스) gives a DI derived from the CI,
    so one person verified by two vendor families shares only the CI."""
    fid, identity = _ready(ctx)
    signup.complete(db.session, ctx.flows, ctx.store, ctx.personal_data, fid,
                    browser="browser-1", now=NOW)
    db.session.commit()
    flow = signup.begin(ctx.flows, browser="b2", ia=None)
    signup.agree_terms(db.session, ctx.flows, flow, {"service": True, "privacy": True}, {})
    flow = signup.load(ctx.flows, flow.id, "b2")
    with pytest.raises(signup.AlreadyMember):
        signup.verified(db.session, ctx.flows, ctx.personal_data, flow,
                        verified_identity(**{same: getattr(identity, same)}))


@pytest.mark.parametrize(("login_id", "status"), [
    ("newmember1", "taken"), ("NEWMEMBER1", "taken"), ("free12345", "available"),
    ("abc12", "invalid"), ("a" * 20 + "1", "invalid"), ("abcdefgh", "invalid"),
    ("12345678", "invalid"), ("abc_12345", "invalid"), ("", "invalid"),
])
def test_login_id_status(ctx, login_id, status):
    fid, _ = _ready(ctx)
    signup.complete(db.session, ctx.flows, ctx.store, ctx.personal_data, fid,
                    browser="browser-1", now=NOW)
    db.session.commit()
    assert signup.login_id_status(db.session, ctx.policy, login_id) == status


def test_an_id_taken_at_submit_keeps_the_flow_going(ctx):
    fid, _ = _ready(ctx)
    other, _ = _ready(ctx, browser="browser-2", login_id="newmember1")
    signup.complete(db.session, ctx.flows, ctx.store, ctx.personal_data, other,
                    browser="browser-2", now=NOW)
    db.session.commit()
    with pytest.raises(signup.LoginIdTaken) as exc:
        signup.complete(db.session, ctx.flows, ctx.store, ctx.personal_data, fid,
                        browser="browser-1", now=NOW)
    flow = signup.load(ctx.flows, exc.value.flow_id, "browser-1")
    assert "login_id" not in flow.data["info"] and flow.data["info"]["password_hash"]
    with pytest.raises(AlreadyExists):
        signup.save_basic(db.session, ctx.flows, flow, ctx.passwords, ctx.policy,
                          ctx.personal_data, login_id="newmember1", password="",
                          confirm="", email="new@example.com")


@pytest.mark.parametrize(("fields", "field"), [
    ({"name_en": "홍길동"}, "name_en"), ({"name_en": "x" * 101}, "name_en"),
    ({"fax": "02-12"}, "fax"), ({"fax": "fax"}, "fax"),
    ({"department": "d" * 101}, "department"), ({"position": "a\u0000b"}, "position"),
    ({"address_en": "서울"}, "address_en"), ({"address_en": "a" * 301}, "address_en"),
])
def test_optional_fields_are_checked(ctx, fields, field):
    fid, _ = _ready(ctx)
    flow = signup.load(ctx.flows, fid, "browser-1")
    values = {"name_en": "", "fax": "", "department": "", "position": "", "address_en": "",
              **fields}
    with pytest.raises(InvalidInput) as exc:
        signup.save_optional(ctx.flows, flow, **values)
    assert exc.value.field == field


def test_optional_fields_are_kept_normalised(ctx):
    fid, _ = _ready(ctx)
    flow = signup.load(ctx.flows, fid, "browser-1")
    signup.save_optional(ctx.flows, flow, name_en="  Gildong Hong ", fax="0212345678",
                         department="", position="과장", address_en="13 Heolleung-ro")
    signup.complete(db.session, ctx.flows, ctx.store, ctx.personal_data, fid,
                    browser="browser-1", now=NOW)
    db.session.commit()
    member = db.session.scalars(select(Member)).one()
    assert (member.name_en, member.fax, member.department, member.position) == (
        "Gildong Hong", "0212345678", None, "과장")


def test_two_racing_signups_with_one_di_make_exactly_one_member(app, ctx):
    identity = verified_identity()
    fids = [_ready(ctx, browser=f"browser-{n}", identity=identity, login_id=f"racer{n}abc")[0]
            for n in range(2)]
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def run(n: int) -> None:
        with app.app_context():
            barrier.wait()
            try:
                signup.complete(db.session, ctx.flows, ctx.store, ctx.personal_data, fids[n],
                                browser=f"browser-{n}", now=NOW)
                db.session.commit()
                outcomes.append("member")
            except signup.AlreadyMember:
                db.session.rollback()
                outcomes.append("already")

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["already", "member"]
    db.session.expire_all()
    assert _count() == 1
    assert db.session.scalar(select(func.count(MemberIdentity.id))) == 1
