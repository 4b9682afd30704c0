"""소속기업 등록 on pages: what the sign-up's 소속기업 tab and MY KOTRA 소속기업 관리 share
(issue 7; SPEC §3.3 tab 4, §3.8; idp/services/affiliations.py).

Both pages search a business number (a plain form: the record is rendered by the server, no
script needed; throttled per client address), show the registered company's record, and join
it by the approval password (checked the moment it is typed, within its limits) or by the
company's corporate certificate (the 인증서찾기 widget, purpose "affiliate").
"""

from __future__ import annotations

import datetime as dt
import re

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from idp.extensions import db
from idp.models import Company
from idp.oidc.server import client_ip, provider
from idp.services import affiliations as service
from idp.services.business_numbers import InvalidNumber
from idp.services.legacy_import import KST
from idp.services.throttle import ip_bucket

# Where a company not yet registered is registered (the registration helper's blueprint).
COMPANY_REGISTER = "/company/register"

METHOD_LABELS = {"certificate": _l("기업 범용인증서"), "approval_password": _l("승인 비밀번호")}

MESSAGES = {
    "business_number": _l("사업자등록번호 10자리를 정확히 입력해 주세요."),
    "not_found": _l("등록된 기업정보가 없습니다. 사업자등록번호를 확인하시거나, 조회가 되지 않는 "
                    "사업자는 아래의 신규 기업정보 등록을 이용해 주십시오."),
    "pending": _l("기업정보 등록 승인을 기다리고 있는 기업입니다. 운영자의 승인이 끝난 뒤 "
                  "소속기업으로 등록하실 수 있습니다."),
    "no_approval_password": _l("승인 비밀번호가 설정되지 않은 기업입니다. 기업 범용인증서로 "
                               "인증해 주세요."),
    "format": _l("승인 비밀번호 6자리 숫자를 입력해 주세요."),
    "busy": _l("승인 비밀번호를 확인하고 있습니다. 잠시 후 다시 시도해 주세요."),
    "certificate": _l("입력하신 사업자등록번호의 인증서가 아닙니다. 소속기업의 범용인증서로 "
                      "인증해 주세요."),
    "already": _l("이미 소속기업이 등록되어 있습니다. 다른 기업으로 바꾸시려면 먼저 소속을 "
                  "해제해 주세요."),
    "not_general": _l("소속기업은 일반회원만 등록할 수 있습니다."),
    "too_many": _l("조회가 너무 많습니다. 잠시 후 다시 시도해 주세요."),
    "search_first": _l("먼저 소속기업의 사업자등록번호를 조회해 주세요."),
}

_DIGITS6 = re.compile(r"\d{6}")


def _until(until: float) -> str:
    return dt.datetime.fromtimestamp(until, KST).strftime("%H:%M")


def refusal_message(exc: service.AffiliationRefused) -> str:
    """The Korean message for a refused search or join."""
    if exc.reason == "wrong_password":
        return _("승인 비밀번호가 일치하지 않습니다. 다시 확인해 주세요. (남은 입력 횟수 %(n)d회)",
                 n=exc.remaining or 0)
    if exc.reason == "locked":
        if exc.scope == "company":
            return _("이 기업의 승인 비밀번호가 여러 번 잘못 입력되어 %(time)s까지 승인 비밀번호로 "
                     "소속기업을 등록할 수 없습니다. 기업 범용인증서로 인증하시거나 기업정보 "
                     "관리자에게 문의해 주세요.", time=_until(exc.until))
        if exc.scope == "member":
            return _("승인 비밀번호를 여러 번 잘못 입력하셨습니다. %(time)s 이후에 다시 시도해 "
                     "주세요.", time=_until(exc.until))
        return _("이 네트워크에서 승인 비밀번호가 여러 번 잘못 입력되었습니다. %(time)s 이후에 "
                 "다시 시도해 주세요.", time=_until(exc.until))
    return str(MESSAGES.get(exc.reason, MESSAGES["not_found"]))


def limits() -> service.ApprovalLimits:
    return service.ApprovalLimits.from_settings(provider().settings["affiliation"])


def search_allowed() -> bool:
    """One more business-number search for this client address within its window."""
    p = provider()
    section = p.settings["affiliation"]
    window = int(section["search_window"])
    period = int(p.clock.now() // window)
    count = p.store.incr(f"affil-search:{ip_bucket(client_ip() or '-')}:{period}", window)
    db.session.commit()
    return count <= int(section["searches_per_ip"])


def search(business_number: str) -> tuple[Company, service.CompanyRecord]:
    """The registered company and its record; AffiliationRefused (reason "business_number"
    for a malformed number, "too_many" past the search limit, "not_found", "pending")."""
    if not search_allowed():
        raise service.AffiliationRefused("too_many")
    try:
        return service.find_joinable(db.session, provider().company_directory,
                                     business_number[:20])
    except InvalidNumber:
        raise service.AffiliationRefused("business_number") from None


def check_approval_password(company: Company, password: str, *, who: str,
                            member_id: int | None) -> None:
    """The typed approval password, within its limits (AffiliationRefused)."""
    password = password.strip().replace("-", "")
    if not _DIGITS6.fullmatch(password):
        raise service.AffiliationRefused("format")
    p = provider()
    service.check_approval_password(db.session, p.store, p.clock, p.passwords, limits(),
                                    company, password, who=who, member_id=member_id,
                                    ip=client_ip())
