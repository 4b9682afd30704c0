"""Countries for the interests picker (관심국가): ISO 3166-1 alpha-2 codes with their Korean and
English names from the Unicode CLDR (Babel's locale data), sorted in Korean (가나다) order.

CLDR also names regions (001 World, 150 Europe), groupings (EU, EZ, UN), user-assigned codes
(QO, XA, XB, XK, ZZ) and exceptionally reserved codes that are not countries in ISO 3166-1
(AC, CP, CQ, DG, EA, IC, TA): those are left out, leaving the 249 ISO 3166-1 countries and
territories.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import babel

from idp.services.hs import MAX_QUERY_LENGTH, _needles, _words, normalize

NOT_COUNTRIES = frozenset({"AC", "CP", "CQ", "DG", "EA", "EU", "EZ", "IC", "TA", "UN",
                           "QO", "XA", "XB", "XK", "ZZ"})


@dataclass(frozen=True)
class Country:
    code: str
    name_ko: str
    name_en: str

    def name(self, locale: str = "ko") -> str:
        return self.name_en if locale.startswith("en") else self.name_ko

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "name_ko": self.name_ko, "name_en": self.name_en}


@functools.cache
def all_countries() -> tuple[Country, ...]:
    """Every country, in Korean order (Hangul syllables sort in 가나다 order by code point)."""
    ko: dict[str, str] = {str(k): str(v) for k, v in babel.Locale("ko").territories.items()}
    en: dict[str, str] = {str(k): str(v) for k, v in babel.Locale("en").territories.items()}
    codes = [c for c in ko if len(c) == 2 and c.isalpha() and c.isupper()
             and c not in NOT_COUNTRIES]
    return tuple(sorted((Country(c, ko[c], en.get(c, c)) for c in codes),
                        key=lambda c: (c.name_ko, c.code)))


@functools.cache
def _by_code() -> dict[str, Country]:
    return {c.code: c for c in all_countries()}


@functools.cache
def _texts() -> tuple[str, ...]:
    return tuple(" " + normalize(f"{c.code} {c.name_ko} {c.name_en}") for c in all_countries())


def get(code: str) -> Country | None:
    return _by_code().get((code or "").strip().upper())


def search(q: str, limit: int = 20) -> list[Country]:
    """Countries whose code, Korean or English name match every word of q (as HS search:
    Korean words anywhere, other words at a word start); an exact code first."""
    q = (q or "").strip()
    if not q or len(q) > MAX_QUERY_LENGTH:
        return []
    needles = _needles(_words(q))
    if not needles:
        return []
    limit = max(1, min(300, limit))
    exact = get(q) if len(q) == 2 else None
    found = [c for c, t in zip(all_countries(), _texts(), strict=True)
             if c is not exact and all(n in t for n in needles)]
    first = needles[0].strip()
    found.sort(key=lambda c: not (normalize(c.name_ko).startswith(first)
                                  or normalize(c.name_en).startswith(first)))
    return ([exact] if exact else []) + found[: limit - (1 if exact else 0)]
