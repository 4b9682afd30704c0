"""사업자등록번호 and 법인등록번호: normalising, check digits, display (KOREA-FACTS).

    >>> normalise_business_number("124-81-00998")
    '1248100998'
    >>> format_business_number("1248100998")
    '124-81-00998'

`python-stdnum`'s kr.brn does not test the check digit, so it is ours.
"""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s\-]")
_BRN_WEIGHTS = (1, 3, 7, 1, 3, 7, 1, 3, 5)


class InvalidNumber(ValueError):
    """Not a well-formed number: wrong length, not digits, or a wrong check digit."""


def _digits(value: str | None, length: int) -> str:
    text = _SEPARATORS.sub("", value or "")
    if len(text) != length or not text.isascii() or not text.isdigit():
        raise InvalidNumber(f"expected {length} digits")
    return text


def business_number_check_digit(first_nine: str) -> int:
    """The 10th digit of a 사업자등록번호: weights 1,3,7,1,3,7,1,3,5 on the first nine digits,
    plus floor(d9 × 5 / 10); check = (10 − sum mod 10) mod 10."""
    d = [int(c) for c in first_nine]
    total = sum(w * x for w, x in zip(_BRN_WEIGHTS, d, strict=True)) + d[8] * 5 // 10
    return (10 - total % 10) % 10


def normalise_business_number(value: str | None) -> str:
    """The 10 digits of a 사업자등록번호 typed with or without dashes; InvalidNumber otherwise."""
    digits = _digits(value, 10)
    if business_number_check_digit(digits[:9]) != int(digits[9]):
        raise InvalidNumber("wrong check digit")
    return digits


def is_business_number(value: str | None) -> bool:
    try:
        normalise_business_number(value)
    except InvalidNumber:
        return False
    return True


def format_business_number(digits: str) -> str:
    """123-45-67890, as the manual shows it."""
    return f"{digits[:3]}-{digits[3:5]}-{digits[5:]}"


def normalise_corp_number(value: str | None) -> str:
    """The 13 digits of a 법인등록번호: weights alternating 1,2 over the first 12;
    check = (10 − sum mod 10) mod 10."""
    digits = _digits(value, 13)
    total = sum(int(c) * (1 if i % 2 == 0 else 2) for i, c in enumerate(digits[:12]))
    if (10 - total % 10) % 10 != int(digits[12]):
        raise InvalidNumber("wrong check digit")
    return digits


def format_corp_number(digits: str) -> str:
    """110111-1234567."""
    return f"{digits[:6]}-{digits[6:]}"
