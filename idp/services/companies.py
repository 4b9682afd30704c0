"""Registered companies and their manager principal (issue 7, SPEC §1, §3.4–3.5).

A company's manager (기업정보 관리자) signs in as a member of type `company_manager` whose
`managed_company_id` is the company: that row is the principal relying parties see (its own
`sub`, member type company_manager, the company in `kotra_company`), and its password hash is
the company login password. One manager principal per company.
"""

from __future__ import annotations

from sqlalchemy import select

from idp.models import Company, Member, MemberType
from idp.models.base import DbSession
from idp.services.members import new_subject


def find_company(session: DbSession, business_number: str) -> Company | None:
    return session.scalar(select(Company).where(Company.business_number == business_number))


def manager_of(session: DbSession, company: Company) -> Member | None:
    return session.scalar(select(Member).where(
        Member.managed_company_id == company.id,
        Member.member_type == MemberType.COMPANY_MANAGER))


def create_manager(session: DbSession, company: Company, password_hash: str | None) -> Member:
    """The company's manager principal (no login ID: it signs in with the business number)."""
    manager = Member(subject=new_subject(), member_type=MemberType.COMPANY_MANAGER,
                     login_id=None, name=company.name, password_hash=password_hash,
                     managed_company_id=company.id)
    session.add(manager)
    session.flush()
    return manager
