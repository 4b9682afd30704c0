"""MY KOTRA: what a signed-in member changes about their own account (issue 6; SPEC §3.8;
the manual's "회원정보 수정 및 탈퇴").

No Flask: the views (idp/web/my.py) pass the session, the provider's collaborators and the
client address. Each change is one transaction with its audit event; anything that ends
sessions goes through the revocation service (idp/services/revocation.py), which commits.

- `check_password` — the current password again, throttled and audited like a login (the
  same account and IP counters: guessing it here brings the lock nearer there too);
- `Reauth` — "re-authenticated within the last few minutes" for one SSO session (email and
  mobile changes need it);
- `update_profile`, `change_phone`, `change_password`, `set_marketing`;
- `connected_sites` / `revoke_site`;
- `withdraw` — the policy of docs/privacy.md.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update

from idp.errors import IdpError, InvalidCredentials, InvalidInput, LoginThrottled
from idp.models import (
    Affiliation,
    AuditEvent,
    Consent,
    LegacyAccount,
    MarketingConsent,
    Member,
    MemberIdentity,
    OAuthClient,
    TermsConsent,
    Token,
)
from idp.models.base import DbSession
from idp.models.interests import MemberInterestCountry, MemberInterestItem
from idp.models.sns import SnsLink
from idp.services import audit
from idp.services import interests as interests_service
from idp.services.first_party import Console
from idp.services.mail_outbox import MailOutbox
from idp.services.members import _checked_email
from idp.services.password_change import PasswordUnchanged
from idp.services.passwords import PasswordPolicy, Passwords
from idp.services.personal_data import PersonalData
from idp.services.ports import Clock, VerifiedIdentity
from idp.services.revocation import Revocation, Revoker
from idp.services.terms import CHANNELS, MARKETING, current_documents
from idp.services.throttle import Throttle, ip_bucket
from idp.stores import Store

# MY KOTRA is a first-party client of this provider (as Keycloak's account console is a
# client of its realm): signing in to it is an ordinary authorization request, with every
# login method, step (forced password change, re-consent) and throttle of the others.
CONSOLE_CLIENT_ID = "mykotra"
CONSOLE_CALLBACK = "/my/callback"

WITHDRAWN = "withdrawn"
WITHDRAWN_NAME = "탈퇴회원"

# The optional fields of 회원정보 입력 (manual §2) and their column lengths.
OPTIONAL_FIELDS = {"name_en": 100, "fax": 30, "department": 100, "position": 100,
                   "address_en": 300}
_FAX = re.compile(r"^[0-9][0-9-]{6,18}[0-9]$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Keys of audit details that could hold personal data: removed at withdrawal.
_PERSONAL_DETAIL_KEYS = frozenset({"login_id", "legacy_id", "email", "phone", "mobile", "name",
                                   "name_en", "birthdate"})


class ReauthRequired(IdpError):
    """The change needs a fresh re-authentication (password or identity verification)."""


class NotTheMember(IdpError):
    """An identity verification of somebody else than the signed-in member."""


class NotConnected(IdpError):
    """The member holds nothing for that relying party (or it is not theirs to revoke)."""


# -- the console client ----------------------------------------------------------------------

CONSOLE = Console(CONSOLE_CLIENT_ID, CONSOLE_CALLBACK, "MY KOTRA")


def ensure_console_client(session: DbSession, issuer: str) -> None:
    """Register the console's client or point it at `issuer` (first_party.Console)."""
    CONSOLE.ensure_client(session, issuer)


def discard_console_code(session: DbSession, code: str) -> bool:
    """Delete the console's sign-in code, unexchanged (first_party.Console). Commits."""
    return CONSOLE.discard_code(session, code)


# -- re-authentication -----------------------------------------------------------------------

