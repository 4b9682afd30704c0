"""The 간편회원 tab's SNS sign-in and the simple sign-up (issue 9; manual ch. 02 and 06).

    /sns/<provider>/start?interaction=<uid>    a button of the 간편회원 tab → the vendor
    /sns/<provider>/callback                   `<issuer>/sns/<provider>/callback`, registered
                                               with each vendor (README)
    /interaction/<uid>/sns/<fid>/terms         약관동의 (the four items, the 3-year notice)
    /interaction/<uid>/sns/<fid>/info          the items the SNS did not give (이름, 휴대폰, 이메일)
    /interaction/<uid>/sns/<fid>/done          간편 회원가입 완료: 일반회원 전환 | 로그인

A known (provider, subject) signs its member in through finish_login (acr federated, amr
["fed"]); an unknown one starts the simple sign-up. Every failure goes back to the login
page's 간편회원 tab with a Korean message; a vendor that is down or slow says "잠시 후 다시
시도해 주세요" (the adapters' timeouts bound the wait), never a 500.
"""

from __future__ import annotations

import datetime as dt
import logging

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse

from idp.cookies import cookies
from idp.errors import InvalidInput
from idp.extensions import db
from idp.models import Member
from idp.oidc.server import client_ip, provider
from idp.services import audit
from idp.services import sns as service
from idp.services.flows import Flow
from idp.services.members import SignedIn
from idp.services.sessions import Interaction
from idp.services.terms import current_documents, record_consents
from idp.web.conversion import begin_after_sns_signup
from idp.web.interaction import current_interaction, finish_login, register_login_method
from idp.web.terms import marketing_answers, terms_answers

log = logging.getLogger(__name__)

bp = Blueprint("sns", __name__)
register_login_method(bp, service.SNS_LOGIN)

# How the tab names each button (manual, 로그인 - ① 간편회원), in its order.
BUTTON_LABELS = {
    "naver": _l("네이버 로그인"),
    "kakao": _l("카카오톡 로그인"),
    "google": _l("구글 로그인"),
    "facebook": _l("페이스북 로그인"),
}
# How the sign-up pages name the SNS.
PROVIDER_NAMES = {"naver": _l("네이버"), "kakao": _l("카카오"), "google": _l("구글"),
                  "facebook": _l("페이스북")}
SIGNUP_TTL = 1800


class SnsForm(FlaskForm):
    """CSRF only: each page reads its few fields itself."""


@bp.app_context_processor
def _tab() -> dict[str, object]:
    """The 간편회원 tab's buttons: the configured providers only."""
    return {"sns_buttons": [(n, BUTTON_LABELS[n]) for n in provider().sns.names()]}


def _expired() -> BaseResponse:
    return Response(render_template("oidc/error.html", error="interaction_expired"), 400)


def _back_to_login(uid: str, reason: str) -> BaseResponse:
    return redirect(url_for("web.login_page", uid=uid, tab="simple", sns=reason), 303)


def _now() -> dt.datetime:
    return dt.datetime.fromtimestamp(provider().clock.now(), dt.UTC).replace(tzinfo=None)


@bp.get("/sns/<name>/start")
def start(name: str) -> BaseResponse:
    """Begin a round trip with the vendor for the pending request `interaction`."""
    p = provider()
    sns = p.sns.get(name)
    if sns is None:
        abort(404)
    uid = request.args.get("interaction", "")
    ia = current_interaction(uid)
    if ia is None:
        return _expired()
    try:
        started = service.start(p.flows, sns, ttl=p.sns.ttl,
                                browser=cookies().browser.read() or "",
                                redirect_uri=p.sns.callback_url(name), interaction=ia.uid)
    except service.SnsError as exc:  # Google's discovery document could not be read
        log.warning("sns %s start failed: %s", name, exc)
        db.session.rollback()
        return _back_to_login(ia.uid, exc.reason)
    db.session.commit()
    return redirect(started.url, 303)


