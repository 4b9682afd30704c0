"""The one ending of every sign-in, and of every step between sign-in and the code.

node-oidc-provider's `interactionFinished`: a login view (password today; 간편인증, SNS,
company password, certificate, legacy conversion later) authenticates the user its own way,
then calls

    return finish_login(ia, signed_in, acr=PASSWORD.acr, amr=list(PASSWORD.amr))

which ends another member's session in this browser, starts or rotates the SSO session,
records the login on the interaction (time, session, acr reached), runs the authorization
request again and answers with its result as a 303 (the client's redirect with the code, an
error for the client, or the next step's page), with the SSO cookie set. A step page
(consent, a forced password change) ends in `step_done(ia, name)`.
"""

from __future__ import annotations

from typing import Protocol

from flask import Blueprint, g, redirect, request, url_for
from flask.sansio.app import App
from werkzeug.wrappers import Response as BaseResponse

from idp.cookies import cookies
from idp.extensions import db
from idp.models.readmodels import MemberView
from idp.oidc import authorize as pipeline
from idp.oidc.logout import end_session
from idp.oidc.server import client_ip, provider
from idp.services.login import LoginMethod, LoginMethods
from idp.services.sessions import Interaction, SsoSession


class Principal(Protocol):
    """Who a login proved the user to be (a member, or a company manager, who is one too)."""

    @property
    def member_id(self) -> int: ...


def register_login_method(bp: Blueprint, method: LoginMethod) -> None:
    """Offer `method` in every app that registers `bp` (its view must end in finish_login)."""
    bp.record_once(lambda state: _register(state.app, method))


def _register(app: App, method: LoginMethod) -> None:
    app.extensions.setdefault(pipeline.LOGIN_METHODS, LoginMethods()).register(method)


def current_interaction(uid: str) -> Interaction | None:
    """The pending request `uid`, only for the browser that started it."""
    ia = provider().interactions.get(uid, cookies().browser.read())
    if ia is not None:
        g.ui_locales = ia.params.get("ui_locales")
    return ia


def current_session() -> SsoSession | None:
    return provider().sessions.get(cookies().sso.read())


def finish_login(ia: Interaction, principal: Principal, *, acr: str,
                 amr: list[str], member: MemberView | None = None) -> BaseResponse:
    """End a successful login: session, interaction record, resumption (303), cookie.

    `acr` is the authentication context class the login reached (idp/services/claims.py),
    `amr` its methods (RFC 8176); usually those of the method's LoginMethod. `member` is the
    principal's member when the login has just read it (saves the resumption a read).
    """
    p = provider()
    previous = current_session()
    if previous is not None and previous.member_id != principal.member_id:
        # Another member signed in in this browser: their session ends everywhere.
        end_session(p, db.session, previous, ip=client_ip(), reason="other_member_login")
        previous = None
    # The session, its relying party and the interaction's end reach a shared store in one
    # round trip, as the block ends (Store.batch): 5 writes, 4 round trips fewer per login.
    with p.store.batch():
        handle, sess = p.sessions.login(previous, member_id=principal.member_id, acr=acr,
                                        amr=amr, ua=request.headers.get("User-Agent"),
                                        ip=client_ip())
        ia.record_login(at=p.clock.now(), sid=sess.sid, acr=acr)
        db.session.commit()  # the login stands whatever the authorization request turns into
        # Resume right away: one round trip from the login form to the client (or the next
        # step).
        resp = pipeline.run(ia.params, browser=cookies().browser.read() or "",
                            sso_handle=handle, interaction=ia, sess=sess, member=member)
    if resp.status_code in (301, 302, 307, 308):
        resp.status_code = 303  # the browser never re-POSTs the credentials
    cookies().sso.set(resp, handle)
    return resp


def step_done(ia: Interaction, step: str) -> BaseResponse:
    """Record that `step` (a name in authorize.STEPS) is done here, and resume the request."""
    if step not in ia.done:
        ia.done.append(step)
    provider().interactions.save(ia)
    db.session.commit()
    return redirect(url_for("web.resume", uid=ia.uid), 303)
