"""The re-consent step (authorize.STEPS `terms`): a new required version, or the 2-year
period, asks every member again between login and the code, before the client's consent."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import select

from idp.adapters.clock import FakeClock
from idp.extensions import db
from idp.models import AuditEvent, Member, TermsConsent
from idp.services import terms
from idp.wiring import use_clock
from tests.helpers import REDIRECT_URI, TestRP, callback_params, form_fields


def _publish(app: Any, kind: str, version: int = 1, required: bool = True) -> None:
    with app.app_context():
        terms.publish(db.session, kind=kind, version=version, title_ko=f"{kind} 약관 v{version}",
                      title_en=f"{kind} terms v{version}", body=f"{kind} 본문 {version}",
                      required=required, now=terms.utcnow())
        db.session.commit()


def _agree_now(app: Any, login_id: str = "member01") -> None:
    with app.app_context():
        member_id = db.session.scalar(select(Member.id).where(Member.login_id == login_id))
        docs = terms.missing_consents(db.session, member_id)
        terms.record_consents(db.session, member_id, agreed={d.kind: True for d in docs},
                              marketing={}, source="signup", now=terms.utcnow())
        db.session.commit()


def _site_with_terms(app: Any, **kw: Any) -> TestRP:
    rp = TestRP.create(app, **kw)
    _publish(app, "service")
    _publish(app, "privacy")
    _publish(app, "marketing", required=False)
    _agree_now(app)
    return rp


def _answer(client: Any, url: str, **fields: str) -> Any:
    page = client.get(url)
    assert page.status_code == 200, page.get_data(as_text=True)[:300]
    action, hidden = form_fields(page.get_data(as_text=True))
    return client.post(action, data={**hidden, "decision": "agree", **fields})


def test_an_agreed_member_goes_straight_to_the_client(app, client):
    rp = _site_with_terms(app)
    assert "code" in rp.code_flow(client)


def test_a_new_required_version_asks_again_at_the_next_login(app, client):
    rp = _site_with_terms(app)
    _publish(app, "privacy", 2)
    login = rp.login(client, rp.authorize(client).headers["Location"])
    assert login.status_code == 303 and login.headers["Location"].endswith("/terms")
    page = client.get(login.headers["Location"]).get_data(as_text=True)
    # only what is missing: the new privacy version, with its text and the all-agree box
    assert "privacy 약관 v2" in page and "privacy 본문 2" in page
    assert "service 약관" not in page and 'id="agree_all"' in page
    assert "<details" in page and "(필수)" in page and "terms.js" in page
    done = _answer(client, login.headers["Location"], agree_privacy="yes")
    assert done.status_code == 303 and done.headers["Location"].endswith("/resume")
    final = client.get(done.headers["Location"])
    assert "code" in callback_params(final.headers["Location"], REDIRECT_URI)
    with app.app_context():
        row = db.session.scalars(select(TermsConsent).order_by(TermsConsent.id.desc())).first()
        assert (row.kind, row.version, row.agreed, row.source) == (
            "privacy", 2, True, "reconsent")


def test_the_all_agree_box_alone_agrees_to_every_item_without_script(app, client):
    rp = _site_with_terms(app)
    _publish(app, "service", 2)
    _publish(app, "privacy", 2)
    step = rp.login(client, rp.authorize(client).headers["Location"]).headers["Location"]
    done = _answer(client, step, agree_all="yes")
    final = client.get(done.headers["Location"])
    assert "code" in callback_params(final.headers["Location"], REDIRECT_URI)


def test_declining_a_required_item_does_not_complete_the_login(app, client):
    rp = _site_with_terms(app)
    _publish(app, "service", 2)
    _publish(app, "privacy", 2)
    step = rp.login(client, rp.authorize(client).headers["Location"]).headers["Location"]
    refused = _answer(client, step, agree_service="yes")
    body = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "필수 약관에 모두 동의하셔야" in body
    # the error is tied to the unticked item, and the ticked one stays ticked
    assert re.search(r'id="agree_privacy"[^>]*aria-invalid="true" '
                     r'aria-describedby="agree_privacy-error"', body)
    assert 'id="agree_privacy-error"' in body and 'id="agree_service-error"' not in body
    assert re.search(r'id="agree_service"[^>]* checked', body)
    # the login did not complete: resuming comes back here, no code
    resume = client.get(step.replace("/terms", "/resume"))
    assert resume.status_code == 303 and resume.headers["Location"] == step
    again = rp.authorize(client)
    assert again.status_code == 303 and again.headers["Location"].endswith("/terms")
    with app.app_context():
        assert db.session.scalar(select(TermsConsent).where(TermsConsent.version == 2)) is None


def test_the_decline_button_answers_access_denied(app, client):
    rp = _site_with_terms(app)
    _publish(app, "service", 2)
    step = rp.login(client, rp.authorize(client).headers["Location"]).headers["Location"]
    _, hidden = form_fields(client.get(step).get_data(as_text=True))
    resp = client.post(step, data={**hidden, "decision": "decline"})
    assert callback_params(resp.headers["Location"], REDIRECT_URI)["error"] == "access_denied"
    with app.app_context():
        declined = db.session.scalars(select(AuditEvent).where(
            AuditEvent.event == "terms.declined")).all()
        assert len(declined) == 1 and declined[0].client_id == rp.client_id


def test_terms_come_before_the_clients_consent(app, client):
    rp = _site_with_terms(app, first_party=False)
    _publish(app, "service", 2)
    step = rp.login(client, rp.authorize(client).headers["Location"]).headers["Location"]
    assert step.endswith("/terms")
    done = _answer(client, step, agree_service="yes")
    consent = client.get(done.headers["Location"])
    assert consent.status_code == 303 and consent.headers["Location"].endswith("/consent")


def test_prompt_none_with_missing_consents_is_interaction_required(app, client):
    rp = _site_with_terms(app)
    rp.code_flow(client)
    _publish(app, "service", 2)
    resp = rp.authorize(client, prompt="none")
    assert callback_params(resp.headers["Location"], REDIRECT_URI)["error"] == (
        "interaction_required")


def test_two_years_after_the_last_consent_the_member_agrees_again(app, client):
    rp = _site_with_terms(app)
    clock = FakeClock()
    use_clock(app.extensions["idp"], clock)
    rp.code_flow(client)  # agreed today: no step
    clock.advance(dt.timedelta(days=730, minutes=1).total_seconds())
    step = rp.login(client, rp.authorize(client).headers["Location"])  # the next login
    assert step.status_code == 303 and step.headers["Location"].endswith("/terms")
    done = _answer(client, step.headers["Location"], agree_all="yes")
    final = client.get(done.headers["Location"])
    assert "code" in callback_params(final.headers["Location"], REDIRECT_URI)


def test_the_terms_page_needs_a_session_and_resumes_when_nothing_is_missing(app, client):
    rp = _site_with_terms(app, first_party=False)
    login_page = rp.authorize(client).headers["Location"]
    resp = client.get(login_page + "/terms")
    assert resp.status_code == 303 and resp.headers["Location"] == login_page
    consent = rp.login(client, login_page).headers["Location"]
    assert consent.endswith("/consent")
    nothing = client.get(login_page + "/terms")
    assert nothing.status_code == 303 and nothing.headers["Location"].endswith("/resume")
    assert client.get(nothing.headers["Location"]).headers["Location"] == consent


def test_the_terms_page_in_english(app, client):
    rp = _site_with_terms(app)
    _publish(app, "service", 2)
    step = rp.login(client, rp.authorize(client, ui_locales="en").headers["Location"])
    page = client.get(step.headers["Location"]).get_data(as_text=True)
    assert 'lang="en"' in page and "service terms v2" in page and "Agree to all" in page


def test_the_light_check_of_each_authorization_agrees_with_missing_consents(app, client):
    rp = _site_with_terms(app)
    with app.app_context():
        member = db.session.scalar(select(Member).where(Member.login_id == rp.login_id))
        now = dt.datetime(2030, 1, 1)

        def both(days: int = 730) -> tuple[bool, bool]:
            return (terms.has_missing_consents(db.session, member.id, now=now,
                                               reconsent_days=days),
                    bool(terms.missing_consents(db.session, member.id, now=now,
                                                reconsent_days=days)))

        states = [both()]
        terms.record_consents(db.session, member.id, agreed={"service": True, "privacy": True},
                              marketing={}, source="reconsent", now=now)
        states += [both(), both(days=0)]
    _publish(app, "service", 2)
    with app.app_context():
        states.append(both())
    assert [light for light, _ in states] == [full for _, full in states]
    assert [light for light, _ in states] == [True, False, False, True]
