"""The registration service without the web layer (idp/services/company_register.py): the
lookup over the ports (company_lookup), the flow's steps and the two passwords."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

from idp.adapters.clock import FakeClock
from idp.errors import InvalidInput
from idp.extensions import db
from idp.models import Company
from idp.services import company_register as service
from idp.services.flows import Flows
from idp.services.passwords import PasswordPolicy
from idp.services.ports import (
    BusinessRegistryUnavailable,
    BusinessStatus,
    DirectoryRecord,
)
from idp.stores import MemoryStore
from tests.helpers import certified_company

KOTRA = "1208200275"
OTHER = "1234567891"
RECORD = DirectoryRecord(business_number=KOTRA, name_ko="대한무역투자진흥공사", ceo_ko="유정열")


class Registry:
    def __init__(self, state: str | None = None, down: bool = False) -> None:
        self.state, self.down, self.asked = state, down, []

    def status(self, numbers: list[str]) -> dict[str, BusinessStatus]:
        self.asked.extend(numbers)
        if self.down:
            raise BusinessRegistryUnavailable("timeout")
        return {n: BusinessStatus(n, self.state or "active") for n in numbers}


class Directory:
    def find(self, number: str) -> DirectoryRecord | None:
        return RECORD if number == KOTRA else None


@pytest.fixture()
def session(app: Any) -> Any:
    with app.app_context():
        yield db.session


@pytest.fixture()
def flows() -> Flows:
    return Flows(MemoryStore(), FakeClock())


def test_the_lookup_answers_from_the_ports(session):
    assert service.lookup(session, Registry(), Directory(), KOTRA).outcome == "directory"
    assert service.lookup(session, Registry(), Directory(), KOTRA).record == RECORD
    assert service.lookup(session, Registry(), Directory(), OTHER).outcome == "not_found"
    # A number the tax office does not know cannot apply as a new company...
    assert service.lookup(session, Registry("unregistered"), Directory(),
                          OTHER).outcome == "unregistered"
    # ...but the directory's record still leads to the certificate, which proves the number.
    assert service.lookup(session, Registry("unregistered"), Directory(),
                          KOTRA).outcome == "directory"
    assert service.lookup(session, Registry("closed"), Directory(), KOTRA).outcome == "closed"
    assert service.lookup(session, Registry("suspended"), Directory(),
                          OTHER).outcome == "suspended"
    assert service.lookup(session, Registry(down=True), Directory(),
                          KOTRA).outcome == "unavailable"
    assert service.lookup(session, None, Directory(), KOTRA).outcome == "unavailable"
    session.add(Company(business_number=KOTRA, name="x"))
    session.add(Company(business_number=OTHER, name="y", status="pending"))
    session.flush()
    registry = Registry(down=True)
    assert service.lookup(session, registry, Directory(), KOTRA).outcome == "registered"
    assert service.lookup(session, registry, Directory(), OTHER).outcome == "pending"
    assert registry.asked == []  # a registered company is not asked about


def test_an_unknown_outcome_is_unavailable(session, flows, monkeypatch):
    monkeypatch.setattr(service, "lookup", lambda *a: service.Found("odd", KOTRA))
    flow = service.begin(flows, browser="b", ia=None)
    service.agree_terms(session, flows, flow, {})
    assert service.look_up(session, flows, flow, None, None, KOTRA).outcome == "unavailable"
    assert service.at(flow) == service.NUMBER


def test_the_steps_in_order(session, flows, monkeypatch):
    monkeypatch.setattr(service, "lookup", lambda s, r, d, n: service.Found(
        "directory" if n == KOTRA else "closed", n, RECORD if n == KOTRA else None))
    flow = service.begin(flows, browser="b", ia=None)
    with pytest.raises(service.StepMissing):
        service.look_up(session, flows, flow, None, None, KOTRA)
    service.agree_terms(session, flows, flow, {})
    with pytest.raises(InvalidInput):
        service.look_up(session, flows, flow, None, None, "1208200276")
    with pytest.raises(service.StepMissing):
        service.certified(flows, flow, certified_company(KOTRA))
    assert service.look_up(session, flows, flow, None, None, OTHER).outcome == "closed"
    assert service.at(flow) == service.NUMBER and flow.data["business_number"] is None
    service.look_up(session, flows, flow, None, None, "120-82-00275")
    assert service.at(flow) == service.FOUND and service.record_of(flow) == RECORD
    with pytest.raises(service.CertificateMismatch):
        service.certified(flows, flow, certified_company(OTHER))
    service.certified(flows, flow, certified_company(KOTRA))
    assert service.at(flow) == service.FORM
    service.back_to_number(flows, flow)
    assert service.at(flow) == service.NUMBER and flow.data["certified"] is None
    # Another browser never sees it.
    with pytest.raises(service.RegisterGone):
        service.load(flows, flow.id, "another")


def test_check_secrets(app):
    passwords, policy = app.extensions["idp"].passwords, PasswordPolicy()

    def check(**kw: str) -> Any:
        args = {"business_number": KOTRA, "password": "Company!pass2026",
                "password_confirm": "Company!pass2026", "approval": "482915",
                "approval_confirm": "482915", **kw}
        return service.check_secrets(passwords, policy, **args)

    hashes = check()
    assert passwords.verify(hashes.password_hash, "Company!pass2026")
    assert passwords.verify(hashes.approval_hash, "482915")
    for kw, errors in (
        ({"password": "", "password_confirm": ""}, {"password": "required"}),
        ({"password": "Co!" + KOTRA, "password_confirm": "Co!" + KOTRA}, {"password"}),
        ({"password_confirm": "x"}, {"password_confirm": "mismatch"}),
        ({"approval": "", "approval_confirm": ""}, {"approval_password": "required"}),
        ({"approval": "654321", "approval_confirm": "654321"},
         {"approval_password": "trivial"}),
        ({"approval": "12345", "approval_confirm": "12345"}, {"approval_password": "format"}),
        ({"approval_confirm": "482916"}, {"approval_password_confirm": "mismatch"}),
    ):
        with pytest.raises(service.InfoErrors) as caught:
            check(**kw)
        if isinstance(errors, dict):
            assert caught.value.errors == errors
        else:
            assert set(caught.value.errors) == errors


def test_a_registry_error_from_the_registries_module_is_unavailable(session, monkeypatch):
    def lookup_business(*a: Any) -> Any:
        raise BusinessRegistryUnavailable("502")

    module = types.ModuleType("idp.services.company_lookup")
    module.lookup_business = lookup_business  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "idp.services.company_lookup", module)
    assert service.lookup(session, None, None, KOTRA).outcome == "unavailable"
