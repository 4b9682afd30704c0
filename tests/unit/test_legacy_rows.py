"""Row checks of the legacy import: business numbers, dates, phones, emails, digests."""

from __future__ import annotations

import datetime as dt

import pytest
from email_validator import EmailNotValidError, validate_email

from idp.services.legacy_import import (
    KST,
    CiHasher,
    RowRejected,
    business_number_ok,
    check_email,
    legacy_id_key,
    normalise_mobile,
    parse_joined_at,
    row_digest,
)


@pytest.mark.parametrize(("number", "ok"), [
    ("1248100998", True), ("2208162517", True),  # KOREA-FACTS.md
    ("1234567890", False), ("1248100999", False), ("124810099", False), ("12481009980", False),
    ("124810099a", False),
])
def test_business_number_check_digit(number: str, ok: bool) -> None:
    assert business_number_ok(number) is ok


@pytest.mark.parametrize(("text", "expected"), [
    ("2021-04-26", dt.datetime(2021, 4, 26, tzinfo=KST)),
    ("2021-04-26T09:30:00", dt.datetime(2021, 4, 26, 9, 30, tzinfo=KST)),
    ("2021-04-26 09:30:00", dt.datetime(2021, 4, 26, 9, 30, tzinfo=KST)),
    ("2021-04-26T00:30:00Z", dt.datetime(2021, 4, 26, 0, 30, tzinfo=dt.UTC)),
    ("2021-04-26T09:30:00+09:00", dt.datetime(2021, 4, 26, 0, 30, tzinfo=dt.UTC)),
])
def test_joined_at_is_a_timezone_aware_instant(text: str, expected: dt.datetime) -> None:
    parsed = parse_joined_at(text)
    assert parsed.tzinfo is not None and parsed == expected


@pytest.mark.parametrize("text", ["20210426", "2021-02-30", "26/04/2021", "yesterday",
                                  "2021-04"])
def test_joined_at_refuses_what_is_not_iso_8601(text: str) -> None:
    with pytest.raises(ValueError):
        parse_joined_at(text)


@pytest.mark.parametrize(("text", "digits"), [
    ("010-1234-5678", "01012345678"), ("010 1234 5678", "01012345678"),
    ("+82 10-1234-5678", "01012345678"), ("(02) 3460-7114", "0234607114"),
    ("011-234-5678", "0112345678"), ("12345", None), ("010-CALL-ME", None),
])
def test_mobile_is_normalised_to_digits(text: str, digits: str | None) -> None:
    assert normalise_mobile(text) == digits


# The fast path must never accept what email_validator refuses, and must normalise alike.
EMAILS = [
    "hong@example.com", "Hong.Gil-Dong+kotra@Mail.Example.CO.KR", "a_b@sub-domain.example.org",
    "x@localhost", "x@foo.local", "x@foo.test", "x@example", "x@-bad.com", "x@bad-.com",
    "x..y@example.com", ".x@example.com", "x.@example.com", "x@example.c", "x@123.456",
    "x@xn--9n2bp8q.com", "홍길동@example.com", "x@예시.한국", "x y@example.com",
    "a" * 65 + "@example.com", "x@" + "a" * 64 + ".com", "x@example.com.", "\"q\"@example.com",
]


@pytest.mark.parametrize("address", EMAILS)
def test_email_check_agrees_with_email_validator(address: str) -> None:
    try:
        expected: str | None = validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError:
        expected = None
    try:
        got: str | None = check_email(address)
    except RowRejected as exc:
        assert exc.reason == "bad_email"
        got = None
    assert got == expected


def test_keys_and_hashes() -> None:
    assert legacy_id_key("  Hong.GilDong ") == "hong.gildong"
    hasher = CiHasher("secret")
    assert hasher("CI==") == hasher(" CI== ") != hasher("CJ==") != CiHasher("other")("CI==")
    assert len(hasher("CI==")) == 64


def test_row_digests_tell_fields_apart() -> None:
    fields = ("site", "legacy_id", "member_type", "name", "email", "mobile", "business_number",
              "company_name", "joined_at", "password_hash", "password_scheme", "password_salt",
              "ci_hash")
    base = dict.fromkeys(fields)
    a = {**base, "name": "ab", "email": None}
    b = {**base, "name": "a", "email": "b"}
    c = {**base, "name": "ab", "email": None, "joined_at": dt.datetime(2020, 1, 1, tzinfo=KST)}
    assert len({row_digest(a), row_digest(b), row_digest(c), row_digest(dict(a))}) == 3