def check_password(session: DbSession, passwords: Passwords, throttle: Throttle, *,
                   member_id: int, password: str, ip: str, purpose: str) -> None:
    """The member's current password again, or InvalidCredentials / LoginThrottled.

    Counted before the hash and committed (as authenticate_password does), on the member's
    login ID and the client IP; a success gives its attempt back. Commits."""
    member = session.get(Member, member_id)
    key = (member.login_id if member is not None and member.login_id else f"#{member_id}")
    try:
        attempt = throttle.reserve(account=key, ip=ip_bucket(ip))
    except LoginThrottled as exc:
        audit.record(session, "member.reauth_failed", member_id=member_id, ip=ip,
                     purpose=purpose, reason="throttled", retry_after=exc.retry_after)
        session.commit()
        raise
    session.commit()
    ok = passwords.verify(member.password_hash if member else None, password)
    if not ok or member is None or not member.is_active:
        locked = throttle.failed(attempt)
        audit.record(session, "member.reauth_failed", member_id=member_id, ip=ip,
                     purpose=purpose, reason="password")
        for kind in locked:
            audit.record(session, "login.locked", member_id=member_id, ip=ip, key=kind)
        session.commit()
        raise InvalidCredentials()
    throttle.succeeded(attempt, forgive=("account",))
    audit.record(session, "member.reauthenticated", member_id=member_id, ip=ip,
                 purpose=purpose, method="pwd")
    session.commit()


class Reauth:
    """When an SSO session last re-authenticated, for changes that need it to be recent."""

    def __init__(self, store: Store, clock: Clock, seconds: int) -> None:
        self._store = store
        self._clock = clock
        self.seconds = seconds

    def mark(self, sid: str) -> None:
        self._store.put(f"reauth:{sid}", {"at": self._clock.now()}, self.seconds + 60)

    def fresh(self, sid: str) -> bool:
        data = self._store.get(f"reauth:{sid}")
        return data is not None and self._clock.now() - float(data["at"]) < self.seconds

    def forget(self, sid: str) -> None:
        self._store.delete(f"reauth:{sid}")


# -- notices ---------------------------------------------------------------------------------

def _notice(session: DbSession, mail: MailOutbox | None, *, member_id: int, to: str | None,
            kind: str, subject: str, text: str) -> None:
    """A courtesy email about a change to the account, queued in the change's transaction
    (the caller commits, then wakes `mail`); a refusal is retried, then audited
    (member.notice_failed), and never undoes the change."""
    if mail is None or not to:
        return
    mail.enqueue(session, purpose="member_notice", to=to, subject=subject, text=text,
                 member_id=member_id, kind=kind)


# -- profile ---------------------------------------------------------------------------------

def _clean_optional(field: str, value: str) -> str | None:
    value = value.strip()
    if not value:
        return None
    if len(value) > OPTIONAL_FIELDS[field] or _CONTROL.search(value):
        raise InvalidInput(field, f"at most {OPTIONAL_FIELDS[field]} printable characters")
    if field == "fax" and not _FAX.fullmatch(value):
        raise InvalidInput(field, "digits and dashes, e.g. 02-3460-7114")
    if field in ("name_en", "address_en") and not value.isascii():
        raise InvalidInput(field, "English letters only")
    return value


def update_profile(session: DbSession, *, member_id: int, email: str,
                   optional: dict[str, str], reauthenticated: bool, ip: str | None,
                   now: dt.datetime, mail: MailOutbox | None = None,
                   interests: tuple[list[str], list[str]] | None = None) -> list[str]:
    """Save the editable profile; return the names of the fields that changed. Commits.

    `interests` (hs codes, countries), when the page showed the picker, replaces the member's
    관심정보 (a change counts as the field "interests").
    InvalidInput for a malformed value (nothing saved; interests.InterestsRefused for the
    interests), ReauthRequired when the email changes without a fresh re-authentication."""
    member = session.get(Member, member_id)
    if member is None or not member.is_active:
        raise InvalidInput("member", "not an active member")
    changes: dict[str, str | None] = {}
    new_email = _checked_email(email.strip()) if email.strip() else None
    if new_email is None:
        raise InvalidInput("email", "required")
    if new_email != member.email:
        if not reauthenticated:
            raise ReauthRequired()
        changes["email"] = new_email
    for field in OPTIONAL_FIELDS:
        if field in optional:
            value = _clean_optional(field, optional[field])
            if value != getattr(member, field):
                changes[field] = value
    new_interests = None
    if interests is not None:
        chosen = interests_service.validate(session, *interests)
        now_chosen = interests_service.load_interests(session, member_id)
        if (chosen.hs_codes, chosen.country_codes) != (now_chosen.hs_codes,
                                                        now_chosen.country_codes):
            new_interests = chosen
    if not changes and new_interests is None:
        return []
    if new_interests is not None:
        interests_service.save_interests(session, member_id, new_interests.hs_codes,
                                         new_interests.country_codes, commit=False)
    if "email" in changes:  # the old address hears of it (a takeover shows there)
        _notice(session, mail, member_id=member_id, to=member.email, kind="email_changed",
                subject="[KOTRA] 이메일 주소가 변경되었습니다",
                text="KOTRA 통합회원 계정의 이메일 주소가 변경되었습니다. 본인이 변경하지 "
                     "않았다면 비밀번호를 재설정하고 고객지원(1600-7119)으로 연락해 주세요.")
    for field, value in changes.items():
        setattr(member, field, value)
    if "email" in changes:
        member.email_verified = False
    member.updated_at = now
    fields = sorted([*changes, *(["interests"] if new_interests is not None else [])])
    # Field names only: the values are the member's, not the audit trail's.
    audit.record(session, "member.profile_updated", member_id=member_id, ip=ip,
                 fields=fields)
    session.commit()
    if mail is not None and "email" in changes:
        mail.wake()
    return fields


