"""Conversion of an old site's account into a unified general member (SPEC §6; manual ch. 03).

The member signs in on the 일반회원 tab with an old ID and its old password. When no unified
member matches that ID and password (no member has the ID, or a member who took the old ID
since has another password), `LegacyPasswordCheck` (the fallback of
idp.services.members.authenticate_password, so the attempt is throttled and audited like any
other) verifies the old password and answers a `LegacyMatch`. The screens then run a flow
(idp.services.flows, bound to the browser) through the manual's steps:

    flow = begin(session, flows, store, match, browser=...)    # or the same flow, resumed
    choose(session, flows, flow, account_id, policy)            # 회원님은 아래 홈페이지에 ...
    set_password(session, flows, flow, passwords, policy, ...)  # 비밀번호 재설정 (+ new ID)
    convert(session, flows, flow, terms_answers, now=...)       # 약관 동의: ONE transaction
    member_id = flow.data["member_id"]                          # 가입 완료 → finish_login

`convert` creates the general member (not affiliated; a former MASTER's company is not carried
over), marks the chosen old account `converted` and the person's other old accounts `merged`
into it, records the consents, and commits once. Old passwords of non-pending accounts are
never verified again. No Flask here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from idp.errors import AlreadyExists, IdpError, InvalidInput
from idp.models import LegacyAccount, LegacyStatus, Member, MemberType
from idp.models.base import DbSession
from idp.services import audit
from idp.services.flows import Flow, FlowKind, Flows
from idp.services.legacy_passwords import dummy_verify, verify_legacy_password
from idp.services.members import new_subject
from idp.services.passwords import PasswordPolicy, Passwords
from idp.stores import Store

CONVERSION = FlowKind("legacy_conversion", ttl=1800)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# The flow's steps, in the manual's order.
CHOOSE, PASSWORD, TERMS, DONE = "choose", "password", "terms", "done"


class ConversionGone(IdpError):
    """The old account was converted or merged meanwhile (another tab, a double submit)."""


@dataclass(frozen=True)
class LegacyMatch:
    """Old accounts whose ID and password were just entered (one per old site that had it)."""

    account_ids: tuple[int, ...]


def authenticate_legacy(session: DbSession, key: str, password: str) -> LegacyMatch | None:
    """The pending old accounts with login key `key` whose old password is `password`.

    Costs one old-password check per pending account with that key, and one dummy check
    when there is none (an unknown ID, an account already converted): the time does not tell a
    legacy ID from an unknown one. A converted or merged account is never verified again.
    """
    rows = session.execute(
        select(LegacyAccount.id, LegacyAccount.password_scheme, LegacyAccount.password_hash,
               LegacyAccount.password_salt)
        .where(LegacyAccount.legacy_id_key == key,
               LegacyAccount.status == LegacyStatus.PENDING)
        .order_by(LegacyAccount.id)
    ).all() if key else []
    matched = []
    for row in rows:
        if row.password_scheme and row.password_hash and verify_legacy_password(
                row.password_scheme, row.password_hash, row.password_salt, password):
            matched.append(row.id)
    if not rows or not any(r.password_scheme and r.password_hash for r in rows):
        dummy_verify()
    return LegacyMatch(tuple(matched)) if matched else None


class LegacyPasswordCheck:
    """The fallback of members.authenticate_password when no member matched."""

    def verify(self, session: DbSession, key: str, password: str) -> LegacyMatch | None:
        return authenticate_legacy(session, key, password)

    def spend(self) -> None:
        """A failure that skips the old accounts costs an old-password check too."""
        dummy_verify()


# --- Finding every old account of the same person -------------------------------------------

def _norm(value: str | None) -> str:
    return " ".join((value or "").split()).casefold()


def same_person(a: LegacyAccount, b: LegacyAccount) -> bool:
    """By CI where both have one; otherwise the same name and a matching email or mobile."""
    if a.ci_hash and b.ci_hash:
        return a.ci_hash == b.ci_hash
    if not _norm(a.name) or _norm(a.name) != _norm(b.name):
        return False
    return bool((a.email and _norm(a.email) == _norm(b.email))
                or (a.mobile and a.mobile == b.mobile))


def person_accounts(session: DbSession, account_ids: Iterable[int]) -> list[LegacyAccount]:
    """The pending old accounts of the person who owns `account_ids`, oldest join first."""
    found: dict[int, LegacyAccount] = {}
    for anchor in session.scalars(select(LegacyAccount).where(
            LegacyAccount.id.in_(list(account_ids)),
            LegacyAccount.status == LegacyStatus.PENDING)):
        found[anchor.id] = anchor
        clauses = [LegacyAccount.ci_hash == anchor.ci_hash] if anchor.ci_hash else []
        if anchor.name:
            clauses.append(LegacyAccount.name == anchor.name)
        if not clauses:
            continue
        for other in session.scalars(select(LegacyAccount).where(
                or_(*clauses), LegacyAccount.status == LegacyStatus.PENDING)):
            if other.id not in found and same_person(anchor, other):
                found[other.id] = other
    far_past = dt.datetime.min.replace(tzinfo=dt.UTC)
    return sorted(found.values(), key=lambda a: (a.joined_at or far_past, a.id))


# --- The flow --------------------------------------------------------------------------------

def _pointer_key(browser: str) -> str:
    return "legacy-conversion:" + hashlib.sha256(browser.encode()).hexdigest()


def begin(session: DbSession, flows: Flows, store: Store, match: LegacyMatch, *,
          browser: str) -> Flow:
    """The conversion of the matched accounts' owner in this browser: the one already under
    way when it covers them (the browser was closed midway), else a new one."""
    pointer = store.get(_pointer_key(browser))
    if pointer is not None:
        flow = flows.get(CONVERSION, pointer.get("flow"), browser=browser)
        if (flow is not None and flow.data["step"] != DONE
                and set(match.account_ids) <= set(flow.data["accounts"])):
            return flow
    accounts = person_accounts(session, match.account_ids)
    first = session.get(LegacyAccount, match.account_ids[0])
    flow = flows.start(CONVERSION, {
        "step": CHOOSE,
        "accounts": [a.id for a in accounts],
        "entered": list(match.account_ids),
        "name": (first.name if first else None) or "",
        "chosen": None, "login_id": None, "new_id_needed": False, "password_hash": None,
        "member_id": None,
    }, browser=browser)
    store.put(_pointer_key(browser), {"flow": flow.id}, CONVERSION.ttl)
    return flow


def accounts_of(session: DbSession, flow: Flow) -> list[LegacyAccount]:
    """The flow's old accounts still pending, in the order shown."""
    return [a for a in person_accounts(session, flow.data["entered"])
            if a.id in flow.data["accounts"]]


