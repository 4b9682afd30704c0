"""The company's mileage on the demo site: the balance and history from the provider's API, a
demo service to apply for (a participation is recorded), and 마일리지 사용, which first demands
certificate-level authentication (OpenID Connect Core §3.1.2.1 acr_values, prompt=login) and only
then calls the API's use endpoint with the member's sub and the access token the provider issued
to this site at that authentication (the API checks its acr and auth_time itself)."""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import time
import uuid
from typing import Any, cast

from flask import Blueprint, abort, current_app, redirect, request, url_for

from clients.demo_site.mileage_api import ApiProblem, MileageApi
from clients.demo_site.state import SessionStore
from clients.demo_site.views import current, message, page, site

bp = Blueprint("mileage", __name__)

ACR_CERTIFICATE = "urn:kotra:acr:certificate"
# A use of money needs a certificate authentication this recent (seconds).
STEP_UP_MAX_AGE = 600
DEMO_SERVICES = {1: "수출상담회 참가 신청", 2: "해외전시회 참가 신청"}
KST = dt.timezone(dt.timedelta(hours=9))

PROBLEM_MESSAGES = {
    "insufficient-balance": "마일리지 잔액이 부족합니다.",
    "member-not-entitled": "기업 범용인증서로 소속이 확인된 회원만 마일리지를 사용할 수 있습니다.",
    "member-not-affiliated": "소속 기업이 확인되지 않은 회원입니다. 소속기업 정보를 확인해 주세요.",
    "member-not-found": "회원 정보를 확인할 수 없습니다.",
    "step-up-required": "마일리지를 사용하려면 기업 범용인증서로 다시 인증해야 합니다.",
    "member-token-invalid": "로그인이 만료되었습니다. 다시 로그인해 주세요.",
    "member-token-other-client": "로그인이 만료되었습니다. 다시 로그인해 주세요.",
    "member-token-other-member": "로그인이 만료되었습니다. 다시 로그인해 주세요.",
    "company-not-found": "기업 정보를 찾을 수 없습니다.",
    "company-not-active": "심사 중이거나 이용할 수 없는 기업입니다.",
    "insufficient-scope": "이 사이트는 마일리지 서비스 이용이 허용되지 않았습니다. "
                          "관리자에게 문의해 주세요. (idp api allow)",
}


def api() -> MileageApi:
    rp = site()
    existing = current_app.extensions.get("demo_mileage_api")
    if existing is None:
        existing = MileageApi(rp.provider, rp.client_id, rp.client_secret)
        current_app.extensions["demo_mileage_api"] = existing
    return cast(MileageApi, existing)


def pending_uses() -> SessionStore:
    """Uses waiting for the certificate step-up: they survive the session key's rotation."""
    store = current_app.extensions.get("demo_mileage_pending")
    if store is None:
        store = SessionStore(ttl=STEP_UP_MAX_AGE)
        current_app.extensions["demo_mileage_pending"] = store
    return cast(SessionStore, store)


def problem_message(exc: ApiProblem) -> str:
    text = PROBLEM_MESSAGES.get(exc.code, "마일리지 서비스를 처리하지 못했습니다.")
    if exc.code == "insufficient-balance" and "balance" in exc.body:
        text += f" (현재 잔액 {exc.body['balance']:,}점)"
    return text


def _member() -> tuple[dict[str, Any] | None, dict[str, Any] | None, dict[str, Any] | None]:
    """(session, user, company claim) of this browser."""
    _key, sess = current()
    user = (sess or {}).get("user")
    company = (user or {}).get("claims", {}).get("kotra_company") if user else None
    return sess, user, company if isinstance(company, dict) else None


def _csrf(sess: dict[str, Any]) -> str:
    token: str = sess.setdefault("csrf", secrets.token_urlsafe(24))
    return token


def _check_csrf(sess: dict[str, Any]) -> None:
    sent = request.form.get("csrf", "")
    if not sess.get("csrf") or not hmac.compare_digest(sent, sess["csrf"]):
        abort(400)


def certificate_fresh(user: dict[str, Any]) -> bool:
    """Whether the member authenticated with the company certificate in the last minutes."""
    claims = user.get("claims", {})
    auth_time = claims.get("auth_time")
    return (claims.get("acr") == ACR_CERTIFICATE and isinstance(auth_time, (int, float))
            and not isinstance(auth_time, bool) and auth_time + STEP_UP_MAX_AGE >= time.time())


