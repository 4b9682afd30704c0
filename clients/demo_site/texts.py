"""What the demo site shows: its titles, services, labels and Korean messages."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

SITE_TITLES = {
    1: "KOTRA 데모 사이트 1 — 설명회 신청",
    2: "KOTRA 데모 사이트 2 — 사업 신청",
}

# The services this demo site offers, in display order, keyed by the
# entitlement the provider puts in ``kotra_entitlements``.
SERVICES: tuple[tuple[str, str], ...] = (
    ("online_consultation", "온라인 상담"),
    ("seminar_application", "설명회 신청"),
    ("other_service_application", "기타 서비스 신청"),
    ("service_mileage", "서비스 마일리지 사용"),
    ("company_info_edit", "기업정보 수정"),
    ("approve_employees", "신규 직원 승인"),
)
SERVICE_LABELS = dict(SERVICES)

MEMBER_TYPE_LABELS = {
    "general": "일반회원",
    "simple": "간편회원",
    "company_manager": "기업정보 관리자",
}
AFFILIATION_LABELS = {
    "certificate": "기업 범용인증서",
    "approval_password": "승인 비밀번호",
}
# Errors from the authorization endpoint that are ordinary outcomes
# (typically of prompt=none) rather than failures.
SOFT_AUTHZ_ERRORS = {
    "login_required": "통합회원 로그인 상태가 아닙니다. 로그인 후 이용해 주세요.",
    "interaction_required": "추가 확인이 필요합니다. 로그인 버튼을 눌러 진행해 주세요.",
    "consent_required": "정보 제공 동의가 필요합니다. 로그인 버튼을 눌러 진행해 주세요.",
    "account_selection_required": "계정 선택이 필요합니다. 로그인 버튼을 눌러 진행해 주세요.",
}
AUTHZ_ERROR_MESSAGES = {
    "access_denied": "로그인이 취소되었거나 허용되지 않았습니다.",
    "invalid_request": "잘못된 로그인 요청입니다.",
    "unauthorized_client": "이 사이트는 로그인을 요청할 권한이 없습니다.",
    "invalid_scope": "요청한 정보 범위가 올바르지 않습니다.",
    "server_error": "통합회원 서비스에 일시적인 오류가 발생했습니다.",
    "temporarily_unavailable": "통합회원 서비스를 잠시 이용할 수 없습니다.",
}


def fmt_time(value: Any) -> str:
    """A Unix time in Korean Standard Time (the ``kst`` template filter)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-"
    kst = timezone(timedelta(hours=9))
    return datetime.fromtimestamp(value, kst).strftime("%Y-%m-%d %H:%M:%S KST")


def refusal_message(service: str, user: Mapping) -> str:
    """Why a signed-in member may not use ``service``, from the claims the site holds."""
    claims = user.get("claims", {})
    member_type = claims.get("kotra_member_type")
    company = claims.get("kotra_company")
    if member_type == "simple":
        return "간편회원은 이용할 수 없는 서비스입니다. 일반회원으로 전환한 뒤 이용해 주세요."
    if service in ("service_mileage", "company_info_edit"):
        return "기업 범용인증서로 소속이 확인된 회원만 이용할 수 있는 서비스입니다."
    if service == "approve_employees" or not company:
        return "소속 기업이 등록된 회원만 이용할 수 있는 서비스입니다."
    return "이 서비스를 이용할 권한이 없습니다."
