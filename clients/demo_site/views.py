"""The site's own pages (home, services gated on entitlements) and the helpers every view uses."""

from __future__ import annotations

from typing import cast

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)

from clients.demo_site.site import DemoSite
from clients.demo_site.texts import SERVICE_LABELS, SERVICES, refusal_message

bp = Blueprint("views", __name__)


def site() -> DemoSite:
    """The demo site of the current app."""
    return cast(DemoSite, current_app.extensions["demo_site"])


def current() -> tuple[str | None, dict | None]:
    """This browser's session key and session (None, None when it has none)."""
    rp = site()
    key = request.cookies.get(rp.cookie_name)
    return key, rp.sessions.get(key)


def page(template: str, status: int = 200, **ctx) -> Response:
    resp = make_response(render_template(template, rp=site(), **ctx), status)
    resp.headers["Cache-Control"] = "no-store"
    return resp


def message(title: str, text: str, status: int, login_link: bool = True) -> Response:
    return page("message.html", status, heading=title, text=text, login_link=login_link)


def set_cookie(resp: Response, key: str) -> None:
    resp.set_cookie(site().cookie_name, key, httponly=True, samesite="Lax", path="/")


@bp.get("/")
def home():
    """The member's claims and which services they may use, or a sign-in button."""
    rp = site()
    _key, sess = current()
    user = (sess or {}).get("user")
    logged_out = False
    state = request.args.get("state")
    if state and not user and rp.logout_states.consume(state):
        logged_out = True  # back from the provider's end-session endpoint
    rows = []
    if user:
        ents = set(user["claims"].get("kotra_entitlements") or [])
        rows = [(k, label, k in ents) for k, label in SERVICES]
    return page("home.html", user=user, rows=rows, logged_out=logged_out)


@bp.get("/services/<service>")
def service_page(service: str):
    """One service: allowed when the member holds its entitlement, else why not (403)."""
    if service not in SERVICE_LABELS:
        abort(404)
    _key, sess = current()
    user = (sess or {}).get("user")
    if not user:
        return redirect(url_for("oidc.login", next=f"/services/{service}"))
    ents = user["claims"].get("kotra_entitlements") or []
    label = SERVICE_LABELS[service]
    if service in ents:
        return page("service.html", 200, user=user, label=label, allowed=True)
    return page(
        "service.html",
        403,
        user=user,
        label=label,
        allowed=False,
        reason=refusal_message(service, user),
    )
