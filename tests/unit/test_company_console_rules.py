"""The company console's rules without the web (idp/services/company_console.py): the masked
participant name, the company form (the registration's keys), the fresh-certificate record."""

from __future__ import annotations

import pytest

from idp.adapters.clock import FakeClock
from idp.models import Company
from idp.services.company_console import (
    CertificateFreshness,
    changed_fields,
    company_values,
    mask_name,
)
from idp.services.company_profile import InfoErrors, clean_info
from idp.stores import MemoryStore

VALID = {"name": "대한무역투자진흥공사", "name_en": "KOTRA", "ceo_name": "유정열",
         "ceo_name_en": "Yoo", "company_type": "public", "classification": "nonprofit",
         "trade_kind": "other", "main_product": "기타", "phone": "1600-7119",
         "email": "kotra@kotra.or.kr"}


@pytest.mark.parametrize(("name", "masked"), [
    ("홍길동", "홍*동"), ("남궁민수", "남**수"), ("김철", "김*"), ("이", "이*"), (None, None),
    ("", None),
])
def test_mask_name(name, masked) -> None:
    assert mask_name(name) == masked


def test_the_console_shows_and_compares_the_registrations_keys() -> None:
    company = Company(business_number="1208200275", name="대한무역투자진흥공사", name_en="KOTRA",
                      ceo_name="유정열", ceo_name_en="Yoo", corp_number=None,
                      profile={"company_type": "public", "classification": "nonprofit",
                               "trade_kind": "other", "main_product": "기타",
                               "phone": "1600-7119", "email": "kotra@kotra.or.kr",
                               "venture": False, "annual_sales": 1000000,
                               "legacy_key": "kept"})
    values = company_values(company)
    assert values["venture"] == "no" and values["annual_sales"] == "1000000"
    assert values["startup"] == "" and "legacy_key" not in values
    same = clean_info({**VALID, "venture": "no", "annual_sales": "1,000,000"}, now_year=2026)
    assert changed_fields(company, same) == []
    other = clean_info({**VALID, "venture": "yes", "annual_sales": "1,000,000",
                        "name": "코트라", "fax": "02-3460-7777"}, now_year=2026)
    assert changed_fields(company, other) == ["name", "venture", "fax"]


def test_the_console_refuses_what_the_registration_refuses() -> None:
    with pytest.raises(InfoErrors) as exc:
        clean_info({**VALID, "startup": "Y", "corp_number": "12345678901234"}, now_year=2026)
    assert set(exc.value.errors) == {"startup", "corp_number"}


def test_a_certificate_counts_for_its_company_and_its_session_only_for_a_while() -> None:
    clock = FakeClock(1_000_000.0)
    fresh = CertificateFreshness(MemoryStore(clock), clock, 600)
    assert not fresh.fresh("sid-1", "1208200275")
    fresh.mark("sid-1", "1208200275")
    assert fresh.fresh("sid-1", "1208200275")
    assert not fresh.fresh("sid-1", "1248100998")  # another company's number
    assert not fresh.fresh("sid-2", "1208200275")  # another session
    clock.advance(300)
    assert fresh.remaining("sid-1", "1208200275") == 300
    clock.advance(300)
    assert not fresh.fresh("sid-1", "1208200275")
    assert fresh.remaining("sid-1", "1208200275") == 0


def test_the_demo_companies_profile_is_what_the_form_stores() -> None:
    from idp.demo import DEMO_COMPANY_PROFILE
    from idp.services.company_profile import PROFILE_KEYS, display_values

    assert set(DEMO_COMPANY_PROFILE) <= set(PROFILE_KEYS)
    columns = {"name": "(주)데모", "name_en": "Demo", "ceo_name": "김데모",
               "ceo_name_en": "KIM DEMO", "corp_number": None}
    info = clean_info(display_values(columns, DEMO_COMPANY_PROFILE), now_year=2026)
    assert {k: v for k, v in info.profile.items() if v is not None} == DEMO_COMPANY_PROFILE
