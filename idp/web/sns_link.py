"""MY KOTRA > SNS 계정 연결 (issue 9; manual ch. 06): a general member links and unlinks Naver,
Kakao, Google and Facebook accounts.

    GET  /my/sns           the links (SNS, masked account, 연결일) and the SNS not linked yet
    POST /my/sns/link      provider=<name> → the vendor (a fresh round trip, purpose "link")
    GET  /sns/<p>/callback the vendor's answer (idp/web/sns.py routes "link" transactions to
                           `link_callback`) → the link is added for the signed-in member
    POST /my/sns/unlink    link=<id>

A link needs the SNS round trip of the member signed in when it started (the transaction
remembers the member; another member signed in meanwhile is refused), never a typed email.
A (provider, subject) linked to another member is refused, never moved or merged; the last way
to sign in (no password, one link) cannot be removed. Each change and refusal is audited.
"""

from __future__ import annotations

import datetime as dt
import logging

from flask import Response, abort, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response as BaseResponse

from idp.cookies import browser_id, cookies
from idp.extensions import db
from idp.models import Member, MemberType
from idp.oidc.server import client_ip, provider
from idp.services import audit
from idp.services import sns as service
from idp.services.find_id import joined_at_kst
from idp.web.interaction import current_session

log = logging.getLogger(__name__)

PROVIDER_NAMES = {"naver": _l("네이버"), "kakao": _l("카카오"), "google": _l("구글"),
                  "facebook": _l("페이스북")}
MESSAGES = {
    "linked": _l("SNS 계정을 연결했습니다. 이제 이 SNS 계정으로도 로그인할 수 있습니다."),
    "unlinked": _l("SNS 계정 연결을 해제했습니다."),
    "other_member": _l("이 SNS 계정은 이미 다른 회원에 연결되어 있어 연결할 수 없습니다. "
                       "해당 회원으로 로그인하여 연결을 해제한 뒤 다시 시도해 주세요."),
    "already": _l("이미 연결된 SNS 계정입니다."),
    "provider_taken": _l("같은 SNS의 다른 계정이 이미 연결되어 있습니다. 연결을 해제한 뒤 다시 "
                         "시도해 주세요."),
    "simple": _l("간편회원은 일반회원으로 전환한 뒤 SNS 계정을 추가로 연결할 수 있습니다."),
    "last": _l("로그인할 수 있는 마지막 수단이므로 연결을 해제할 수 없습니다. 비밀번호를 먼저 "
               "설정하거나 다른 SNS 계정을 연결해 주세요."),
    "not_found": _l("연결된 SNS 계정을 찾을 수 없습니다. 이미 해제되었을 수 있습니다."),
    "cancelled": _l("SNS 계정 연결을 취소하였습니다."),
    "unavailable": _l("SNS 서비스에 연결할 수 없습니다. 잠시 후 다시 시도해 주세요."),
    "refused": _l("SNS 계정을 확인하지 못했습니다. 다시 시도해 주세요."),
    "failed": _l("SNS 계정을 확인하지 못했습니다. 다시 시도해 주세요."),
    "expired": _l("연결 요청 시간이 지났거나 로그인 정보가 바뀌었습니다. 다시 시도해 주세요."),
}
OK = ("linked", "unlinked")


def _now() -> dt.datetime:
    return dt.datetime.fromtimestamp(provider().clock.now(), dt.UTC).replace(tzinfo=None)


def _back(result: str, status: int = 303) -> BaseResponse:
    return redirect(url_for("my.sns", result=result), status)


def links_page(member: Member, status: int = 200) -> BaseResponse:
    links = service.links_of(db.session, member.id)
    linked = {k.provider for k in links}
    rows = [{"id": k.id, "provider": k.provider, "label": PROVIDER_NAMES[k.provider],
             "account": service.mask_email(k.email) or service.mask_subject(k.subject),
             "linked_at": joined_at_kst(k.linked_at)} for k in links]
    available = [(n, PROVIDER_NAMES[n]) for n in provider().sns.names() if n not in linked]
    result = request.args.get("result", "")
    message = str(MESSAGES[result]) if result in MESSAGES else None
    last = not member.password_hash and len(links) == 1
    return Response(render_template(
        "my/sns.html", rows=rows, available=available, message=message,
        ok=result in OK, simple=member.member_type == MemberType.SIMPLE, last=last), status)


def start_link(member: Member) -> BaseResponse:
    p = provider()
    name = request.form.get("provider", "")
    sns = p.sns.get(name)
    if sns is None:
        abort(404)
    if member.member_type == MemberType.SIMPLE:
        return _back("simple")
    try:
        started = service.start(p.flows, sns, ttl=p.sns.ttl, browser=browser_id(),
                                redirect_uri=p.sns.callback_url(name), interaction="",
                                purpose="link", member_id=member.id)
    except service.SnsError as exc:
        log.warning("sns %s link start failed: %s", name, exc)
        db.session.rollback()
        return _back(exc.reason)
    db.session.commit()
    return redirect(started.url, 303)


def link_callback(name: str, sns: service.SnsProvider) -> BaseResponse:
    """A "link" transaction's callback: the link for the member who started it, if still
    signed in in this browser."""
    p = provider()
    browser = cookies().browser.read()
    try:
        txn = service.take(p.flows, ttl=p.sns.ttl, browser=browser,
                           state=request.args.get("state"))
        db.session.commit()  # the transaction is used up, whatever follows
        done = service.finish(sns, txn, request.args.to_dict())
    except service.SnsError as exc:
        log.info("sns %s link callback refused: %s", name, exc)
        db.session.rollback()
        audit.record(db.session, "sns.failed", ip=client_ip(), provider=name,
                     reason=exc.reason, purpose="link")
        db.session.commit()
        return _back(exc.reason)
    sess = current_session()
    member_id = txn.data.get("member_id")
    if sess is None or member_id is None or sess.member_id != member_id:
        # Signed out, or another member signed in, since the round trip began.
        return _back("expired")
    try:
        service.add_link(db.session, int(member_id), done.profile, now=_now(), ip=client_ip())
        db.session.commit()
    except service.LinkRefused as exc:
        db.session.commit()  # the refusal's audit event
        return _back(exc.reason)
    except IntegrityError:  # the unique key: the same account linked at the same moment elsewhere
        db.session.rollback()
        if service.find_link(db.session, done.profile.provider, done.profile.subject):
            return _back("other_member")
        raise
    return _back("linked")


def unlink(member: Member) -> BaseResponse:
    try:
        link_id = int(request.form.get("link", ""))
    except ValueError:
        return _back("not_found")
    try:
        service.remove_link(db.session, member.id, link_id, ip=client_ip())
    except service.LinkRefused as exc:
        db.session.commit()
        return _back(exc.reason)
    db.session.commit()
    return _back("unlinked")