def login_id_problem(session: DbSession, policy: PasswordPolicy, flow: Flow,
                     login_id: str) -> str | None:
    """Why `login_id` cannot be the unified ID: `policy`, `taken`; None when it can.

    Taken: a unified member has it, or another person's old account still pending has it
    (that person could otherwise never start their own conversion with it).
    """
    try:
        key = policy.check_login_id(login_id)
    except InvalidInput:
        return "policy"
    return "taken" if _taken(session, flow, key) else None


def _taken(session: DbSession, flow: Flow, key: str) -> bool:
    if session.scalar(select(Member.id).where(Member.login_id == key)) is not None:
        return True
    others = session.scalar(select(LegacyAccount.id).where(
        LegacyAccount.legacy_id_key == key, LegacyAccount.status == LegacyStatus.PENDING,
        LegacyAccount.id.not_in(flow.data["accounts"])).limit(1))
    return others is not None


def choose(session: DbSession, flows: Flows, flow: Flow, account_id: int,
           policy: PasswordPolicy) -> bool:
    """The member keeps `account_id`'s ID. Return whether they must pick another (it is
    taken, or breaks the ID policy)."""
    chosen = next((a for a in accounts_of(session, flow) if a.id == account_id), None)
    if chosen is None:
        raise InvalidInput("account", "not one of the accounts shown")
    keeps = login_id_problem(session, policy, flow, chosen.legacy_id) is None
    flows.update(flow, {**flow.data, "step": PASSWORD, "chosen": chosen.id,
                        "login_id": chosen.legacy_id_key if keeps else None,
                        "new_id_needed": not keeps, "password_hash": None})
    return not keeps


def id_taken_meanwhile(flows: Flows, flow: Flow) -> None:
    """The kept ID was taken before the conversion: back to the password page, for a new ID."""
    flows.update(flow, {**flow.data, "step": PASSWORD, "login_id": None,
                        "new_id_needed": True, "password_hash": None})


