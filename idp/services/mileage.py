"""Service participations and company mileage, as reported by relying parties (SPEC §5, issue 7).

The ledger (`mileage_ledger`) is append-only: nothing here updates or deletes an entry. A
company's balance lives in `mileage_accounts` and changes only together with a new entry, in one
transaction:

- earn: ``UPDATE mileage_accounts SET balance = balance + :n WHERE company_id = :c``
- use:  ``UPDATE mileage_accounts SET balance = balance - :n WHERE company_id = :c AND
  balance >= :n`` — the row lock the UPDATE takes serialises concurrent uses on PostgreSQL, and
  a use that would go below zero matches no row (and the CHECK (balance >= 0) stands behind it);

so `balance_after` of the newest entry always equals the account's balance and the sum of the
ledger.

Idempotency (draft-ietf-httpapi-idempotency-key-header): the stored row is the record of the
first answer. The same client sending the same key again gets that row back (`replayed`); with
another request behind the key it gets IdempotencyConflict. Two concurrent requests with one key
both try to insert; the unique (client_id, idempotency_key) lets one win, the other rolls back
(its balance change with it) and answers with the winner's row. A refused use writes no row, so
a retry of a refused use is decided afresh.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from idp.errors import IdpError
from idp.models import Company, Member
from idp.models.base import DbSession, utcnow
from idp.models.companies import MileageAccount, MileageEntry, ServiceParticipation
from idp.models.members import CompanyStatus
from idp.models.readmodels import MemberView, load_member
from idp.services import audit
from idp.services.business_numbers import InvalidNumber, normalise_business_number
from idp.services.claims import EntitlementMatrix

# OAuth 2.0 scopes of the API (RFC 6749 §3.3), granted with client_credentials (§4.4).
API_SCOPES = {
    "kotra.services.read": "Read the service participations of companies.",
    "kotra.services.write": "Record that a company (and its member) took part in a service.",
    "kotra.mileage.read": "Read companies' mileage balances and ledgers.",
    "kotra.mileage.write": "Earn and use companies' mileage.",
}
# The entitlement of SPEC §2 a member needs for a company's mileage to be used in their name.
MILEAGE_ENTITLEMENT = "service_mileage"
# One operation moves at most this much (a typing slip of a relying party is not a fortune).
MAX_AMOUNT = 1_000_000_000
MAX_PAGE = 100

_accounts = cast(Table, MileageAccount.__table__)


class MileageError(IdpError):
    """A request the service refuses; `code` names the problem type for the API."""

    code = "invalid-request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class CompanyNotFound(MileageError):
    code = "company-not-found"


class CompanyNotActive(MileageError):
    code = "company-not-active"


class MemberNotFound(MileageError):
    code = "member-not-found"


class MemberNotAffiliated(MileageError):
    code = "member-not-affiliated"


class MemberNotEntitled(MileageError):
    code = "member-not-entitled"


class InsufficientBalance(MileageError):
    code = "insufficient-balance"

    def __init__(self, detail: str, balance: int) -> None:
        super().__init__(detail)
        self.balance = balance


class IdempotencyConflict(MileageError):
    code = "idempotency-key-reused"


@dataclass(frozen=True)
class EntryView:
    id: int
    business_number: str
    kind: str
    amount: int
    balance_after: int
    reason: str
    service: str | None
    member: str | None
    client_id: str
    created_at: dt.datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "business_number": self.business_number, "kind": self.kind,
            "amount": self.amount, "balance_after": self.balance_after, "reason": self.reason,
            "service": self.service, "member": self.member, "client_id": self.client_id,
            "created_at": _timestamp(self.created_at),
        }


@dataclass(frozen=True)
class ParticipationView:
    id: int
    business_number: str
    member: str | None
    service: str
    site: str
    date: dt.date
    client_id: str
    created_at: dt.datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "business_number": self.business_number, "member": self.member,
            "service": self.service, "site": self.site, "date": self.date.isoformat(),
            "client_id": self.client_id, "created_at": _timestamp(self.created_at),
        }


@dataclass(frozen=True)
class Balance:
    business_number: str
    company_name: str
    balance: int
    updated_at: dt.datetime | None

    def as_json(self) -> dict[str, Any]:
        return {"business_number": self.business_number, "company_name": self.company_name,
                "balance": self.balance,
                "updated_at": _timestamp(self.updated_at) if self.updated_at else None}


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next_cursor: str | None


def _timestamp(value: dt.datetime) -> str:
    """RFC 3339 in UTC to the second: the same text when an answer is replayed."""
    return value.replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def _now() -> dt.datetime:
    return utcnow().replace(microsecond=0)


def request_fingerprint(fields: dict[str, Any]) -> str:
    """SHA-256 of the request's meaning (canonical JSON): what "the same body" means."""
    return hashlib.sha256(json.dumps(fields, sort_keys=True, ensure_ascii=False,
                                     separators=(",", ":")).encode()).hexdigest()