def check_identity(session: DbSession, personal_data: PersonalData, *, member_id: int,
                   identity: VerifiedIdentity, password_fresh: bool = False) -> Member:
    """The member, when `identity` (a verification with purpose "reauth") is theirs: its CI
    matches the one on record. A member from before real-name verification (CLI, demo, legacy;
    no CI on record) cannot be told from anyone else of the same name, so a verification is
    theirs only together with a fresh password re-authentication (`password_fresh`) and the
    same name. NotTheMember otherwise."""
    member = session.get(Member, member_id)
    if member is None or not member.is_active:
        raise NotTheMember()
    known = session.scalar(select(MemberIdentity).where(MemberIdentity.member_id == member_id))
    if known is not None:
        if known.ci_hash != personal_data.lookup_hash("ci", identity.ci):
            raise NotTheMember()
    elif not password_fresh or identity.name.strip() != member.name.strip():
        raise NotTheMember()
    return member


def change_phone(session: DbSession, personal_data: PersonalData, *, member_id: int,
                 identity: VerifiedIdentity, ip: str | None, now: dt.datetime,
                 password_fresh: bool = False) -> str:
    """Take the mobile number from an identity verification (purpose "reauth") of this very
    member (its CI matches the one on record); return it. Commits. NotTheMember otherwise,
    InvalidInput when the verification carried no number."""
    member = check_identity(session, personal_data, member_id=member_id, identity=identity,
                            password_fresh=password_fresh)
    if not identity.mobile or not identity.mobile.isdigit():
        raise InvalidInput("phone", "the verification gave no mobile number")
    digits = identity.mobile
    phone = (f"{digits[:3]}-{digits[3:-4]}-{digits[-4:]}" if len(digits) in (10, 11)
             else digits)
    member.phone, member.phone_verified = phone, True
    member.phone_carrier = identity.carrier
    member.updated_at = now
    audit.record(session, "member.profile_updated", member_id=member_id, ip=ip,
                 fields=["phone"], method=identity.method)
    session.commit()
    return phone


# -- password ---------------------------------------------------------------------------------

def change_password(session: DbSession, passwords: Passwords, policy: PasswordPolicy,
                    throttle: Throttle, revoker: Revoker, *, member_id: int, current: str,
                    new: str, keep_sid: str, ip: str, now: dt.datetime,
                    mail: MailOutbox | None = None) -> Revocation:
    """Change the password after checking the current one (throttled), then sign out every
    other session of the member (their tokens revoked, back-channel logout); the session
    `keep_sid` stays. Commits. InvalidCredentials / LoginThrottled for the current password,
    InvalidInput for a new one against the policy, PasswordUnchanged for the same one."""
    check_password(session, passwords, throttle, member_id=member_id, password=current,
                   ip=ip, purpose="password_change")
    member = session.get(Member, member_id)
    assert member is not None  # check_password refused otherwise
    policy.check_password(new, login_id=member.login_id, name=member.name)
    if passwords.verify(member.password_hash, new):
        raise PasswordUnchanged()
    member.password_hash = passwords.hash(new)
    member.password_change_required = False
    member.updated_at = now
    audit.record(session, "member.password_changed", member_id=member_id, ip=ip,
                 reason="mykotra")
    _notice(session, mail, member_id=member_id, to=member.email, kind="password_changed",
            subject="[KOTRA] 비밀번호가 변경되었습니다",
            text="KOTRA 통합회원 계정의 비밀번호가 변경되었고, 다른 기기의 로그인은 모두 "
                 "로그아웃되었습니다. 본인이 변경하지 않았다면 비밀번호를 재설정해 주세요.")
    # One transaction: the new password, its notice and the other sessions' end are
    # committed together.
    ended = revoker.end_other_sessions(session, member_id, keep_sid=keep_sid,
                                       reason="password_changed", ip=ip)
    if mail is not None:
        mail.wake()
    return ended


