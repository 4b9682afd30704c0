"""The company form's fields (기업체 정보; SPEC §3.4, the manual's ch. 04 STEP3) and their rules.

One definition for every page that edits a company: the registration flow
(idp/web/company_register.py) and the company console's info edit import FIELDS, and
`clean_info` checks what a person typed, all fields at once:

    info = clean_info(request.form, now_year=2026)      # InfoErrors({field: reason}) otherwise
    company.name, company.ceo_name, ... = info.columns  # the key fields: Company columns
    company.profile = info.profile                      # the rest, keyed by PROFILE_KEYS

Required fields are those the manual marks with * (docs/companies.md lists every key). The
web layer (idp/web/company_forms.py) holds the labels and turns a reason into a Korean
message; nothing here knows Flask.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from idp.errors import InvalidInput
from idp.services import countries
from idp.services.business_numbers import InvalidNumber, normalise_corp_number
from idp.services.members import _checked_email

# Kinds of field (how a value is checked and stored).
TEXT, EMAIL, PHONE, URL, YESNO, CHOICE, AMOUNT, YEAR, COUNT, CORP, POSTCODE, COUNTRY, LONG = (
    "text", "email", "phone", "url", "yesno", "choice", "amount", "year", "count", "corp",
    "postcode", "country", "long")

# The choices of the manual's select boxes (value -> stored as is; labels in the web layer).
COMPANY_TYPES = ("large", "midsize", "small", "public", "other")  # 기업유형
CLASSIFICATIONS = ("corporation", "individual", "nonprofit", "other")  # 기업분류
TRADE_KINDS = ("manufacturing", "trading", "both", "other")  # 제조/무역구분
EXPORT_REGIONS = ("asia", "china", "japan", "north_america", "latin_america", "europe",
                  "cis", "middle_east", "africa", "oceania")  # 주수출지역


@dataclass(frozen=True)
class Field:
    key: str
    kind: str
    required: bool = False
    max_length: int = 100
    choices: tuple[str, ...] = field(default=())
    column: bool = False  # a Company column (else a key of Company.profile)


# In the manual's order. Required (*): 기업명, 기업명(영문), 대표자명, 대표자명(영문), 기업유형,
# 기업분류, 제조/무역구분, 대표품목, 대표전화번호, 대표이메일.
FIELDS: tuple[Field, ...] = (
    Field("name", TEXT, True, 200, column=True),               # 기업명
    Field("name_en", TEXT, True, 200, column=True),            # 기업명(영문)
    Field("ceo_name", TEXT, True, 100, column=True),           # 대표자명
    Field("ceo_name_en", TEXT, True, 100, column=True),        # 대표자명(영문)
    Field("corp_number", CORP, column=True),                   # 법인등록번호
    Field("trade_licence_no", TEXT, max_length=30),            # 무역업 허가번호
    Field("business_type", TEXT),                              # 업태
    Field("business_category", TEXT),                          # 업종
    Field("company_type", CHOICE, True, choices=COMPANY_TYPES),  # 기업유형
    Field("startup", YESNO),                                   # 스타트업 여부
    Field("venture", YESNO),                                   # 벤처기업여부
    Field("classification", CHOICE, True, choices=CLASSIFICATIONS),  # 기업분류
    Field("foreign_invested", YESNO),                          # 외투기업여부
    Field("trade_kind", CHOICE, True, choices=TRADE_KINDS),    # 제조/무역구분
    Field("main_product", TEXT, True, 200),                    # 대표품목
    Field("phone", PHONE, True, 20),                           # 대표전화번호
    Field("fax", PHONE, max_length=20),                        # 팩스
    Field("email", EMAIL, True, 254),                          # 대표이메일
    Field("homepage", URL, max_length=300),                    # 홈페이지
    Field("postcode", POSTCODE, max_length=6),                 # 우편번호
    Field("address", TEXT, max_length=300),                    # 기본주소
    Field("address_detail", TEXT, max_length=300),             # 상세주소
    Field("address_en", TEXT, max_length=300),                 # 주소(영문)
    Field("remarks", LONG, max_length=1000),                   # 비고
    Field("annual_sales", AMOUNT),                             # 연간매출액 (원)
    Field("annual_exports", AMOUNT),                           # 연간수출액 (원)
    Field("founded_year", YEAR),                               # 설립년도
    Field("employees", COUNT),                                 # 종업원수
    Field("export_region", CHOICE, choices=EXPORT_REGIONS),    # 주수출지역
    Field("export_country", COUNTRY),                          # 주수출국가 (ISO 3166-1)
)
BY_KEY = {f.key: f for f in FIELDS}
COLUMN_KEYS = tuple(f.key for f in FIELDS if f.column)
# The keys of Company.profile (docs/companies.md): what the console edits too.
PROFILE_KEYS = tuple(f.key for f in FIELDS if not f.column)
# Names a registration may change only through an operator's review (a name change request).
NAME_KEYS = ("name", "name_en")

_PHONE = re.compile(r"\d{2,4}-?\d{3,4}(-?\d{4})?")
_POSTCODE = re.compile(r"\d{5}|\d{6}|\d{3}-\d{3}")
_URL = re.compile(r"(https?://)?[A-Za-z0-9.-]+\.[A-Za-z]{2,}(:\d{1,5})?(/[^\s]*)?")
_MAX_AMOUNT = 10**16  # 경 won: far above any company, far below a 64-bit integer
_MAX_COUNT = 10_000_000


class InfoErrors(InvalidInput):
    """Some fields are wrong: `errors` maps each field to its reason (required, too_long,
    invalid, choice)."""

    def __init__(self, errors: dict[str, str]) -> None:
        first = next(iter(errors))
        super().__init__(first, errors[first])
        self.errors = errors


@dataclass(frozen=True)
class CompanyInfo:
    columns: dict[str, Any]  # name, name_en, ceo_name, ceo_name_en, corp_number
    profile: dict[str, Any]  # PROFILE_KEYS (None where left empty)


def _text(value: str) -> str:
    return unicodedata.normalize("NFC", value.strip())


def _check(f: Field, raw: str, now_year: int) -> Any:
    """The stored value of one field, or raise ValueError(reason)."""
    value = _text(raw)
    if not value:
        if f.required:
            raise ValueError("required")
        return None
    if len(value) > f.max_length:
        raise ValueError("too_long")
    allowed = "\r\n\t" if f.kind == LONG else ""
    if any(unicodedata.category(c).startswith("C") and c not in allowed for c in value):
        raise ValueError("invalid")
    if f.kind == TEXT or f.kind == LONG:
        if f.key in ("name_en", "ceo_name_en", "address_en") and not value.isascii():
            raise ValueError("english")
        return value
    if f.kind == EMAIL:
        try:
            return _checked_email(value)
        except InvalidInput:
            raise ValueError("invalid") from None
    if f.kind == PHONE:
        if not _PHONE.fullmatch(value):
            raise ValueError("invalid")
        return value
    if f.kind == URL:
        if not _URL.fullmatch(value):
            raise ValueError("invalid")
        return value
    if f.kind == POSTCODE:
        if not _POSTCODE.fullmatch(value):
            raise ValueError("invalid")
        return value
    if f.kind == CORP:
        try:
            return normalise_corp_number(value)
        except InvalidNumber:
            raise ValueError("invalid") from None
    if f.kind == YESNO:
        if value not in ("yes", "no"):
            raise ValueError("choice")
        return value == "yes"
    if f.kind == CHOICE:
        if value not in f.choices:
            raise ValueError("choice")
        return value
    if f.kind == COUNTRY:
        country = countries.get(value)
        if country is None:
            raise ValueError("choice")
        return country.code
    # Numbers: digits, commas allowed (1,000,000).
    digits = value.replace(",", "")
    if not digits.isascii() or not digits.isdigit():
        raise ValueError("invalid")
    number = int(digits)
    if f.kind == YEAR:
        if not 1800 <= number <= now_year:
            raise ValueError("invalid")
        return number
    if number > (_MAX_COUNT if f.kind == COUNT else _MAX_AMOUNT):
        raise ValueError("invalid")
    return number


def clean_info(form: Mapping[str, str], *, now_year: int,
               keys: tuple[str, ...] | None = None) -> CompanyInfo:
    """Check every field (or only `keys`) of what was typed; InfoErrors lists each wrong one."""
    errors: dict[str, str] = {}
    columns: dict[str, Any] = {}
    profile: dict[str, Any] = {}
    for f in FIELDS:
        if keys is not None and f.key not in keys:
            continue
        raw = form.get(f.key) or ""
        try:
            value = _check(f, str(raw)[:f.max_length * 4 + 10], now_year)
        except ValueError as exc:
            errors[f.key] = str(exc)
            continue
        (columns if f.column else profile)[f.key] = value
    if errors:
        raise InfoErrors(errors)
    return CompanyInfo(columns, profile)


def display_values(company_columns: Mapping[str, Any], profile: Mapping[str, Any]
                   ) -> dict[str, str]:
    """What a form shows for a stored company (numbers and yes/no as typed)."""
    values: dict[str, str] = {}
    for f in FIELDS:
        value = (company_columns if f.column else profile).get(f.key)
        if value is None:
            values[f.key] = ""
        elif f.kind == YESNO:
            values[f.key] = "yes" if value else "no"
        else:
            values[f.key] = str(value)
    return values
