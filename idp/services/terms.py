"""Versioned terms and each member's consents (issue 6: Terms; SPEC §3.2, §3.3 step 1, §4).

The shared seam of every flow that asks for consent: general sign-up, SNS sign-up, the
conversion of a legacy account, and the re-consent step between login and the code
(idp/oidc/authorize.STEPS `terms`). No Flask: callers pass the session and the time, and
commit.

    docs = current_documents(session)                      # what to show
    record_consents(session, member_id, agreed={"service": True, "privacy": True},
                    marketing={"email": False, "sms": True}, source="signup", now=now)
    session.commit()
    missing_consents(session, member_id, now=now)          # [] once agreed

The current document of a kind is its highest version. A member must have agreed to the
current version of every required document, and again after the re-consent period (2 years
for personal members, SPEC §4 and the manual's "개인회원 : 2년 단위 재동의").
"""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import bindparam, func, select

from idp.errors import AlreadyExists, InvalidInput
from idp.models import MarketingConsent, TermsConsent, TermsDocument
from idp.models.base import DbSession, utcnow
from idp.services import audit

# The manual's items (회원가입 약관동의, 간편회원 가입, 기존회원 전환), in its order.
SERVICE = "service"                  # 이용약관 (필수)
PRIVACY = "privacy"                  # 개인정보 수집·이용 동의 (필수)
MARKETING = "marketing"              # 개인정보 마케팅 활용 동의 확인 (선택)
PRIVACY_OPTIONAL = "privacy_optional"  # 개인정보 수집·이용 동의 (선택)
KIND_ORDER = (SERVICE, PRIVACY, MARKETING, PRIVACY_OPTIONAL)
# Default titles of the manual's items (Korean, English), used when a publisher gives none.
DEFAULT_TITLES = {
    SERVICE: ("이용약관", "Terms of Use"),
    PRIVACY: ("개인정보 수집·이용 동의", "Consent to the Collection and Use of Personal Data"),
    MARKETING: ("개인정보 마케팅 활용 동의", "Consent to the Use of Personal Data for Marketing"),
    PRIVACY_OPTIONAL: ("개인정보 수집·이용 동의(선택 항목)",
                       "Consent to the Collection and Use of Optional Personal Data"),
}
# Marketing messages, consented to per channel with a date (issue 6).
CHANNELS = ("email", "sms")
SOURCES = ("signup", "sns_signup", "conversion", "reconsent", "mykotra", "demo",
           "company_register")  # issue 7: the manager principal of a registered company
# SPEC §4: personal members re-consent every 2 years, company members every 5.
DEFAULT_RECONSENT_DAYS = 730


def is_company_member(member_type: str, affiliated: bool) -> bool:
    """Whom the 5-year period applies to (SPEC §4; issue 7: "members affiliated to a company
    re-consent every 5 years instead of 2"; the manual's "기업회원 : 5년 단위 재동의"): a
    company manager, or a general member with a live affiliation (기업소속 일반회원)."""
    return member_type == "company_manager" or (member_type == "general" and affiliated)


def reconsent_period(member_type: str, affiliated: bool, *, personal_days: int,
                     company_days: int) -> int:
    """The re-consent period, in days, of a member of this kind."""
    return company_days if is_company_member(member_type, affiliated) else personal_days

_KIND = re.compile(r"[a-z][a-z0-9_]{0,39}")
_TITLE_MAX = 200
_VERSION_MAX = 1_000_000  # far below the 32-bit column's limit
_BODY_MAX = 200_000


def _kind_key(doc: TermsDocument) -> tuple[int, str]:
    order = KIND_ORDER.index(doc.kind) if doc.kind in KIND_ORDER else len(KIND_ORDER)
    return order, doc.kind


