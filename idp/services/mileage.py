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

Idempotency (draft-ietf-httpapi-idempotency-key-header): the first answer to a client's key —
the resource created, or the refusal (404, 409, 422) — is stored (`api_idempotency_keys`) in
the transaction of the change it answers. The same client sending the same key with the same
request gets that answer again (`replayed`); with another request behind the key it gets
IdempotencyConflict. Two concurrent requests with one key both try to insert; the unique
(client_id, idempotency_key) lets one win, the other rolls back (its balance change with it)
and answers with the winner's answer.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from idp.errors import IdpError
from idp.models import Company, Member
from idp.models.api import IdempotencyRecord
from idp.models.base import DbSession, utcnow
from idp.models.companies import MileageAccount, MileageEntry, ServiceParticipation
from idp.models.members import CompanyStatus
from idp.models.readmodels import MemberView, load_member, load_token
from idp.models.tokens import token_hash
from idp.services import audit
from idp.services.business_numbers import InvalidNumber, normalise_business_number
from idp.services.claims import ACR_CERTIFICATE, EntitlementMatrix

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
# The per-client daily earning cap counts a calendar day in Korea (KST, UTC+9, no DST).
KST = dt.timezone(dt.timedelta(hours=9))

_accounts = cast(Table, MileageAccount.__table__)


