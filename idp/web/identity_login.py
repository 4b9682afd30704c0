"""간편인증 login on the 일반회원 tab (issue 6, SPEC §3.3; manual §6 로그인).

    GET /interaction/<uid>/identity-login        → /verify/start (method simple, purpose
                                                   login) → the 간편인증 vendor
    GET /interaction/<uid>/identity-login/done?vr=<request id>
        → the verified CI → the member (idp/services/identity_login) → finish_login with
          acr urn:kotra:acr:identity-verification, amr ["mca", "swk"] (docs/claims.md)

No member for that CI (or a locked or withdrawn one) gets one page with links to 회원가입 and
아이디 찾기: nothing more is revealed.
"""

from __future__ import annotations

from flask import Blueprint, Response, redirect, render_template, url_for
from flask.blueprints import BlueprintSetupState
from flask_babel import gettext as _
from werkzeug.routing import BuildError
from werkzeug.wrappers import Response as BaseResponse

from idp.errors import InvalidCredentials, LoginThrottled
from idp.extensions import db
from idp.oidc import authorize as pipeline
from idp.oidc.server import client_ip, provider
from idp.services.identity_login import authenticate_identity
from idp.services.login import IDENTITY_VERIFIED, LoginMethods
from idp.web.interaction import current_interaction, finish_login
from idp.web.verification import VerificationError, refusal_message, take_verification

bp = Blueprint("identity_login", __name__)


def _offer(state: BlueprintSetupState) -> None:
    """Register the login method when a vendor does 간편인증 in this app (read once)."""
    if "simple" in state.app.extensions["idp"].identity_verifiers:
        state.app.extensions.setdefault(pipeline.LOGIN_METHODS, LoginMethods()).register(
            IDENTITY_VERIFIED)


bp.record_once(_offer)


def _expired() -> BaseResponse:
    return Response(render_template("oidc/error.html", error="interaction_expired"), 400)


def _link(endpoint: str, path: str, uid: str) -> str:
    """Another area's page (sign-up, find ID), by its endpoint when this build has it."""
    try:
        return url_for(endpoint, ia=uid)
    except BuildError:
        return f"{path}?ia={uid}"


def _result(uid: str, message: str, status: int, *, not_member: bool = False
            ) -> BaseResponse:
    return Response(render_template(
        "verify/login_result.html", uid=uid, message=message, not_member=not_member,
        signup_url=_link("signup.hub", "/signup", uid),
        find_id_url=_link("find_id.start", "/find-id", uid),
    ), status)


@bp.get("/interaction/<uid>/identity-login")
def start(uid: str) -> BaseResponse:
    """간편인증 로그인: off to the 간편인증 vendor, back to `done`."""
    if current_interaction(uid) is None:
        return _expired()
    return redirect(url_for("verify.start", method="simple", purpose="login",
                            next=url_for(".done", uid=uid)), 303)


@bp.get("/interaction/<uid>/identity-login/done")
def done(uid: str) -> BaseResponse:
    """The verified person: sign in the member with that CI, or say there is none."""
    ia = current_interaction(uid)
    if ia is None:
        return _expired()
    try:
        identity = take_verification("login")
    except VerificationError as exc:
        db.session.commit()
        return _result(uid, refusal_message(exc.reason), 400)
    p = provider()
    try:
        member = authenticate_identity(db.session, p.personal_data, p.throttle,
                                       ci=identity.ci, ip=client_ip(),
                                       client_id=ia.params.get("client_id"))
    except LoginThrottled as exc:
        minutes = max(1, (exc.retry_after + 59) // 60)
        resp = _result(uid, _("로그인 시도가 너무 많습니다. %(minutes)d분 후 다시 시도해 주세요.",
                              minutes=minutes), 429)
        resp.headers["Retry-After"] = str(exc.retry_after)
        return resp
    except InvalidCredentials:
        return _result(uid, _("본인확인 정보와 일치하는 회원 정보가 없습니다. 회원가입을 하시거나 "
                              "아이디 찾기를 이용해 주세요."), 404, not_member=True)
    return finish_login(ia, member, acr=IDENTITY_VERIFIED.acr,
                        amr=list(IDENTITY_VERIFIED.amr))
