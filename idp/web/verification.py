"""Identity verification (본인확인) in the browser: the vendor round trip (issue 6).

A page that needs a verified person shows the three methods with the `verify_buttons` macro
(templates/verify/_buttons.html) — plain links, so that the way to the vendor is a top-level
navigation and never a form redirect the page's CSP would stop:

    {% from "verify/_buttons.html" import verify_buttons %}
    {{ verify_buttons("signup", url_for("signup.verified", fid=flow.id)) }}

    GET /verify/start?method=mobile&purpose=signup&next=/signup/<fid>/verified
        -> the vendor (a redirect, or an auto-submitted form for vendors that take a POST)
    GET|POST /verify/callback/<request id>      (the vendor sends the browser back here)
        -> `next` with ?vr=<request id>

and, on `next`, takes the result once with `take_verification("signup")`, which raises
VerificationError (its `reason` maps to a message through `refusal_message`). The result is
bound to the browser and the purpose and never read from what the browser sends
(idp/services/identity.py).

A vendor that posts the browser back from its own site sends no SameSite=Lax cookie with that
POST; the callback then answers with a page that posts the same fields again from this origin
(`relay`), where the browser cookie travels, before anything is checked.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from flask import Blueprint, abort, g, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response as BaseResponse

from idp.cookies import browser_id, cookies
from idp.extensions import csrf, db
from idp.oidc.server import client_ip, provider
from idp.services import audit
from idp.services.identity import METHODS, PURPOSES, VerificationError
from idp.services.ports import VendorUnavailable, VerificationFailed, VerifiedIdentity
from idp.services.throttle import ip_bucket

Page = BaseResponse | str | tuple[str, int]


bp = Blueprint("verify", __name__)

METHOD_LABELS = {"simple": _l("간편인증"), "mobile": _l("휴대폰 인증"), "card": _l("신용카드 인증")}

MESSAGES = {
    "expired": _l("본인확인 시간이 지났습니다. 다시 인증해 주세요."),
    "pending": _l("본인확인이 끝나지 않았습니다. 다시 인증해 주세요."),
    "cancelled": _l("본인확인을 취소하셨습니다."),
    "failed": _l("본인확인에 실패하였습니다. 다시 시도해 주세요."),
    "invalid": _l("본인확인 결과를 확인할 수 없습니다. 다시 인증해 주세요."),
    "unavailable": _l("본인확인 기관에 연결할 수 없습니다. 잠시 후 다시 시도해 주세요."),
    "under_14": _l("만 14세 미만은 회원으로 가입할 수 없습니다."),
    "corporate": _l("법인 명의로는 본인확인을 할 수 없습니다. 본인 명의로 인증해 주세요."),
    "purpose": _l("다른 용도로 받은 본인확인 결과입니다. 다시 인증해 주세요."),
}


def refusal_message(reason: str) -> str:
    return str(MESSAGES.get(reason, MESSAGES["failed"]))


def take_verification(purpose: str) -> VerifiedIdentity:
    """The verified identity the browser came back with (?vr=), once; VerificationError."""
    rid = request.values.get("vr")
    return provider().verifications.take(rid, browser=cookies().browser.read(),
                                         purpose=purpose)


def available_methods() -> list[str]:
    """The methods with a configured vendor, in the manual's order."""
    return [m for m in METHODS if m in provider().identity_verifiers]


def _local_path(value: str | None) -> str | None:
    """`value` when it is a path on this site (never another host: no open redirect)."""
    if (not value or not value.startswith("/") or value.startswith("//") or "\\" in value
            or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value)):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. "//[x" after urlsplit drops a tab: not a path here
        return None
    if parts.scheme or parts.netloc:
        return None
    return value


def with_result(path: str, request_id: str) -> str:
    return f"{path}{'&' if '?' in path else '?'}{urlencode({'vr': request_id})}"