@bp.get("/sns/<name>/callback")
def callback(name: str) -> BaseResponse:
    """The vendor's answer: sign in a linked member, or begin the simple sign-up."""
    p = provider()
    sns = p.sns.get(name)
    if sns is None:
        abort(404)
    browser = cookies().browser.read()
    if service.purpose_of(p.flows, ttl=p.sns.ttl, state=request.args.get("state"),
                          browser=browser) == "link":
        from idp.web.sns_link import link_callback  # MY KOTRA > SNS 계정 연결

        return link_callback(name, sns)
    uid = service.interaction_of(p.flows, ttl=p.sns.ttl, state=request.args.get("state"),
                                 browser=browser)
    try:
        txn = service.take(p.flows, ttl=p.sns.ttl, browser=browser,
                           state=request.args.get("state"))
        db.session.commit()  # the transaction is used up, whatever follows
        done = service.finish(sns, txn, request.args.to_dict())
    except service.SnsError as exc:
        log.info("sns %s callback refused: %s", name, exc)
        db.session.rollback()
        audit.record(db.session, "sns.failed", ip=client_ip(), provider=name,
                     reason=exc.reason)
        db.session.commit()
        if uid is None:  # wrong, replayed or another browser's state: nothing to go back to
            return _expired()
        return _back_to_login(uid, exc.reason)
    ia = current_interaction(done.interaction)
    if ia is None:
        return _expired()
    profile = done.profile
    link = service.find_link(db.session, profile.provider, profile.subject)
    if link is not None:
        member = service.signed_in(db.session, link, now=_now(), ip=client_ip())
        if member is None:
            db.session.commit()
            return _back_to_login(ia.uid, "refused")
        return finish_login(ia, SignedIn(member.id, member.login_id),
                            acr=service.SNS_LOGIN.acr, amr=list(service.SNS_LOGIN.amr))
    flow = service.begin_signup(p.flows, profile, ttl=SIGNUP_TTL,
                                browser=browser or "", interaction=ia.uid)
    db.session.commit()
    return redirect(url_for("sns.signup_terms", uid=ia.uid, fid=flow.id), 303)


# ---------------------------------------------------------------------------------------------
# Simple sign-up (manual ch. 02: 간편회원 가입)

STEP_PAGES = {"terms": "sns.signup_terms", "info": "sns.signup_info", "done": "sns.signup_done"}


def _load(uid: str, fid: str, *steps: str) -> tuple[Interaction, Flow] | BaseResponse:
    ia = current_interaction(uid)
    if ia is None:
        return _expired()
    flow = provider().flows.get(service.signup_kind(SIGNUP_TTL), fid,
                                browser=cookies().browser.read())
    if flow is None:
        return _back_to_login(uid, "expired")
    if flow.data["step"] not in steps:
        return redirect(url_for(STEP_PAGES[flow.data["step"]], uid=uid, fid=fid), 303)
    return ia, flow


def _cancelled(ia: Interaction, flow: Flow) -> BaseResponse | None:
    if request.form.get("decision") == "cancel":
        provider().flows.discard(flow.id)
        db.session.commit()
        return redirect(url_for("web.login_page", uid=ia.uid, tab="simple"), 303)
    return None


def _create(ia: Interaction, flow: Flow, *, name: str | None = None,
            mobile: str | None = None, email: str | None = None) -> BaseResponse | None:
    """Create the member with its answers to the terms; None when done (the flow is at
    `done`), else the error to show."""
    profile = service.SnsProfile.from_dict(flow.data["profile"])
    now = _now()
    shown = flow.data.get("versions") or {}
    if shown != {d.kind: d.version for d in current_documents(db.session)}:
        # The terms changed since the member agreed (a new version): ask for them again.
        provider().flows.update(flow, {**flow.data, "step": "terms"})
        db.session.commit()
        return redirect(url_for("sns.signup_terms", uid=ia.uid, fid=flow.id), 303)
    try:
        member = service.create_simple_member(db.session, profile, name=name, mobile=mobile,
                                              email=email, now=now, ip=client_ip())
        record_consents(db.session, member.id, agreed=flow.data["agreed"],
                        marketing=flow.data["marketing"], source="sns_signup", now=now)
    except InvalidInput as exc:
        db.session.rollback()
        if exc.field == "sns":  # another tab finished this sign-up first: just sign in
            return _back_to_login(ia.uid, "linked")
        # The terms changed meanwhile (a new required document): ask for them again.
        provider().flows.update(flow, {**flow.data, "step": "terms"})
        db.session.commit()
        return redirect(url_for("sns.signup_terms", uid=ia.uid, fid=flow.id), 303)
    provider().flows.update(flow, {**flow.data, "step": "done", "member_id": member.id})
    db.session.commit()
    return None