class MileageError(IdpError):
    """A request the service refuses; `code` names the problem type, `status` its HTTP
    status (RFC 9457 problem details at the API)."""

    code = "invalid-request"
    status = 422
    # Whether the refusal is the stored (replayed) answer to its Idempotency-Key. Refusals
    # that depend on the moment (the member's token, a daily cap) are not: a retry with the
    # same key is judged again.
    stored = True

    def __init__(self, detail: str, *, member_id: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.member_id = member_id

    def problem(self) -> dict[str, Any]:
        return {"code": self.code, "detail": self.detail}


class CompanyNotFound(MileageError):
    code = "company-not-found"
    status = 404


class CompanyNotActive(MileageError):
    code = "company-not-active"
    status = 409


class MemberNotFound(MileageError):
    code = "member-not-found"


class MemberNotAffiliated(MileageError):
    code = "member-not-affiliated"


class MemberNotEntitled(MileageError):
    code = "member-not-entitled"


class InsufficientBalance(MileageError):
    code = "insufficient-balance"
    status = 409

    def __init__(self, detail: str, balance: int, *, member_id: int | None = None) -> None:
        super().__init__(detail, member_id=member_id)
        self.balance = balance

    def problem(self) -> dict[str, Any]:
        return {**super().problem(), "balance": self.balance}


class MemberTokenRefused(MileageError):
    """The use's proof that the member is here, at certificate level, is missing or wrong
    (403; never stored with the key)."""

    code = "member-token-invalid"
    status = 403
    stored = False


class MemberTokenInvalid(MemberTokenRefused):
    code = "member-token-invalid"


class MemberTokenOtherClient(MemberTokenRefused):
    code = "member-token-other-client"


class MemberTokenOtherMember(MemberTokenRefused):
    code = "member-token-other-member"


class StepUpRequired(MemberTokenRefused):
    code = "step-up-required"


class EarnAmountOverLimit(MileageError):
    code = "earn-amount-over-limit"
    stored = False

    def __init__(self, detail: str, limit: int) -> None:
        super().__init__(detail)
        self.limit = limit

    def problem(self) -> dict[str, Any]:
        return {**super().problem(), "limit": self.limit}


class EarnDailyLimitReached(MileageError):
    code = "earn-daily-limit-reached"
    status = 429
    stored = False

    def __init__(self, detail: str, limit: int, retry_after: int) -> None:
        super().__init__(detail)
        self.limit = limit
        self.retry_after = retry_after

    def problem(self) -> dict[str, Any]:
        return {**super().problem(), "limit": self.limit}


class IdempotencyConflict(MileageError):
    code = "idempotency-key-reused"


class KeyInFlight(MileageError):
    """A concurrent request with the same key failed without an answer: retry."""

    code = "idempotency-key-in-flight"
    status = 409


@dataclass(frozen=True)
class Answer:
    """What the API answers: the resource (201) or a refusal's problem (`code`, `detail`, ...),
    and whether it is the stored answer to an earlier request with the same key."""

    status: int
    body: dict[str, Any]
    replayed: bool = False
    # Response headers of a refusal that is not stored (Retry-After of a daily cap).
    headers: dict[str, str] = field(default_factory=dict)


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


# -- idempotency -------------------------------------------------------------------------------

def _business_number_key(business_number: str) -> str:
    try:
        return normalise_business_number(business_number)
    except InvalidNumber:
        return business_number


def _record(session: DbSession, client_id: str, key: str) -> IdempotencyRecord | None:
    return session.scalar(select(IdempotencyRecord).where(
        IdempotencyRecord.client_id == client_id, IdempotencyRecord.idempotency_key == key))


def _replay(session: DbSession, earlier: IdempotencyRecord, operation: str,
            fingerprint: str) -> Answer:
    answer = Answer(earlier.status, dict(earlier.response), True)
    same = (earlier.operation, earlier.request_hash) == (operation, fingerprint)
    session.rollback()
    if not same:
        raise IdempotencyConflict("this Idempotency-Key was already used for another request")
    return answer


def _after_race(session: DbSession, client_id: str, key: str | None, operation: str,
                fingerprint: str) -> Answer:
    """A concurrent request with the same key committed first: its answer is ours."""
    session.rollback()
    earlier = _record(session, client_id, key) if key is not None else None
    if earlier is None:
        session.rollback()
        raise KeyInFlight("a concurrent request with this Idempotency-Key did not finish; "
                          "retry it")
    return _replay(session, earlier, operation, fingerprint)


def _answer(session: DbSession, *, client_id: str, key: str | None, operation: str,
            fingerprint: str, work: Callable[[], dict[str, Any]],
            on_refusal: Callable[[MileageError], None] | None = None) -> Answer:
    """Run `work` (which adds the change and returns the resource) once per key, and store its
    answer — or the refusal it raised — with the key, in the same transaction."""
    if key is not None:
        earlier = _record(session, client_id, key)
        if earlier is not None:
            return _replay(session, earlier, operation, fingerprint)
    try:
        status, body = 201, work()
    except MileageError as exc:
        session.rollback()
        status, body = exc.status, exc.problem()
        if on_refusal is not None:
            on_refusal(exc)
        if not exc.stored:
            session.commit()  # the audit event only
            return Answer(status, body, headers=_refusal_headers(exc))
    except IntegrityError:  # the ledger's or participations' own unique key
        return _after_race(session, client_id, key, operation, fingerprint)
    if key is not None:
        session.add(IdempotencyRecord(client_id=client_id, idempotency_key=key,
                                      operation=operation, request_hash=fingerprint,
                                      status=status, response=body, created_at=_now()))
        try:
            session.flush()
        except IntegrityError:
            return _after_race(session, client_id, key, operation, fingerprint)
    session.commit()
    return Answer(status, body)


def _refusal_headers(exc: MileageError) -> dict[str, str]:
    if isinstance(exc, EarnDailyLimitReached):
        return {"Retry-After": str(exc.retry_after)}  # RFC 9110 §10.2.3
    return {}


def _refuse_now(session: DbSession, exc: MileageError,
                on_refusal: Callable[[MileageError], None]) -> Answer:
    """A refusal decided before the key is looked at: audited, not stored."""
    session.rollback()
    on_refusal(exc)
    session.commit()
    return Answer(exc.status, exc.problem(), headers=_refusal_headers(exc))


# -- participations ----------------------------------------------------------------------------

def record_participation(
    session: DbSession, *, client_id: str, business_number: str, member: str | None,
    service: str, site: str, occurred_on: dt.date, idempotency_key: str | None,
    ip: str | None = None,
) -> Answer:
    """Record that a company (and one of its members, who must be affiliated to it) took part
    in a service."""
    fingerprint = request_fingerprint({
        "company": _business_number_key(business_number), "member": member,
        "service": service, "site": site, "date": occurred_on.isoformat()})

    def work() -> dict[str, Any]:
        company = _active(find_company(session, business_number))
        member_id = _affiliated_member(session, company, member).id if member else None
        row = ServiceParticipation(company_id=company.id, member_id=member_id, service=service,
                                   client_id=client_id, site=site, occurred_on=occurred_on,
                                   idempotency_key=idempotency_key, created_at=_now())
        session.add(row)
        session.flush()
        audit.record(session, "service.recorded", member_id=member_id, client_id=client_id,
                     ip=ip, business_number=company.business_number, service=service,
                     site=site, date=occurred_on.isoformat(), participation_id=row.id)
        return ParticipationView(row.id, company.business_number, member, service, site,
                                 occurred_on, client_id, row.created_at).as_json()

    return _answer(session, client_id=client_id, key=idempotency_key,
                   operation="participation", fingerprint=fingerprint, work=work)


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

def _fresh_view(row: MileageEntry, business_number: str, member: str | None) -> EntryView:
    """The view of an entry just written, with no query: the account row stays locked until
    the commit, so nothing more is done before it."""
    return EntryView(row.id, business_number, row.kind, row.amount, row.balance_after,
                     row.reason, row.service, member, row.client_id, row.created_at)


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
            idempotency_key: str, fingerprint: str) -> MileageEntry:
    """Insert the ledger entry (IntegrityError when a concurrent request with the same key
    wrote its entry first)."""
    row = MileageEntry(company_id=company.id, member_id=member_id, kind=kind, amount=amount,
                       balance_after=balance_after, reason=reason, service=service,
                       client_id=client_id, idempotency_key=idempotency_key,
                       request_hash=fingerprint, created_at=_now())
    session.add(row)
    session.flush()
    return row


