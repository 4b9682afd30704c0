"""The operators' review of company requests and the audit trail view (issue 7, SPEC §3.4–3.5).

Requests (`company_requests`) wait for an operator: a new company's registration (the company
row exists with status pending, its 사업자등록증 upload beside it) or a registered company's
name change (data: the new names). `decide` approves or rejects one:

- registration: approved → the company becomes active (its manager may sign in, members may
  join) and a notice waits in its console; rejected → status rejected (live affiliations, if
  any, end as "company");
- name_change: approved → the company's names (and its manager principal's name, which the
  tokens carry) change; rejected → nothing changes.

A request is decided once: the decision is a conditional `UPDATE ... WHERE status =
'pending'`, so of two operators deciding at once one wins and the other is told it was
already decided (on PostgreSQL the second UPDATE waits for the first transaction and then
finds no pending row). The applicant is told by email after the commit; a message that
cannot be sent is recorded in the audit trail and does not undo the decision.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Text, cast, func, select, update

from idp.errors import IdpError, InvalidInput
from idp.models import (
    Affiliation,
    AuditEvent,
    Company,
    CompanyNotice,
    CompanyRequest,
    CompanyStatus,
    Member,
    Operator,
    Upload,
)
from idp.models.base import DbSession, utcnow
from idp.services import audit
from idp.services.affiliations import end_affiliation
from idp.services.backchannel import BackchannelOutbox
from idp.services.business_numbers import format_business_number
from idp.services.companies import manager_of
from idp.services.mail_outbox import MailOutbox
from idp.services.personal_data import PersonalData
from idp.services.sessions import SsoSessions
from idp.services.uploads import UploadMissing, open_upload

KINDS = ("registration", "name_change")
REASON_MAX = 1000
# Shown in the browser (inline); anything else is a download.
INLINE_TYPES = ("application/pdf", "image/png", "image/jpeg")

EVENTS = {
    ("registration", True): "company.registration_approved",
    ("registration", False): "company.registration_rejected",
    ("name_change", True): "company.name_change_approved",
    ("name_change", False): "company.name_change_rejected",
}


class AlreadyDecided(IdpError):
    """Another operator (or this one, twice) decided the request first."""


class RequestNotFound(IdpError):
    pass


class DocumentUnavailable(IdpError):
    """No document, or one that does not open (another key, tampered)."""


# --- documents ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Document:
    content: bytes
    content_type: str
    filename: str

    @property
    def inline(self) -> bool:
        return self.content_type in INLINE_TYPES


def open_document(session: DbSession, personal_data: PersonalData, upload_id: int) -> Document:
    """The upload's content, type (as checked from its bytes when it was stored) and name,
    read through idp/services/uploads.open_upload (the one place uploads are sealed and
    opened); DocumentUnavailable when it is gone or does not open or match its SHA-256."""
    try:
        content, content_type, filename = open_upload(session, personal_data, upload_id)
    except UploadMissing as exc:
        raise DocumentUnavailable("gone, does not open or altered") from exc
    return Document(content, content_type, filename)


# --- requests -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestView:
    request: CompanyRequest
    company: Company
    applicant: Member | None
    upload: Upload | None
    decided_by: Operator | None


def list_requests(session: DbSession, *, status: str = "pending",
                  limit: int = 200) -> list[tuple[CompanyRequest, Company]]:
    """Requests of a status with their company, newest first."""
    rows = session.execute(
        select(CompanyRequest, Company).join(Company, Company.id == CompanyRequest.company_id)
        .where(CompanyRequest.status == status)
        .order_by(CompanyRequest.created_at.desc(), CompanyRequest.id.desc()).limit(limit))
    return [(r, c) for r, c in rows]


def get_request(session: DbSession, request_id: int) -> RequestView:
    req = session.get(CompanyRequest, request_id)
    if req is None:
        raise RequestNotFound(str(request_id))
    company = session.get(Company, req.company_id)
    assert company is not None  # ON DELETE CASCADE: a request never outlives its company
    return RequestView(
        req, company,
        session.get(Member, req.member_id) if req.member_id else None,
        session.get(Upload, req.document_id) if req.document_id else None,
        session.get(Operator, req.decided_by) if req.decided_by else None)


def new_names(req: CompanyRequest) -> tuple[str, str | None]:
    """The names a name-change request asks for: data "name" (or "name_ko") and "name_en"
    (idp/services/company_console.update_company writes them, with "previous")."""
    data = req.data or {}
    name = str(data.get("name") or data.get("name_ko") or "").strip()
    name_en = data.get("name_en")
    return name, (str(name_en).strip() or None) if name_en else None


@dataclass(frozen=True)
class Decision:
    request_id: int
    kind: str
    approved: bool
    reason: str | None
    company_id: int
    business_number: str
    company_name: str
    recipients: tuple[str, ...]


def decide(session: DbSession, *, request_id: int, operator_id: int, approve: bool,
           reason: str | None, ip: str | None = None, sessions: SsoSessions | None = None,
           mail: MailOutbox, outbox: BackchannelOutbox | None = None) -> Decision:
    """Approve or reject a pending request and apply it, in one transaction (committed).
    `sessions` and `outbox` end the live affiliations of a rejected company (none is
    expected: a company waiting for review cannot be joined). `mail` gets the email of the
    outcome and the reason to each recipient in the same transaction, and is woken after it
    (a refused message is retried, then recorded as company.decision_notice_failed; the
    decision stands either way): no decision goes untold.

    Raises InvalidInput("reason") for a rejection without a reason (or a reason too long),
    RequestNotFound, AlreadyDecided."""
    reason = (reason or "").strip() or None
    if reason is not None and len(reason) > REASON_MAX:
        raise InvalidInput("reason", f"at most {REASON_MAX} characters")
    if not approve and reason is None:
        raise InvalidInput("reason", "required")
    req = session.get(CompanyRequest, request_id)
    if req is None:
        raise RequestNotFound(str(request_id))
    if req.kind == "name_change" and approve and not new_names(req)[0]:
        raise InvalidInput("data", "the request holds no new name")
    now = utcnow()
    claimed = session.execute(
        update(CompanyRequest)
        .where(CompanyRequest.id == request_id, CompanyRequest.status == "pending")
        .values(status="approved" if approve else "rejected", decided_at=now,
                decided_by=operator_id, reason=reason)
        .execution_options(synchronize_session=False))
    if getattr(claimed, "rowcount", 0) != 1:
        session.rollback()
        raise AlreadyDecided(str(request_id))
    session.refresh(req)
    company = session.get(Company, req.company_id)
    assert company is not None
    if req.kind == "registration":
        _apply_registration(session, company, approve, now, sessions, outbox, ip,
                            operator_id)
    else:
        if approve:
            _apply_name_change(session, company, req, now)
        # The company console shows these (idp/web/company_console._notice_text).
        session.add(CompanyNotice(company_id=company.id,
                                  kind="name_change_approved" if approve
                                  else "name_change_rejected",
                                  data={} if approve else {"reason": reason}))
    recipients = _recipients(session, company, req)
    audit.record(session, EVENTS[(req.kind, approve)], member_id=req.member_id, ip=ip,
                 request_id=req.id, company_id=company.id,
                 business_number=company.business_number, operator_id=operator_id,
                 reason=reason)
    decision = Decision(req.id, req.kind, approve, reason, company.id,
                        company.business_number, company.name, recipients)
    for to in recipients:
        mail.enqueue(session, purpose="company_decision", to=to,
                     subject=SUBJECTS[decision.kind], text=message_text(decision),
                     request_id=decision.request_id, company_id=decision.company_id)
    session.commit()
    mail.wake()
    return decision


def _apply_registration(session: DbSession, company: Company, approve: bool,
                        now: dt.datetime, sessions: SsoSessions | None,
                        outbox: BackchannelOutbox | None, ip: str | None,
                        operator_id: int) -> None:
    company.status = CompanyStatus.ACTIVE if approve else CompanyStatus.REJECTED
    company.updated_at = now
    if approve:
        session.add(CompanyNotice(company_id=company.id, kind="registration_approved",
                                  data={}))
        return
    # A company waiting for review cannot be joined; should one have a live affiliation all
    # the same, it ends with the company (the member's claims drop, their sites are told).
    live = list(session.scalars(select(Affiliation).where(
        Affiliation.company_id == company.id, Affiliation.revoked_at.is_(None))))
    for affiliation in live:
        if sessions is not None and outbox is not None:
            end_affiliation(session, sessions, outbox, affiliation, ended_by="company", ip=ip,
                            actor=None)
        else:
            affiliation.revoked_at = now
            affiliation.ended_by = "company"


def _apply_name_change(session: DbSession, company: Company, req: CompanyRequest,
                       now: dt.datetime) -> None:
    name, name_en = new_names(req)
    company.name = name[:200]
    if "name_en" in (req.data or {}):  # the two names change together (an empty one: none)
        company.name_en = name_en[:200] if name_en else None
    company.updated_at = now
    manager = manager_of(session, company)
    if manager is not None:  # the principal relying parties see carries the company's name
        manager.name = name[:100]
        manager.updated_at = now


def _recipients(session: DbSession, company: Company, req: CompanyRequest) -> tuple[str, ...]:
    """Who is told: the applicant member (a registration), else the company's manager
    principal, and for a name change the company's own email in its profile."""
    found: list[str] = []
    applicant = session.get(Member, req.member_id) if req.member_id else None
    if applicant is None and req.kind == "name_change":
        applicant = manager_of(session, company)
    if applicant is not None and applicant.email:
        found.append(applicant.email)
    if req.kind == "name_change":
        profile_email = (company.profile or {}).get("email")
        if isinstance(profile_email, str) and "@" in profile_email:
            found.append(profile_email.strip())
    unique: list[str] = []
    for address in found:
        if address.lower() not in (u.lower() for u in unique):
            unique.append(address)
    return tuple(unique)


