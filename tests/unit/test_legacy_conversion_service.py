"""idp/services/legacy_conversion.py without the web: who is the same person, what an old
password check costs, the one-transaction conversion and its single use."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pytest
from sqlalchemy import func, select

from idp.errors import AlreadyExists, InvalidCredentials
from idp.extensions import db
from idp.models import LegacyAccount, Member
from idp.models.base import DbSession
from idp.services import legacy_conversion as conversion
from idp.services.members import authenticate_password
from tests.helpers import PASSWORD, add_test_member

OLD = "old-site-pw1"
NEW = "Unified!pass26"
BROWSER = "browser-a"


def _account(**kw: Any) -> LegacyAccount:
    values: dict[str, Any] = dict(site="무역투자24", legacy_id="harim2021",
                                  legacy_id_key="harim2021", member_type="personal",
                                  name="윤하림", email="harim@example.com",
                                  mobile="01012345678", ci_hash=None, status="pending",
                                  password_scheme="sha256",
                                  password_hash=hashlib.sha256(OLD.encode()).hexdigest(),
                                  password_salt=None, row_digest="x" * 64)
    values.update(kw)
    return LegacyAccount(**values)


@pytest.mark.parametrize(("a", "b", "same"), [
    (dict(ci_hash="c1"), dict(ci_hash="c1", name="다른이름", email=None, mobile=None), True),
    (dict(ci_hash="c1"), dict(ci_hash="c2"), False),  # both CIs known: only the CI decides
    (dict(), dict(email="harim@example.com", mobile=None), True),
    (dict(), dict(email=None, mobile="01012345678"), True),
    (dict(), dict(email="HARIM@example.com", mobile=None), True),
    (dict(), dict(name="윤 하림", email="x@example.com", mobile="01000000000"), False),
    (dict(), dict(name="김하림"), False),  # same contacts, another name
    (dict(name=None), dict(name=None), False),  # no name: never matched by contacts
    (dict(ci_hash="c1"), dict(ci_hash=None, email="harim@example.com"), True),
])
def test_same_person(a, b, same):
    assert conversion.same_person(_account(**a), _account(**b)) is same


def _add(app: Any, **kw: Any) -> int:
    with app.app_context():
        row = _account(**kw)
        db.session.add(row)
        db.session.commit()
        return row.id


class CountingFallback(conversion.LegacyPasswordCheck):
    def __init__(self) -> None:
        self.verified = 0
        self.spent = 0

    def verify(self, session: DbSession, key: str, password: str) -> Any:
        self.verified += 1
        return super().verify(session, key, password)

    def spend(self) -> None:
        self.spent += 1
        super().spend()


@pytest.mark.parametrize(("login_id", "password", "outcome"), [
    ("nosuchuser1", OLD, "refused"),      # unknown ID
    ("harim2021", "wrong-pw1", "refused"),  # an old ID, a wrong old password
    ("member01", "Wrong!pass1", "refused"),  # a member, a wrong password
    ("harim2021", OLD, "legacy"),
    ("member01", PASSWORD, "member"),
])
def test_every_failed_sign_in_costs_one_hash_and_one_old_password_check(app, monkeypatch,
                                                                        login_id, password,
                                                                        outcome):
    _add(app)
    add_test_member(app, "member01")
    p = app.extensions["idp"]
    hashes: list[str | None] = []
    real_verify = p.passwords.verify
    monkeypatch.setattr(p.passwords, "verify",
                        lambda h, pw: hashes.append(h) or real_verify(h, pw))
    old_checks: list[str] = []
    real_old = conversion.verify_legacy_password
    monkeypatch.setattr(conversion, "verify_legacy_password",
                        lambda *a: old_checks.append("real") or real_old(*a))
    real_dummy = conversion.dummy_verify
    monkeypatch.setattr(conversion, "dummy_verify",
                        lambda: old_checks.append("dummy") or real_dummy())
    fallback = CountingFallback()
    with app.app_context():
        try:
            result = authenticate_password(db.session, p.passwords, p.throttle,
                                           login_id=login_id, password=password,
                                           ip="192.0.2.1", fallback=fallback)
        except InvalidCredentials:
            result = None
    assert len(hashes) == 1  # one argon2id verification, real or dummy
    if outcome == "refused":
        assert result is None
        assert len(old_checks) == 1  # one old-password check (real, or dummy)
    elif outcome == "legacy":
        assert isinstance(result, conversion.LegacyMatch) and old_checks == ["real"]
    else:
        assert not isinstance(result, conversion.LegacyMatch) and old_checks == []


def test_old_accounts_no_longer_pending_are_never_verified(app, monkeypatch):
    _add(app, status="converted")
    _add(app, site="구 사이트", status="merged")
    checked: list[Any] = []
    monkeypatch.setattr(conversion, "verify_legacy_password", lambda *a: checked.append(a))
    with app.app_context():
        assert conversion.authenticate_legacy(db.session, "harim2021", OLD) is None
    assert checked == []


def test_the_same_old_id_on_two_sites_matches_where_the_password_fits(app):
    one = _add(app)
    _add(app, site="구 사이트", password_hash=hashlib.sha256(b"another1").hexdigest(),
         email="other@example.com", mobile=None, name="다른사람")
    with app.app_context():
        assert conversion.authenticate_legacy(db.session, "harim2021", OLD) == \
            conversion.LegacyMatch((one,))


def _flow_to_terms(app: Any, account_id: int, browser: str = BROWSER) -> Any:
    p = app.extensions["idp"]
    flow = conversion.begin(db.session, p.flows, p.store,
                            conversion.LegacyMatch((account_id,)), browser=browser)
    conversion.choose(db.session, p.flows, flow, account_id, p.policy)
    conversion.set_password(db.session, p.flows, flow, p.passwords, p.policy, password=NEW,
                            confirm=NEW)
    db.session.commit()
    return flow


def _no_terms(session: DbSession, member_id: int, *, now: dt.datetime) -> None:
    pass


def test_a_second_conversion_of_the_same_flow_changes_nothing(app):
    account = _add(app)
    with app.app_context():
        p = app.extensions["idp"]
        flow = _flow_to_terms(app, account)
        stale = conversion.Flow(**{**flow.__dict__, "data": dict(flow.data)})
        member_id = conversion.convert(db.session, p.flows, flow, _no_terms,
                                       now=dt.datetime(2026, 1, 1))
        with pytest.raises(conversion.ConversionGone):
            conversion.convert(db.session, p.flows, stale, _no_terms,
                               now=dt.datetime(2026, 1, 1))
        assert db.session.scalar(select(func.count()).select_from(Member)) == 1
        row = db.session.get(LegacyAccount, account)
        assert (row.status, row.member_id) == ("converted", member_id)


def test_a_failure_inside_the_conversion_leaves_nothing_behind(app):
    account = _add(app)

    def failing_terms(session: DbSession, member_id: int, *, now: dt.datetime) -> None:
        raise AlreadyExists("login_id")

    with app.app_context():
        p = app.extensions["idp"]
        flow = _flow_to_terms(app, account)
        with pytest.raises(AlreadyExists):
            conversion.convert(db.session, p.flows, flow, failing_terms,
                               now=dt.datetime(2026, 1, 1))
        assert db.session.scalar(select(func.count()).select_from(Member)) == 0
        assert db.session.get(LegacyAccount, account).status == "pending"


def test_signing_in_again_resumes_the_same_flow_only_in_the_same_browser(app):
    account = _add(app)
    with app.app_context():
        p = app.extensions["idp"]
        flow = _flow_to_terms(app, account)
        match = conversion.LegacyMatch((account,))
        again = conversion.begin(db.session, p.flows, p.store, match, browser=BROWSER)
        assert again.id == flow.id and again.data["step"] == conversion.TERMS
        other = conversion.begin(db.session, p.flows, p.store, match, browser="browser-b")
        assert other.id != flow.id and other.data["step"] == conversion.CHOOSE


def test_the_flow_never_keeps_the_new_password_itself(app):
    account = _add(app)
    with app.app_context():
        flow = _flow_to_terms(app, account)
        assert NEW not in repr(flow.data)
        assert flow.data["password_hash"].startswith("$argon2id$")


def test_an_id_of_another_persons_pending_old_account_is_taken(app):
    account = _add(app)
    _add(app, site="구 사이트", legacy_id="shared2020", legacy_id_key="shared2020",
         name="다른사람", email="o@example.com", mobile=None)
    with app.app_context():
        p = app.extensions["idp"]
        flow = conversion.begin(db.session, p.flows, p.store,
                                conversion.LegacyMatch((account,)), browser=BROWSER)
        assert conversion.login_id_problem(db.session, p.policy, flow, "shared2020") == "taken"
        assert conversion.login_id_problem(db.session, p.policy, flow, "fresh2020") is None
        assert conversion.login_id_problem(db.session, p.policy, flow, "nodigits") == "policy"


def test_two_conversions_racing_make_one_member(app):
    """A double submit that reaches two workers at once: one claims the old account, the
    other waits for its row (PostgreSQL) or the write lock (SQLite) and finds it taken."""
    import threading

    account = _add(app)
    with app.app_context():
        flow = _flow_to_terms(app, account)
    barrier = threading.Barrier(2)
    results: list[Any] = []

    def submit() -> None:
        with app.app_context():
            p = app.extensions["idp"]
            mine = conversion.Flow(**{**flow.__dict__, "data": dict(flow.data)})
            barrier.wait()
            try:
                results.append(conversion.convert(db.session, p.flows, mine, _no_terms,
                                                  now=dt.datetime(2026, 1, 1)))
            except conversion.ConversionGone:
                results.append("gone")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(results, key=str).count("gone") == 1, results
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Member)) == 1
