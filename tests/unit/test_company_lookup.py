"""lookup_business (idp/services/company_lookup.py): the outcomes of SPEC §3.4 in their order,
with a fake tax office and a fake directory."""

from __future__ import annotations

import datetime as dt

import pytest

from idp.extensions import db
from idp.models import Company
from idp.services.business_numbers import InvalidNumber
from idp.services.company_lookup import OUTCOMES, lookup_business
from idp.services.ports import BusinessRegistryUnavailable, BusinessStatus, DirectoryRecord

NUMBER = "1248100998"
RECORD = DirectoryRecord(business_number=NUMBER, name_ko="(주)데모", ceo_ko="김대표")


class FakeBusinessRegistry:
    """Answers `states` (number → state); "down" raises; records what was asked."""

    def __init__(self, state: str = "active", closed_on: dt.date | None = None) -> None:
        self.state, self.closed_on = state, closed_on
        self.asked: list[list[str]] = []

    def status(self, business_numbers: list[str]) -> dict[str, BusinessStatus]:
        self.asked.append(list(business_numbers))
        if self.state == "down":
            raise BusinessRegistryUnavailable("INTERNAL_ERROR")
        return {n: BusinessStatus(n, self.state, closed_on=self.closed_on)
                for n in business_numbers}


class FakeCompanyDirectory:
    def __init__(self, *records: DirectoryRecord) -> None:
        self.records = {r.business_number: r for r in records}

    def find(self, business_number: str) -> DirectoryRecord | None:
        return self.records.get(business_number)


@pytest.fixture()
def session(app):
    with app.app_context():
        yield db.session
        db.session.rollback()


def company(session, status: str) -> Company:
    row = Company(business_number=NUMBER, name="(주)데모", status=status)
    session.add(row)
    session.flush()
    return row


@pytest.mark.parametrize("status", ["active", "pending"])
def test_our_own_company_comes_first_and_the_tax_office_is_not_asked(session, status):
    row = company(session, status)
    registry = FakeBusinessRegistry("closed")
    found = lookup_business(session, registry, FakeCompanyDirectory(RECORD), "124-81-00998")
    assert found.outcome == {"active": "registered", "pending": "pending"}[status]
    assert found.company is row and found.business_number == NUMBER
    assert registry.asked == []


@pytest.mark.parametrize("state", ["closed", "suspended"])
def test_closed_and_suspended_come_before_the_directory(session, state):
    closed_on = dt.date(2024, 6, 30) if state == "closed" else None
    found = lookup_business(session, FakeBusinessRegistry(state, closed_on),
                            FakeCompanyDirectory(RECORD), NUMBER)
    assert found.outcome == state and found.record is None
    assert found.status is not None and found.status.closed_on == closed_on


def test_a_rejected_company_does_not_block_a_new_registration(session):
    company(session, "rejected")
    found = lookup_business(session, FakeBusinessRegistry(), FakeCompanyDirectory(RECORD), NUMBER)
    assert found.outcome == "directory" and found.record == RECORD and found.company is None


def test_an_active_business_in_the_directory(session):
    registry = FakeBusinessRegistry()
    found = lookup_business(session, registry, FakeCompanyDirectory(RECORD), NUMBER)
    assert found.outcome == "directory" and found.record == RECORD
    assert found.status is not None and found.status.state == "active"
    assert registry.asked == [[NUMBER]]


@pytest.mark.parametrize("state", ["active", "unregistered"])
def test_nowhere_is_not_found_with_the_tax_offices_answer(session, state):
    found = lookup_business(session, FakeBusinessRegistry(state), FakeCompanyDirectory(), NUMBER)
    assert found.outcome == "not_found" and found.status is not None
    assert found.status.state == state


def test_the_tax_office_down_is_unavailable_never_not_found(session):
    found = lookup_business(session, FakeBusinessRegistry("down"),
                            FakeCompanyDirectory(RECORD), NUMBER)
    assert found.outcome == "unavailable" and found.record is None


def test_no_registry_configured_is_unavailable(session):
    assert lookup_business(session, None, FakeCompanyDirectory(), NUMBER).outcome == "unavailable"


def test_a_registry_that_forgets_a_number_is_unavailable(session):
    class Forgetful(FakeBusinessRegistry):
        def status(self, business_numbers):
            return {}

    assert lookup_business(session, Forgetful(), FakeCompanyDirectory(),
                           NUMBER).outcome == "unavailable"


@pytest.mark.parametrize("number", ["1234567890", "12345", "", "124-81-0099A"])
def test_a_malformed_number_is_refused_before_anything_is_asked(session, number):
    registry = FakeBusinessRegistry()
    with pytest.raises(InvalidNumber):
        lookup_business(session, registry, FakeCompanyDirectory(), number)
    assert registry.asked == []


def test_every_outcome_is_named():
    assert set(OUTCOMES) == {"registered", "pending", "closed", "suspended", "directory",
                             "not_found", "unavailable"}


def test_with_the_provider_emulator_and_database_directory(app):
    """The real wiring: the tax office's emulator and the company_directory table."""
    from idp.models import CompanyDirectoryEntry

    p = app.extensions["idp"]
    with app.test_request_context():
        db.session.add(CompanyDirectoryEntry(business_number="1018600025", name_ko="(주)마침표",
                                             ceo_ko="박폐업"))
        db.session.add(CompanyDirectoryEntry(business_number=NUMBER, name_ko="(주)데모",
                                             ceo_ko="김대표"))
        db.session.flush()
        try:
            closed = lookup_business(db.session, p.business_registry, p.company_directory,
                                     "101-86-00025")
            assert closed.outcome == "closed"
            assert closed.status is not None and closed.status.closed_on == dt.date(2024, 6, 30)
            found = lookup_business(db.session, p.business_registry, p.company_directory, NUMBER)
            assert found.outcome == "directory" and found.record is not None
            assert found.record.ceo_ko == "김대표"
            assert lookup_business(db.session, p.business_registry, p.company_directory,
                                   "1018600011").outcome == "suspended"
        finally:
            db.session.rollback()
