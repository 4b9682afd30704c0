"""Identity verification results (idp/services/identity.py) and personal data at rest
(idp/services/personal_data.py): bound to browser and purpose, single use, short-lived; under-14
and corporate results refused; CI/DI sealed with AES-GCM and found by keyed hashes."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest

from idp.adapters.clock import FakeClock
from idp.extensions import db
from idp.services.flows import Flows
from idp.services.identity import VerificationError, Verifications, age_on
from idp.services.personal_data import PersonalData, PersonalDataError, master_key
from tests.helpers import verified_identity

BROWSER = "browser-a"


@pytest.fixture()
def v(app: Any) -> Any:
    with app.app_context():
        clock = FakeClock(dt.datetime(2026, 12, 2, 3, 0, tzinfo=dt.UTC).timestamp())
        yield Verifications(Flows(app.extensions["idp"].store, clock), clock), clock
        db.session.rollback()


def _done(ver: Verifications, purpose: str = "signup", **identity: Any) -> str:
    req = ver.start(purpose=purpose, method="mobile", browser=BROWSER, return_to="/x")
    ver.complete(req, verified_identity(**identity), browser=BROWSER)
    return req.id


def test_a_result_is_taken_once_by_its_browser_for_its_purpose(v: Any) -> None:
    ver, _ = v
    rid = _done(ver, name="김철수")
    with pytest.raises(VerificationError) as other_browser:
        ver.take(rid, browser="browser-b", purpose="signup")
    with pytest.raises(VerificationError) as other_purpose:
        ver.take(rid, browser=BROWSER, purpose="reset_password")
    assert (other_browser.value.reason, other_purpose.value.reason) == ("expired", "purpose")
    assert ver.take(rid, browser=BROWSER, purpose="signup").name == "김철수"
    with pytest.raises(VerificationError) as again:
        ver.take(rid, browser=BROWSER, purpose="signup")
    assert again.value.reason == "expired"


def test_a_pending_request_has_no_result_and_a_second_answer_is_ignored(v: Any) -> None:
    ver, _ = v
    req = ver.start(purpose="login", method="simple", browser=BROWSER, return_to="/x")
    with pytest.raises(VerificationError) as pending:
        ver.take(req.id, browser=BROWSER, purpose="login")
    assert pending.value.reason == "pending"
    assert ver.complete(req, verified_identity(name="첫째"), browser=BROWSER) is None
    assert ver.complete(req, verified_identity(name="둘째"), browser=BROWSER) == "expired"
    assert ver.take(req.id, browser=BROWSER, purpose="login").name == "첫째"


def test_results_expire(v: Any) -> None:
    ver, clock = v
    rid = _done(ver)
    clock.advance(601)
    with pytest.raises(VerificationError) as exc:
        ver.take(rid, browser=BROWSER, purpose="signup")
    assert exc.value.reason == "expired"


@pytest.mark.parametrize(("birthdate", "refused"), [
    (dt.date(2012, 12, 2), False),  # 14 today (KST)
    (dt.date(2012, 12, 3), True),   # 14 tomorrow
    (dt.date(2020, 1, 1), True),
])
def test_under_14s_are_refused(v: Any, birthdate: dt.date, refused: bool) -> None:
    ver, _ = v
    rid = _done(ver, birthdate=birthdate)
    if refused:
        with pytest.raises(VerificationError) as exc:
            ver.take(rid, browser=BROWSER, purpose="signup")
        assert exc.value.reason == "under_14"
    else:
        assert ver.take(rid, browser=BROWSER, purpose="signup").birthdate == birthdate


def test_corporate_subscribers_and_vendor_failures_are_refused(v: Any) -> None:
    ver, _ = v
    rid = _done(ver, corporate=True, name="(주)한국이디에스")
    with pytest.raises(VerificationError) as corp:
        ver.take(rid, browser=BROWSER, purpose="signup")
    req = ver.start(purpose="signup", method="card", browser=BROWSER, return_to="/x")
    ver.fail(req, "cancelled", browser=BROWSER)
    with pytest.raises(VerificationError) as cancelled:
        ver.take(req.id, browser=BROWSER, purpose="signup")
    assert (corp.value.reason, cancelled.value.reason) == ("corporate", "cancelled")


def test_two_concurrent_takes_get_one_result(v: Any, app: Any) -> None:
    ver, _ = v
    rid = _done(ver)
    db.session.commit()
    got: list[str] = []

    def take() -> None:
        with app.app_context():
            try:
                got.append(ver.take(rid, browser=BROWSER, purpose="signup").name)
            except VerificationError as exc:
                got.append(exc.reason)
            db.session.commit()

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got).count("홍길동") == 1, got


def test_unknown_purpose_or_method_is_a_programming_error(v: Any) -> None:
    ver, _ = v
    with pytest.raises(ValueError):
        ver.start(purpose="nope", method="mobile", browser=BROWSER, return_to="/")
    with pytest.raises(ValueError):
        ver.start(purpose="signup", method="fax", browser=BROWSER, return_to="/")


def test_age_counts_full_years() -> None:
    assert age_on(dt.date(2000, 2, 29), dt.date(2014, 2, 28)) == 13
    assert age_on(dt.date(2000, 2, 29), dt.date(2014, 3, 1)) == 14


def test_personal_data_round_trips_and_is_bound_to_its_kind() -> None:
    pd = PersonalData(master_key("", "some-secret-key-for-tests-0123456789"))
    sealed = pd.seal("CI-value", "ci")
    assert "CI-value" not in sealed and pd.seal("CI-value", "ci") != sealed  # fresh nonce
    assert pd.open(sealed, "ci") == "CI-value"
    with pytest.raises(PersonalDataError):
        pd.open(sealed, "di")
    with pytest.raises(PersonalDataError):
        pd.open(sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1], "ci")
    other = PersonalData(master_key("", "another-secret-key-for-tests-012345"))
    with pytest.raises(PersonalDataError):
        other.open(sealed, "ci")
    assert pd.lookup_hash("ci", "x") == pd.lookup_hash("ci", "x")
    assert pd.lookup_hash("ci", "x") != pd.lookup_hash("di", "x")
    assert pd.lookup_hash("ci", "x") != other.lookup_hash("ci", "x")


def test_a_configured_key_must_be_32_bytes() -> None:
    import base64

    assert master_key(base64.b64encode(b"k" * 32).decode(), "") == b"k" * 32
    with pytest.raises(ValueError):
        master_key(base64.b64encode(b"short").decode(), "")
