"""The company form's labels and messages (기업체 정보; SPEC §3.4; manual ch. 04 STEP3).

The fields, their rules and the Company.profile keys are in idp/services/company_profile.py
(FIELDS, PROFILE_KEYS, clean_info); this module gives each its Korean label (English through
the catalogue), the labels of the select boxes' choices, and the Korean message for each
reason `clean_info` or `check_secrets` gives. The template macro
templates/company/_info_fields.html renders the fields; the company console imports both:

    {% from "company/_info_fields.html" import info_fields with context %}
    {{ info_fields(values, errors, labels=INFO_LABELS, choices=CHOICE_LABELS, ...) }}
"""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm

from idp.services import company_profile as cp
from idp.services import countries
from idp.services.passwords import COMMON_PASSWORD, WEAK_PASSWORD


class CompanyForm(FlaskForm):
    """CSRF only: the fields are read and checked by company_profile.clean_info."""


INFO_LABELS = {
    "name": _l("기업명"),
    "name_en": _l("기업명(영문)"),
    "ceo_name": _l("대표자명"),
    "ceo_name_en": _l("대표자명(영문)"),
    "corp_number": _l("법인등록번호"),
    "trade_licence_no": _l("무역업 허가번호"),
    "business_type": _l("업태"),
    "business_category": _l("업종"),
    "company_type": _l("기업유형"),
    "startup": _l("스타트업 여부"),
    "venture": _l("벤처기업여부"),
    "classification": _l("기업분류"),
    "foreign_invested": _l("외투기업여부"),
    "trade_kind": _l("제조/무역구분"),
    "main_product": _l("대표품목"),
    "phone": _l("대표전화번호"),
    "fax": _l("팩스"),
    "email": _l("대표이메일"),
    "homepage": _l("홈페이지"),
    "postcode": _l("우편번호"),
    "address": _l("기본주소"),
    "address_detail": _l("상세주소"),
    "address_en": _l("주소(영문)"),
    "remarks": _l("비고"),
    "annual_sales": _l("연간매출액"),
    "annual_exports": _l("연간수출액"),
    "founded_year": _l("설립년도"),
    "employees": _l("종업원수"),
    "export_region": _l("주수출지역"),
    "export_country": _l("주수출국가"),
}
SECRET_LABELS = {
    "password": _l("기업 로그인 비밀번호"),
    "password_confirm": _l("기업 로그인 비밀번호 확인"),
    "approval_password": _l("승인 비밀번호"),
    "approval_password_confirm": _l("승인 비밀번호 확인"),
}
CHOICE_LABELS = {
    "company_type": {"large": _l("대기업"), "midsize": _l("중견기업"), "small": _l("중소기업"),
                     "public": _l("공공기관·정부"), "other": _l("기타")},
    "classification": {"corporation": _l("법인사업자"), "individual": _l("개인사업자"),
                       "nonprofit": _l("비영리법인·단체"), "other": _l("기타")},
    "trade_kind": {"manufacturing": _l("제조"), "trading": _l("무역"),
                   "both": _l("제조·무역"), "other": _l("기타")},
    "export_region": {"asia": _l("아시아"), "china": _l("중국"), "japan": _l("일본"),
                      "north_america": _l("북미"), "latin_america": _l("중남미"),
                      "europe": _l("유럽"), "cis": _l("CIS"), "middle_east": _l("중동"),
                      "africa": _l("아프리카"), "oceania": _l("대양주")},
}
# Hints shown under a field (its format).
HINTS = {
    "corp_number": _l("13자리 숫자 (예: 110111-1234567)"),
    "phone": _l("예: 02-1234-5678"),
    "fax": _l("예: 02-1234-5678"),
    "annual_sales": _l("(단위: 원)"),
    "annual_exports": _l("(단위: 원)"),
    "founded_year": _l("예: 1995"),
    "name_en": _l("영문으로 입력해 주세요."),
    "ceo_name_en": _l("영문으로 입력해 주세요."),
    "address_en": _l("영문으로 입력해 주세요."),
}