SUBJECTS = {
    "registration": "[KOTRA] 기업정보 등록 신청 처리 결과 안내",
    "name_change": "[KOTRA] 기업명 변경 신청 처리 결과 안내",
}


def message_text(decision: Decision) -> str:
    """The applicant's email (Korean, as every message to members)."""
    what = "기업정보 등록" if decision.kind == "registration" else "기업명 변경"
    outcome = "승인" if decision.approved else "반려"
    lines = [
        f"{decision.company_name} ({format_business_number(decision.business_number)})의 "
        f"{what} 신청이 {outcome}되었습니다.",
    ]
    if decision.reason:
        lines.append(f"사유: {decision.reason}")
    if decision.approved and decision.kind == "registration":
        lines.append("이제 기업정보 관리 탭에서 사업자등록번호와 기업 비밀번호로 "
                     "로그인할 수 있습니다.")
    elif not decision.approved and decision.kind == "registration":
        lines.append("사유를 확인하신 후 기업정보 등록을 다시 신청해 주세요.")
    lines += ["", "KOTRA 무역투자24 통합회원 드림"]
    return "\n".join(lines)


# --- the audit trail ------------------------------------------------------------------------


KST = dt.timedelta(hours=9)


@dataclass(frozen=True)
class AuditFilter:
    event_prefix: str = ""
    member_id: int | None = None
    business_number: str = ""  # 10 digits
    since: dt.date | None = None  # in Korea's time
    until: dt.date | None = None  # inclusive


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    page: int
    has_next: bool


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def audit_events(session: DbSession, flt: AuditFilter, *, page: int = 1,
                 per_page: int = 50) -> AuditPage:
    """Audit events matching the filter, newest first, one page (read-only)."""
    query = select(AuditEvent)
    if flt.event_prefix:
        query = query.where(AuditEvent.event.like(_like_escape(flt.event_prefix) + "%",
                                                  escape="\\"))
    if flt.member_id is not None:
        query = query.where(AuditEvent.member_id == flt.member_id)
    if flt.business_number:
        # `detail` is one JSON object stored as text: the digits appear as a JSON string.
        detail = func.coalesce(cast(AuditEvent.__table__.c.detail, Text), "")
        query = query.where(detail.like(f'%"{_like_escape(flt.business_number)}"%',
                                        escape="\\"))
    # The dates are Korea's (UTC+9), as the times are shown; `at` is stored in UTC.
    if flt.since is not None:
        query = query.where(AuditEvent.at >= dt.datetime.combine(flt.since, dt.time()) - KST)
    if flt.until is not None:
        query = query.where(AuditEvent.at < dt.datetime.combine(
            flt.until + dt.timedelta(days=1), dt.time()) - KST)
    page = max(1, page)
    rows = list(session.scalars(query.order_by(AuditEvent.id.desc())
                                .offset((page - 1) * per_page).limit(per_page + 1)))
    return AuditPage(rows[:per_page], page, len(rows) > per_page)


def describe_detail(detail: Any) -> str:
    """An event's detail on one line (key=value ...)."""
    if not isinstance(detail, dict):
        return "" if detail is None else str(detail)
    return " ".join(f"{k}={v}" for k, v in detail.items() if v is not None)
