"""일반회원 전환 without the web (idp/services/conversion.py): the same member row, what stays,
what changes, and every refusal: not a simple member, another browser, expiry, skipped
steps, declined terms, a DI with another account, an ID taken at submit, double submits and
two conversions of one member racing."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from sqlalchemy import func, select

from idp.errors import InvalidInput
from idp.extensions import db
from idp.models import AuditEvent, Member, MemberIdentity, MemberType, SnsLink, TermsConsent
from idp.services import conversion, signup, terms
from idp.services.members import new_subject
from tests.helpers import verified_identity

PASSWORD = "Blue!ocean2026x"
NOW = dt.datetime(2026, 12, 2, 9, 0)


@pytest.fixture()
def ctx(app: Any) -> Any:
    with app.app_context():
        for kind, required in (("service", True), ("privacy", True), ("marketing", False)):
            terms.publish(db.session, kind=kind, version=1, title_ko=kind, title_en=kind,
                          body="본문", required=required, now=NOW - dt.timedelta(days=10))
        db.session.commit()
        yield app.extensions["idp"]


def _simple_member(name: str = "카카오닉", subject: str = "kakao-1") -> int:
    member = Member(subject=new_subject(), member_type=MemberType.SIMPLE, name=name,
                    email="sns@example.com", email_verified=True, phone="010-1111-2222",
                    created_at=NOW - dt.timedelta(days=5))
    db.session.add(member)
    db.session.flush()
    db.session.add(SnsLink(member_id=member.id, provider="kakao", subject=subject,
                           email="sns@example.com", linked_at=NOW - dt.timedelta(days=5)))
    terms.record_consents(db.session, member.id, agreed={"service": True, "privacy": True,
                                                         "marketing": False},
                          marketing={}, source="sns_signup", now=NOW - dt.timedelta(days=5))
    db.session.commit()
    return member.id


def _ready(p: Any, member_id: int, browser: str = "browser-1", identity: Any = None,
           login_id: str = "convert01", via: str = "sso") -> str:
    identity = identity or verified_identity()
    flow = conversion.begin(db.session, p.flows, member_id=member_id, browser=browser,
                            ia=None, via=via, now=NOW)
    assert flow.data["step"] == signup.VERIFY  # nothing to agree to again
    signup.verified(db.session, p.flows, p.personal_data, flow, identity)
    flow = conversion.load(p.flows, flow.id, browser)
    signup.save_basic(db.session, p.flows, flow, p.passwords, p.policy, p.personal_data,
                      login_id=login_id, password=PASSWORD, confirm=PASSWORD,
                      email="sns@example.com")
    db.session.commit()
    return flow.id


def _complete(p: Any, fid: str, browser: str = "browser-1") -> conversion.ConversionResult:
    result = conversion.complete(db.session, p.flows, p.store, p.personal_data, fid,
                                 browser=browser, now=NOW)
    db.session.commit()
    return result


def test_the_same_row_becomes_a_general_member_and_keeps_its_history(ctx):
    member_id = _simple_member()
    identity = verified_identity(name="김실명")
    fid = _ready(ctx, member_id, identity=identity)
    result = _complete(ctx, fid)
    assert result.member_id == member_id and result.name == "김실명"
    member = db.session.get(Member, member_id)
    assert member is not None
    db.session.refresh(member)
    assert member.member_type == MemberType.GENERAL and member.login_id == "convert01"
    assert ctx.passwords.verify(member.password_hash, PASSWORD)
    assert member.name == "김실명"  # the verified name replaces the SNS one
    assert member.phone == "010-1234-5678" and member.phone_verified
    assert member.email_verified  # the same email as before stays verified
    assert member.created_at == NOW - dt.timedelta(days=5)
    assert db.session.scalar(select(func.count(SnsLink.id))) == 1
    (mi,) = db.session.scalars(select(MemberIdentity)).all()
    assert mi.member_id == member_id and mi.name == "김실명"
    assert {c.source for c in db.session.scalars(select(TermsConsent))} == {"sns_signup"}
    (event,) = db.session.scalars(select(AuditEvent).where(
        AuditEvent.event == "member.converted")).all()
    assert event.member_id == member_id and event.detail["sns"] == ["kakao"]
    assert conversion.result_of(ctx.store, fid, browser="browser-1") == result
    assert conversion.result_of(ctx.store, fid, browser="browser-2") is None


def test_a_double_submit_converts_once(ctx):
    fid = _ready(ctx, _simple_member())
    _complete(ctx, fid)
    with pytest.raises(conversion.ConversionGone):
        _complete(ctx, fid)
    assert db.session.scalar(select(func.count(MemberIdentity.id))) == 1


@pytest.mark.parametrize("kind", [MemberType.GENERAL, MemberType.COMPANY_MANAGER])
def test_only_a_simple_member_converts(ctx, kind):
    member_id = _simple_member()
    db.session.get(Member, member_id).member_type = kind  # type: ignore[union-attr]
    db.session.commit()
    with pytest.raises(conversion.NotSimpleMember):
        conversion.begin(db.session, ctx.flows, member_id=member_id, browser="b", ia=None,
                         via="sso", now=NOW)


def test_a_withdrawn_or_unknown_member_cannot_convert(ctx):
    member_id = _simple_member()
    db.session.get(Member, member_id).status = "withdrawn"  # type: ignore[union-attr]
    db.session.commit()
    for mid in (member_id, 999_999):
        with pytest.raises(conversion.NotSimpleMember):
            conversion.begin(db.session, ctx.flows, member_id=mid, browser="b", ia=None,
                             via="sso", now=NOW)


def test_unknown_way_in_is_refused(ctx):
    with pytest.raises(InvalidInput):
        conversion.begin(db.session, ctx.flows, member_id=_simple_member(), browser="b",
                         ia=None, via="email", now=NOW)


def test_another_browser_cannot_finish(ctx):
    fid = _ready(ctx, _simple_member())
    with pytest.raises(conversion.ConversionGone):
        _complete(ctx, fid, browser="browser-2")
    with pytest.raises(conversion.ConversionGone):
        conversion.load(ctx.flows, fid, "browser-2")


def test_an_expired_flow_is_gone(ctx, clock):
    fid = _ready(ctx, _simple_member())
    clock.advance(conversion.CONVERSION.ttl + 1)
    with pytest.raises(conversion.ConversionGone):
        _complete(ctx, fid)


def test_steps_cannot_be_skipped(ctx):
    member_id = _simple_member()
    flow = conversion.begin(db.session, ctx.flows, member_id=member_id, browser="b", ia=None,
                            via="sso", now=NOW)
    db.session.commit()
    with pytest.raises(signup.StepMissing) as info:
        conversion.complete(db.session, ctx.flows, ctx.store, ctx.personal_data, flow.id,
                            browser="b", now=NOW)
    assert info.value.step == signup.VERIFY
    signup.verified(db.session, ctx.flows, ctx.personal_data,
                    conversion.load(ctx.flows, flow.id, "b"), verified_identity())
    with pytest.raises(signup.StepMissing) as info:
        conversion.complete(db.session, ctx.flows, ctx.store, ctx.personal_data, flow.id,
                            browser="b", now=NOW)
    assert info.value.step == signup.INFO
    assert db.session.get(Member, member_id).member_type == MemberType.SIMPLE  # type: ignore[union-attr]


def test_terms_only_what_is_missing_and_declining_is_refused(ctx):
    member_id = _simple_member()
    terms.publish(db.session, kind="privacy", version=2, title_ko="v2", title_en="v2",
                  body="본문", required=True, now=NOW)
    db.session.commit()
    assert conversion.needed_terms(db.session, member_id, now=NOW) == ["privacy"]
    flow = conversion.begin(db.session, ctx.flows, member_id=member_id, browser="b", ia=None,
                            via="sso", now=NOW)
    assert flow.data["step"] == signup.TERMS
    with pytest.raises(InvalidInput):
        conversion.agree_terms(db.session, ctx.flows, flow, {"privacy": False}, {})
    conversion.agree_terms(db.session, ctx.flows, flow, {"privacy": True, "marketing": False},
                           {"email": True})
    flow = conversion.load(ctx.flows, flow.id, "b")
    assert flow.data["agreed"] == {"privacy": True, "marketing": False}
    assert flow.data["marketing"] == {"email": False}  # no channel without the consent
    assert flow.data["step"] == signup.VERIFY


def test_a_di_with_another_account_is_already_a_member(ctx):
    identity = verified_identity()
    other = _ready(ctx, _simple_member(subject="kakao-1"), identity=identity)
    _complete(ctx, other)
    member_id = _simple_member(subject="kakao-2")
    flow = conversion.begin(db.session, ctx.flows, member_id=member_id, browser="b", ia=None,
                            via="sso", now=NOW)
    with pytest.raises(signup.AlreadyMember):
        signup.verified(db.session, ctx.flows, ctx.personal_data, flow, identity)


def test_an_id_taken_at_submit_keeps_the_flow_going(ctx):
    fid = _ready(ctx, _simple_member())
    db.session.add(Member(subject=new_subject(), login_id="convert01", name="선점"))
    db.session.commit()
    with pytest.raises(signup.LoginIdTaken) as info:
        _complete(ctx, fid)
    flow = conversion.load(ctx.flows, info.value.flow_id, "browser-1")
    assert "login_id" not in flow.data["info"]


def test_two_racing_conversions_of_one_member_convert_it_once(app, ctx):
    member_id = _simple_member()
    fids = [_ready(ctx, member_id, browser=f"browser-{n}", login_id=f"racer{n}abc")
            for n in range(2)]
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def run(n: int) -> None:
        with app.app_context():
            barrier.wait()
            try:
                conversion.complete(db.session, ctx.flows, ctx.store, ctx.personal_data,
                                    fids[n], browser=f"browser-{n}", now=NOW)
                db.session.commit()
                outcomes.append("converted")
            except conversion.NotSimpleMember:
                db.session.rollback()
                outcomes.append("refused")

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["converted", "refused"]
    db.session.expire_all()
    assert db.session.scalar(select(func.count(MemberIdentity.id))) == 1
    member = db.session.get(Member, member_id)
    assert member is not None and member.login_id in ("racer0abc", "racer1abc")