@bp.route("/interaction/<uid>/sns/<fid>/terms", methods=["GET", "POST"])
def signup_terms(uid: str, fid: str) -> BaseResponse:
    """약관동의 후 [가입하기]: the four items and the 3-year notice."""
    loaded = _load(uid, fid, "terms")
    if not isinstance(loaded, tuple):
        return loaded
    ia, flow = loaded
    form = SnsForm()
    documents = current_documents(db.session)
    message = None
    invalid: list[str] = []
    checked: dict[str, bool] = {}
    if request.method == "POST":
        if not form.validate_on_submit():
            return _expired()
        if (gone := _cancelled(ia, flow)) is not None:
            return gone
        checked = terms_answers(request.form, documents)
        marketing = marketing_answers(request.form)
        if not checked.get("marketing", True):
            marketing = dict.fromkeys(marketing, False)
        invalid = [d.kind for d in documents if d.required and not checked.get(d.kind)]
        if invalid:
            message = _("필수 약관에 모두 동의하셔야 가입할 수 있습니다.")
        else:
            flow.data.update(agreed=checked, marketing=marketing,
                             versions={d.kind: d.version for d in documents})
            profile = service.SnsProfile.from_dict(flow.data["profile"])
            if service.missing_items(profile):
                provider().flows.update(flow, {**flow.data, "step": "info"})
                db.session.commit()
                return redirect(url_for("sns.signup_info", uid=uid, fid=fid), 303)
            failed = _create(ia, flow)
            if failed is not None:
                return failed
            return redirect(url_for("sns.signup_done", uid=uid, fid=fid), 303)
    return Response(render_template(
        "sns/terms.html", form=form, ia=ia, flow=flow, documents=documents, message=message,
        invalid=invalid, checked=[k for k, v in checked.items() if v],
        provider_label=PROVIDER_NAMES[flow.data["profile"]["provider"]],
    ), 400 if message else 200)


FIELD_MESSAGES = {
    "name": _l("이름을 입력해 주세요."),
    "mobile": _l("휴대폰번호를 정확히 입력해 주세요. (예: 010-1234-5678)"),
    "email": _l("이메일 주소를 정확히 입력해 주세요."),
}


@bp.route("/interaction/<uid>/sns/<fid>/info", methods=["GET", "POST"])
def signup_info(uid: str, fid: str) -> BaseResponse:
    """The items a simple member keeps that the SNS did not give."""
    loaded = _load(uid, fid, "info")
    if not isinstance(loaded, tuple):
        return loaded
    ia, flow = loaded
    form = SnsForm()
    profile = service.SnsProfile.from_dict(flow.data["profile"])
    missing = service.missing_items(profile)
    values = {item: "" for item in missing}
    errors: dict[str, str] = {}
    if request.method == "POST":
        if not form.validate_on_submit():
            return _expired()
        if (gone := _cancelled(ia, flow)) is not None:
            return gone
        values = {item: request.form.get(item, "").strip()[:100] for item in missing}
        checks = {"name": bool(values.get("name")),
                  "mobile": service.normalize_mobile(values.get("mobile")) is not None,
                  "email": service.normalize_email(values.get("email")) is not None}
        errors = {item: str(FIELD_MESSAGES[item]) for item in missing if not checks[item]}
        if not errors:
            failed = _create(ia, flow, name=values.get("name"), mobile=values.get("mobile"),
                             email=values.get("email"))
            if failed is not None:
                return failed
            return redirect(url_for("sns.signup_done", uid=uid, fid=fid), 303)
    return Response(render_template(
        "sns/info.html", form=form, ia=ia, flow=flow, missing=missing, values=values,
        errors=errors,
    ), 400 if errors else 200)


@bp.route("/interaction/<uid>/sns/<fid>/done", methods=["GET", "POST"])
def signup_done(uid: str, fid: str) -> BaseResponse:
    """간편 회원가입이 완료되었습니다: 일반회원 전환 (idp/web/conversion.py) or 로그인
    (resumes the request)."""
    loaded = _load(uid, fid, "done")
    if not isinstance(loaded, tuple):
        if request.method == "POST" and current_interaction(uid) is not None:
            # The other of a double submit signed in already: pick up where it left off.
            return redirect(url_for("web.resume", uid=uid), 303)
        return loaded
    ia, flow = loaded
    form = SnsForm()
    member = db.session.get(Member, flow.data["member_id"])
    if member is None:
        return _back_to_login(uid, "expired")
    if request.method == "POST":
        if not form.validate_on_submit():
            return _expired()
        p = provider()
        if p.flows.consume(service.signup_kind(SIGNUP_TTL), fid,
                           browser=cookies().browser.read()) is None:
            return redirect(url_for("web.resume", uid=uid), 303)
        if request.form.get("decision") == "convert":
            # 일반회원 전환 (issue 9): the sign-up just proved this member in this browser;
            # the conversion's 로그인 resumes the pending sign-in.
            return begin_after_sns_signup(member.id, uid)
        # The SNS round trip just proved the member: an SNS login.
        return finish_login(ia, SignedIn(member.id, member.login_id),
                            acr=service.SNS_LOGIN.acr, amr=list(service.SNS_LOGIN.amr))
    return Response(render_template("sns/done.html", form=form, ia=ia, flow=flow,
                                    member=member))