def set_password(session: DbSession, flows: Flows, flow: Flow, passwords: Passwords,
                 policy: PasswordPolicy, *, password: str, confirm: str,
                 new_login_id: str | None = None) -> None:
    """The new password (the policy; twice the same), and the new ID when one is needed.
    Raises InvalidInput(field, reason) with field login_id (policy, taken), password
    (policy) or confirm (mismatch). Only the argon2id hash is kept in the flow."""
    login_id = flow.data["login_id"]
    if flow.data.get("new_id_needed"):
        problem = login_id_problem(session, policy, flow, new_login_id or "")
        if problem:
            raise InvalidInput("login_id", problem)
        login_id = policy.check_login_id(new_login_id or "")
    policy.check_password(password)
    if _CONTROL.search(password):  # as every password form (idp/web/forms.PRINTABLE)
        raise InvalidInput("password", "no control characters")
    if password != confirm:
        raise InvalidInput("confirm", "mismatch")
    flows.update(flow, {**flow.data, "step": TERMS, "login_id": login_id,
                        "password_hash": passwords.hash(password)})


class TermsRecorder(Protocol):
    """Records the consents given on the terms page (idp.services.terms.record_consents)."""

    def __call__(self, session: DbSession, member_id: int, *, now: dt.datetime) -> None: ...


def _checked_email(email: str | None) -> str | None:
    if not email:
        return None
    from email_validator import EmailNotValidError, validate_email  # lazy: issue 10, memory

    try:
        return str(validate_email(email, check_deliverability=False, strict=True).normalized)
    except EmailNotValidError:
        return None  # an old site's address the new rules refuse: the member adds one later


def convert(session: DbSession, flows: Flows, flow: Flow, record_terms: TermsRecorder, *,
            now: dt.datetime, ip: str | None = None) -> int:
    """Make the unified member, in ONE transaction committed here; return its id.

    Raises ConversionGone when the chosen account is no longer pending (a double submit: the
    other request converted it), AlreadyExists("login_id") when the ID was taken meanwhile,
    InvalidInput from `record_terms`; nothing is written then.
    """
    data = flow.data
    if data["step"] != TERMS or not data["password_hash"] or not data["login_id"]:
        raise InvalidInput("step", "the password is not set yet")
    try:
        # First claim the chosen account: a concurrent conversion waits here for this row
        # (PostgreSQL's row lock, SQLite's write lock) and then finds it no longer pending.
        claimed = session.execute(
            update(LegacyAccount)
            .where(LegacyAccount.id == data["chosen"],
                   LegacyAccount.status == LegacyStatus.PENDING)
            .values(status=LegacyStatus.CONVERTED, converted_at=now.replace(tzinfo=None))
            .execution_options(synchronize_session=False))
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            raise ConversionGone()
        if _taken(session, flow, data["login_id"]):
            raise AlreadyExists("login_id")
        chosen = session.get(LegacyAccount, data["chosen"])
        assert chosen is not None
        member = Member(
            subject=new_subject(), member_type=MemberType.GENERAL, login_id=data["login_id"],
            name=(chosen.name or "").strip(), email=_checked_email(chosen.email),
            email_verified=False, phone=chosen.mobile, password_hash=data["password_hash"],
        )
        session.add(member)
        session.flush()  # the unique login_id is the last word on a race
        session.execute(
            update(LegacyAccount).where(LegacyAccount.id == chosen.id)
            .values(member_id=member.id).execution_options(synchronize_session=False))
        merged = [a for a in data["accounts"] if a != chosen.id]
        if merged:
            session.execute(
                update(LegacyAccount)
                .where(LegacyAccount.id.in_(merged),
                       LegacyAccount.status == LegacyStatus.PENDING)
                .values(status=LegacyStatus.MERGED, member_id=member.id,
                        converted_at=now.replace(tzinfo=None))
                .execution_options(synchronize_session=False))
        record_terms(session, member.id, now=now)
        audit.record(session, "member.added", member_id=member.id, source="legacy")
        audit.record(session, "legacy.converted", member_id=member.id, ip=ip,
                     legacy_account_id=chosen.id, site=chosen.site,
                     legacy_member_type=chosen.member_type, merged=merged)
        # The flow says "done" in the same transaction (the database store) or just before
        # the commit (Redis): a double submit then finds the member.
        flows.update(flow, {**data, "step": DONE, "password_hash": None,
                            "member_id": member.id, "former_type": chosen.member_type})
        session.commit()
    except IntegrityError:
        session.rollback()
        raise AlreadyExists("login_id") from None
    except BaseException:
        session.rollback()
        raise
    return member.id


def discard(flows: Flows, store: Store, flow: Flow, *, browser: str) -> None:
    """The member cancelled: the conversion starts again at the next sign-in."""
    flows.discard(flow.id)
    store.delete(_pointer_key(browser))


def finish(flows: Flows, store: Store, flow_id: str, *, browser: str) -> Flow | None:
    """Hand the converted flow out once (the done page's 확인); None when used already."""
    flow = flows.consume(CONVERSION, flow_id, browser=browser)
    if flow is not None:
        store.delete(_pointer_key(browser))
    return flow
