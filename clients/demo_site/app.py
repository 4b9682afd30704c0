"""The app factory: one demo site's Flask app, its blueprints and its error page."""

from __future__ import annotations

import logging
import os
from urllib.parse import urlsplit

from flask import Flask

from clients.demo_site import backchannel, mileage, oidc, views
from clients.demo_site.errors import ProviderError
from clients.demo_site.site import DemoSite
from clients.demo_site.texts import AFFILIATION_LABELS, MEMBER_TYPE_LABELS, fmt_time

log = logging.getLogger(__name__)


def _insecure_transport_ok(issuer: str) -> bool:
    parts = urlsplit(issuer)
    return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")


def create_app(site: int, issuer: str, client: dict) -> Flask:
    """Build the Flask app of demo site ``site`` (1 or 2) for provider ``issuer``.

    ``client`` holds client_id, client_secret and optionally redirect_uri,
    post_logout_redirect_uri (defaults: http://127.0.0.1:500{site}/callback and /).
    No network access happens here.
    """
    if _insecure_transport_ok(issuer) or _insecure_transport_ok(client.get("redirect_uri", "")):
        # oauthlib refuses plain http unless told; the demo runs on loopback only.
        os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")
    # requests-oauthlib logs token responses at DEBUG; keep secrets out of logs.
    for name in ("requests_oauthlib", "oauthlib"):
        lg = logging.getLogger(name)
        if lg.level == logging.NOTSET or lg.level < logging.INFO:
            lg.setLevel(logging.INFO)

    rp = DemoSite(site, issuer, client)
    app = Flask(__name__)
    app.extensions["demo_site"] = rp
    app.config["SESSION_COOKIE_NAME"] = rp.cookie_name  # flask.session is unused, but distinct
    app.jinja_env.filters["kst"] = fmt_time
    app.jinja_env.globals.update(member_types=MEMBER_TYPE_LABELS, affiliations=AFFILIATION_LABELS)
    app.register_blueprint(views.bp)
    app.register_blueprint(oidc.bp)
    app.register_blueprint(backchannel.bp)
    app.register_blueprint(mileage.bp)  # the provider's mileage API (issue 7)
    app.register_error_handler(ProviderError, _provider_down)
    return app


def _provider_down(exc: ProviderError):
    log.warning("provider error: %s", exc)
    return views.message(
        "통합회원 서비스 연결 오류",
        "통합회원 서비스(인증 서버)에 연결할 수 없습니다. 잠시 후 다시 시도해 주세요.",
        502,
    )
