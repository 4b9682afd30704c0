"""The authorization endpoint as a pipeline of small checks (OIDC Core §3.1.2).

    verify_client         client_id and redirect_uri (exact match): until both are verified,
                          errors are shown to the user, never redirected (RFC 6749 §4.1.2.1)
    check_unsupported     request / request_uri / response_mode (OIDC Core §6, §3.1.2.6)
    check_values          every kept parameter within its limit, no NUL
    check_response_type   only `code`, checked here so no raw input reaches Authlib's errors
    validate_request      (Authlib) scope, PKCE, nonce
    check_prompt          prompt=none|login|consent|select_account, and their combinations
    check_login           no session, prompt=login, max_age, acr_values, id_token_hint
    check_consent         third-party clients without a remembered consent, prompt=consent
    issue_code            code bound to client, redirect_uri, PKCE challenge, nonce and sid

A check that needs the user starts (or continues) an *interaction*: the pending request is
kept server-side, the user signs in or consents on our pages, and `resume()` runs the same
pipeline again. Every way of signing in that later capabilities add ends in that resume.
"""

from __future__ import annotations

import re
import time
from typing import Any

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import OAuth2Error, OAuth2Request
from authlib.oauth2.rfc6749 import (
    InvalidClientError,
    InvalidRequestError,
    UnauthorizedClientError,
    UnsupportedResponseTypeError,
)
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oidc.core.errors import (
    ConsentRequiredError,
    LoginRequiredError,
    RequestNotSupportedError,
    RequestURINotSupportedError,
)
from flask import Response, current_app, redirect, render_template, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from idp.extensions import db
from idp.models import Consent
from idp.models.clients import RegisteredClient
from idp.models.readmodels import MemberView, load_member
from idp.oidc.jwts import decode_id_token_hint
from idp.oidc.server import provider, query_client
from idp.services.claims import acr_satisfies
from idp.services.sessions import Interaction, SsoSession

_MAX_AGE = re.compile(r"[0-9]{1,10}")

# RFC 6749 §3.1: these must not appear more than once.
SINGLE_VALUED = ("response_type", "client_id", "redirect_uri", "scope", "state", "nonce",
                 "code_challenge", "code_challenge_method", "prompt", "max_age")

# The parameters kept with a pending request, each with its longest accepted value (in
# characters). RFC 6749 §3.1: unrecognised parameters are ignored, so nothing else is stored.
# OIDC Core §3.1.2.1, RFC 7636 §4.3 (PKCE), OIDC Core §5.5 (claims) and §5.2 (claims_locales).
# The limits follow the columns a value ends up in (nonce: 255, scope: 500, redirect_uri: 500,
# code_challenge: 128 per RFC 7636 §4.1) or, for values only read, generous bounds.
PARAMETER_LIMITS: dict[str, int] = {
    "response_type": 64,
    "client_id": 64,
    "redirect_uri": 500,
    "scope": 500,
    "state": 2048,
    "nonce": 255,
    "code_challenge": 128,
    "code_challenge_method": 16,
    "response_mode": 32,
    "prompt": 64,
    "max_age": 10,
    "display": 16,
    "ui_locales": 64,
    "claims_locales": 64,
    "id_token_hint": 8192,
    "login_hint": 255,
    "acr_values": 255,
    "claims": 2048,
}
# Request objects (OIDC Core §6) are refused before anything is stored: only their presence
# is kept, whatever their size.
REQUEST_OBJECT_PARAMETERS = ("request", "request_uri")


class NeedsInteraction(Exception):
    """The pipeline cannot finish without the user: send them to `step`."""

    def __init__(self, step: str) -> None:
        self.step = step


def oauth_request(params: dict[str, str]) -> OAuth2Request:
    req = OAuth2Request("GET", provider().issuer + "/authorize")
    req.payload = BasicOAuth2Payload(params)
    return req


def error_page(error: str, description: str | None = None, status: int = 400) -> BaseResponse:
    """RFC 6749 §4.1.2.1: without a verified redirect_uri, tell the user, never redirect."""
    resp = Response(
        render_template("oidc/error.html", error=error, description=description), status
    )
    return resp


def redirect_error(error: OAuth2Error, redirect_uri: str, state: str | None) -> BaseResponse:
    params = [("error", error.error)]
    if error.description:
        # Conformance suites require ASCII in error_description (RFC 6749 §5.2 charset).
        params.append(("error_description", error.description.encode("ascii", "ignore")
                       .decode()))
    if state:
        params.append(("state", state))
    params.append(("iss", provider().issuer))  # RFC 9207 §2
    return redirect(add_params_to_uri(redirect_uri, params), 302)