def current_documents(session: DbSession) -> list[TermsDocument]:
    """The latest version of each kind, in the manual's order (then other kinds by name)."""
    latest = (select(TermsDocument.kind, func.max(TermsDocument.version).label("version"))
              .group_by(TermsDocument.kind).subquery())
    docs = session.scalars(select(TermsDocument).join(
        latest, (TermsDocument.kind == latest.c.kind)
        & (TermsDocument.version == latest.c.version)))
    return sorted(docs, key=_kind_key)


def _last_agreements(session: DbSession, member_id: int) -> dict[str, TermsConsent]:
    """The member's most recent agreement to each kind (any version)."""
    rows = session.scalars(
        select(TermsConsent)
        .where(TermsConsent.member_id == member_id, TermsConsent.agreed.is_(True))
        .order_by(TermsConsent.at, TermsConsent.id))
    return {row.kind: row for row in rows}  # later rows replace earlier ones


# The two aggregate queries of has_missing_consents, built once: every authorization request
# runs them, and building the join on a subquery (and its cache key) cost more than running it.
_LATEST = (select(TermsDocument.kind, func.max(TermsDocument.version).label("version"))
           .group_by(TermsDocument.kind).subquery())
_REQUIRED_CURRENT = (
    select(TermsDocument.kind, TermsDocument.version)
    .join(_LATEST, (TermsDocument.kind == _LATEST.c.kind)
          & (TermsDocument.version == _LATEST.c.version))
    .where(TermsDocument.required.is_(True)))
_LAST_AGREED = (
    select(TermsConsent.kind, func.max(TermsConsent.version), func.max(TermsConsent.at))
    .where(TermsConsent.member_id == bindparam("member_id"), TermsConsent.agreed.is_(True))
    .group_by(TermsConsent.kind))


def has_missing_consents(session: DbSession, member_id: int, *, now: dt.datetime,
                         reconsent_days: int = DEFAULT_RECONSENT_DAYS) -> bool:
    """Whether `missing_consents` would list anything, in two small aggregate queries (no
    document texts, no consent history): the check every authorization request runs."""
    required = session.execute(_REQUIRED_CURRENT).all()
    if not required:
        return False
    agreed = {kind: (version, at) for kind, version, at in session.execute(
        _LAST_AGREED, {"member_id": member_id})}
    oldest = now - dt.timedelta(days=reconsent_days)
    return any(kind not in agreed or agreed[kind][0] < version or agreed[kind][1] < oldest
               for kind, version in required)


def missing_consents(session: DbSession, member_id: int, *, now: dt.datetime | None = None,
                     reconsent_days: int = DEFAULT_RECONSENT_DAYS) -> list[TermsDocument]:
    """The current required documents the member must (again) agree to.

    Missing: never agreed to the kind, agreed only to an older version, or the last agreement
    is more than `reconsent_days` old at `now` (naive UTC; the system time when omitted).
    """
    now = now or utcnow()
    oldest = now - dt.timedelta(days=reconsent_days)
    last = _last_agreements(session, member_id)
    missing = []
    for doc in current_documents(session):
        if not doc.required:
            continue
        agreed = last.get(doc.kind)
        if agreed is None or agreed.version < doc.version or agreed.at < oldest:
            missing.append(doc)
    return missing


