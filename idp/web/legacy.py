"""The conversion of an old site's account into a unified general member (manual ch. 03).

The 일반회원 tab (views.login_submit) starts it when an old ID and its old password match;
these pages follow the manual's screens, each a step of one flow bound to the browser
(idp/services/legacy_conversion.py):

    /interaction/<uid>/legacy/<fid>            회원님은 아래 홈페이지에 가입이 되어있습니다 (choose)
    /interaction/<uid>/legacy/<fid>/password   비밀번호 재설정 (and a new ID when needed)
    /interaction/<uid>/legacy/<fid>/terms      개정된 이용약관 동의 → the conversion
    /interaction/<uid>/legacy/<fid>/done       가입 완료 → 확인 → finish_login
"""

from __future__ import annotations

import datetime as dt

from flask import Response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse

from idp.cookies import cookies
from idp.errors import AlreadyExists, InvalidInput
from idp.extensions import db
from idp.models import LegacyAccount, Member
from idp.models.base import DbSession
from idp.oidc.server import client_ip, provider
from idp.services import legacy_conversion as conversion
from idp.services.flows import Flow
from idp.services.legacy_import import KST
from idp.services.login import PASSWORD
from idp.services.members import SignedIn
from idp.services.sessions import Interaction
from idp.services.terms import current_documents, record_consents
from idp.web.interaction import current_interaction, finish_login
from idp.web.terms import marketing_answers, terms_answers
from idp.web.views import _expired, bp

# The old member types as the manual names them (개인회원; 기업회원 MASTER / 정회원 / 준회원).
TYPE_LABELS = {
    "personal": _l("개인회원"),
    "master": _l("MASTER"),
    "regular": _l("정회원"),
    "associate": _l("준회원"),
}
# The pages of the flow's steps, in order.
STEP_PAGES = {
    conversion.CHOOSE: "web.legacy_choose",
    conversion.PASSWORD: "web.legacy_password",
    conversion.TERMS: "web.legacy_terms",
    conversion.DONE: "web.legacy_done",
}


class LegacyForm(FlaskForm):
    """CSRF only: each page reads its few fields itself."""


def start(ia: Interaction, match: conversion.LegacyMatch) -> BaseResponse:
    """The old ID and password matched: begin (or resume) this browser's conversion."""
    browser = cookies().browser.read() or ""
    p = provider()
    flow = conversion.begin(db.session, p.flows, p.store, match, browser=browser)
    db.session.commit()
    return redirect(url_for(STEP_PAGES[flow.data["step"]], uid=ia.uid, fid=flow.id), 303)


def _load(uid: str, fid: str, *steps: str) -> tuple[Interaction, Flow] | BaseResponse:
    """The interaction and the flow, or the page to go to instead: the expired page, the
    login page (the flow is gone), or the page of the step the flow is at."""
    ia = current_interaction(uid)
    if ia is None:
        return _expired()
    flow = provider().flows.get(conversion.CONVERSION, fid, browser=cookies().browser.read())
    if flow is None:
        return redirect(url_for("web.login_page", uid=uid), 303)
    if flow.data["step"] not in steps:
        return redirect(url_for(STEP_PAGES[flow.data["step"]], uid=uid, fid=fid), 303)
    return ia, flow


def _cancelled(ia: Interaction, flow: Flow) -> BaseResponse | None:
    if request.method == "POST" and request.form.get("decision") == "cancel":
        p = provider()
        conversion.discard(p.flows, p.store, flow, browser=cookies().browser.read() or "")
        db.session.commit()
        return redirect(url_for("web.login_page", uid=ia.uid), 303)
    return None


def joined_on(account: LegacyAccount) -> str:
    """The join date as the old sites showed it (Korean time)."""
    return account.joined_at.astimezone(KST).strftime("%Y-%m-%d") if account.joined_at else "-"