# -- consents ---------------------------------------------------------------------------------

def set_marketing(session: DbSession, *, member_id: int, channel: str, agreed: bool,
                  ip: str | None, now: dt.datetime) -> bool:
    """Opt in or out of marketing on one channel; a new history row (never an update), none
    when the answer is already that. Opting in also records agreement to the current
    marketing document when the member's last answer to it was not yes. Commits; returns
    whether anything was recorded."""
    if channel not in CHANNELS:
        raise InvalidInput("channel", f"one of {', '.join(CHANNELS)}")
    last = session.scalar(select(MarketingConsent)
                          .where(MarketingConsent.member_id == member_id,
                                 MarketingConsent.channel == channel)
                          .order_by(MarketingConsent.at.desc(), MarketingConsent.id.desc())
                          .limit(1))
    if last is not None and last.agreed == agreed:
        return False
    session.add(MarketingConsent(member_id=member_id, channel=channel, agreed=agreed, at=now,
                                 source="mykotra"))
    if agreed:
        doc = next((d for d in current_documents(session) if d.kind == MARKETING), None)
        answered = session.scalar(
            select(TermsConsent).where(TermsConsent.member_id == member_id,
                                       TermsConsent.kind == MARKETING)
            .order_by(TermsConsent.at.desc(), TermsConsent.id.desc()).limit(1))
        if doc is not None and (answered is None or not answered.agreed
                                or answered.version < doc.version):
            session.add(TermsConsent(member_id=member_id, kind=MARKETING, version=doc.version,
                                     agreed=True, at=now, source="mykotra"))
    audit.record(session, "marketing.changed", member_id=member_id, ip=ip, channel=channel,
                 agreed=agreed)
    session.commit()
    return True


def consent_history(session: DbSession, member_id: int
                    ) -> tuple[list[MarketingConsent], list[TermsConsent]]:
    """The member's marketing answers and terms answers, newest first."""
    marketing = list(session.scalars(
        select(MarketingConsent).where(MarketingConsent.member_id == member_id)
        .order_by(MarketingConsent.at.desc(), MarketingConsent.id.desc())))
    terms = list(session.scalars(
        select(TermsConsent).where(TermsConsent.member_id == member_id)
        .order_by(TermsConsent.at.desc(), TermsConsent.id.desc())))
    return marketing, terms


# -- connected sites --------------------------------------------------------------------------

@dataclass(frozen=True)
class ConnectedSite:
    client_id: str
    name: str
    scope: str | None  # what was consented to (third parties); None for KOTRA's own sites
    consented_at: dt.datetime | None
    last_issued: int | None  # epoch seconds of the newest live token
    live_tokens: int


def connected_sites(session: DbSession, member_id: int, *, now: float) -> list[ConnectedSite]:
    """Relying parties the member consented to or holds live tokens for (MY KOTRA itself
    excluded), by name."""
    consents = {c.client_id: c for c in session.scalars(
        select(Consent).where(Consent.member_id == member_id))}
    live = (Token.revoked_at.is_(None)) & (
        (Token.access_expires_at > now) | (Token.refresh_expires_at > now))
    tokens = {cid: (last, count) for cid, last, count in session.execute(
        select(Token.client_id, func.max(Token.issued_at), func.count())
        .where(Token.member_id == member_id, live).group_by(Token.client_id))}
    ids = (set(consents) | set(tokens)) - {CONSOLE_CLIENT_ID}
    if not ids:
        return []
    names: dict[str, str] = {cid: name for cid, name in session.execute(
        select(OAuthClient.client_id, OAuthClient.name).where(OAuthClient.client_id.in_(ids)))}
    sites = []
    for cid in ids:
        if cid not in names:
            continue  # a removed client: nothing of it works any more
        consent = consents.get(cid)
        last, count = tokens.get(cid, (None, 0))
        sites.append(ConnectedSite(cid, names[cid], consent.scope if consent else None,
                                   consent.granted_at if consent else None, last, int(count)))
    return sorted(sites, key=lambda s: (s.name, s.client_id))


