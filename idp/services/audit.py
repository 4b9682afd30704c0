"""The audit trail of security events (login, lockout, token reuse, logout, keys, clients)."""

from __future__ import annotations

import logging
from typing import Any, cast

from sqlalchemy import Table, insert

from idp.models import AuditEvent
from idp.models.base import DbSession, utcnow
from idp.services import telemetry

log = logging.getLogger("idp.audit")

# The events this provider records; tests and operators can rely on these names.
EVENTS = frozenset(
    {
        "login.success",
        "login.failure",
        "login.throttled",
        "login.locked",
        "logout",
        "session.revoked",
        "token.code_replay",
        "token.refresh_reuse",
        "token.revoked",
        "keys.rotated",
        # `idp personal-data reseal`: the personal data moved to a new key (issue 10).
        "personal_data.resealed",
        "client.added",
        "client.removed",
        "client.secret_rotated",
        "member.added",
        "member.password_change_required",
        "member.password_changed",
        "consent.granted",
        # Member-wide revocation and the operator's lock (idp/services/revocation.py).
        "member.revoked",
        "member.locked",
        "member.unlocked",
        # Back-channel logout deliveries that failed (retried) or were given up.
        "backchannel.failed",
        "backchannel.gave_up",
        # Versioned terms (idp/services/terms.py).
        "terms.published",
        "terms.consented",
        "terms.declined",
        # Issue 8: an old site's ID and password entered, and its conversion (legacy_conversion).
        "legacy.matched",
        "legacy.converted",
        # Issue 6: identity verification (본인확인) answers, used or refused.
        "identity.verified",
        "identity.refused",
        # Issue 6: 아이디 찾기 (idp/web/find_id.py): codes sent, IDs shown or mailed, refusals.
        "find_id.code_sent",
        "find_id.code_locked",
        "find_id.found",
        "find_id.not_found",
        "find_id.throttled",
        "find_id.email_failed",
        # An email of a purpose this version does not know failed (idp/services/mail_outbox.py).
        "mail.email_failed",
        # Issue 6, MY KOTRA (idp/services/my_account.py, revocation.end_other_sessions and
        # revoke_client).
        "member.reauthenticated",
        "member.reauth_failed",
        "member.profile_updated",
        "member.sessions_ended",
        "member.withdrawn",
        "consent.revoked",
        "marketing.changed",
        "member.notice_failed",
        # Issue 6: 비밀번호 재설정 (idp/services/password_reset.py).
        "password_reset.throttled",
        "password_reset.refused",
        "password_reset.verified",
        "password_reset.completed",
        "password_reset.notice_failed",
        # Issue 6: marketing-consent reconfirmation notices (idp/services/policy_jobs.py).
        "marketing.notice_sent",
        "marketing.notice_failed",
        # Issue 9: SNS federation (idp/services/sns.py, idp/web/sns.py).
        "member.sns_signup",
        "login.sns_refused",
        "sns.failed",
        # Issue 6: a general member's sign-up (idp/services/signup.py).
        "member.signed_up",
        "member.converted",  # 일반회원 전환 (idp/services/conversion.py)
        # Issue 9: SNS 찾기, MY KOTRA links, the 3-year deletion of simple members.
        "sns_find.code_sent",
        "sns_find.code_locked",
        "sns_find.found",
        "sns_find.not_found",
        "sns_find.throttled",
        "sns.linked",
        "sns.link_refused",
        "sns.unlinked",
        "member.inactive_notice_sent",
        "member.inactive_notice_failed",
        "member.deleted_inactive",
        # Issue 7: corporate certificate authentication (idp/web/certificate.py).
        "certificate.verified",
        "certificate.refused",
        "certificate.revocation_unchecked",
        # Issue 7: companies — registration, review, the console, the directory.
        "company.registered",
        "company.registration_submitted",
        "company.registration_refused",
        "company.registration_approved",
        "company.registration_rejected",
        "company.updated",
        "company.name_change_requested",
        "company.name_change_approved",
        "company.name_change_rejected",
        "company.approval_password_changed",
        "company.password_changed",
        "company.directory_imported",
        # Issue 7: members joining and leaving companies.
        "affiliation.joined",
        "affiliation.left",
        "affiliation.revoked",
        "affiliation.approval_failed",
        "affiliation.approval_locked",
        # Issue 7: the operator console.
        "operator.added",
        "operator.login",
        "operator.login_failed",
        "operator.logout",
        # Issue 7, operator console (idp/services/operators.py, company_review.py).
        "operator.login_throttled",
        "operator.disabled",
        "operator.totp_reset",
        "operator.unlocked",
        "company.decision_notice_failed",
        # Issue 7: the service and mileage API.
        "service.recorded",
        "mileage.earned",
        "mileage.used",
        "mileage.refused",
        "client.api_access_allowed",  # `idp api allow` (issue 7, the API)
    }
)


def _plain(value: Any) -> Any:
    """`value` made of JSON types only: anything else (a datetime, an enum) as its str()."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    return str(value)


# A Core INSERT: events are written on hot paths (every login), never read back there.
_INSERT = insert(cast(Table, AuditEvent.__table__))


def record(
    session: DbSession,
    event: str,
    *,
    member_id: int | None = None,
    client_id: str | None = None,
    ip: str | None = None,
    **detail: Any,
) -> None:
    """Add one event to the caller's transaction (committed with the change it describes)."""
    if event not in EVENTS:
        raise ValueError(f"unknown audit event {event!r}")
    session.connection().execute(
        _INSERT,
        # The column's type (JSONText) encodes the object once; encoding it here as well
        # stored a JSON string holding JSON (issue 11, finding 9).
        {"at": utcnow(), "event": event, "member_id": member_id, "client_id": client_id,
         "ip": ip, "detail": _plain(detail) if detail else None,
         # The HTTP request that caused it (X-Request-ID; issue 10), None outside requests.
         "request_id": telemetry.request_id.get()},
    )
    telemetry.event(event, detail)  # counted for operators (idp/adapters/prometheus.py)
    log.info("audit %s member=%s client=%s ip=%s %s", event, member_id, client_id, ip, detail)