def _refusal_audit(session: DbSession, *, operation: str, client_id: str, ip: str | None,
                   business_number: str, amount: int) -> Callable[[MileageError], None]:
    def record(exc: MileageError) -> None:
        audit.record(session, "mileage.refused", member_id=exc.member_id, client_id=client_id,
                     ip=ip, operation=operation, reason=exc.code,
                     business_number=business_number, amount=amount)
    return record


@dataclass(frozen=True)
class EarnLimits:
    """Config [api]: the most one earning may add, and the most one client may add in a
    calendar day (KST) over all companies; 0 = no cap."""

    max_per_request: int = 0
    max_per_day: int = 0


def _day_start(now: dt.datetime) -> dt.datetime:
    """00:00 KST of the day `now` (naive UTC) falls in, as naive UTC."""
    local = now.replace(tzinfo=dt.UTC).astimezone(KST)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight.astimezone(dt.UTC).replace(tzinfo=None)


def _lock_client(session: DbSession, client_id: str) -> None:
    """Serialise one client's earnings (PostgreSQL: a transaction-level advisory lock on the
    client; SQLite already holds its one write lock since _ensure_account's insert), so two
    concurrent earnings cannot both pass the daily cap."""
    if session.get_bind().dialect.name == "postgresql":
        digest = hashlib.sha256(b"kotra-earn:" + client_id.encode()).digest()
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                        {"k": int.from_bytes(digest[:8], "big", signed=True)})


def _check_daily_cap(session: DbSession, client_id: str, amount: int, limit: int) -> None:
    if not limit:
        return
    now = _now()
    start = _day_start(now)
    earned = session.scalar(select(func.coalesce(func.sum(MileageEntry.amount), 0)).where(
        MileageEntry.client_id == client_id, MileageEntry.kind == "earn",
        MileageEntry.created_at >= start)) or 0
    if earned + amount > limit:
        retry_after = max(1, int((start + dt.timedelta(days=1) - now).total_seconds()))
        raise EarnDailyLimitReached(
            f"this client has earned {earned} today (KST); with {amount} more it would pass "
            f"its daily cap of {limit}", limit, retry_after)


def earn(
    session: DbSession, *, client_id: str, business_number: str, amount: int, reason: str,
    service: str, idempotency_key: str, ip: str | None = None,
    limits: EarnLimits = EarnLimits(),
) -> Answer:
    """Add `amount` to the company's mileage (an `earn` entry), within the client's caps."""
    bn = _business_number_key(business_number)
    fingerprint = request_fingerprint({"company": bn, "amount": amount, "reason": reason,
                                       "service": service})
    on_refusal = _refusal_audit(session, operation="earn", client_id=client_id, ip=ip,
                                business_number=bn, amount=amount)
    if limits.max_per_request and amount > limits.max_per_request:
        return _refuse_now(session, EarnAmountOverLimit(
            f"one earning may add at most {limits.max_per_request}",
            limits.max_per_request), on_refusal)

    def work() -> dict[str, Any]:
        company = _active(find_company(session, business_number))
        _ensure_account(session, company.id)
        _lock_client(session, client_id)
        _check_daily_cap(session, client_id, amount, limits.max_per_day)
        balance = session.execute(
            update(_accounts).where(_accounts.c.company_id == company.id)
            .values(balance=_accounts.c.balance + amount, updated_at=_now())
            .returning(_accounts.c.balance)).scalar_one()
        row = _append(session, company=company, member_id=None, kind="earn", amount=amount,
                      balance_after=balance, reason=reason, service=service,
                      client_id=client_id, idempotency_key=idempotency_key,
                      fingerprint=fingerprint)
        audit.record(session, "mileage.earned", client_id=client_id, ip=ip,
                     business_number=company.business_number, amount=amount, balance=balance,
                     service=service, entry_id=row.id)
        return _fresh_view(row, company.business_number, None).as_json()

    return _answer(session, client_id=client_id, key=idempotency_key, operation="mileage.earn",
                   fingerprint=fingerprint, work=work, on_refusal=on_refusal)


@dataclass(frozen=True)
class StepUp:
    """What a use needs of the member's access token: certificate level (acr) and an
    authentication at most `max_age` seconds before `now` (the provider's clock)."""

    max_age: int
    now: float