def info_field_message(field: str, reason: str) -> str:
    """The Korean message for a company-form field's reason (company_profile.clean_info)."""
    label = str(INFO_LABELS.get(field) or SECRET_LABELS.get(field) or field)
    field_def = cp.BY_KEY.get(field)
    if reason == "required" and field_def is not None and field_def.kind in (
            cp.CHOICE, cp.COUNTRY, cp.YESNO):
        return _("%(label)s을(를) 선택해 주세요.", label=label)
    if reason == "required":
        return _("%(label)s을(를) 입력해 주세요.", label=label)
    if reason == "too_long":
        return _("%(label)s이(가) 너무 깁니다. 줄여서 입력해 주세요.", label=label)
    if reason == "choice":
        return _("%(label)s을(를) 목록에서 선택해 주세요.", label=label)
    if reason == "english":
        return _("%(label)s은(는) 영문으로 입력해 주세요.", label=label)
    specific = {
        "corp_number": _("법인등록번호 13자리를 올바르게 입력해 주세요."),
        "phone": _("전화번호를 올바르게 입력해 주세요. (예: 02-1234-5678)"),
        "fax": _("팩스 번호를 올바르게 입력해 주세요. (예: 02-1234-5678)"),
        "email": _("이메일 주소를 올바르게 입력해 주세요."),
        "homepage": _("홈페이지 주소를 올바르게 입력해 주세요. (예: www.kotra.or.kr)"),
        "postcode": _("우편번호 5자리를 올바르게 입력해 주세요."),
        "founded_year": _("설립년도를 네 자리 연도로 입력해 주세요. (예: 1995)"),
    }
    if field in specific:
        return specific[field]
    if field in ("annual_sales", "annual_exports", "employees"):
        return _("%(label)s은(는) 숫자로 입력해 주세요.", label=label)
    return _("%(label)s에 입력할 수 없는 문자가 있습니다.", label=label)


def secret_message(field: str, reason: str, *, password_min: int, password_max: int) -> str:
    """The Korean message for the company login password and the approval password."""
    if reason == "required":
        return _("%(label)s을(를) 입력해 주세요.", label=str(SECRET_LABELS[field]))
    if field == "password_confirm":
        return _("기업 로그인 비밀번호가 일치하지 않습니다. 다시 입력해 주세요.")
    if field == "approval_password_confirm":
        return _("승인 비밀번호가 일치하지 않습니다. 다시 입력해 주세요.")
    if field == "approval_password":
        if reason == "trivial":
            return _("000000, 123456, 111111처럼 추측하기 쉬운 승인 비밀번호는 사용할 수 "
                     "없습니다.")
        return _("승인 비밀번호는 숫자 6자리로 입력해 주세요.")
    if reason.startswith("must not contain"):
        return _("비밀번호에 사업자등록번호를 넣을 수 없습니다.")
    if reason == COMMON_PASSWORD:
        return _("널리 쓰이는 비밀번호는 사용할 수 없습니다. 다른 비밀번호를 입력해 주세요.")
    if reason == WEAK_PASSWORD:
        return _("비밀번호 안전도가 낮습니다. 더 길고 추측하기 어려운 비밀번호를 입력해 주세요.")
    return _("영문과 숫자, 특수기호로 구성하여 %(min)d~%(max)d자로 입력해 주세요.",
             min=password_min, max=password_max)


def country_choices(locale: str) -> list[tuple[str, str]]:
    return [(c.code, c.name(locale)) for c in countries.all_countries()]


FIELDS = cp.FIELDS
__all__ = ["CHOICE_LABELS", "FIELDS", "HINTS", "INFO_LABELS", "SECRET_LABELS", "CompanyForm",
           "country_choices", "info_field_message", "secret_message"]
