"""Domain errors. Views map each kind to a Korean message on pages or an RFC error code."""

from __future__ import annotations


class IdpError(Exception):
    """Base of every error a service raises on purpose."""


class InvalidInput(IdpError):
    """Submitted data breaks a rule (ID or password policy, malformed value)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class InvalidCredentials(IdpError):
    """Unknown ID or wrong password: one error, so the response never tells which."""


class LoginThrottled(IdpError):
    """Too many failures for the account or the client IP; try again later."""

    def __init__(self, retry_after: int, locked: bool) -> None:
        super().__init__(f"retry after {retry_after}s")
        self.retry_after = retry_after
        self.locked = locked


class AlreadyExists(IdpError):
    """A unique value (login ID, business number) is taken."""
