"""The vendor shapes each SNS adapter reads (issue 9), without HTTP: Naver's wrapper and its
errors with HTTP 200, Kakao's optional `kakao_account` fields and international phone,
Facebook's missing email and appsecret_proof, Google's two issuer spellings."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from idp.adapters.sns_facebook import FacebookLogin, appsecret_proof
from idp.adapters.sns_google import issuers_for
from idp.adapters.sns_kakao import KakaoLogin
from idp.adapters.sns_naver import NaverLogin
from idp.services.sns import (
    SnsProfile,
    SnsRefused,
    missing_items,
    normalize_mobile,
    s256,
)


def test_naver_profile_from_its_response_wrapper():
    profile = NaverLogin.profile({"resultcode": "00", "message": "success", "response": {
        "id": "abc", "name": "김네이버", "email": "kim@naver.com", "mobile": "010-1111-2222"}})
    assert profile == SnsProfile("naver", "abc", "김네이버", "kim@naver.com", True,
                                 "010-1111-2222")


@pytest.mark.parametrize("body", [
    {"resultcode": "024", "message": "Authentication failed"},
    {"resultcode": "028", "message": "Authentication header not exists"},
    {"resultcode": "00", "message": "success", "response": {}},
    {"resultcode": "00"},
    [],
])
def test_naver_errors_even_with_http_200_are_refused(body):
    with pytest.raises(SnsRefused):
        NaverLogin.profile(body)


def test_kakao_profile_with_every_field():
    profile = KakaoLogin.profile({"id": 3000000001, "kakao_account": {
        "name": "이카카오", "email": "lee@kakao.com", "is_email_valid": True,
        "is_email_verified": True, "phone_number": "+82 10-3333-4444"}}, subject="3000000001")
    assert profile.name == "이카카오" and profile.email_verified
    assert normalize_mobile(profile.mobile) == "010-3333-4444"


@pytest.mark.parametrize("account", [None, {}, {"email_needs_agreement": True},
                                     {"email": "x@kakao.com", "is_email_valid": False}])
def test_kakao_fields_may_be_absent(account):
    body = {"id": 7} if account is None else {"id": 7, "kakao_account": account}
    profile = KakaoLogin.profile(body, subject="7")
    assert (profile.name, profile.email, profile.mobile) == (None, None, None)
    assert missing_items(profile) == ["name", "mobile", "email"]


def test_kakao_profile_of_another_user_than_the_id_token_is_refused():
    with pytest.raises(SnsRefused):
        KakaoLogin.profile({"id": 8, "kakao_account": {}}, subject="7")


def test_facebook_profile_without_email():
    profile = FacebookLogin.profile({"id": "1000000000000002", "name": "정페이스"})
    assert profile.email is None and missing_items(profile) == ["mobile", "email"]
    with pytest.raises(SnsRefused):
        FacebookLogin.profile({"error": {"message": "Invalid OAuth access token.",
                                         "code": 190}})


def test_appsecret_proof_is_hmac_sha256_of_the_token_with_the_app_secret():
    expected = hmac.new(b"secret", b"token", hashlib.sha256).hexdigest()
    assert appsecret_proof("token", "secret") == expected


def test_google_issuer_spellings():
    assert issuers_for("https://accounts.google.com") == ["https://accounts.google.com",
                                                          "accounts.google.com"]


@pytest.mark.parametrize(("raw", "normal"), [
    ("+82 10-1234-5678", "010-1234-5678"), ("01012345678", "010-1234-5678"),
    ("010 123 4567", "010-123-4567"), ("+821098765432", "010-9876-5432"),
    ("02-123-4567", None), ("12", None), ("", None), (None, None),
])
def test_korean_mobile_numbers(raw, normal):
    assert normalize_mobile(raw) == normal


def test_pkce_s256_of_rfc7636_appendix_b():
    assert s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == \
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
