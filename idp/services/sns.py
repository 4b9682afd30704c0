"""SNS federation: simple members through Naver, Kakao, Google and Facebook (issue 9).

The provider is an OAuth 2.0 / OpenID Connect *client* of each SNS here, defended as one
(RFC 9700 §4.7 CSRF, §4.4 mix-up, §4.8 PKCE; OIDC Core §3.1.3.7 ID token validation):

- one transaction per round trip, in `provider.flows` (idp/services/flows.py): bound to the
  browser that started it, short-lived (`sns.transaction_ttl`), single use. Its flow id is
  the `state` sent to the vendor, so a state from another browser, a replayed state or a
  made-up one finds nothing;
- a `nonce` for the OpenID Connect providers (Kakao, Google), checked in the ID token by the
  adapter; PKCE S256 (RFC 7636) where the vendor supports it;
- the provider is remembered in the transaction and must be the one whose callback received
  it (mix-up defence: a code from one vendor is never sent to another);
- identity is (provider, subject), never the email: a vendor's email never links accounts.

The vendors' shapes stay in idp/adapters/sns_*.py; each returns an `SnsProfile`. Pure code:
no Flask. The pages are idp/web/sns.py.

Built on issue 6 (identity verification, SMS codes, MY KOTRA):
- SNS 찾기: `find_sns_by_mobile` / `find_sns_by_identity` below; the pages are
  idp/web/sns_find.py (/find-sns).
- 일반회원 전환: idp/services/conversion.py (the same `members` row; `sns_links` stay).
- MY KOTRA link/unlink: `start(..., purpose="link", member_id=)`, `add_link`, `remove_link`
  below; the pages are idp/web/sns_link.py (/my/sns).
- 3-year deletion (`idp jobs run`, job sns_inactive): idp/services/sns_inactivity.py.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import secrets
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from sqlalchemy import select

from idp.errors import InvalidInput
from idp.models import Member, MemberIdentity, MemberType
from idp.models.base import DbSession
from idp.models.sns import SnsLink
from idp.services import audit
from idp.services.claims import ACR_FEDERATED
from idp.services.flows import Flow, FlowKind, Flows
from idp.services.login import LoginMethod
from idp.services.members import new_subject

# In the manual's order (로그인 - ① 간편회원): 네이버, 카카오톡, 구글, 페이스북.
PROVIDERS = ("naver", "kakao", "google", "facebook")
# What an SNS login proves: federated authentication (RFC 8176 `fed`).
SNS_LOGIN = LoginMethod("sns", ACR_FEDERATED, ("fed",))


@dataclass(frozen=True)
class SnsProfile:
    """Who the vendor says the user is: its stable subject and what the user let it share.
    Raw vendor payloads never leave the adapter."""

    provider: str
    subject: str
    name: str | None = None
    email: str | None = None
    email_verified: bool = False
    mobile: str | None = None  # 010-1234-5678

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SnsProfile:
        return cls(**data)


class SnsError(Exception):
    """A round trip that did not prove who the user is (the login page says so, in Korean)."""

    reason = "failed"


class SnsCancelled(SnsError):
    """The user declined at the vendor (error=access_denied)."""

    reason = "cancelled"


class SnsRefused(SnsError):
    """A response that fails a check: state, provider, nonce, signature, issuer, audience,
    expiry, or a vendor error (Naver's HTTP 200 with resultcode != "00")."""

    reason = "refused"


class SnsUnavailable(SnsError):
    """The vendor is down, slow (timeout) or answers 5xx: try again later."""

    reason = "unavailable"


class SnsProvider(Protocol):
    """One vendor's authorization-code flow (idp/adapters/sns_<name>.py)."""

    name: str
    # OpenID Connect (an ID token with a nonce) or plain OAuth 2.0.
    oidc: bool
    # PKCE S256 supported by the vendor.
    pkce: bool

    def authorization_url(self, *, redirect_uri: str, state: str, nonce: str | None,
                          code_challenge: str | None) -> str:
        """Where to send the browser."""
        ...

    def complete(self, *, code: str, redirect_uri: str, state: str, nonce: str | None,
                 code_verifier: str | None) -> SnsProfile:
        """Exchange the code and read the profile; raises SnsRefused or SnsUnavailable."""
        ...


def s256(verifier: str) -> str:
    """RFC 7636 §4.2 code_challenge for S256."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def transaction_kind(ttl: int) -> FlowKind:
    return FlowKind("sns", ttl)


@dataclass(frozen=True)
class Started:
    url: str
    state: str


def start(flows: Flows, sns: SnsProvider, *, ttl: int, browser: str, redirect_uri: str,
          interaction: str, purpose: str = "login", member_id: int | None = None) -> Started:
    """Begin a round trip for this browser: the vendor's authorization URL to redirect to.

    `interaction` is the pending authorization request the login resumes; `purpose` what the
    callback does with the profile (login/sign-up; "link": MY KOTRA's linking, for the
    signed-in `member_id`, checked again at the callback).
    """
    nonce = secrets.token_urlsafe(24) if sns.oidc else None
    verifier = secrets.token_urlsafe(48) if sns.pkce else None  # 64 characters, RFC 7636 §4.1
    flow = flows.start(transaction_kind(ttl), {
        "provider": sns.name, "nonce": nonce, "verifier": verifier,
        "redirect_uri": redirect_uri, "interaction": interaction, "purpose": purpose,
        "member_id": member_id,
    }, browser=browser)
    url = sns.authorization_url(redirect_uri=redirect_uri, state=flow.id, nonce=nonce,
                                code_challenge=s256(verifier) if verifier else None)
    return Started(url=url, state=flow.id)


@dataclass(frozen=True)
class Completed:
    profile: SnsProfile
    interaction: str
    purpose: str


@dataclass(frozen=True)
class Transaction:
    """A round trip's state, taken (consumed) at its callback."""

    state: str
    data: dict[str, Any]


def take(flows: Flows, *, ttl: int, browser: str | None, state: str | None) -> Transaction:
    """Consume the transaction `state` names, whatever follows: a state is good for one
    callback. Raises SnsRefused for an unknown, replayed, expired or another browser's state.
    The caller commits before `finish` calls the vendor (no database transaction is held
    open while a vendor takes its time)."""
    flow = flows.consume(transaction_kind(ttl), state, browser=browser)
    if flow is None:
        raise SnsRefused("unknown, used, expired or another browser's state")
    return Transaction(state=flow.id, data=flow.data)


def finish(sns: SnsProvider, txn: Transaction, params: dict[str, str]) -> Completed:
    """Check the callback against its transaction, then let the adapter exchange the code.

    Raises SnsRefused (another provider's transaction; a vendor error; no code),
    SnsCancelled (the user declined) or what the adapter raises (SnsRefused,
    SnsUnavailable).
    """
    data = txn.data
    if data["provider"] != sns.name:
        # RFC 9700 §4.4.2: the response came back to another provider's callback.
        raise SnsRefused(f"transaction of {data['provider']} at the {sns.name} callback")
    if params.get("error"):
        if params["error"] == "access_denied":
            raise SnsCancelled(params["error"])
        raise SnsRefused(f"vendor error {params['error']!r}")
    code = params.get("code")
    if not code:
        raise SnsRefused("callback without a code")
    profile = sns.complete(code=code, redirect_uri=data["redirect_uri"], state=txn.state,
                           nonce=data["nonce"], code_verifier=data["verifier"])
    if profile.provider != sns.name or not profile.subject:
        raise SnsRefused("profile without a subject")
    return Completed(profile=profile, interaction=data["interaction"], purpose=data["purpose"])


def complete(flows: Flows, sns: SnsProvider, *, ttl: int, browser: str | None,
             params: dict[str, str]) -> Completed:
    """`take` then `finish`, for callers without a transaction of their own to commit."""
    return finish(sns, take(flows, ttl=ttl, browser=browser, state=params.get("state")),
                  params)


def interaction_of(flows: Flows, *, ttl: int, state: str | None,
                   browser: str | None) -> str | None:
    """The interaction a live transaction belongs to (to go back to its login page)."""
    flow = flows.get(transaction_kind(ttl), state, browser=browser)
    return None if flow is None else str(flow.data["interaction"])


def purpose_of(flows: Flows, *, ttl: int, state: str | None, browser: str | None) -> str | None:
    """What a live transaction is for ("login", "link"), to route its callback."""
    flow = flows.get(transaction_kind(ttl), state, browser=browser)
    return None if flow is None else str(flow.data.get("purpose") or "login")


# ---------------------------------------------------------------------------------------------
# Links and simple members

def find_link(session: DbSession, provider: str, subject: str) -> SnsLink | None:
    return session.scalar(select(SnsLink).where(SnsLink.provider == provider,
                                                SnsLink.subject == subject))


def signed_in(session: DbSession, link: SnsLink, *, now: dt.datetime, ip: str | None
              ) -> Member | None:
    """A known (provider, subject) signs in its member; None when the member cannot."""
    member = session.get(Member, link.member_id)
    if member is None or not member.is_active:
        audit.record(session, "login.sns_refused", member_id=link.member_id, ip=ip,
                     provider=link.provider)
        return None
    link.last_login_at = now
    member.last_login_at = now
    audit.record(session, "login.success", member_id=member.id, ip=ip, method="sns",
                 provider=link.provider)
    return member


_MOBILE = re.compile(r"01[016789]\d{7,8}")


def normalize_mobile(value: str | None) -> str | None:
    """A Korean mobile number as 010-1234-5678, from "+82 10-1234-5678", "01012345678", ...;
    None when it is not one."""
    if not value:
        return None
    digits = re.sub(r"\D", "", value)
    if digits.startswith("82"):
        digits = "0" + digits[2:]
    if not _MOBILE.fullmatch(digits):
        return None
    return f"{digits[:3]}-{digits[3:-4]}-{digits[-4:]}"


def normalize_email(value: str | None) -> str | None:
    if not value:
        return None
    from email_validator import EmailNotValidError, validate_email  # lazy: issue 10, memory

    try:
        return str(validate_email(value, check_deliverability=False).normalized)
    except EmailNotValidError:
        return None


# The items a simple member keeps (manual ch. 01: 이름, 휴대폰번호, 이메일); those the SNS did
# not give are asked on our side.
REQUIRED_ITEMS = ("name", "mobile", "email")


def missing_items(profile: SnsProfile) -> list[str]:
    have = {"name": (profile.name or "").strip(), "mobile": normalize_mobile(profile.mobile),
            "email": normalize_email(profile.email)}
    return [item for item in REQUIRED_ITEMS if not have[item]]


SIGNUP_STEPS = ("terms", "info", "done")


def signup_kind(ttl: int) -> FlowKind:
    return FlowKind("sns_signup", ttl)


def begin_signup(flows: Flows, profile: SnsProfile, *, ttl: int, browser: str,
                 interaction: str) -> Flow:
    """An unknown (provider, subject): the simple sign-up, starting at our terms."""
    return flows.start(signup_kind(ttl), {"profile": profile.to_dict(), "step": "terms",
                                          "interaction": interaction, "agreed": None,
                                          "marketing": None, "member_id": None},
                       browser=browser)


def _clean_name(value: str) -> str:
    return " ".join(value.split())[:100]


def create_simple_member(session: DbSession, profile: SnsProfile, *, name: str | None,
                         mobile: str | None, email: str | None, now: dt.datetime,
                         ip: str | None) -> Member:
    """The simple member and its link, from the SNS profile and what the user typed for the
    items it did not give. Raises InvalidInput naming the first bad item, or "sns" when the
    (provider, subject) is already linked (a second tab finished first). The caller commits.
    """
    given_mobile = normalize_mobile(profile.mobile)
    given_email = normalize_email(profile.email)
    final_name = _clean_name(profile.name or "") or _clean_name(name or "")
    final_mobile = given_mobile or normalize_mobile(mobile)
    final_email = given_email or normalize_email(email)
    if not final_name:
        raise InvalidInput("name", "required")
    if not final_mobile:
        raise InvalidInput("mobile", "a Korean mobile number (010-1234-5678)")
    if not final_email:
        raise InvalidInput("email", "an email address")
    if find_link(session, profile.provider, profile.subject) is not None:
        raise InvalidInput("sns", "already linked")
    member = Member(
        subject=new_subject(), member_type=MemberType.SIMPLE, login_id=None, name=final_name,
        email=final_email,
        # Verified only when the vendor says so for the address it gave.
        email_verified=bool(given_email and profile.email_verified),
        phone=final_mobile, phone_verified=False, password_hash=None,
        created_at=now, updated_at=now, last_login_at=now,
    )
    session.add(member)
    session.flush()
    session.add(SnsLink(member_id=member.id, provider=profile.provider,
                        subject=profile.subject, email=given_email, linked_at=now,
                        last_login_at=now))
    session.flush()
    audit.record(session, "member.sns_signup", member_id=member.id, ip=ip,
                 provider=profile.provider)
    return member


def provider_of(session: DbSession, member_id: int) -> str | None:
    """The SNS a member joined with (its first link)."""
    return session.scalar(select(SnsLink.provider).where(SnsLink.member_id == member_id)
                          .order_by(SnsLink.linked_at, SnsLink.id).limit(1))


# ---------------------------------------------------------------------------------------------
# MY KOTRA: link and unlink (issue 9; manual ch. 06). A link is added only after a fresh SNS
# round trip of the signed-in member (never from a typed email) and never moves a (provider,
# subject) from one member to another: accounts are never merged.

class LinkRefused(Exception):
    """reason: "other_member" (the SNS account signs in another member), "already" (it is
    linked to this member), "provider_taken" (this member has an account of that SNS),
    "not_found" (no such link of this member), "last" (the member's last way to sign in),
    "simple" (a simple member's link is its account: conversion, not linking)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def links_of(session: DbSession, member_id: int) -> list[SnsLink]:
    return list(session.scalars(select(SnsLink).where(SnsLink.member_id == member_id)
                                .order_by(SnsLink.linked_at, SnsLink.id)))


def add_link(session: DbSession, member_id: int, profile: SnsProfile, *, now: dt.datetime,
             ip: str | None) -> SnsLink:
    """Link the SNS account the round trip just proved to `member_id`; raises LinkRefused.
    The caller commits (a concurrent link of the same account fails on the unique key)."""
    member = session.get(Member, member_id)
    if member is None or not member.is_active:
        raise LinkRefused("not_found")
    existing = find_link(session, profile.provider, profile.subject)
    if existing is not None:
        reason = "already" if existing.member_id == member_id else "other_member"
        audit.record(session, "sns.link_refused", member_id=member_id, ip=ip,
                     provider=profile.provider, reason=reason)
        raise LinkRefused(reason)
    if member.member_type == MemberType.SIMPLE:
        raise LinkRefused("simple")
    if any(link.provider == profile.provider for link in links_of(session, member_id)):
        audit.record(session, "sns.link_refused", member_id=member_id, ip=ip,
                     provider=profile.provider, reason="provider_taken")
        raise LinkRefused("provider_taken")
    link = SnsLink(member_id=member_id, provider=profile.provider, subject=profile.subject,
                   email=normalize_email(profile.email), linked_at=now, last_login_at=None)
    session.add(link)
    session.flush()
    audit.record(session, "sns.linked", member_id=member_id, ip=ip, provider=profile.provider)
    return link


def remove_link(session: DbSession, member_id: int, link_id: int, *, ip: str | None) -> str:
    """Unlink one of the member's SNS accounts (its provider is returned); raises
    LinkRefused("not_found") or LinkRefused("last") when it is the last way to sign in (no
    password and no other link). The caller commits."""
    # Lock the member's row: two unlinks at once cannot remove both of its last two links.
    session.execute(select(Member.id).where(Member.id == member_id).with_for_update())
    member = session.get(Member, member_id)
    link = session.get(SnsLink, link_id)
    if member is None or link is None or link.member_id != member_id:
        raise LinkRefused("not_found")
    others = [k for k in links_of(session, member_id) if k.id != link.id]
    if not member.password_hash and not others:
        audit.record(session, "sns.link_refused", member_id=member_id, ip=ip,
                     provider=link.provider, reason="last")
        raise LinkRefused("last")
    provider = link.provider
    session.delete(link)
    session.flush()
    if not member.password_hash and not links_of(session, member_id):
        # Another unlink committed in between (databases without row locks): not both.
        raise LinkRefused("last")
    audit.record(session, "sns.unlinked", member_id=member_id, ip=ip, provider=provider)
    return provider


def mask_email(email: str | None) -> str | None:
    """k***@kakao.com: the first character of the local part, the domain whole."""
    if not email or "@" not in email:
        return None
    local, domain = email.rsplit("@", 1)
    return f"{local[:1]}***@{domain}"


def mask_subject(subject: str) -> str:
    """The vendor's id with all but its first 2 and last 2 characters hidden."""
    if len(subject) <= 4:
        return subject[:1] + "*" * (len(subject) - 1)
    return subject[:2] + "*" * min(len(subject) - 4, 8) + subject[-2:]


# ---------------------------------------------------------------------------------------------
# SNS 찾기 (manual ch. 06/07): which SNS an account was made with, for whoever proved the
# member's identity (본인확인) or name + mobile (an SMS code to that number). The result shows
# the SNS, its account masked and the date it was joined (KST); nothing else.

@dataclass(frozen=True)
class FoundSns:
    provider: str
    account: str  # the vendor's email masked, else its subject masked
    joined_at: str  # KST, "YYYY-MM-DD HH:MM:SS"
    member_id: int


def _kst(value: dt.datetime) -> str:
    aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return aware.astimezone(dt.timezone(dt.timedelta(hours=9))).strftime("%Y-%m-%d %H:%M:%S")


def _digits(value: str | None) -> str:
    return "".join(c for c in (value or "") if c.isdigit())


def _found_links(session: DbSession, member_ids: set[int]) -> list[FoundSns]:
    if not member_ids:
        return []
    rows = session.execute(
        select(SnsLink, Member).join(Member, Member.id == SnsLink.member_id).where(
            SnsLink.member_id.in_(sorted(member_ids)), Member.status == "active",
            Member.withdrawn_at.is_(None))
        .order_by(SnsLink.linked_at, SnsLink.id)).all()
    return [FoundSns(link.provider, mask_email(link.email) or mask_subject(link.subject),
                     _kst(link.linked_at), member.id) for link, member in rows]


def find_sns_by_mobile(session: DbSession, *, name: str, mobile: str) -> list[FoundSns]:
    """The SNS accounts of members with this name and mobile number (digits)."""
    wanted = _digits(mobile)
    candidates = session.execute(
        select(Member.id, Member.phone).join(SnsLink, SnsLink.member_id == Member.id)
        .where(Member.name == " ".join(name.split()))).all()
    return _found_links(session, {mid for mid, phone in candidates
                                  if wanted and _digits(phone) == wanted})


def find_sns_by_identity(session: DbSession, *, ci_hash: str, name: str,
                         mobile: str | None) -> list[FoundSns]:
    """After 본인확인: the member whose verified identity has this CI, and the members with
    the verified name and mobile (a simple member's identity is not verified at sign-up)."""
    by_ci = set(session.scalars(select(MemberIdentity.member_id).where(
        MemberIdentity.ci_hash == ci_hash)))
    by_mobile = {f.member_id for f in find_sns_by_mobile(session, name=name, mobile=mobile)
                 } if mobile else set()
    return _found_links(session, by_ci | by_mobile)
