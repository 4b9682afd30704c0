"""A member's interests (관심정보): HS codes (관심품목) and countries (관심국가).

The sign-up wizard's 관심정보 tab and MY KOTRA render the picker
(templates/interests/_picker.html), read its fields with `parse_picker_form` and call
`save_interests`; `load_interests` gives what to show. Codes are checked against the
nomenclature in `hs_codes` and countries against CLDR (idp/services/countries.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import delete, select

from idp.errors import InvalidInput
from idp.models.base import DbSession
from idp.models.interests import MemberInterestCountry, MemberInterestItem
from idp.services import countries as country_data
from idp.services import hs
from idp.services.countries import Country
from idp.services.hs import HsEntry

MAX_ITEMS = 20
MAX_COUNTRIES = 20

# The picker's form fields (templates/interests/_picker.html).
FIELD_HS = "interest_hs"
FIELD_COUNTRY = "interest_country"
# Without script the picker shows plain text fields instead (inside <noscript>): codes
# separated by commas or spaces. When present they win over the hidden fields.
FIELD_HS_TEXT = "interest_hs_text"
FIELD_COUNTRY_TEXT = "interest_country_text"


class InterestsRefused(InvalidInput):
    """A chosen interest is refused: `reason` "too_many" (`limit`) or "unknown" (`values`).
    The message is Korean; pages in English use idp.web.interests.refusal_message."""

    def __init__(self, field: str, message: str, *, reason: str, limit: int = 0,
                 values: Sequence[str] = ()) -> None:
        super().__init__(field, message)
        self.reason = reason
        self.limit = limit
        self.values = list(values)


@dataclass(frozen=True)
class Interests:
    items: list[HsEntry] = field(default_factory=list)
    countries: list[Country] = field(default_factory=list)

    @property
    def hs_codes(self) -> list[str]:
        return [e.code for e in self.items]

    @property
    def country_codes(self) -> list[str]:
        return [c.code for c in self.countries]


class MultiDict(Protocol):
    def getlist(self, key: str) -> list[str]: ...


def _split(text: str) -> list[str]:
    return [t for t in re.split(r"[\s,;]+", text or "") if t]


def parse_picker_form(form: MultiDict | Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(hs_codes, countries) as the picker posted them (with or without script)."""
    def values(name: str) -> list[str]:
        if hasattr(form, "getlist"):
            return list(form.getlist(name))
        value = form.get(name)  # type: ignore[union-attr]
        if value is None:
            return []
        return list(value) if isinstance(value, list | tuple) else [str(value)]

    hs_text, country_text = values(FIELD_HS_TEXT), values(FIELD_COUNTRY_TEXT)
    hs_codes = _split(" ".join(hs_text)) if hs_text else values(FIELD_HS)
    countries = _split(" ".join(country_text)) if country_text else values(FIELD_COUNTRY)
    return hs_codes, countries


def _unique(values: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for v in values:
        seen.setdefault(v, None)
    return list(seen)


def validate(session: DbSession, hs_codes: Sequence[str], countries: Sequence[str],
             *, max_items: int = MAX_ITEMS, max_countries: int = MAX_COUNTRIES
             ) -> Interests:
    """The interests as entries, or InvalidInput (field interest_hs / interest_country)."""
    codes = _unique(re.sub(r"[\s.\-]", "", str(c)) for c in hs_codes if str(c).strip())
    iso = _unique(str(c).strip().upper() for c in countries if str(c).strip())
    if len(codes) > max_items:
        raise InterestsRefused(FIELD_HS, f"관심품목은 {max_items}개까지 선택할 수 있습니다.",
                               reason="too_many", limit=max_items)
    if len(iso) > max_countries:
        raise InterestsRefused(FIELD_COUNTRY,
                               f"관심지역은 {max_countries}개까지 선택할 수 있습니다.",
                               reason="too_many", limit=max_countries)
    bad = [c for c in codes if not c.isdigit() or len(c) > 10]
    found = hs.lookup(session, [c for c in codes if c not in bad])
    unknown = [u[:12] for u in bad + [c for c in codes if c not in bad and c not in found]][:5]
    if unknown:
        raise InterestsRefused(FIELD_HS, "없는 HS 코드입니다: " + ", ".join(unknown),
                               reason="unknown", values=unknown)
    known_countries = [country_data.get(c) for c in iso]
    unknown_countries = [c[:5] for c, k in zip(iso, known_countries, strict=True)
                         if k is None][:5]
    if unknown_countries:
        raise InterestsRefused(FIELD_COUNTRY,
                               "없는 국가 코드입니다: " + ", ".join(unknown_countries),
                               reason="unknown", values=unknown_countries)
    return Interests(items=[found[c] for c in codes],
                     countries=[k for k in known_countries if k is not None])


def save_interests(session: DbSession, member_id: int, hs_codes: Sequence[str],
                   countries: Sequence[str], *, commit: bool = True,
                   max_items: int = MAX_ITEMS, max_countries: int = MAX_COUNTRIES
                   ) -> Interests:
    """Replace the member's interests with these (validated first: InvalidInput and nothing
    changed when a code is unknown or there are too many). `commit=False` leaves the
    transaction to the caller (sign-up writes the member and its interests at once)."""
    interests = validate(session, hs_codes, countries,
                         max_items=max_items, max_countries=max_countries)
    session.execute(delete(MemberInterestItem).where(MemberInterestItem.member_id == member_id))
    session.execute(delete(MemberInterestCountry)
                    .where(MemberInterestCountry.member_id == member_id))
    session.add_all(MemberInterestItem(member_id=member_id, hs_code=e.code, position=i)
                    for i, e in enumerate(interests.items))
    session.add_all(MemberInterestCountry(member_id=member_id, country=c.code, position=i)
                    for i, c in enumerate(interests.countries))
    if commit:
        session.commit()
    else:
        session.flush()
    return interests


def load_interests(session: DbSession, member_id: int) -> Interests:
    """The member's interests in the order chosen. A code the nomenclature no longer has
    still shows (with its code as its name)."""
    codes = list(session.scalars(select(MemberInterestItem.hs_code)
                                 .where(MemberInterestItem.member_id == member_id)
                                 .order_by(MemberInterestItem.position)))
    iso = list(session.scalars(select(MemberInterestCountry.country)
                               .where(MemberInterestCountry.member_id == member_id)
                               .order_by(MemberInterestCountry.position)))
    found = hs.lookup(session, codes) if codes else {}
    items = [found.get(c) or HsEntry(c, len(c), None, c, c) for c in codes]
    countries = [country_data.get(c) or Country(c, c, c) for c in iso]
    return Interests(items=items, countries=countries)


def describe(session: DbSession, hs_codes: Sequence[str], countries: Sequence[str]
             ) -> Interests:
    """Entries for codes a form posted (to show them again after a validation error):
    unknown values are dropped rather than refused."""
    found = hs.lookup(session, [re.sub(r"[\s.\-]", "", c) for c in hs_codes][:MAX_ITEMS * 2])
    known = [country_data.get(c) for c in countries[:MAX_COUNTRIES * 2]]
    return Interests(items=list(found.values()), countries=[k for k in known if k])
