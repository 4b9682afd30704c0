"""The authorization endpoint as a pipeline of small checks (OIDC Core §3.1.2).

    verify_client         client_id and redirect_uri (exact match): until both are verified,
                          errors are shown to the user, never redirected (RFC 6749 §4.1.2.1)
    check_unsupported     request / request_uri / response_mode (OIDC Core §6, §3.1.2.6)
    check_values          every kept parameter within its limit, no NUL
    check_response_type   only `code`, checked here so no raw input reaches Authlib's errors
    validate_request      (Authlib) scope, PKCE, nonce
    check_prompt          prompt=none|login|consent|select_account, and their combinations
    requested_acr         acr_values, and the `acr` claim requested as essential (claims)
    check_login           no session, prompt=login, max_age, acr, id_token_hint
    check_steps           interstitial steps in the order of STEPS: a forced password
                          change, re-consent to the terms (a new required version, or
                          the 2-year period of SPEC §4), then consent (third-party
                          clients, prompt=consent)
    issue_code            code bound to client, redirect_uri, PKCE challenge, nonce and sid

A check that needs the user starts (or continues) an *interaction*: the pending request is
kept server-side, the user signs in or completes a step on our pages, and the same pipeline
runs again. Every way of signing in ends in idp/web/interaction.finish_login, which records
the login on the interaction and runs the pipeline; every step page ends in
idp/web/interaction.step_done.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
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
    InteractionRequiredError,
    LoginRequiredError,
    RequestNotSupportedError,
    RequestURINotSupportedError,
)
from flask import Response, current_app, redirect, render_template, url_for
from sqlalchemy import bindparam, select
from werkzeug.wrappers import Response as BaseResponse

from idp.extensions import db
from idp.models import Consent, Member
from idp.models.clients import RegisteredClient
from idp.models.readmodels import MemberView, load_member
from idp.oidc.jwts import decode_id_token_hint
from idp.oidc.server import provider, query_client
from idp.protocol import PROMPT_VALUES, RESPONSE_MODES
from idp.services.claims import AcrRequest
from idp.services.login import LoginMethods
from idp.services.sessions import Interaction, SsoSession
from idp.services.terms import has_missing_consents, reconsent_period

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


# The app's registered login methods (idp/services/login.py), kept in app.extensions.
LOGIN_METHODS = "idp.login_methods"


class NeedsInteraction(Exception):
    """The pipeline cannot finish without the user: send them to `step`."""

    def __init__(self, step: str) -> None:
        self.step = step


class UnmetAuthenticationRequirementsError(OAuth2Error):
    """No login we offer reaches the essential `acr` the relying party requires.

    OpenID Connect Core Error Code unmet_authentication_requirements 1.0 §1 (Final, 2022),
    for the failed authentication of OpenID Connect Core 1.0 §5.5.1.1.
    """

    error = "unmet_authentication_requirements"


def login_methods() -> LoginMethods:
    methods: LoginMethods = current_app.extensions.setdefault(LOGIN_METHODS, LoginMethods())
    return methods


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
    if params.get("response_mode", RESPONSE_MODES[0]) not in RESPONSE_MODES:
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
    unknown = prompts - set(PROMPT_VALUES)
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


def requested_acr(params: dict[str, str], redirect_uri: str) -> AcrRequest:
    """The authentication context the request asks for.

    `acr_values` (OIDC Core §3.1.2.1) is voluntary. The `claims` parameter (§5.5) may ask for
    the ID token's `acr` with `value`/`values`; with `"essential": true` it is a requirement
    (§5.5.1.1). Only the `acr` member is acted on; other requested claims follow the scope.
    """
    values = tuple(params.get("acr_values", "").split())
    raw = params.get("claims")
    if not raw:
        return AcrRequest(values)
    try:
        claims = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidRequestError("claims is not valid JSON", redirect_uri=redirect_uri) from None
    id_token = claims.get("id_token") if isinstance(claims, dict) else None
    if not isinstance(claims, dict) or not isinstance(id_token, dict | None):
        raise InvalidRequestError("claims must be a JSON object of objects",
                                  redirect_uri=redirect_uri)
    acr = (id_token or {}).get("acr")
    if acr is None:  # absent, or null: the claim in the default manner (§5.5.1)
        return AcrRequest(values)
    if not isinstance(acr, dict):
        raise InvalidRequestError("claims: acr must be null or an object",
                                  redirect_uri=redirect_uri)
    wanted = acr.get("values", [acr["value"]] if "value" in acr else None)
    if wanted is None:
        return AcrRequest(values)
    if not isinstance(wanted, list) or not all(isinstance(v, str) for v in wanted):
        raise InvalidRequestError("claims: acr values must be strings",
                                  redirect_uri=redirect_uri)
    return AcrRequest(tuple(wanted), essential=acr.get("essential") is True)


def check_login(
    params: dict[str, str],
    prompts: set[str],
    sess: SsoSession | None,
    member: MemberView | None,
    interaction: Interaction | None,
    redirect_uri: str,
    wanted: AcrRequest,
) -> None:
    """Raise NeedsInteraction('login') or an error when a (new) login is needed.

    A login inside this interaction satisfies prompt=login, select_account and max_age (the
    user has just authenticated); the authentication context it reached must still meet the
    request's when some login method could meet it.
    """
    fresh = sess is not None and interaction is not None and interaction.fresh_login(sess.sid)
    max_age = parse_max_age(params, redirect_uri)
    reason = None
    if sess is None or member is None:
        reason = "no session"
    elif fresh:
        reason = None
    elif "login" in prompts or "select_account" in prompts:
        reason = "prompt"
    elif max_age is not None and provider().clock.now() - sess.auth_time > max_age:
        reason = "max_age"
    if reason is None and sess is not None and not wanted.met_by(sess.acr):
        reason = "acr"
    # A step-up (the session's principal is below the acr) counts only the methods that
    # principal could use: a member who cannot reach the class is not sent back to the
    # login page again and again (voluntary acr_values), or meets §5.5.1.1 (essential).
    stepping_up = member if reason == "acr" else None
    if reason is not None and not login_methods().can_meet(wanted, stepping_up):
        if wanted.essential:
            # §5.5.1.1: an essential acr no login can reach is a failed authentication.
            raise UnmetAuthenticationRequirementsError(
                "no available login method reaches the requested acr", redirect_uri=redirect_uri)
        if reason == "acr":
            reason = None  # voluntary: the issued acr tells the relying party what it got
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


# Built once: every third-party authorization request asks it.
_CONSENTED_SCOPE = select(Consent.scope).where(
    Consent.member_id == bindparam("member_id"), Consent.client_id == bindparam("client_id"))


def has_consent(member: MemberView, client: RegisteredClient, scope: str) -> bool:
    granted = db.session.scalar(
        _CONSENTED_SCOPE, {"member_id": member.id, "client_id": client.client_id})
    return granted is not None and set(scope.split()) <= set(granted.split())


@dataclass(frozen=True)
class StepContext:
    """What an interstitial step decides on: who signed in, for which client and scope."""

    member: MemberView
    client: RegisteredClient
    scope: str
    prompts: set[str]


def needs_password_change(ctx: StepContext) -> bool:
    """An operator flagged the member: a new password before any site gets a code."""
    return ctx.member.password_change_required


def reconsent_days(member_type: str) -> int:
    """SPEC §4: personal members re-consent every 2 years, company members every 5."""
    terms = provider().settings["terms"]
    if member_type == "company_manager":
        return int(terms["company_reconsent_days"])
    return int(terms["reconsent_days"])


def member_reconsent_days(member: Member | MemberView) -> int:
    """SPEC §4 for this member: company managers and members affiliated to a company every
    5 years (issue 7), everyone else every 2 (idp.services.terms.reconsent_period)."""
    terms = provider().settings["terms"]
    return reconsent_period(member.member_type, member.affiliation is not None,
                            personal_days=int(terms["reconsent_days"]),
                            company_days=int(terms["company_reconsent_days"]))


def needs_terms(ctx: StepContext) -> bool:
    """A required document the member has not agreed to in its current version, or agreed to
    longer ago than the re-consent period (idp/services/terms.py)."""
    now = dt.datetime.fromtimestamp(provider().clock.now(), dt.UTC).replace(tzinfo=None)
    return has_missing_consents(db.session, ctx.member.id, now=now,
                                reconsent_days=member_reconsent_days(ctx.member))


def needs_consent(ctx: StepContext) -> bool:
    """Third-party clients without a remembered consent, or prompt=consent (OIDC Core §3.1.2.1)."""
    if ctx.client.first_party:
        return False
    return "consent" in ctx.prompts or not has_consent(ctx.member, ctx.client, ctx.scope)


@dataclass(frozen=True)
class Step:
    """An interstitial step between login and the code: a page that resumes when done."""

    name: str  # recorded in Interaction.done by idp/web/interaction.step_done
    endpoint: str  # the page (Flask endpoint, takes `uid`)
    needed: Callable[[StepContext], bool]
    # The answer under prompt=none, which forbids any page (OIDC Core §3.1.2.6).
    without_ui: type[OAuth2Error]


# In this order, after the login and before the code is issued.
STEPS: tuple[Step, ...] = (
    Step("password_change", "web.password_change_page", needs_password_change,
         InteractionRequiredError),
    # OIDC Core §3.1.2.6: a page is needed, and it is not the client's consent.
    Step("terms", "web.terms_page", needs_terms, InteractionRequiredError),
    Step("consent", "web.consent_page", needs_consent, ConsentRequiredError),
)
STEP_ENDPOINTS = {"login": "web.login_page", **{step.name: step.endpoint for step in STEPS}}


def check_steps(ctx: StepContext, interaction: Interaction | None, redirect_uri: str) -> None:
    """Raise NeedsInteraction for the first step still needed and not done here."""
    done = interaction.done if interaction is not None else []
    for step in STEPS:
        if step.name in done or not step.needed(ctx):
            continue
        if "none" in ctx.prompts:
            raise step.without_ui(redirect_uri=redirect_uri)
        raise NeedsInteraction(step.name)


def run(params: dict[str, str], *, browser: str, sso_handle: str | None,
        interaction: Interaction | None = None, sess: SsoSession | None = None,
        member: MemberView | None = None) -> BaseResponse:
    """Run the pipeline; returns the redirect to the client, an error, or an interaction.

    `sess` is given by a login that has just created the session (no need to read it back),
    `member` by a login that has just read the session's member.
    """
    p = provider()
    server = current_app.extensions["authlib.server"]
    if sess is None:
        sess = p.sessions.get(sso_handle)
    if sess is None:
        member = None
    elif member is None or member.id != sess.member_id:
        member = load_member(db.session, sess.member_id)
    if member is not None and not member.is_active:
        member = None
    req = oauth_request(params)
    try:
        validate_request(params)
        grant = server.get_consent_grant(request=req, end_user=member)
        redirect_uri = grant.redirect_uri
        prompts = check_prompt(params, redirect_uri)
        wanted = requested_acr(params, redirect_uri)
        check_login(params, prompts, sess, member, interaction, redirect_uri, wanted)
        assert sess is not None and member is not None
        client: RegisteredClient = req.client
        check_steps(StepContext(member, client, req.scope or "", prompts), interaction,
                    redirect_uri)
    except NeedsInteraction as need:
        if interaction is None:
            interaction = p.interactions.start(params, browser)
        else:
            p.interactions.save(interaction)  # keeps the login and the steps done
        db.session.commit()
        return redirect(url_for(STEP_ENDPOINTS[need.step], uid=interaction.uid), 303)
    except OAuth2Error as error:
        db.session.rollback()
        if interaction is not None:
            p.interactions.finish(interaction)  # the request has its answer
            db.session.commit()
        return handle_oauth_error(error, params)

    # An essential acr is answered with one of the requested values (OIDC Core §5.5.1.1).
    req.sso = replace(sess, acr=wanted.issued(sess.acr))
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
