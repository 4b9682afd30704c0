"""Interstitial steps between login and the code: a forced password change, then consent."""

from __future__ import annotations

from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent, Member
from idp.oidc.authorize import STEPS
from idp.services.password_change import require_password_change
from tests.helpers import PASSWORD, REDIRECT_URI, TestRP, callback_params, form_fields

NEW_PASSWORD = "Brand!new2pass"


def _flag(app, login_id="member01"):
    with app.app_context():
        require_password_change(db.session, login_id=login_id)


def _submit(client, url, new, confirm=None):
    page = client.get(url)
    assert page.status_code == 200, page.get_data(as_text=True)[:300]
    action, hidden = form_fields(page.get_data(as_text=True))
    return client.post(action, data={**hidden, "new_password": new,
                                     "confirm": new if confirm is None else confirm})


def test_steps_run_in_order_password_change_then_terms_then_consent():
    assert [step.name for step in STEPS] == ["password_change", "terms", "consent"]


def test_a_flagged_member_changes_the_password_then_consents_then_gets_the_code(app, client):
    rp = TestRP.create(app, first_party=False)
    _flag(app)
    login = rp.login(client, rp.authorize(client).headers["Location"])
    assert login.status_code == 303 and login.headers["Location"].endswith("/password")
    changed = _submit(client, login.headers["Location"], NEW_PASSWORD)
    assert changed.status_code == 303 and changed.headers["Location"].endswith("/resume")
    consent_url = client.get(changed.headers["Location"]).headers["Location"]
    assert consent_url.endswith("/consent")
    _, hidden = form_fields(client.get(consent_url).get_data(as_text=True))
    allowed = client.post(consent_url, data={**hidden, "decision": "allow"})
    final = client.get(allowed.headers["Location"])
    assert "code" in callback_params(final.headers["Location"], REDIRECT_URI)
    with app.app_context():
        member = db.session.scalar(select(Member).where(Member.login_id == "member01"))
        assert not member.password_change_required
        assert app.extensions["idp"].passwords.verify(member.password_hash, NEW_PASSWORD)
        assert db.session.scalar(select(AuditEvent).where(
            AuditEvent.event == "member.password_changed")) is not None


def test_the_password_step_cannot_be_skipped(app, client, rp):
    _flag(app)
    login = rp.login(client, rp.authorize(client).headers["Location"])
    step = login.headers["Location"]
    resume = client.get(step.replace("/password", "/resume"))
    assert resume.status_code == 303 and resume.headers["Location"] == step
    # nor by a new authorization request in the same browser
    again = rp.authorize(client)
    assert again.status_code == 303 and again.headers["Location"].endswith("/password")


def test_prompt_none_with_a_required_password_change_is_interaction_required(app, client, rp):
    rp.code_flow(client)
    _flag(app)
    resp = rp.authorize(client, prompt="none")
    assert callback_params(resp.headers["Location"], REDIRECT_URI)["error"] == (
        "interaction_required")


def test_the_new_password_must_follow_the_policy_differ_and_match(app, client, rp):
    _flag(app)
    step = rp.login(client, rp.authorize(client).headers["Location"]).headers["Location"]
    same = _submit(client, step, PASSWORD)
    assert same.status_code == 400 and "현재 비밀번호와 다른" in same.get_data(as_text=True)
    weak = _submit(client, step, "short")
    assert weak.status_code == 400 and "영문, 숫자, 특수문자" in weak.get_data(as_text=True)
    mismatch = _submit(client, step, NEW_PASSWORD, "Other!pass123")
    assert mismatch.status_code == 400
    assert "두 번 똑같이" in mismatch.get_data(as_text=True)
    with app.app_context():
        member = db.session.scalar(select(Member).where(Member.login_id == "member01"))
        assert member.password_change_required  # nothing changed
    done = _submit(client, step, NEW_PASSWORD)
    final = client.get(done.headers["Location"])
    assert "code" in callback_params(final.headers["Location"], REDIRECT_URI)


def test_the_password_page_needs_a_session(app, client, rp):
    _flag(app)
    login_page = rp.authorize(client).headers["Location"]
    resp = client.get(login_page + "/password")
    assert resp.status_code == 303 and resp.headers["Location"] == login_page


def test_an_operator_flags_and_unflags_a_member_from_the_command_line(app, base_settings):
    from click.testing import CliRunner

    from idp.cli import main

    env = {"IDP_ENV": "testing", "IDP_DATABASE_URL": base_settings["database_url"]}
    TestRP.create(app)

    def run(*args):
        return CliRunner().invoke(main, ["members", "require-password-change", *args, "--json"],
                                  env=env)

    def flagged():
        with app.app_context():
            db.session.remove()
            return db.session.scalar(select(Member.password_change_required).where(
                Member.login_id == "member01"))

    assert run("Member01").exit_code == 0 and flagged() is True
    assert run("member01", "--off").exit_code == 0 and flagged() is False
    missing = run("nobody01")
    assert missing.exit_code == 1 and "no member" in missing.output


def test_the_password_page_of_an_unflagged_member_just_resumes(app, client):
    rp = TestRP.create(app, first_party=False)
    consent = rp.login(client, rp.authorize(client).headers["Location"]).headers["Location"]
    resp = client.get(consent.replace("/consent", "/password"))
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/resume")
    assert client.get(resp.headers["Location"]).headers["Location"] == consent