def check_member_token(session: DbSession, *, raw_token: str, client_id: str, member: str,
                       step_up: StepUp) -> int:
    """The member's id if `raw_token` is a live access token this provider issued to
    `client_id` for the member `member` (their sub) after a certificate-level authentication
    within `step_up.max_age`; otherwise a MemberTokenRefused.

    The token is looked up like at userinfo and introspection (RFC 7662 §2.2 "active"): by
    its hash, not revoked, not expired. Its `auth_time` is the authentication's (OIDC Core
    §2, carried over refreshes); a token without one counts from its issue.
    """
    token = load_token(session, "access_token_hash", token_hash(raw_token))
    if token is None or token.is_expired() or token.is_revoked() or token.member_id is None:
        raise MemberTokenInvalid("member_access_token is not a live access token issued for "
                                 "a member (unknown, expired or revoked)")
    if token.client_id != client_id:
        raise MemberTokenOtherClient("member_access_token was issued to another client: send "
                                     "the token the member got at your site",
                                     member_id=token.member_id)
    subject = session.scalar(select(Member.subject).where(Member.id == token.member_id))
    if subject != member:
        raise MemberTokenOtherMember("member_access_token belongs to another member than "
                                     "`member`", member_id=token.member_id)
    if token.acr != ACR_CERTIFICATE:
        raise StepUpRequired(f"the member did not authenticate at {ACR_CERTIFICATE}: ask "
                             "again with acr_values and prompt=login (OIDC Core §3.1.2.1)",
                             member_id=token.member_id)
    authenticated = token.auth_time if token.auth_time is not None else token.issued_at
    if step_up.now - authenticated > step_up.max_age:
        raise StepUpRequired(f"the member's certificate authentication is older than "
                             f"{step_up.max_age} s: ask again with acr_values and "
                             "prompt=login (OIDC Core §3.1.2.1)", member_id=token.member_id)
    return token.member_id


def use(
    session: DbSession, *, client_id: str, business_number: str, member: str, amount: int,
    reason: str, service: str | None, idempotency_key: str, matrix: EntitlementMatrix,
    member_token: str, step_up: StepUp, ip: str | None = None,
) -> Answer:
    """Take `amount` from the company's mileage in the member's name (a `use` entry).

    `member_token` proves the member is at the calling client now: see check_member_token
    (checked on every request, replays included; its refusals are not stored with the key).
    The member must hold the mileage entitlement now (SPEC §2: a general member affiliated
    to this company by certificate); the balance never goes below zero.
    """
    bn = _business_number_key(business_number)
    # The token is not part of the request's meaning: a retry may carry a newer one.
    fingerprint = request_fingerprint({"company": bn, "member": member, "amount": amount,
                                       "reason": reason, "service": service})
    on_refusal = _refusal_audit(session, operation="use", client_id=client_id, ip=ip,
                                business_number=bn, amount=amount)
    try:
        check_member_token(session, raw_token=member_token, client_id=client_id,
                           member=member, step_up=step_up)
    except MemberTokenRefused as exc:
        return _refuse_now(session, exc, on_refusal)

    def work() -> dict[str, Any]:
        company = _active(find_company(session, business_number))
        view = _affiliated_member(session, company, member)
        if MILEAGE_ENTITLEMENT not in matrix.for_member(view):
            raise MemberNotEntitled(
                f"member {member!r} does not hold the {MILEAGE_ENTITLEMENT} entitlement "
                "(SPEC §2: only members affiliated to the company by certificate may use its "
                "mileage)", member_id=view.id)
        balance = session.execute(
            update(_accounts)
            .where(_accounts.c.company_id == company.id, _accounts.c.balance >= amount)
            .values(balance=_accounts.c.balance - amount, updated_at=_now())
            .returning(_accounts.c.balance)).scalar_one_or_none()
        if balance is None:
            current = session.scalar(select(MileageAccount.balance).where(
                MileageAccount.company_id == company.id)) or 0
            raise InsufficientBalance(
                f"the company's balance ({current}) is less than the amount ({amount})",
                current, member_id=view.id)
        row = _append(session, company=company, member_id=view.id, kind="use", amount=amount,
                      balance_after=balance, reason=reason, service=service,
                      client_id=client_id, idempotency_key=idempotency_key,
                      fingerprint=fingerprint)
        audit.record(session, "mileage.used", member_id=view.id, client_id=client_id, ip=ip,
                     business_number=company.business_number, amount=amount, balance=balance,
                     entry_id=row.id)
        return _fresh_view(row, company.business_number, member).as_json()

    return _answer(session, client_id=client_id, key=idempotency_key, operation="mileage.use",
                   fingerprint=fingerprint, work=work, on_refusal=on_refusal)


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