def revoke_site(session: DbSession, revoker: Revoker, *, member_id: int, client_id: str,
                ip: str | None, now: float) -> Revocation:
    """Revoke the member's consent and tokens at one connected site (and tell it). Commits.
    NotConnected when it is not one of the member's connected sites."""
    if client_id not in {s.client_id for s in connected_sites(session, member_id, now=now)}:
        raise NotConnected(client_id)
    return revoker.revoke_client(session, member_id, client_id, reason="mykotra_revoked",
                                 ip=ip)


# -- withdrawal (docs/privacy.md) -------------------------------------------------------------

def anonymise(session: DbSession, member: Member, now: dt.datetime) -> None:
    """Delete or blank the member's personal data per docs/privacy.md (the caller commits)."""
    mid = member.id
    for model in (MemberIdentity, TermsConsent, MarketingConsent, Consent, Affiliation):
        session.execute(delete(model).where(model.member_id == mid))
    # Issue 9: the SNS accounts that signed the member in (the vendor's id and email) go, so
    # that the same SNS account can sign up again as a new member.
    session.execute(delete(SnsLink).where(SnsLink.member_id == mid))
    # Old sites' accounts converted or merged into this member (issue 8): their personal
    # fields go; the row stays (site, old ID, status) so that a re-import of the unchanged
    # export does not bring a convertible account back.
    session.execute(update(LegacyAccount).where(LegacyAccount.member_id == mid).values(
        name=None, email=None, mobile=None, business_number=None, company_name=None,
        password_hash=None, password_salt=None, password_scheme=None, ci_hash=None))
    # 관심정보 (interests: HS codes and countries) go with the rest.
    for interest in (MemberInterestItem, MemberInterestCountry):
        session.execute(delete(interest).where(interest.member_id == mid))
    member.login_id = None  # released: relying parties know the member by `sub` only
    member.name = WITHDRAWN_NAME
    member.email = member.phone = member.password_hash = None
    member.email_verified = member.phone_verified = False
    member.name_en = member.fax = member.department = member.position = None
    member.address_en = member.phone_carrier = None
    member.last_login_at = None
    member.password_change_required = False
    member.status = WITHDRAWN
    member.withdrawn_at = now
    member.updated_at = now
    # The audit trail stays (security record), without the IP or any personal detail.
    session.execute(update(AuditEvent).where(AuditEvent.member_id == mid).values(ip=None))
    for event in session.scalars(select(AuditEvent).where(AuditEvent.member_id == mid,
                                                          AuditEvent.detail.is_not(None))):
        detail = event.detail or {}
        if _PERSONAL_DETAIL_KEYS & set(detail):
            event.detail = {k: v for k, v in detail.items() if k not in _PERSONAL_DETAIL_KEYS}


def withdraw(session: DbSession, passwords: Passwords, throttle: Throttle, revoker: Revoker,
             *, member_id: int, password: str, ip: str, now: dt.datetime) -> Revocation:
    """회원탈퇴: the password again (throttled), then in one transaction the personal data
    deleted or anonymised, status "withdrawn", and every session, code and token revoked
    with back-channel logout to every relying party. Commits."""
    check_password(session, passwords, throttle, member_id=member_id, password=password,
                   ip=ip, purpose="withdrawal")
    member = session.get(Member, member_id)
    assert member is not None
    anonymise(session, member, now)
    audit.record(session, "member.withdrawn", member_id=member_id)
    return revoker.revoke_member(session, member_id, reason="withdrawn")


# -- devices ----------------------------------------------------------------------------------

_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Whale/", "Whale"),
             ("SamsungBrowser/", "Samsung Internet"), ("Firefox/", "Firefox"),
             ("Chrome/", "Chrome"), ("Safari/", "Safari"))
_SYSTEMS = (("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iPadOS"),
            ("Windows", "Windows"), ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"),
            ("Linux", "Linux"))


def describe_device(user_agent: str | None) -> str:
    """A short name for the device of a session ("Chrome · Windows"), from its User-Agent."""
    if not user_agent:
        return "-"
    browser = next((name for token, name in _BROWSERS if token in user_agent), None)
    system = next((name for token, name in _SYSTEMS if token in user_agent), None)
    if "HeadlessChrome/" in user_agent:
        browser = "Chrome (headless)"
    parts = [p for p in (browser, system) if p]
    return " · ".join(parts) if parts else user_agent[:40]
