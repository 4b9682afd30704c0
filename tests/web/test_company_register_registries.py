"""기업정보 등록 against the real lookup (company_lookup + the tax office emulator of testing
config + the company directory table), not the fake the flow's own tests use."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent, Company
from tests.web.test_company_register import look_up, start


def _text(resp: Any) -> str:
    return str(resp.get_data(as_text=True))


def test_a_number_the_tax_office_does_not_know_cannot_apply(app: Any, client: Any) -> None:
    fid = start(client)
    resp = look_up(client, fid, "101-86-00030")  # the emulator's 미등록 number
    assert resp.status_code == 403
    assert "국세청에 등록되지 않은 사업자등록번호입니다." in _text(resp)
    with app.app_context():
        assert db.session.scalar(select(Company).where(
            Company.business_number == "1018600030")) is None
        refused = db.session.scalars(select(AuditEvent).where(
            AuditEvent.event == "company.registration_refused")).all()
        assert [e.detail["reason"] for e in refused] == ["unregistered"]


def test_closed_and_suspended_numbers_are_refused_with_the_manuals_message(
        app: Any, client: Any) -> None:
    fid = start(client)
    resp = look_up(client, fid, "101-86-00025")  # 폐업
    assert resp.status_code == 403 and "폐업된 것으로 확인되어" in _text(resp)
    resp = look_up(client, fid, "101-86-00011")  # 휴업
    assert resp.status_code == 403 and "휴업 중인 것으로 확인되어" in _text(resp)


def test_an_active_number_outside_the_directory_goes_to_the_new_company_form(
        app: Any, client: Any) -> None:
    fid = start(client)
    resp = look_up(client, fid, "220-81-62517")
    assert resp.status_code == 303, _text(resp)[:300]
