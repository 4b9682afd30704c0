"""The ways of signing in an app offers, and what each one proves.

Each login method (password today; 간편인증, SNS, company password, certificate, legacy
conversion later) registers here the authentication context class (`acr`) and methods
(`amr`, RFC 8176) a successful login by it reaches. The authorization pipeline reads the
registry to know which classes a fresh login could reach at all: an essential `acr` that no
registered method reaches ends the request (unmet_authentication_requirements) instead of
showing a login page that cannot help. Every method ends in idp/web/interaction.finish_login.

    methods = LoginMethods()
    methods.register(LoginMethod("certificate", ACR_CERTIFICATE, ("swk",)))
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from idp.services.claims import ACR_IDENTITY, ACR_PASSWORD, AcrRequest


@dataclass(frozen=True)
class LoginMethod:
    name: str
    acr: str
    amr: tuple[str, ...]
    # Whether a principal already known (the session's, stepping up) could sign in this way,
    # e.g. a certificate login only for members affiliated by certificate; None: anyone.
    usable_by: Callable[[Any], bool] | None = field(default=None, compare=False)


PASSWORD = LoginMethod("password", ACR_PASSWORD, ("pwd",))


class LoginMethods:
    """The login methods registered with one app, in registration order."""

    def __init__(self) -> None:
        self._methods: dict[str, LoginMethod] = {}

    def register(self, method: LoginMethod) -> None:
        self._methods[method.name] = method

    def __iter__(self) -> Iterator[LoginMethod]:
        return iter(self._methods.values())

    def __getitem__(self, name: str) -> LoginMethod:
        return self._methods[name]

    def can_meet(self, wanted: AcrRequest, principal: Any = None) -> bool:
        """Whether a login by some registered method would meet `wanted` (by one that
        `principal` could use, when the login is a step-up of a known principal)."""
        return wanted.reachable(m.acr for m in self if principal is None or m.usable_by is None
                                or m.usable_by(principal))

# 간편인증 login (issue 6, idp/web/identity_login.py): the member found by the CI of a fresh
# identity verification through a 간편인증 app. RFC 8176: "mca" (multiple-channel: the
# approval happens on the phone, outside the browser) and "swk" (the app's software-secured
# key / certificate); the class is above a password (docs/claims.md).
IDENTITY_VERIFIED = LoginMethod("identity", ACR_IDENTITY, ("mca", "swk"))