# -- companies and members -------------------------------------------------------------------

def find_company(session: DbSession, business_number: str) -> Company:
    """The company with this 사업자등록번호 (with or without dashes), or CompanyNotFound."""
    try:
        digits = normalise_business_number(business_number)
    except InvalidNumber:
        raise CompanyNotFound(f"{business_number!r} is not a valid business number "
                              "(10 digits with a correct check digit)") from None
    company = session.scalar(select(Company).where(Company.business_number == digits))
    if company is None:
        raise CompanyNotFound(f"no company is registered with business number {digits}")
    return company


def _active(company: Company) -> Company:
    if company.status != CompanyStatus.ACTIVE:
        raise CompanyNotActive(f"company {company.business_number} is {company.status}, "
                               "not active: it cannot take part in services yet")
    return company


def _member_id(session: DbSession, subject: str) -> int:
    member_id = session.scalar(select(Member.id).where(Member.subject == subject,
                                                       Member.status == "active"))
    if member_id is None:
        raise MemberNotFound(f"no active member has sub {subject!r}")
    return member_id


def _affiliated_member(session: DbSession, company: Company, subject: str) -> MemberView:
    """The member (with their live affiliation) if it is with this company."""
    view = load_member(session, _member_id(session, subject))
    affiliation = view.affiliation if view is not None else None
    if view is None or affiliation is None or \
            affiliation.company.business_number != company.business_number:
        raise MemberNotAffiliated(f"member {subject!r} is not affiliated to company "
                                  f"{company.business_number}")
    return view


def _subjects(session: DbSession, member_ids: set[int]) -> dict[int, str]:
    if not member_ids:
        return {}
    rows = session.execute(select(Member.id, Member.subject).where(Member.id.in_(member_ids)))
    return {row.id: row.subject for row in rows}


# -- participations ----------------------------------------------------------------------------

def _participation_view(session: DbSession, row: ServiceParticipation,
                        business_number: str) -> ParticipationView:
    subject = _subjects(session, {row.member_id}).get(row.member_id) if row.member_id else None
    return ParticipationView(row.id, business_number, subject, row.service, row.site,
                             row.occurred_on, row.client_id, row.created_at)


def _existing_participation(session: DbSession, client_id: str,
                            key: str) -> ServiceParticipation | None:
    return session.scalar(select(ServiceParticipation).where(
        ServiceParticipation.client_id == client_id,
        ServiceParticipation.idempotency_key == key))


def _same_participation(row: ServiceParticipation, company: Company, member_id: int | None,
                        service: str, site: str, occurred_on: dt.date) -> bool:
    return (row.company_id, row.member_id, row.service, row.site, row.occurred_on) == (
        company.id, member_id, service, site, occurred_on)