def _page(template: str, status: int = 200, **context: object) -> BaseResponse:
    return Response(render_template(template, type_labels=TYPE_LABELS, joined_on=joined_on,
                                    **context), status)


@bp.route("/interaction/<uid>/legacy/<fid>", methods=["GET", "POST"])
def legacy_choose(uid: str, fid: str) -> BaseResponse:
    """회원님은 아래 홈페이지에 가입이 되어있습니다: choose the old account to keep."""
    loaded = _load(uid, fid, conversion.CHOOSE, conversion.PASSWORD, conversion.TERMS)
    if not isinstance(loaded, tuple):
        return loaded
    ia, flow = loaded
    form = LegacyForm()
    if request.method == "POST" and not form.validate_on_submit():
        return _expired()
    if (gone := _cancelled(ia, flow)) is not None:
        return gone
    accounts = conversion.accounts_of(db.session, flow)
    if not accounts:  # every one was converted meanwhile (another tab)
        return redirect(url_for("web.login_page", uid=uid), 303)
    message = None
    if request.method == "POST":
        try:
            conversion.choose(db.session, provider().flows, flow,
                              int(request.form.get("account", "")), provider().policy)
        except (ValueError, InvalidInput):
            message = _("사용하실 아이디를 선택해 주세요.")
        else:
            db.session.commit()
            return redirect(url_for("web.legacy_password", uid=uid, fid=fid), 303)
    return _page("legacy/choose.html", 400 if message else 200, form=form, ia=ia, flow=flow,
                 accounts=accounts, chosen=flow.data["chosen"] or accounts[0].id,
                 message=message)


def _policy_message(field: str, reason: str) -> str:
    policy = provider().policy
    if field == "login_id":
        if reason == "taken":
            return _("이미 사용 중인 아이디입니다. 다른 아이디를 입력해 주세요.")
        return _("아이디는 영문과 숫자를 섞어 %(min)d~%(max)d자로 입력해 주세요.",
                 min=policy.login_id_min, max=policy.login_id_max)
    if field == "confirm":
        return _("비밀번호가 일치하지 않습니다. 다시 입력해 주세요.")
    return _("비밀번호는 영문, 숫자, 특수문자를 모두 포함해 %(min)d~%(max)d자로 입력해 주세요.",
             min=policy.password_min, max=policy.password_max)


@bp.route("/interaction/<uid>/legacy/<fid>/password", methods=["GET", "POST"])
def legacy_password(uid: str, fid: str) -> BaseResponse:
    """비밀번호 재설정 (required), and a new ID when the old one is taken or not allowed."""
    loaded = _load(uid, fid, conversion.PASSWORD, conversion.TERMS)
    if not isinstance(loaded, tuple):
        return loaded
    ia, flow = loaded
    form = LegacyForm()
    if request.method == "POST" and not form.validate_on_submit():
        return _expired()
    if (gone := _cancelled(ia, flow)) is not None:
        return gone
    chosen = db.session.get(LegacyAccount, flow.data["chosen"])
    if chosen is None or not chosen.is_pending:
        return redirect(url_for("web.legacy_choose", uid=uid, fid=fid), 303)
    needs_id = bool(flow.data.get("new_id_needed"))
    message = field = None
    if request.method == "GET" and request.args.get("taken"):
        field, message = "login_id", _policy_message("login_id", "taken")
    new_login_id = request.form.get("new_login_id", "")[:40] if request.method == "POST" else ""
    if request.method == "POST":
        p = provider()
        try:
            conversion.set_password(
                db.session, p.flows, flow, p.passwords, p.policy,
                password=request.form.get("password", "")[:128],
                confirm=request.form.get("confirm", "")[:128],
                new_login_id=new_login_id if needs_id else None)
        except InvalidInput as exc:
            field, message = exc.field, _policy_message(exc.field, exc.message)
        else:
            db.session.commit()
            return redirect(url_for("web.legacy_terms", uid=uid, fid=fid), 303)
    return _page("legacy/password.html", 400 if field and request.method == "POST" else 200,
                 form=form, ia=ia,
                 flow=flow, chosen=chosen, needs_id=needs_id, new_login_id=new_login_id,
                 message=message, field=field, policy=provider().policy)