def handle_oauth_error(error: OAuth2Error, params: dict[str, str]) -> BaseResponse:
    if error.redirect_uri:
        return redirect_error(error, error.redirect_uri, params.get("state"))
    return error_page(error.error, error.description)


def verify_client(params: dict[str, str]) -> tuple[RegisteredClient, str]:
    """The client and its exactly registered redirect_uri (OIDC Core §3.1.2.1 makes it
    REQUIRED); until both are verified an error goes to the user, never to a redirect."""
    client_id = params.get("client_id", "")
    if not client_id:
        raise InvalidRequestError("Missing 'client_id' parameter.")
    client = query_client(client_id) if len(client_id) <= PARAMETER_LIMITS["client_id"] else None
    if client is None:
        raise InvalidClientError(description="The client does not exist on this server.")
    redirect_uri = params.get("redirect_uri", "")
    if not redirect_uri:
        raise InvalidRequestError("Missing 'redirect_uri' parameter.")
    # The registered URIs are clean absolute URIs (services/clients.py): an exact match
    # makes this one clean too. The value is never echoed (it may hold any character).
    if not client.check_redirect_uri(redirect_uri):
        raise InvalidRequestError("The redirect_uri is not registered for this client.")
    return client, redirect_uri


def check_unsupported(params: dict[str, str], redirect_uri: str) -> None:
    """OIDC Core §6, §3.1.2.6: request objects are not supported (discovery says so); say so
    before anything else, since the other parameters may be inside the object."""
    if "request" in params:
        raise RequestNotSupportedError(redirect_uri=redirect_uri)
    if "request_uri" in params:
        raise RequestURINotSupportedError(redirect_uri=redirect_uri)
    if params.get("response_mode", "query") != "query":
        raise InvalidRequestError("only response_mode=query is supported",
                                  redirect_uri=redirect_uri)


def check_values(params: dict[str, str], redirect_uri: str) -> None:
    """Every kept parameter within its limit, and no NUL (PostgreSQL text cannot hold one)."""
    for name, value in params.items():
        limit = PARAMETER_LIMITS.get(name)
        if limit is not None and len(value) > limit:
            raise InvalidRequestError(f"'{name}' is longer than {limit} characters",
                                      redirect_uri=redirect_uri)
        if "\x00" in value:
            raise InvalidRequestError(f"'{name}' contains a NUL character",
                                      redirect_uri=redirect_uri)


def check_response_type(params: dict[str, str], client: RegisteredClient,
                        redirect_uri: str) -> None:
    """RFC 6749 §4.1.1, §4.1.2.1; only the code flow (discovery: response_types_supported)."""
    response_type = params.get("response_type")
    if not response_type:
        raise InvalidRequestError("Missing 'response_type' parameter.",
                                  redirect_uri=redirect_uri)
    if response_type != "code":
        raise UnsupportedResponseTypeError(
            "code", description="Only response_type=code is supported.",
            redirect_uri=redirect_uri)
    if not client.check_response_type(response_type):
        raise UnauthorizedClientError("The client is not registered for response_type=code.",
                                      redirect_uri=redirect_uri)


def validate_request(params: dict[str, str]) -> str:
    """The checks that precede Authlib's: the verified redirect_uri, or an OAuth2Error."""
    client, redirect_uri = verify_client(params)
    check_unsupported(params, redirect_uri)
    check_values(params, redirect_uri)
    check_response_type(params, client, redirect_uri)
    return redirect_uri


def check_prompt(params: dict[str, str], redirect_uri: str) -> set[str]:
    prompts = set(params.get("prompt", "").split())
    if "none" in prompts and len(prompts) > 1:
        raise InvalidRequestError("prompt=none cannot be combined", redirect_uri=redirect_uri)
    unknown = prompts - {"none", "login", "consent", "select_account"}
    if unknown:
        raise InvalidRequestError("unsupported prompt value", redirect_uri=redirect_uri)
    return prompts


def parse_max_age(params: dict[str, str], redirect_uri: str) -> int | None:
    raw = params.get("max_age")
    if raw is None or raw == "":
        return None
    if not _MAX_AGE.fullmatch(raw):  # ASCII digits only, and not absurdly long
        raise InvalidRequestError("max_age must be a non-negative integer",
                                  redirect_uri=redirect_uri)
    return int(raw)