def record_participation(
    session: DbSession, *, client_id: str, business_number: str, member: str | None,
    service: str, site: str, occurred_on: dt.date, idempotency_key: str | None,
    ip: str | None = None,
) -> tuple[ParticipationView, bool]:
    """Record that a company (and one of its members) took part in a service; returns the
    participation and whether it is the replay of an earlier request with the same key."""
    company = _active(find_company(session, business_number))
    if idempotency_key:
        earlier = _existing_participation(session, client_id, idempotency_key)
        if earlier is not None:
            return _replay_participation(session, earlier, company, member, service, site,
                                         occurred_on)
    member_id = _affiliated_member(session, company, member).id if member else None
    row = ServiceParticipation(company_id=company.id, member_id=member_id, service=service,
                               client_id=client_id, site=site, occurred_on=occurred_on,
                               idempotency_key=idempotency_key, created_at=_now())
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        # The same key, sent twice at once: the other request won; answer with its row.
        session.rollback()
        earlier = _existing_participation(session, client_id, idempotency_key or "")
        if earlier is None:
            raise
        company = find_company(session, business_number)
        return _replay_participation(session, earlier, company, member, service, site,
                                     occurred_on)
    audit.record(session, "service.recorded", member_id=member_id, client_id=client_id, ip=ip,
                 business_number=company.business_number, service=service, site=site,
                 date=occurred_on.isoformat())
    view = _participation_view(session, row, company.business_number)
    session.commit()
    return view, False


def _replay_participation(session: DbSession, earlier: ServiceParticipation, company: Company,
                          member: str | None, service: str, site: str,
                          occurred_on: dt.date) -> tuple[ParticipationView, bool]:
    member_id = None
    if member:
        member_id = session.scalar(select(Member.id).where(Member.subject == member))
    if not _same_participation(earlier, company, member_id, service, site, occurred_on):
        raise IdempotencyConflict("this Idempotency-Key was already used for another request")
    owner = session.get(Company, earlier.company_id)
    view = _participation_view(session, earlier, owner.business_number if owner else "")
    session.rollback()
    return view, True


