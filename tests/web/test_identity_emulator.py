"""The emulated vendor popups through the generic web layer: /verify/start → the emulator
adapter's begin → the popup pages → POST /verify/callback/<rid> → finish → `next?vr=`."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from idp.adapters.identity_emulator import emulator_ci_di
from idp.extensions import db
from idp.services.identity import VerificationError
from idp.wiring import EmulatorInProduction, refuse_emulators_in_production
from tests.idv_helpers import (
    PERSON,
    last_code,
    local,
    open_popup,
    post_back,
    result_link,
    submit,
    verify,
)


def _start(client: Any, method: str = "mobile", purpose: str = "signup") -> Any:
    return client.get("/verify/start", query_string={"method": method, "purpose": purpose,
                                                     "next": "/next/page"})


def _take(app: Any, client: Any, back: Any, purpose: str = "signup") -> Any:
    assert back.status_code == 303, back.get_data(as_text=True)[:300]
    assert back.headers["Location"].startswith("/next/page?vr=")
    rid = parse_qs(urlsplit(back.headers["Location"]).query)["vr"][0]
    browser = client.get_cookie("idp_browser").value
    with app.test_request_context("/", query_string={"vr": rid},
                                  headers={"Cookie": f"idp_browser={browser}"}):
        from idp.web.verification import take_verification

        try:
            return take_verification(purpose)
        finally:
            db.session.commit()


@pytest.mark.parametrize("method", ["mobile", "simple", "card"])
def test_each_method_verifies_the_person_with_a_deterministic_ci(app, client, method) -> None:
    identity = _take(app, client, verify(app, client, _start(client, method), method))
    ci, di = emulator_ci_di("홍길동", identity.birthdate, "01012345678")
    assert (identity.name, identity.mobile, identity.ci, identity.di) == (
        "홍길동", "01012345678", ci, di)
    assert identity.vendor == "emulator" and identity.method == method
    assert identity.gender == (None if method == "simple" else "M")
    assert identity.carrier == ("SKT" if method == "mobile" else None)
    assert len(identity.ci) == 88 and len(identity.di) == 64


def test_the_same_person_gets_the_same_ci_and_di_every_time(app, client) -> None:
    first = _take(app, client, verify(app, client, _start(client)))
    second = _take(app, client, verify(app, client, _start(client, "simple"), "simple"))
    other = _take(app, client, verify(app, client, _start(client), mobile="01099998888"))
    assert (first.ci, first.di) == (second.ci, second.di)
    assert other.ci != first.ci and other.di != first.di


def test_the_sms_code_goes_to_the_outbox_with_a_countdown(app, client, clock) -> None:
    popup = open_popup(client, _start(client))
    sent = submit(client, popup, action="next", **PERSON)
    assert sent.status_code == 303
    page = client.get(local(sent.headers["Location"]))
    html = page.get_data(as_text=True)
    assert 'data-remaining="180"' in html and "010-****-5678" in html
    assert len(last_code(app)) == 6


def test_wrong_codes_until_the_lock_fail_the_transaction(app, client) -> None:
    start = _start(client)
    popup = open_popup(client, start)
    submit(client, popup, action="next", **PERSON)
    code = last_code(app)
    wrong = "000000" if code != "000000" else "111111"
    for n in range(1, 5):
        resp = submit(client, popup, action="verify", code=wrong)
        assert resp.status_code == 400
        assert f"({n}/5회 오류)" in resp.get_data(as_text=True)
    fifth = submit(client, popup, action="verify", code=wrong)
    with pytest.raises(VerificationError) as exc:
        _take(app, client, post_back(client, fifth))
    assert exc.value.reason == "failed"
    # The popup is gone: the right code now changes nothing.
    assert client.get(popup).status_code == 404


def test_resend_replaces_the_code(app, client) -> None:
    popup = open_popup(client, _start(client))
    submit(client, popup, action="next", **PERSON)
    old = last_code(app)
    assert submit(client, popup, action="resend").status_code == 303
    new = last_code(app)
    if new != old:
        assert submit(client, popup, action="verify", code=old).status_code == 400
    back = post_back(client, submit(client, popup, action="verify", code=new))
    assert _take(app, client, back).name == "홍길동"


def test_resends_are_limited(app, client) -> None:
    popup = open_popup(client, _start(client))
    submit(client, popup, action="next", **PERSON)
    for _ in range(4):
        assert submit(client, popup, action="resend").status_code == 303
    refused = submit(client, popup, action="resend")
    assert refused.status_code == 429
    assert "재전송 횟수를 초과" in refused.get_data(as_text=True)


def test_the_code_expires_after_three_minutes(app, client, clock) -> None:
    popup = open_popup(client, _start(client))
    submit(client, popup, action="next", **PERSON)
    code = last_code(app)
    clock.advance(181)
    late = submit(client, popup, action="verify", code=code)
    assert late.status_code == 400
    assert "인증시간이 초과되었습니다" in late.get_data(as_text=True)
    assert 'data-remaining="0"' in late.get_data(as_text=True)
    submit(client, popup, action="resend")
    back = post_back(client, submit(client, popup, action="verify", code=last_code(app)))
    assert _take(app, client, back).name == "홍길동"


def test_the_app_approval_expires_too(app, client, clock) -> None:
    popup = open_popup(client, _start(client, "simple"))
    submit(client, popup, action="next", **PERSON)
    clock.advance(181)
    with pytest.raises(VerificationError) as exc:
        _take(app, client, post_back(client, submit(client, popup, action="approve")))
    assert exc.value.reason == "failed"


def test_cancel_returns_with_the_cancelled_reason(app, client) -> None:
    popup = open_popup(client, _start(client))
    page = client.get(popup)
    from tests.idv_helpers import csrf

    resp = client.post(popup + "/cancel", data={"csrf_token": csrf(page.get_data(
        as_text=True))})
    with pytest.raises(VerificationError) as exc:
        _take(app, client, post_back(client, resp))
    assert exc.value.reason == "cancelled"


@pytest.mark.parametrize(("field", "value", "message"), [
    ("name", "", "이름을 정확히 입력해 주세요"),
    ("birthdate", "19851301", "생년월일 8자리"),
    ("mobile", "0212345678", "휴대폰번호를 정확히"),
    ("carrier", "XX", "통신사를 선택해 주세요"),
    ("gender", "", "성별을 선택해 주세요"),
    ("agree", "", "본인확인 서비스 이용에 동의해 주세요"),
])
def test_bad_inputs_are_refused_with_a_message(app, client, field, value, message) -> None:
    popup = open_popup(client, _start(client))
    resp = submit(client, popup, action="next", **{**PERSON, field: value})
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert message in html and 'aria-invalid="true"' in html


def _split(link: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(link)
    return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}


def test_a_tampered_result_is_invalid(app, client) -> None:
    popup = open_popup(client, _start(client, "card"))
    path, fields = _split(result_link(submit(client, popup, action="next", **PERSON)))
    fields["result"] = fields["result"][:-4] + ("AAAA" if not fields["result"].endswith(
        "AAAA") else "BBBB")
    with pytest.raises(VerificationError) as exc:
        _take(app, client, client.get(path, query_string=fields))
    assert exc.value.reason == "invalid"


def test_a_result_for_another_request_is_invalid(app, client) -> None:
    first = open_popup(client, _start(client, "card"))
    _path, first_result = _split(result_link(submit(client, first, action="next",
                                                    **PERSON)))
    second = open_popup(client, _start(client, "card"))
    second_callback, _ = _split(result_link(submit(client, second, action="next",
                                                   **PERSON)))
    # the first request's (genuine, signed) result sent to the second one's callback
    back = client.get(second_callback, query_string=first_result)
    with pytest.raises(VerificationError) as exc:
        _take(app, client, back)
    assert exc.value.reason == "invalid"


def test_a_signed_request_cannot_be_forged(app, client) -> None:
    start = _start(client)
    loc = local(start.headers["Location"])
    assert client.get(loc.replace("sig=", "sig=x")).status_code == 400
    assert client.get("/dev/verify/start?req=e30&sig=abc").status_code == 400


def test_another_browser_cannot_use_the_popup(app, client) -> None:
    popup = open_popup(client, _start(client))
    assert app.test_client().get(popup).status_code == 404


def test_the_emulator_is_not_served_in_production(app, client) -> None:
    popup = open_popup(client, _start(client))
    app.extensions["idp"].settings["env"] = "production"
    try:
        assert client.get(popup).status_code == 404
        assert client.get("/dev/verify/start").status_code == 404
    finally:
        app.extensions["idp"].settings["env"] = "testing"


def test_a_production_start_refuses_the_identity_emulator() -> None:
    settings = {"env": "production", "identity": {"simple": "emulator", "mobile": "nice",
                                                  "card": ""}}
    with pytest.raises(EmulatorInProduction) as exc:
        refuse_emulators_in_production(settings)
    assert "IDP_IDENTITY_SIMPLE" in str(exc.value)
    refuse_emulators_in_production({**settings, "identity": {"simple": "inicis",
                                                             "mobile": "nice", "card": ""}})


@pytest.mark.parametrize(("extra", "reason"), [
    ({"birthdate": "20150101"}, "under_14"),
    ({"corporate": "y"}, "corporate"),
])
def test_under_14s_and_corporate_phones_are_refused(app, client, extra, reason) -> None:
    back = verify(app, client, _start(client), **extra)
    with pytest.raises(VerificationError) as exc:
        _take(app, client, back)
    assert exc.value.reason == reason


def test_a_foreign_national_is_reported_as_such(app, client) -> None:
    identity = _take(app, client, verify(app, client, _start(client), foreign="y"))
    assert identity.nationality == "foreign"


def test_the_popup_in_english(app, client) -> None:
    popup = open_popup(client, client.get("/verify/start", query_string={
        "method": "mobile", "purpose": "signup", "next": "/next/page", "lang": "en"}))
    html = client.get(popup + "?lang=en").get_data(as_text=True)
    assert "Mobile phone verification" in html and "Send code" in html
