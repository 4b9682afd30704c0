"""Puts a company with its manager, an employee and some history into the browser tests'
provider database, and marks a manager's sessions as freshly certified (what the 인증서찾기
widget leaves behind, for the pages' certified state). Run in the provider's environment:

    python -m tests.browser.company_seed seed BUSINESS_NUMBER PASSWORD EMPLOYEE_ID EMP_PASSWORD
    python -m tests.browser.company_seed certify BUSINESS_NUMBER

Prints one JSON line.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Any

from sqlalchemy import select

from idp import create_app
from idp.extensions import db
from idp.models import (
    AffiliationMethod,
    Company,
    CompanyNotice,
    MileageAccount,
    MileageEntry,
    ServiceParticipation,
)
from idp.services.companies import create_manager, manager_of
from idp.services.company_console import CertificateFreshness
from idp.services.members import add_member, affiliate


def seed(p: Any, business_number: str, password: str, employee_id: str,
         employee_password: str) -> dict[str, object]:
    company = Company(business_number=business_number, name="(주)콘솔무역",
                      name_en="Console Trading Co., Ltd.", ceo_name="박대표",
                      ceo_name_en="Park Daepyo",
                      profile={"company_type": "small", "classification": "corporation",
                               "trade_kind": "trading", "main_product": "화장품",
                               "phone": "02-3460-7114", "email": "trade@example.com"},
                      approval_password_hash=p.passwords.hash("739102"))
    db.session.add(company)
    db.session.flush()
    manager = create_manager(db.session, company, p.passwords.hash(password))
    employee = add_member(db.session, p.passwords, p.policy, login_id=employee_id,
                          name="한직원", email=f"{employee_id}@example.com",
                          password=employee_password, phone="010-2222-3333")
    affiliate(db.session, employee, company, AffiliationMethod.APPROVAL_PASSWORD)
    db.session.add(ServiceParticipation(
        company_id=company.id, member_id=employee.id, service="해외 수출상담회",
        client_id="demo-site-1", site="KOTRA 데모 사이트 1", occurred_on=dt.date(2026, 11, 3)))
    db.session.add(MileageAccount(company_id=company.id, balance=7000))
    for i, (kind, amount, after, reason) in enumerate([
            ("earn", 10000, 10000, "해외전시회 참가"), ("use", 3000, 7000, "통번역 지원")]):
        db.session.add(MileageEntry(company_id=company.id, kind=kind, amount=amount,
                                    balance_after=after, reason=reason,
                                    client_id="demo-site-1", idempotency_key=f"seed-{i}",
                                    request_hash="0" * 64))
    db.session.add(CompanyNotice(company_id=company.id, kind="approval_password_locked",
                                 data={}))
    db.session.commit()
    return {"company_id": company.id, "manager_id": manager.id}


def certify(p: Any, business_number: str) -> dict[str, object]:
    company = db.session.scalar(select(Company).where(
        Company.business_number == business_number))
    assert company is not None
    manager = manager_of(db.session, company)
    assert manager is not None
    fresh = CertificateFreshness(p.store, p.clock,
                                 int(p.settings["company_console"]["certificate_seconds"]))
    sids = [s.sid for s in p.sessions.for_member(manager.id)]
    for sid in sids:
        fresh.mark(sid, business_number)
    db.session.commit()
    return {"sessions": len(sids)}


def main(argv: list[str]) -> None:
    app = create_app()
    with app.app_context():
        p = app.extensions["idp"]
        if argv[0] == "seed":
            out = seed(p, *argv[1:5])
        else:
            out = certify(p, argv[1])
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
