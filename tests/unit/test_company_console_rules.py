"""The company console's rules without the web (idp/services/company_console.py): the masked
participant name, the company form's checks, the fresh-certificate record."""

from __future__ import annotations

import pytest

from idp.adapters.clock import FakeClock
from idp.errors import InvalidInput
from idp.services.company_console import (
    CertificateFreshness,
    check_company_values,
    mask_name,
)
from idp.stores import MemoryStore

VALID = {"name": "대한무역투자진흥공사", "name_en": "KOTRA", "ceo_name": "유정열",
         "ceo_name_en": "Yoo", "company_type": "공공기관", "classification": "정부",
         "maker_or_trader": "기타", "main_product": "기타", "phone": "1600-7119",
         "email": "kotra@kotra.or.kr"}


@pytest.mark.parametrize(("name", "masked"), [
    ("홍길동", "홍*동"), ("남궁민수", "남**수"), ("김철", "김*"), ("이", "이*"), (None, None),
    ("", None),
])
def test_mask_name(name, masked) -> None:
    assert mask_name(name) == masked


def test_company_values_are_cleaned() -> None:
    clean = check_company_values({**VALID, "corp_number": "114671-0004418",
                                  "annual_sales": "1,234,000", "name": "  코트라  "})
    assert clean["corp_number"] == "1146710004418"
    assert clean["annual_sales"] == "1234000"
    assert clean["name"] == "코트라"
    assert clean["fax"] == ""  # every key present, empty when not given


@pytest.mark.parametrize(("changes", "field"), [
    ({"name": ""}, "name"),
    ({"email": ""}, "email"),
    ({"corp_number": "12345678901234"}, "corp_number"),
    ({"phone": "02"}, "phone"),
    ({"fax": "fax me"}, "fax"),
    ({"homepage": "javascript:alert(1)"}, "homepage"),
    ({"employees": "-3"}, "employees"),
    ({"year_founded": "1700"}, "year_founded"),
    ({"postcode": "06-792"}, "postcode"),
    ({"is_venture": "yes"}, "is_venture"),
    ({"remarks": "a\x00b"}, "remarks"),
    ({"main_product": "x" * 201}, "main_product"),
])
def test_company_values_refused(changes, field) -> None:
    with pytest.raises(InvalidInput) as exc:
        check_company_values({**VALID, **changes})
    assert exc.value.field == field


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