def participations(session: DbSession, business_number: str, *, limit: int,
                   cursor: int | None) -> Page:
    """A company's participations, newest first, `limit` at a time (keyset by id)."""
    company = find_company(session, business_number)
    query = select(ServiceParticipation).where(ServiceParticipation.company_id == company.id)
    if cursor is not None:
        query = query.where(ServiceParticipation.id < cursor)
    rows = list(session.scalars(query.order_by(ServiceParticipation.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    subjects = _subjects(session, {r.member_id for r in rows if r.member_id})
    items = [ParticipationView(r.id, company.business_number,
                               subjects.get(r.member_id) if r.member_id else None, r.service,
                               r.site, r.occurred_on, r.client_id, r.created_at) for r in rows]
    session.rollback()
    return Page(items, str(rows[-1].id) if more else None)


# -- mileage -----------------------------------------------------------------------------------

def _entry_view(session: DbSession, row: MileageEntry, business_number: str) -> EntryView:
    subject = _subjects(session, {row.member_id}).get(row.member_id) if row.member_id else None
    return EntryView(row.id, business_number, row.kind, row.amount, row.balance_after,
                     row.reason, row.service, subject, row.client_id, row.created_at)


def _fresh_view(row: MileageEntry, business_number: str, member: str | None) -> EntryView:
    """The view of an entry just written, with no query: the account row stays locked until
    the commit, so nothing more is done before it."""
    return EntryView(row.id, business_number, row.kind, row.amount, row.balance_after,
                     row.reason, row.service, member, row.client_id, row.created_at)


def _existing_entry(session: DbSession, client_id: str, key: str) -> MileageEntry | None:
    return session.scalar(select(MileageEntry).where(MileageEntry.client_id == client_id,
                                                     MileageEntry.idempotency_key == key))


def _replay_entry(session: DbSession, earlier: MileageEntry,
                  fingerprint: str) -> tuple[EntryView, bool]:
    if earlier.request_hash != fingerprint:
        session.rollback()
        raise IdempotencyConflict("this Idempotency-Key was already used for another request")
    owner = session.get(Company, earlier.company_id)
    view = _entry_view(session, earlier, owner.business_number if owner else "")
    session.rollback()
    return view, True


def _ensure_account(session: DbSession, company_id: int) -> None:
    """The company's account row, created at zero if missing (a no-op when it exists)."""
    dialect = session.get_bind().dialect.name
    values = {"company_id": company_id, "balance": 0, "updated_at": _now()}
    statement: Any
    if dialect == "postgresql":
        statement = postgresql.insert(_accounts).values(values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        statement = sqlite.insert(_accounts).values(values).on_conflict_do_nothing()
    else:  # pragma: no cover - the two supported databases
        if session.get(MileageAccount, company_id) is not None:
            return
        statement = insert(_accounts).values(values)
    session.execute(statement)


def _append(session: DbSession, *, company: Company, member_id: int | None, kind: str,
            amount: int, balance_after: int, reason: str, service: str | None, client_id: str,
            idempotency_key: str, fingerprint: str) -> MileageEntry | None:
    """Insert the ledger entry; None when a concurrent request with the same key won."""
    row = MileageEntry(company_id=company.id, member_id=member_id, kind=kind, amount=amount,
                       balance_after=balance_after, reason=reason, service=service,
                       client_id=client_id, idempotency_key=idempotency_key,
                       request_hash=fingerprint, created_at=_now())
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        return None
    return row


def earn(
    session: DbSession, *, client_id: str, business_number: str, amount: int, reason: str,
    service: str, idempotency_key: str, ip: str | None = None,
) -> tuple[EntryView, bool]:
    """Add `amount` to the company's mileage (an `earn` entry); returns (entry, replayed)."""
    company = _active(find_company(session, business_number))
    fingerprint = request_fingerprint({"op": "earn", "company": company.business_number,
                                       "amount": amount, "reason": reason, "service": service})
    earlier = _existing_entry(session, client_id, idempotency_key)
    if earlier is not None:
        return _replay_entry(session, earlier, fingerprint)
    _ensure_account(session, company.id)
    balance = session.execute(
        update(_accounts).where(_accounts.c.company_id == company.id)
        .values(balance=_accounts.c.balance + amount, updated_at=_now())
        .returning(_accounts.c.balance)).scalar_one()
    row = _append(session, company=company, member_id=None, kind="earn", amount=amount,
                  balance_after=balance, reason=reason, service=service, client_id=client_id,
                  idempotency_key=idempotency_key, fingerprint=fingerprint)
    if row is None:
        return _lost_race(session, client_id, idempotency_key, fingerprint)
    audit.record(session, "mileage.earned", client_id=client_id, ip=ip,
                 business_number=company.business_number, amount=amount, balance=balance,
                 service=service, entry_id=row.id)
    view = _fresh_view(row, company.business_number, None)
    session.commit()
    return view, False


def use(
    session: DbSession, *, client_id: str, business_number: str, member: str, amount: int,
    reason: str, service: str | None, idempotency_key: str, matrix: EntitlementMatrix,
    ip: str | None = None,
) -> tuple[EntryView, bool]:
    """Take `amount` from the company's mileage in the member's name (a `use` entry).

    The member must hold the mileage entitlement now (SPEC §2: a general member affiliated to
    this company by certificate); the balance never goes below zero.
    """
    company = _active(find_company(session, business_number))
    fingerprint = request_fingerprint({"op": "use", "company": company.business_number,
                                       "member": member, "amount": amount, "reason": reason,
                                       "service": service})
    earlier = _existing_entry(session, client_id, idempotency_key)
    if earlier is not None:
        return _replay_entry(session, earlier, fingerprint)
    refusal: dict[str, Any] = {"client_id": client_id, "ip": ip,
                               "business_number": company.business_number, "amount": amount}
    try:
        view = _affiliated_member(session, company, member)
        member_id = view.id
        if MILEAGE_ENTITLEMENT not in matrix.for_member(view):
            raise MemberNotEntitled(
                f"member {member!r} does not hold the {MILEAGE_ENTITLEMENT} entitlement "
                "(SPEC §2: only members affiliated to the company by certificate may use its "
                "mileage)")
    except MileageError as exc:
        _refuse(session, refusal, exc.code, None)
        raise
    balance = session.execute(
        update(_accounts)
        .where(_accounts.c.company_id == company.id, _accounts.c.balance >= amount)
        .values(balance=_accounts.c.balance - amount, updated_at=_now())
        .returning(_accounts.c.balance)).scalar_one_or_none()
    if balance is None:
        current = session.scalar(select(MileageAccount.balance).where(
            MileageAccount.company_id == company.id)) or 0
        _refuse(session, refusal, "insufficient-balance", member_id)
        raise InsufficientBalance(
            f"the company's balance ({current}) is less than the amount ({amount})", current)
    row = _append(session, company=company, member_id=member_id, kind="use", amount=amount,
                  balance_after=balance, reason=reason, service=service, client_id=client_id,
                  idempotency_key=idempotency_key, fingerprint=fingerprint)
    if row is None:
        return _lost_race(session, client_id, idempotency_key, fingerprint)
    audit.record(session, "mileage.used", member_id=member_id, client_id=client_id, ip=ip,
                 business_number=company.business_number, amount=amount, balance=balance,
                 entry_id=row.id)
    result = _fresh_view(row, company.business_number, member)
    session.commit()
    return result, False


def _refuse(session: DbSession, detail: dict[str, Any], reason: str,
            member_id: int | None) -> None:
    session.rollback()
    audit.record(session, "mileage.refused", member_id=member_id, reason=reason, **detail)
    session.commit()


def _lost_race(session: DbSession, client_id: str, key: str,
               fingerprint: str) -> tuple[EntryView, bool]:
    earlier = _existing_entry(session, client_id, key)
    if earlier is None:  # pragma: no cover - the unique key is the only constraint left
        raise IdempotencyConflict("the request conflicted with another; retry it")
    return _replay_entry(session, earlier, fingerprint)


def balance_of(session: DbSession, business_number: str) -> Balance:
    company = find_company(session, business_number)
    account = session.get(MileageAccount, company.id)
    result = Balance(company.business_number, company.name, account.balance if account else 0,
                     account.updated_at if account else None)
    session.rollback()
    return result


def history(session: DbSession, business_number: str, *, limit: int,
            cursor: int | None) -> Page:
    """A company's ledger, newest first, `limit` entries at a time (keyset by id)."""
    company = find_company(session, business_number)
    query = select(MileageEntry).where(MileageEntry.company_id == company.id)
    if cursor is not None:
        query = query.where(MileageEntry.id < cursor)
    rows = list(session.scalars(query.order_by(MileageEntry.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    subjects = _subjects(session, {r.member_id for r in rows if r.member_id})
    items = [EntryView(r.id, company.business_number, r.kind, r.amount, r.balance_after,
                       r.reason, r.service, subjects.get(r.member_id) if r.member_id else None,
                       r.client_id, r.created_at) for r in rows]
    session.rollback()
    return Page(items, str(rows[-1].id) if more else None)


# -- relying parties' access ------------------------------------------------------------------

def allow_api_access(session: DbSession, client_id: str, scopes: list[str]) -> list[str]:
    """Let a confidential client use client_credentials with these API scopes (added to what it
    may already ask for); returns its API scopes, or raises InvalidInput."""
    from idp.errors import InvalidInput
    from idp.models import OAuthClient

    unknown = set(scopes) - set(API_SCOPES)
    if not scopes or unknown:
        raise InvalidInput("scope", f"choose from {', '.join(API_SCOPES)}")
    client = session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))
    if client is None:
        raise InvalidInput("client_id", f"no client has the client_id {client_id!r}")
    if client.token_endpoint_auth_method == "none":
        # RFC 6749 §4.4: client_credentials is for confidential clients only.
        raise InvalidInput("client_id", "a public client cannot use client_credentials")
    if "client_credentials" not in client.grant_types:
        client.grant_types = [*client.grant_types, "client_credentials"]
    current = client.scope.split()
    client.scope = " ".join([*current, *(s for s in scopes if s not in current)])
    audit.record(session, "client.api_access_allowed", client_id=client_id,
                 api_scopes=sorted(scopes))
    return [s for s in client.scope.split() if s in API_SCOPES]
