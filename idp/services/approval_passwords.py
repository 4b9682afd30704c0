"""The 6-digit approval password (승인 비밀번호; SPEC §1, §3.4): what a new one may be.

Hashed with argon2id like every password (provider.passwords). A million values is a small
space, so the attempt limits live where it is typed (idp/services/affiliations.py).
"""

from __future__ import annotations


class WeakApprovalPassword(ValueError):
    """Not 6 digits, or a trivial one: `reason` is "format" or "trivial"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _trivial(value: str) -> bool:
    digits = [int(c) for c in value]
    steps = {b - a for a, b in zip(digits, digits[1:], strict=False)}
    if len(set(digits)) == 1:  # 000000, 111111
        return True
    if steps in ({1}, {-1}):  # 123456, 654321, 345678
        return True
    if value[:3] == value[3:] or value[:2] * 3 == value:  # 123123, 121212
        return True
    if len(set(digits)) <= 2 and (value[:3] == value[0] * 3):  # 111222, 000999
        return True
    return value in {"112233", "102030", "010203", "147258", "258369", "159753", "135790",
                     "246810", "098765", "987654"}


def check_new_approval_password(value: str) -> str:
    """`value` when it may be a company's approval password; WeakApprovalPassword otherwise."""
    if len(value) != 6 or not value.isascii() or not value.isdigit():
        raise WeakApprovalPassword("format")
    if _trivial(value):
        raise WeakApprovalPassword("trivial")
    return value