def record_consents(session: DbSession, member_id: int, *, agreed: dict[str, bool],
                    marketing: dict[str, bool], source: str, now: dt.datetime,
                    reconsent_days: int = DEFAULT_RECONSENT_DAYS) -> None:
    """Record the member's answers to the current documents and the marketing channels.

    `agreed` maps a kind to the answer for its current version; `marketing` a channel
    (email, sms) to opt-in or opt-out. Raises InvalidInput (nothing written) when a current
    required document is declined, or left out while the member's agreement to it is missing
    (never given, an older version, or past the re-consent period); when a kind has no
    document or a channel is unknown; or when a channel is opted into while the marketing
    document is declined. `reconsent_days` as for missing_consents. The caller commits.
    """
    if source not in SOURCES:
        raise InvalidInput("source", f"must be one of {', '.join(SOURCES)}")
    current = {doc.kind: doc for doc in current_documents(session)}
    for kind in agreed:
        if kind not in current:
            raise InvalidInput(kind, "no terms document of this kind is published")
    for channel in marketing:
        if channel not in CHANNELS:
            raise InvalidInput("marketing", f"unknown channel {channel!r}")
    # Left out is fine only for what the member already agreed to and is still valid.
    missing = {doc.kind for doc in missing_consents(session, member_id, now=now,
                                                    reconsent_days=reconsent_days)}
    for doc in current.values():
        if doc.required and not agreed.get(doc.kind, doc.kind not in missing):
            raise InvalidInput(doc.kind, "a required document must be agreed to")
    if agreed.get(MARKETING) is False and any(marketing.values()):
        raise InvalidInput("marketing", "marketing messages need the marketing consent")
    for kind, answer in agreed.items():
        session.add(TermsConsent(member_id=member_id, kind=kind,
                                 version=current[kind].version, agreed=bool(answer), at=now,
                                 source=source))
    for channel, answer in marketing.items():
        session.add(MarketingConsent(member_id=member_id, channel=channel,
                                     agreed=bool(answer), at=now, source=source))
    audit.record(session, "terms.consented", member_id=member_id, source=source,
                 agreed={k: [current[k].version, bool(v)] for k, v in agreed.items()},
                 marketing={c: bool(v) for c, v in marketing.items()})
    session.flush()


def marketing_status(session: DbSession, member_id: int) -> dict[str, MarketingConsent | None]:
    """Each channel's latest answer (None: never asked), for MY KOTRA and notices."""
    status: dict[str, MarketingConsent | None] = dict.fromkeys(CHANNELS)
    rows = session.scalars(select(MarketingConsent)
                           .where(MarketingConsent.member_id == member_id)
                           .order_by(MarketingConsent.at, MarketingConsent.id))
    for row in rows:
        status[row.channel] = row
    return status


def publish(session: DbSession, *, kind: str, version: int, title_ko: str, title_en: str,
            body: str, required: bool, now: dt.datetime) -> TermsDocument:
    """Add a version of a document. The caller commits.

    Raises AlreadyExists("version") for a version the kind already has, and InvalidInput for
    a malformed kind, a version not above the current one, or an empty title or body.
    """
    if not isinstance(kind, str) or not _KIND.fullmatch(kind):
        raise InvalidInput("kind", "use lower-case letters, digits and _ (e.g. service)")
    if isinstance(version, bool) or not isinstance(version, int) or not (
            1 <= version <= _VERSION_MAX):
        raise InvalidInput("version", f"must be a whole number from 1 to {_VERSION_MAX}")
    title_ko, title_en, body = title_ko.strip(), title_en.strip(), body.strip()
    if not title_ko or len(title_ko) > _TITLE_MAX:
        raise InvalidInput("title_ko", f"a title of 1 to {_TITLE_MAX} characters is needed")
    if len(title_en) > _TITLE_MAX:
        raise InvalidInput("title_en", f"at most {_TITLE_MAX} characters")
    if not body or len(body) > _BODY_MAX or "\x00" in body:
        raise InvalidInput("body", "the document text is empty, too long or not text")
    latest = session.scalar(select(func.max(TermsDocument.version))
                            .where(TermsDocument.kind == kind))
    if latest is not None and version == latest or session.scalar(
            select(TermsDocument.id).where(TermsDocument.kind == kind,
                                           TermsDocument.version == version)) is not None:
        raise AlreadyExists("version")
    if latest is not None and version < latest:
        raise InvalidInput("version", f"must be above the current version {latest}")
    doc = TermsDocument(kind=kind, version=version, title_ko=title_ko,
                        title_en=title_en or title_ko, body=body, required=required,
                        published_at=now)
    session.add(doc)
    audit.record(session, "terms.published", kind=kind, version=version, required=required)
    session.flush()
    return doc
