"""The login page's 기업정보 관리 tab (issue 7; SPEC §3.6; the manual's chapter 06, 로그인 -
③ 기업정보 관리자 로그인): two ways to sign in as a company's manager.

    POST /interaction/<uid>/company                   사업자등록번호 + 기업 로그인 비밀번호
    GET  /interaction/<uid>/company/certificate?cr=   after the 인증서찾기 widget (purpose
                                                      "login", the business number typed
                                                      on the tab) → the company's manager

Both end in finish_login with the manager principal (a `company_manager` member): relying
parties get member type company_manager and the company in `kotra_company`
(idp/services/claims.py). A password login reaches urn:kotra:acr:password ("pwd"); a
certificate login urn:kotra:acr:certificate ("swk"), so a relying party may ask for it.
"""

from __future__ import annotations

from flask import url_for
from flask.blueprints import BlueprintSetupState
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from werkzeug.routing import BuildError
from werkzeug.wrappers import Response as BaseResponse
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from idp.errors import InvalidCredentials, LoginThrottled
from idp.extensions import db
from idp.oidc import authorize as pipeline
from idp.oidc.server import client_ip, provider
from idp.services.company_console import (
    COMPANY_CERTIFICATE,
    COMPANY_PASSWORD,
    CompanyNotActive,
    CompanyNotRegistered,
    authenticate_company,
    manager_for_certificate,
)
from idp.services.login import LoginMethods
from idp.services.sessions import Interaction
from idp.web.certificate import CertificateError, certificate_message, take_certificate
from idp.web.forms import PRINTABLE, GeneralLoginForm
from idp.web.interaction import current_interaction, finish_login, register_login_method
from idp.web.views import _expired, _render_login, bp

register_login_method(bp, COMPANY_PASSWORD)


def _offer_certificate(state: BlueprintSetupState) -> None:
    """The certificate login counts as a way to reach its acr only where certificates can
    be checked (an NPKI verifier is configured; read once, when the app is built)."""
    if state.app.extensions["idp"].certificate_verifier is not None:
        state.app.extensions.setdefault(pipeline.LOGIN_METHODS, LoginMethods()).register(
            COMPANY_CERTIFICATE)


bp.record_once(_offer_certificate)


@bp.app_context_processor
def _company_links() -> dict[str, object]:
    def company_register_url() -> str:
        """기업정보 등록 (idp/web/company_register.py, when this build has it)."""
        try:
            return url_for("company_register.start")
        except BuildError:
            return "/company/register"
    return {"company_register_url": company_register_url}


class CompanyLoginForm(FlaskForm):
    business_number = StringField(validators=[DataRequired(), Length(max=20), PRINTABLE])
    password = PasswordField(validators=[DataRequired(), Length(max=128), PRINTABLE])


def not_active_message(status: str) -> str:
    if status == "pending":
        return _("기업정보 등록 심사가 진행 중입니다. 심사가 끝나면 이메일로 알려 드립니다.")
    return _("기업정보 등록이 반려된 기업입니다. 기업정보 등록을 다시 신청해 주세요.")


def _company_tab(ia: Interaction, status: int, message: str,
                 business_number: str = "") -> BaseResponse:
    return _render_login(ia, GeneralLoginForm(formdata=None), status, message, tab="company",
                         company_number=business_number)


@bp.post("/interaction/<uid>/company")
def company_login_submit(uid: str) -> BaseResponse:
    """기업정보 관리 로그인: business number (with or without dashes) + company password."""
    ia = current_interaction(uid)
    if ia is None:
        return _expired()
    p = provider()
    form = CompanyLoginForm()
    number = (form.business_number.data or "")[:20]
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            return _company_tab(ia, 400, _("요청이 만료되었습니다. 다시 시도해 주세요."), number)
        return _company_tab(ia, 400, _("사업자등록번호와 비밀번호를 입력해 주세요."), number)
    try:
        manager = authenticate_company(
            db.session, p.passwords, p.throttle, business_number=number,
            password=form.password.data or "", ip=client_ip(),
            client_id=ia.params.get("client_id"))
    except LoginThrottled as exc:
        if exc.locked:
            msg = _("로그인 시도가 너무 많습니다. %(minutes)d분 후 다시 시도해 주세요.",
                    minutes=max(1, (exc.retry_after + 59) // 60))
        else:
            msg = _("로그인 시도가 너무 많습니다. %(seconds)d초 후 다시 시도해 주세요.",
                    seconds=exc.retry_after)
        resp = _company_tab(ia, 429, msg, number)
        resp.headers["Retry-After"] = str(exc.retry_after)
        return resp
    except InvalidCredentials:
        # One message for an unknown number and a wrong password (no company enumeration).
        return _company_tab(ia, 401, _("사업자등록번호 또는 비밀번호가 일치하지 않습니다."), number)
    except CompanyNotActive as exc:
        return _company_tab(ia, 403, not_active_message(exc.status), number)
    return finish_login(ia, manager, acr=COMPANY_PASSWORD.acr, amr=list(COMPANY_PASSWORD.amr))


@bp.get("/interaction/<uid>/company/certificate")
def company_certificate_login(uid: str) -> BaseResponse:
    """공동인증서 로그인: the company whose certificate the widget just checked."""
    ia = current_interaction(uid)
    if ia is None:
        return _expired()
    try:
        certified = take_certificate("login")
    except CertificateError as exc:
        db.session.commit()  # a refused result is discarded for good
        return _company_tab(ia, 400, certificate_message(exc.reason))
    try:
        manager = manager_for_certificate(db.session, certified.business_number,
                                          ip=client_ip(), client_id=ia.params.get("client_id"))
    except CompanyNotRegistered:
        return _company_tab(ia, 404, _("등록되지 않은 기업입니다. 기업정보 등록을 먼저 해 주세요."),
                            certified.business_number)
    except CompanyNotActive as exc:
        return _company_tab(ia, 403, not_active_message(exc.status), certified.business_number)
    return finish_login(ia, manager, acr=COMPANY_CERTIFICATE.acr,
                        amr=list(COMPANY_CERTIFICATE.amr))


__all__ = ["CompanyLoginForm", "company_certificate_login", "company_login_submit",
           "not_active_message"]
