"""`idp jobs run` deletes simple members not seen for 3 years, after a notice 30 days before
(issue 9; idp/services/sns_inactivity.py): once per last-seen time, deletion as a withdrawal
(tokens revoked, audit kept without personal data), a sign-in in between saves the member."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from click.testing import CliRunner
from sqlalchemy import func, select

from idp.cli import main
from idp.extensions import db
from idp.models import AuditEvent, DevMessage, InactivityNotice, Member, SnsLink, Token
from idp.services import policy_jobs as pj
from idp.services import sns as sns_service
from idp.services import sns_inactivity as job
from idp.services.members import add_member
from idp.services.ports import MessageNotSent
from tests.helpers import PASSWORD

DAY = 86400.0


def _now(clock: Any) -> dt.datetime:
    return pj.naive_utc(clock.now())


def _simple(app: Any, clock: Any, subject: str, *, email: str = "s@example.com") -> int:
    with app.app_context():
        profile = sns_service.SnsProfile(provider="kakao", subject=subject, name="간편회원",
                                         email=email, email_verified=True,
                                         mobile="010-1234-5678")
        m = sns_service.create_simple_member(db.session, profile, name=None, mobile=None,
                                             email=None, now=_now(clock), ip="198.51.100.7")
        db.session.add(Token(client_id="rp", member_id=m.id, scope="openid",
                             access_token_hash=subject.ljust(64, "0")[:64], family_id=subject,
                             issued_at=int(clock.now()), access_expires_at=int(clock.now())
                             + 10 * 365 * 86400))
        db.session.commit()
        return int(m.id)


def _run(app: Any, clock: Any, notify: Any = None) -> dict[str, int]:
    with app.app_context():
        p = app.extensions["idp"]
        return job.run(db.session, notify or p.notify, p.revocation, now=_now(clock),
                       inactive_days=1095, notice_days=30, login_url="https://idp.example/")


def _outbox(app: Any) -> list[DevMessage]:
    with app.app_context():
        return list(db.session.scalars(select(DevMessage).order_by(DevMessage.id)))


def test_notice_once_then_deletion_after_30_days(app, clock):
    member_id = _simple(app, clock, "k-old")
    clock.advance(1064 * DAY)  # 1 day short of the notice
    assert _run(app, clock)["notified"] == 0
    clock.advance(DAY)  # 3 years - 30 days
    first = _run(app, clock)
    assert first["notified"] == 1 and first["deleted"] == 0
    mails = [m for m in _outbox(app) if m.recipient == "s@example.com"]
    assert len(mails) == 1 and "삭제" in mails[0].subject
    again = _run(app, clock)  # idempotent: nothing twice
    assert again == {"deleted": 0, "notified": 0, "failed": 0, "no_address": 0, "skipped": 0}
    clock.advance(29 * DAY)
    assert _run(app, clock)["deleted"] == 0
    clock.advance(DAY)
    assert _run(app, clock)["deleted"] == 1
    with app.app_context():
        m = db.session.get(Member, member_id)
        assert m is not None and m.status == "withdrawn" and m.email is None
        assert m.phone is None and m.name != "간편회원"
        assert db.session.scalar(select(func.count()).select_from(SnsLink).where(
            SnsLink.member_id == member_id)) == 0
        token = db.session.scalar(select(Token).where(Token.member_id == member_id))
        assert token is not None and token.revoked_at is not None
        events = list(db.session.scalars(select(AuditEvent).where(
            AuditEvent.member_id == member_id)))
        assert {"member.deleted_inactive", "member.revoked",
                "member.inactive_notice_sent"} <= {e.event for e in events}
        assert all(e.ip is None for e in events)  # the trail stays without personal data
    assert _run(app, clock)["deleted"] == 0  # and never twice


def test_a_sign_in_after_the_notice_keeps_the_member(app, clock):
    member_id = _simple(app, clock, "k-back")
    clock.advance(1070 * DAY)
    assert _run(app, clock)["notified"] == 1
    clock.advance(10 * DAY)
    with app.app_context():
        link = sns_service.find_link(db.session, "kakao", "k-back")
        assert link is not None
        sns_service.signed_in(db.session, link, now=_now(clock), ip=None)
        db.session.commit()
    clock.advance(60 * DAY)  # past 3 years since joining, but seen 60 days ago
    assert _run(app, clock) == {"deleted": 0, "notified": 0, "failed": 0, "no_address": 0,
                                "skipped": 0}
    with app.app_context():
        assert db.session.get(Member, member_id).status == "active"


def test_general_members_are_never_deleted(app, clock):
    with app.app_context():
        p = app.extensions["idp"]
        add_member(db.session, p.passwords, p.policy, login_id="general01", name="일반",
                   email="g@example.com", password=PASSWORD)
        db.session.commit()
    clock.advance(2000 * DAY)
    assert _run(app, clock)["notified"] == 0
    assert _run(app, clock)["deleted"] == 0


def test_no_deletion_without_a_sent_notice(app, clock):
    member_id = _simple(app, clock, "k-fail")
    clock.advance(1100 * DAY)  # already past 3 years: the notice comes first anyway

    class Down:
        def email(self, **_: Any) -> None:
            raise MessageNotSent("smtp down")

        def sms(self, **_: Any) -> None:
            raise MessageNotSent("sms down")

    failed = _run(app, clock, Down())
    assert failed["failed"] == 1 and failed["notified"] == 0
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(InactivityNotice)) == 0
    clock.advance(40 * DAY)
    assert _run(app, clock, Down())["deleted"] == 0  # still no notice: never deleted
    sent = _run(app, clock)
    assert sent["notified"] == 1 and sent["deleted"] == 0
    clock.advance(29 * DAY)
    assert _run(app, clock)["deleted"] == 0  # 30 days after the notice, not after 3 years
    clock.advance(DAY)
    assert _run(app, clock)["deleted"] == 1
    with app.app_context():
        assert db.session.get(Member, member_id).status == "withdrawn"


def test_jobs_run_json_has_sns_inactive(app, migrated):
    env = {"IDP_ENV": "testing", "IDP_DATABASE_URL": migrated}
    result = CliRunner().invoke(main, ["jobs", "run", "--once", "--json", "--only",
                                       "sns_inactive"], env=env)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert set(summary["sns_inactive"]) >= {"deleted", "notified", "failed", "duration_ms"}
    lines = [line for line in result.stderr.splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith("sns_inactive: deleted 0, notified 0")