def _now() -> dt.datetime:
    return dt.datetime.fromtimestamp(provider().clock.now(), dt.UTC).replace(tzinfo=None)


@bp.route("/interaction/<uid>/legacy/<fid>/terms", methods=["GET", "POST"])
def legacy_terms(uid: str, fid: str) -> BaseResponse:
    """개정된 이용약관 동의 (required); agreeing converts the account (one transaction)."""
    loaded = _load(uid, fid, conversion.TERMS)
    if not isinstance(loaded, tuple):
        return loaded
    ia, flow = loaded
    form = LegacyForm()
    if request.method == "POST" and not form.validate_on_submit():
        return _expired()
    if (gone := _cancelled(ia, flow)) is not None:
        return gone
    documents = current_documents(db.session)
    message = None
    invalid: list[str] = []
    checked: dict[str, bool] = {}
    if request.method == "POST":
        checked = terms_answers(request.form, documents)
        marketing = marketing_answers(request.form)
        if not checked.get("marketing", True):
            marketing = dict.fromkeys(marketing, False)

        def record(session: DbSession, member_id: int, *, now: dt.datetime) -> None:
            record_consents(session, member_id, agreed=checked, marketing=marketing,
                            source="conversion", now=now)

        try:
            conversion.convert(db.session, provider().flows, flow, record, now=_now(),
                               ip=client_ip())
        except conversion.ConversionGone:
            # A double submit: the other request converted it; show what it did.
            return redirect(url_for("web.legacy_done", uid=uid, fid=fid), 303)
        except AlreadyExists:
            conversion.id_taken_meanwhile(provider().flows, flow)
            db.session.commit()
            return redirect(url_for("web.legacy_password", uid=uid, fid=fid, taken=1), 303)
        except InvalidInput:
            invalid = [d.kind for d in documents if d.required and not checked.get(d.kind)]
            message = _("필수 약관에 모두 동의하셔야 통합회원 전환을 계속할 수 있습니다.")
        else:
            return redirect(url_for("web.legacy_done", uid=uid, fid=fid), 303)
    return _page("legacy/terms.html", 400 if message else 200, form=form, ia=ia, flow=flow,
                 documents=documents, message=message, invalid=invalid,
                 checked=[k for k, v in checked.items() if v])


@bp.route("/interaction/<uid>/legacy/<fid>/done", methods=["GET", "POST"])
def legacy_done(uid: str, fid: str) -> BaseResponse:
    """가입 완료: register the company again (MY KOTRA 소속기업 관리); 확인 resumes the sign-in."""
    loaded = _load(uid, fid, conversion.DONE)
    if not isinstance(loaded, tuple):
        ia = current_interaction(uid)
        if ia is not None and request.method == "POST":
            # The other of a double submit already signed in: pick up where it left off.
            return redirect(url_for("web.resume", uid=uid), 303)
        return loaded
    ia, flow = loaded
    form = LegacyForm()
    member = db.session.get(Member, flow.data["member_id"])
    if member is None:  # (not committed after all: start again)
        return redirect(url_for("web.login_page", uid=uid), 303)
    if request.method == "POST":
        if not form.validate_on_submit():
            return _expired()
        p = provider()
        if conversion.finish(p.flows, p.store, fid,
                             browser=cookies().browser.read() or "") is None:
            return redirect(url_for("web.resume", uid=uid), 303)
        # The new password was just set: a password login (acr/amr of PASSWORD).
        return finish_login(ia, SignedIn(member.id, member.login_id), acr=PASSWORD.acr,
                            amr=list(PASSWORD.amr))
    former = flow.data.get("former_type")
    return _page("legacy/done.html", form=form, ia=ia, flow=flow, member=member,
                 former_master=former == "master")