@bp.get("/mileage")
def mileage_page():
    """The company's balance and history, the demo service and the 마일리지 사용 form."""
    sess, user, company = _member()
    if not user or sess is None:
        return redirect(url_for("oidc.login", next="/mileage"))
    if not company:
        return message("서비스 마일리지", "소속 기업이 등록된 회원만 이용할 수 있는 서비스입니다.",
                       403, login_link=False)
    bn = str(company.get("business_number", ""))
    notice = sess.pop("notice", None)
    try:
        balance = api().balance(bn)
        entries = api().entries(bn)
    except ApiProblem as exc:
        return message("서비스 마일리지", problem_message(exc), 502, login_link=False)
    return page("mileage.html", user=user, company=company, balance=balance, entries=entries,
                notice=notice, csrf=_csrf(sess), apply_key=str(uuid.uuid4()),
                use_key=str(uuid.uuid4()), service=DEMO_SERVICES.get(site().site, "데모 서비스"),
                can_use="service_mileage" in (user["claims"].get("kotra_entitlements") or []))


@bp.post("/mileage/apply")
def apply():
    """Apply for the demo service: the provider records the company's participation."""
    sess, user, company = _member()
    if not user or sess is None or not company:
        return redirect(url_for("oidc.login", next="/mileage"))
    _check_csrf(sess)
    key = request.form.get("key", "")[:100] or str(uuid.uuid4())
    service = DEMO_SERVICES.get(site().site, "데모 서비스")
    try:
        api().record_participation(str(company["business_number"]), member=user["sub"],
                                   service=service, site=site().title,
                                   date=dt.datetime.now(KST).date().isoformat(), key=key)
    except ApiProblem as exc:
        sess["notice"] = ("no", problem_message(exc))
    else:
        sess["notice"] = ("ok", f"{service}이(가) 접수되었습니다. 기업의 서비스 참여 이력에 "
                                "기록되었습니다.")
    return redirect(url_for("mileage.mileage_page"), 303)


@bp.post("/mileage/use")
def use():
    """마일리지 사용: certificate-level authentication first, then the API's use endpoint."""
    sess, user, company = _member()
    if not user or sess is None or not company:
        return redirect(url_for("oidc.login", next="/mileage"))
    _check_csrf(sess)
    amount_text = request.form.get("amount", "").strip().replace(",", "")
    reason = request.form.get("reason", "").strip()[:200]
    if not amount_text.isascii() or not amount_text.isdigit() or int(amount_text) <= 0 \
            or int(amount_text) > 1_000_000_000:
        sess["notice"] = ("no", "사용할 마일리지를 1 이상의 숫자로 입력해 주세요.")
        return redirect(url_for("mileage.mileage_page"), 303)
    if not reason:
        sess["notice"] = ("no", "사용 내용을 입력해 주세요.")
        return redirect(url_for("mileage.mileage_page"), 303)
    pending = {"sub": user["sub"], "business_number": str(company["business_number"]),
               "amount": int(amount_text), "reason": reason,
               "key": request.form.get("key", "")[:100] or str(uuid.uuid4())}
    ticket = pending_uses().new({"use": pending})
    resume = url_for("mileage.resume", ticket=ticket)
    if certificate_fresh(user):
        return redirect(resume, 303)
    # OIDC Core §3.1.2.1: ask the provider for a certificate authentication now.
    return redirect(url_for("oidc.login", acr_values=ACR_CERTIFICATE, prompt="login",
                            next=resume), 303)


@bp.get("/mileage/use/<ticket>")
def resume(ticket: str):
    """Back from the step-up: use the mileage if the member now is at certificate level."""
    sess, user, _company = _member()
    if not user or sess is None:
        return redirect(url_for("oidc.login", next="/mileage"))
    held = pending_uses().get(ticket)
    if held is None or held["use"]["sub"] != user["sub"]:
        return message("마일리지 사용", "사용 요청이 만료되었습니다. 다시 시도해 주세요.", 400,
                       login_link=False)
    if not certificate_fresh(user):
        return message("마일리지 사용",
                       "마일리지를 사용하려면 기업 범용인증서로 다시 인증해야 합니다.", 403,
                       login_link=False)
    pending_uses().delete(ticket)
    use = held["use"]
    try:
        # The API wants the proof, not our word: the member's access token from the step-up.
        entry = api().use(use["business_number"], member=user["sub"],
                          member_access_token=str((user.get("tokens") or {}).get(
                              "access_token") or ""),
                          amount=use["amount"], reason=use["reason"],
                          service=DEMO_SERVICES.get(site().site, "데모"), key=use["key"])
    except ApiProblem as exc:
        sess["notice"] = ("no", problem_message(exc))
    else:
        sess["notice"] = ("ok", f"마일리지 {entry['amount']:,}점을 사용했습니다. "
                                f"남은 잔액 {entry['balance_after']:,}점.")
    return redirect(url_for("mileage.mileage_page"), 303)
