"""Every cookie the provider sets, with its name and attributes, in one place.

Pages (idp/web), authorize and logout (idp/oidc) and the language hook read these specs; none
spells a cookie name or attribute itself.

With an https issuer the cookies are Secure, and the ones that belong to this host alone carry
the `__Host-` prefix (RFC 6265bis §4.1.3.2: the browser accepts such a cookie only when it is
Secure, has Path=/ and no Domain), so that a sibling subdomain can neither plant nor overwrite
them. On http (the loopback development setup) a browser refuses a `__Host-` cookie, so the
plain names are kept there.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from flask import current_app, g, request
from werkzeug.wrappers import Response

HOST_PREFIX = "__Host-"
EXTENSION = "idp.cookies"


@dataclass(frozen=True)
class CookieSpec:
    """One cookie: how it is named and sent (always Path=/, never a Domain: host-only)."""

    name: str
    secure: bool
    max_age: int | None = None  # None: a browser-session cookie
    httponly: bool = True
    samesite: str = "Lax"

    def read(self) -> str | None:
        return request.cookies.get(self.name)

    def set(self, resp: Response, value: str) -> None:
        resp.set_cookie(self.name, value, max_age=self.max_age, path="/", secure=self.secure,
                        httponly=self.httponly, samesite=self.samesite)

    def delete(self, resp: Response) -> None:
        # The same attributes as when set: a browser ignores a __Host- deletion without Secure.
        resp.delete_cookie(self.name, path="/", secure=self.secure, httponly=self.httponly,
                           samesite=self.samesite)


@dataclass(frozen=True)
class Cookies:
    """The provider's cookies for one app (built from its settings)."""

    sso: CookieSpec  # the SSO session handle
    browser: CookieSpec  # binds interactions to the browser that started them
    remember_id: CookieSpec  # "아이디 저장" on the login page
    lang: CookieSpec  # the language chosen with ?lang= (not a secret, but Secure on https)


def host_cookie_name(name: str, secure: bool) -> str:
    """`__Host-name` when the cookie is Secure, else `name` (see the module docstring)."""
    return HOST_PREFIX + name if secure else name


def build_cookies(settings: dict[str, Any], *, secure: bool) -> Cookies:
    session = settings["session"]
    return Cookies(
        sso=CookieSpec(host_cookie_name(session["cookie_name"], secure), secure),
        browser=CookieSpec(host_cookie_name("idp_browser", secure), secure,
                           max_age=session["interaction_ttl"] * 4),
        remember_id=CookieSpec(host_cookie_name("idp_remember_id", secure), secure,
                               max_age=session["remember_id_days"] * 86400),
        lang=CookieSpec("idp_lang", secure, max_age=365 * 86400),
    )


def cookies() -> Cookies:
    """The current app's cookies (built at the first use, then kept with the app)."""
    app = current_app
    jar: Cookies | None = app.extensions.get(EXTENSION)
    if jar is None:
        jar = build_cookies(app.config["IDP_SETTINGS"],
                            secure=bool(app.config["SESSION_COOKIE_SECURE"]))
        app.extensions[EXTENSION] = jar
    return jar


def browser_id() -> str:
    """This browser's id (the `idp_browser` cookie that binds interactions and flows to it),
    made at its first use in a request; the app sets the new cookie on the response."""
    value = cookies().browser.read()
    if value and len(value) < 100:
        return value
    if not g.get("idp_new_browser"):
        g.idp_new_browser = secrets.token_urlsafe(24)
    return str(g.idp_new_browser)


def set_new_browser_cookie(resp: Response) -> None:
    """After a request that made a browser id: send it (a no-op otherwise)."""
    new = g.get("idp_new_browser")
    if new and resp.status_code < 500:
        cookies().browser.set(resp, new)
