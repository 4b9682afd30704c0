"""Test data for the operator console (issue 7): operators, pending company requests with a
sealed document, TOTP codes at a given time."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pyotp

from idp.extensions import db
from idp.models import Company, CompanyRequest, Member
from idp.services.companies import create_manager
from idp.services.operators import add_operator
from idp.services.uploads import seal_upload
from tests.helpers import form_fields

OPERATOR_PASSWORD = "Op3rator!desk"
# The smallest valid PNG: one transparent pixel (shown as the 사업자등록증 in tests).
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@dataclass
class TestOperator:
    login_id: str
    password: str
    secret: str
    otpauth_uri: str

    __test__ = False

    def code(self, at: float) -> str:
        return pyotp.TOTP(self.secret).at(int(at))


def make_operator(app: Any, login_id: str = "operator01", name: str = "운영자") -> TestOperator:
    with app.app_context():
        p = app.extensions["idp"]
        enrolment = add_operator(db.session, p.passwords, p.policy, p.personal_data,
                                 login_id=login_id, name=name, password=OPERATOR_PASSWORD)
        db.session.commit()
    return TestOperator(enrolment.login_id, OPERATOR_PASSWORD, enrolment.secret,
                        enrolment.otpauth_uri)


def _upload(app: Any, content: bytes, content_type: str, filename: str,
            member_id: int | None) -> int:
    p = app.extensions["idp"]
    # as given (a test may store a type the registration would refuse, to see it downloaded)
    upload = seal_upload(db.session, p.personal_data, content, content_type=content_type,
                         filename=filename, member_id=member_id)
    return upload.id


def pending_registration(app: Any, *, business_number: str = "1248100998",
                         name: str = "(주)새로운무역", applicant: str = "member01",
                         document: bytes = PNG, content_type: str = "image/png",
                         filename: str = "사업자등록증.png") -> int:
    """A new company waiting for review: company (pending) + manager + request + upload."""
    with app.app_context():
        p = app.extensions["idp"]
        member = db.session.query(Member).filter_by(login_id=applicant).one()
        company = Company(business_number=business_number, name=name, name_en="New Trade Co.",
                          status="pending", ceo_name="김대표", ceo_name_en="KIM DAEPYO",
                          profile={"company_type": "small", "classification": "corporation",
                                   "trade_kind": "trading", "main_product": "화장품",
                                   "venture": True, "address": "서울특별시 서초구 헌릉로 13",
                                   "phone": "02-3460-7114", "email": "ceo@newtrade.example"})
        db.session.add(company)
        db.session.flush()
        create_manager(db.session, company, p.passwords.hash("Company!pass9"))
        upload_id = _upload(app, document, content_type, filename, member.id)
        req = CompanyRequest(kind="registration", company_id=company.id, member_id=member.id,
                             document_id=upload_id, data={"source": "new_company_form"},
                             status="pending")
        db.session.add(req)
        db.session.commit()
        return req.id


def name_change_request(app: Any, *, business_number: str = "6638501035",
                        old: str = "(주)한국이디에스", new: str = "(주)한국이디에스글로벌",
                        new_en: str = "KOREA EDS GLOBAL", company_email: str | None =
                        "info@koreaeds.example", manager_email: str | None =
                        "manager@koreaeds.example") -> int:
    """An active company whose manager asked for a new name."""
    with app.app_context():
        p = app.extensions["idp"]
        company = Company(business_number=business_number, name=old, name_en="KOREA EDS",
                          status="active",
                          profile={"email": company_email} if company_email else {})
        db.session.add(company)
        db.session.flush()
        manager = create_manager(db.session, company, p.passwords.hash("Company!pass9"))
        manager.email = manager_email
        req = CompanyRequest(kind="name_change", company_id=company.id, member_id=None,
                             data={"name": new, "name_en": new_en,
                                   "previous": {"name": old, "name_en": "KOREA EDS"}},
                             status="pending")
        db.session.add(req)
        db.session.commit()
        return req.id


# --- signing in through the pages ------------------------------------------------------


def csrf_of(client: Any, path: str = "/operator/login") -> str:
    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match, html[:500]
    return match.group(1)


def password_step(client: Any, login_id: str, password: str) -> Any:
    return client.post("/operator/login", data={"csrf_token": csrf_of(client),
                                                "login_id": login_id, "password": password})


def otp_step(client: Any, location: str, code: str) -> Any:
    page = client.get(location)
    assert page.status_code == 200, page.get_data(as_text=True)[:300]
    action, hidden = form_fields(page.get_data(as_text=True))
    return client.post(action, data={**hidden, "code": code})


def sign_in(client: Any, op: TestOperator, clock: Any, *, code: str | None = None) -> Any:
    first = password_step(client, op.login_id, op.password)
    assert first.status_code == 303, first.get_data(as_text=True)[:500]
    return otp_step(client, first.headers["Location"], code or op.code(clock.now()))
