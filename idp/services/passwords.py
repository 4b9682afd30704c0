"""Password hashing (argon2id, RFC 9106) and the manual's ID and password policy."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from idp.errors import InvalidInput
from idp.services import password_strength
from idp.services.argon2_blocks import BlockArea

_LOGIN_ID_CHARS = re.compile(r"^[A-Za-z0-9]+$")
_SYMBOL = re.compile(r"[^A-Za-z0-9\s]")
# InvalidInput messages of the refusals pages tell apart (issue 6).
COMMON_PASSWORD = "is a common password"
WEAK_PASSWORD = "is too easy to guess"


@dataclass(frozen=True)
class PasswordPolicy:
    login_id_min: int = 6
    login_id_max: int = 20
    password_min: int = 9
    password_max: int = 30

    def check_login_id(self, login_id: str) -> str:
        """Return the normalised (lower-case) login ID or raise InvalidInput."""
        if not (self.login_id_min <= len(login_id) <= self.login_id_max):
            raise InvalidInput(
                "login_id", f"{self.login_id_min}-{self.login_id_max} letters and digits"
            )
        if not _LOGIN_ID_CHARS.match(login_id):
            raise InvalidInput("login_id", "letters and digits only")
        if not (re.search(r"[A-Za-z]", login_id) and re.search(r"\d", login_id)):
            raise InvalidInput("login_id", "must mix letters and digits")
        return login_id.lower()

    def check_password(self, password: str, *, login_id: str | None = None,
                       name: str | None = None) -> None:
        """Raise InvalidInput unless `password` meets the manual's policy, contains neither
        the member's login ID nor their name (case-insensitive), is not a common password and
        scores at least 안전도 중 (COMMON_PASSWORD, WEAK_PASSWORD)."""
        if not (self.password_min <= len(password) <= self.password_max):
            raise InvalidInput(
                "password", f"{self.password_min}-{self.password_max} characters"
            )
        if not (
            re.search(r"[A-Za-z]", password)
            and re.search(r"\d", password)
            and _SYMBOL.search(password)
        ):
            raise InvalidInput("password", "must contain letters, digits and symbols")
        folded = password.casefold()
        for field, value in (("login_id", login_id), ("name", name)):
            if value and len(value.strip()) >= 2 and value.strip().casefold() in folded:
                raise InvalidInput("password", f"must not contain the {field}")
        # Issue 6: no common password, and at least 안전도 중 (idp/services/password_strength).
        if password_strength.is_common(password):
            raise InvalidInput("password", COMMON_PASSWORD)
        if password_strength.estimate(password, (login_id, name)).score < (
                password_strength.MIN_SCORE):
            raise InvalidInput("password", WEAK_PASSWORD)


class Passwords:
    """argon2id with parameters from config; rehash transparently when they change."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings["time_cost"],
            memory_cost=settings["memory_kib"],
            parallelism=settings["parallelism"],
            hash_len=settings["hash_len"],
            salt_len=settings["salt_len"],
            type=Type.ID,
        )
        # Verified when the ID is unknown, so both paths cost one hash (no timing oracle).
        self._dummy_hash = self._hasher.hash("not-a-password-but-equally-slow")
        # Checks reuse one memory area while sign-ins keep coming (idp/services/argon2_blocks);
        # 0 seconds: every check maps its blocks afresh. Hashes up to 4x today's memory cost
        # (made before a change of parameters) use it too; larger ones take the usual way.
        keep = settings.get("keep_blocks_seconds", 0)
        self._blocks: BlockArea | None = None
        if keep > 0:
            try:
                self._blocks = BlockArea(keep, 4 * settings["memory_kib"] * 1024)
            except MemoryError:  # cffi cannot make callbacks here (no W+X memory): usual way
                pass

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        encoded = password_hash or self._dummy_hash
        same = self._blocks.verify(encoded, password) if self._blocks else None
        if same is None:
            try:
                same = self._hasher.verify(encoded, password)
            except (VerificationError, InvalidHashError):
                same = False
        return same and bool(password_hash)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)