@bp.route("/verify/start")
def start() -> Page:
    """Start a verification for `purpose` and send the browser to the method's vendor."""
    method, purpose = request.args.get("method", ""), request.args.get("purpose", "")
    nxt = _local_path(request.args.get("next"))
    if method not in METHODS or purpose not in PURPOSES or nxt is None:
        abort(400)
    p = provider()
    # Each start may cost a server-to-server call to the vendor (and its quota): a few an
    # hour per address is all a person needs.
    limits = p.settings["identity"]
    window = int(p.clock.now() // limits["start_window"])
    if p.store.incr(f"verify-start:{ip_bucket(client_ip())}:{window}",
                    limits["start_window"] * 2) > limits["starts_per_ip"]:
        return render_template("verify/error.html", message=_l(
            "본인확인 요청이 너무 많습니다. 잠시 후 다시 시도해 주세요."), back=nxt), 429
    verifier = p.identity_verifiers.get(method)
    if verifier is None:
        return render_template("verify/error.html", message=_l(
            "이 인증 수단은 준비 중입니다. 다른 인증 수단을 선택해 주세요."), back=nxt), 400
    browser = browser_id()
    req = p.verifications.start(purpose=purpose, method=method, browser=browser, return_to=nxt)
    callback = p.issuer + url_for("verify.callback", rid=req.id)
    try:
        begin = verifier.begin(req.id, method, callback)
    except VendorUnavailable:
        p.verifications.fail(req, "unavailable", browser=browser)
        db.session.commit()
        return redirect(with_result(nxt, req.id), 303)
    p.verifications.remember_vendor_state(req, dict(begin.state), browser=browser)
    db.session.commit()
    if begin.http_method.upper() == "GET":
        return redirect(begin.url, 303)
    g.form_target = begin.url  # the auto-submitted form goes to the vendor (CSP form-action)
    return render_template("verify/post.html", url=begin.url, fields=begin.fields)


@bp.route("/verify/callback/<rid>", methods=["GET", "POST"])
@csrf.exempt  # the vendor's answer; the request id, the browser binding and the vendor's own
#               checks (signature, HMAC, server-to-server look-up) stand in for a CSRF token
def callback(rid: str) -> Page:
    """The vendor's answer: check it with the adapter, record the result, go back."""
    p = provider()
    browser = cookies().browser.read()
    if request.method == "POST" and browser is None and not request.form.get("_relayed"):
        # A cross-site POST: the Lax browser cookie did not come; post again from here.
        fields = dict(request.form.items())
        return render_template("verify/post.html", url=request.path,
                               fields={**fields, "_relayed": "1"})
    req = p.verifications.pending(rid, browser=browser)
    if req is None:
        return render_template("verify/error.html", message=MESSAGES["expired"],
                               back=None), 400
    verifier = p.identity_verifiers.get(req.method)
    params = {k: v for k, v in request.values.items() if k != "_relayed"}
    refusal: str | None
    try:
        if verifier is None:
            raise VerificationFailed("invalid", "no verifier for the method any more")
        identity = verifier.finish(req.id, req.method, req.state, params)
    except VerificationFailed as exc:
        refusal = exc.reason
        p.verifications.fail(req, refusal, browser=browser or "")
    except VendorUnavailable:
        refusal = "unavailable"
        p.verifications.fail(req, refusal, browser=browser or "")
    else:
        refusal = p.verifications.complete(req, identity, browser=browser or "")
    if refusal:
        audit.record(db.session, "identity.refused", ip=client_ip(), purpose=req.purpose,
                     method=req.method, reason=refusal)
    else:
        audit.record(db.session, "identity.verified", ip=client_ip(), purpose=req.purpose,
                     method=req.method, vendor=identity.vendor)
    db.session.commit()
    target = with_result(req.return_to, req.id)
    if request.form.get("_relayed"):
        # Chromium applies the relay page's CSP form-action to the redirects after its POST,
        # and the way on may end at a relying party (간편인증 login → the client's redirect):
        # go on by a GET navigation instead (a link followed by script).
        return render_template("verify/continue.html", url=target)
    return redirect(target, 303)


__all__ = ["MESSAGES", "METHOD_LABELS", "VerificationError", "available_methods", "bp",
           "refusal_message", "take_verification"]