def check_login(
    params: dict[str, str],
    prompts: set[str],
    sess: SsoSession | None,
    member: MemberView | None,
    interaction: Interaction | None,
    redirect_uri: str,
) -> None:
    """Raise NeedsInteraction('login') or login_required when a (new) login is needed."""
    fresh = interaction is not None and interaction.login_at is not None
    max_age = parse_max_age(params, redirect_uri)
    reason = None
    if sess is None or member is None:
        reason = "no session"
    elif fresh:
        reason = None
    elif "login" in prompts or "select_account" in prompts:
        reason = "prompt"
    elif max_age is not None and time.time() - sess.auth_time > max_age:
        reason = "max_age"
    elif not acr_satisfies(sess.acr, params.get("acr_values", "").split()):
        reason = "acr"
    hint = params.get("id_token_hint")
    if hint and reason is None:
        claims = decode_id_token_hint(provider(), db.session, hint)
        if claims is None:
            raise InvalidRequestError("invalid id_token_hint", redirect_uri=redirect_uri)
        if member is None or claims["sub"] != member.subject:
            reason = "hint"
    if reason is None:
        return
    if "none" in prompts:
        raise LoginRequiredError(redirect_uri=redirect_uri)
    raise NeedsInteraction("login")


def has_consent(member: MemberView, client: RegisteredClient, scope: str) -> bool:
    granted = db.session.scalar(
        select(Consent.scope).where(
            Consent.member_id == member.id, Consent.client_id == client.client_id
        )
    )
    return granted is not None and set(scope.split()) <= set(granted.split())


def check_consent(
    prompts: set[str], member: MemberView, client: RegisteredClient, scope: str,
    interaction: Interaction | None, redirect_uri: str,
) -> None:
    if client.first_party:
        return
    consented_now = interaction is not None and interaction.params.get("_consented") == "1"
    if consented_now:
        return
    if "consent" in prompts or not has_consent(member, client, scope):
        if "none" in prompts:
            raise ConsentRequiredError(redirect_uri=redirect_uri)
        raise NeedsInteraction("consent")


def run(params: dict[str, str], *, browser: str, sso_handle: str | None,
        interaction: Interaction | None = None, sess: SsoSession | None = None,
        ) -> BaseResponse:
    """Run the pipeline; returns the redirect to the client, an error, or an interaction.

    `sess` is given by a login that has just created the session (no need to read it back).
    """
    p = provider()
    server = current_app.extensions["authlib.server"]
    if sess is None:
        sess = p.sessions.get(sso_handle)
    member = load_member(db.session, sess.member_id) if sess else None
    if member is not None and not member.is_active:
        member = None
    req = oauth_request(params)
    try:
        validate_request(params)
        grant = server.get_consent_grant(request=req, end_user=member)
        redirect_uri = grant.redirect_uri
        prompts = check_prompt(params, redirect_uri)
        check_login(params, prompts, sess, member, interaction, redirect_uri)
        assert sess is not None and member is not None
        client: RegisteredClient = req.client
        check_consent(prompts, member, client, req.scope or "", interaction, redirect_uri)
    except NeedsInteraction as need:
        if interaction is None:
            interaction = p.interactions.start(params, browser)
        else:
            p.interactions.save(interaction)  # keeps login_at / consent for the next step
        db.session.commit()
        endpoint = "web.login_page" if need.step == "login" else "web.consent_page"
        return redirect(url_for(endpoint, uid=interaction.uid), 303)
    except OAuth2Error as error:
        db.session.rollback()
        return handle_oauth_error(error, params)

    req.sso = sess
    p.sessions.add_client(sess, client.client_id)
    response: BaseResponse = server.create_authorization_response(
        request=req, grant_user=member, grant=grant
    )
    if interaction is not None:
        p.interactions.finish(interaction)
    db.session.commit()
    return response


def flatten(values: Any) -> dict[str, str] | OAuth2Error:
    """The protocol parameters of a request as a dict (PARAMETER_LIMITS; the rest ignored).

    A repeated protocol parameter is an error; an empty one counts as absent (RFC 6749 §3.1).
    """
    for name in SINGLE_VALUED:
        if len(values.getlist(name)) > 1:
            return InvalidRequestError(f"Multiple '{name}' in request.")
    params: dict[str, str] = {}
    for name in PARAMETER_LIMITS:
        value = values.get(name)
        if value:
            params[name] = value
    for name in REQUEST_OBJECT_PARAMETERS:
        if values.get(name):
            params[name] = "1"  # refused by check_unsupported; the object is never kept
    return params
