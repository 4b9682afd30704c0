"""What a business number leads to when someone starts from it (SPEC §3.4, issue 7).

The registration page (기업정보 등록) and anything else that starts from a 사업자등록번호 call
`lookup_business` once and branch on `Lookup.outcome`; the order of the checks is SPEC §3.4's:
our own companies first, then the tax office's status (국세청 사업자등록 상태조회), then KOTRA's
company directory.
"""

from __future__ import annotations

from dataclasses import dataclass

from idp.models import Company
from idp.models.base import DbSession
from idp.services.business_numbers import normalise_business_number
from idp.services.companies import find_company
from idp.services.ports import (
    BusinessRegistry,
    BusinessRegistryUnavailable,
    BusinessStatus,
    CompanyDirectory,
    DirectoryRecord,
)

# Every outcome, in the order SPEC §3.4 checks them.
OUTCOMES = ("registered", "pending", "closed", "suspended", "unavailable", "directory",
            "not_found")


@dataclass(frozen=True)
class Lookup:
    """The answer of `lookup_business`; see its docstring for what each outcome carries."""

    outcome: str  # one of OUTCOMES
    business_number: str  # 10 digits, normalised
    company: Company | None = None  # "registered", "pending"
    status: BusinessStatus | None = None  # the tax office's answer, whenever it gave one
    record: DirectoryRecord | None = None  # "directory"


def lookup_business(session: DbSession, registry: BusinessRegistry | None,
                    directory: CompanyDirectory, business_number: str) -> Lookup:
    """Where a business number leads (SPEC §3.4), as one of OUTCOMES:

    1. "registered": a company with status active has this number → `company` is it; the page
       says "존재하는 기업회원입니다. 로그인해주세요." and offers the company-manager login.
       The tax office is not asked.
    2. "pending": a company with this number waits for an operator's review (status pending)
       → `company` is it; it can be neither registered again nor joined. A rejected company
       does not count: its number may be registered again.
    3. Otherwise the tax office is asked (`registry.status`):
       - "closed" (03 폐업자; `status.closed_on` is end_dt when given) and "suspended"
         (02 휴업자) → refused with the manual's message;
       - "unavailable": the tax office did not answer, answered an error or refused our key
         (BusinessRegistryUnavailable), or no registry is configured (`registry` None) →
         "잠시 후 다시 시도해 주세요"; never treated as "not registered".
       - 01 계속사업자 and "국세청에 등록되지 않은 사업자등록번호" go on to the directory with
         `status` attached; `status.state == "unregistered"` lets the page warn or refuse a
         number the tax office does not know (SPEC §3.4 does not name this case).
    4. "directory": KOTRA's company directory has a record → `record` autofills the form; the
       next step is the corporate certificate for this number.
    5. "not_found": none of the above → the new-company form with the 사업자등록증 upload,
       waiting for an operator.

    `business_number` may carry dashes; a malformed one (length, digits, check digit) raises
    `idp.services.business_numbers.InvalidNumber` before anything is asked. Reads only: the
    caller owns the transaction (the registry's cache may write to the store).
    """
    number = normalise_business_number(business_number)
    company = find_company(session, number)
    if company is not None:
        if company.status == "active":
            return Lookup("registered", number, company=company)
        if company.status == "pending":
            return Lookup("pending", number, company=company)
    if registry is None:
        return Lookup("unavailable", number)
    try:
        status = registry.status([number]).get(number)
    except BusinessRegistryUnavailable:
        return Lookup("unavailable", number)
    if status is None:  # the port promises every number; a broken adapter is an outage
        return Lookup("unavailable", number)
    if status.state in ("closed", "suspended"):
        return Lookup(status.state, number, status=status)
    record = directory.find(number)
    if record is not None:
        return Lookup("directory", number, status=status, record=record)
    return Lookup("not_found", number, status=status)
