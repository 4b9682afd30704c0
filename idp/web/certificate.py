"""Corporate certificate authentication in the browser: the HTTP contract (issue 7).

A page that needs a company's certificate includes the 인증서찾기 widget
(templates/certificate/_widget.html, static/npki/) with its purpose, the business number
being claimed (or the id of a field that holds it) and where to go next. In the browser:

    POST /certificate/challenge          JSON {purpose, business_number, next}
                                         (X-CSRFToken header)
        -> 200 {id, to_sign, verify_url} | 400 {error, message} | 429 | 503
    ... the user picks signCert.der + signPri.key (or a .pfx) and types the password; the
        script decrypts the key locally, reads R and signs `to_sign` (UTF-8) with
        RSASSA-PKCS1-v1_5 / SHA-256 ...
    POST /certificate/verify/<id>        JSON {certificate, signature, random_r, chain}
                                         (standard Base64 of DER / raw bytes; random_r
                                         null when the key has none)
        -> 200 {next: "<next>?cr=<id>"} | 400 {error: <reason>, message: <Korean text>}

and the page at `next` takes the checked result once with `take_certificate(purpose)`
(CertificateError otherwise; `certificate_message(reason)` is the message). The private key
and its password never leave the browser: nothing here accepts them.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, jsonify, request, url_for
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from idp.cookies import browser_id, cookies
from idp.extensions import db
from idp.oidc.server import client_ip, provider
from idp.services import audit
from idp.services.business_numbers import InvalidNumber, normalise_business_number
from idp.services.certificates import PURPOSES, CertificateError
from idp.services.ports import CertificateProof, CertificateRefused, CertifiedCompany
from idp.services.throttle import ip_bucket
from idp.web.verification import _local_path

bp = Blueprint("certificate", __name__)

MESSAGES = {
    "malformed": _l("인증서 파일을 읽을 수 없습니다. signCert.der와 signPri.key(또는 .pfx) "
                    "파일을 다시 선택해 주세요."),
    "bad_signature": _l("전자서명을 확인할 수 없습니다. 인증서와 개인키 파일이 짝이 맞는지 "
                        "확인해 주세요."),
    "replayed": _l("인증 요청이 만료되었거나 이미 사용되었습니다. 다시 인증해 주세요."),
    "expired": _l("유효기간이 지난 인증서입니다. 인증서를 갱신한 뒤 다시 시도해 주세요."),
    "untrusted": _l("신뢰할 수 있는 인증기관에서 발급한 인증서가 아닙니다."),
    "key_usage": _l("전자서명에 사용할 수 없는 인증서입니다."),
    "personal": _l("개인용 인증서로는 인증할 수 없습니다. 기업(법인·사업자) 범용인증서를 "
                   "선택해 주세요."),
    "policy": _l("사용할 수 없는 종류의 인증서입니다. 기업 범용인증서 또는 허용된 용도제한용 "
                 "인증서를 선택해 주세요."),
    "revoked": _l("폐지되었거나 효력이 정지된 인증서입니다."),
    "revocation_unavailable": _l("인증서의 폐지 여부를 확인할 수 없습니다. 잠시 후 다시 시도해 "
                                 "주세요."),
    "no_vid": _l("본인확인 정보(VID)가 없는 인증서입니다. 다른 인증서를 선택해 주세요."),
    "vid_mismatch": _l("입력하신 사업자등록번호의 인증서가 아닙니다. 사업자등록번호와 인증서를 "
                       "확인해 주세요."),
    "pending": _l("인증서 인증이 끝나지 않았습니다. 다시 인증해 주세요."),
    "purpose": _l("다른 용도로 받은 인증 결과입니다. 다시 인증해 주세요."),
    "business_number": _l("사업자등록번호 10자리를 정확히 입력해 주세요."),
    "unavailable": _l("인증서 인증을 지금 사용할 수 없습니다. 잠시 후 다시 시도해 주세요."),
    "too_many": _l("인증 요청이 너무 많습니다. 잠시 후 다시 시도해 주세요."),
}


def certificate_message(reason: str) -> str:
    return str(MESSAGES.get(reason, MESSAGES["malformed"]))


def take_certificate(purpose: str) -> CertifiedCompany:
    """The checked certificate authentication the browser came back with (?cr=), once."""
    return provider().certificates.take(request.values.get("cr"),
                                        browser=cookies().browser.read(), purpose=purpose)


def with_certificate(path: str, challenge_id: str) -> str:
    return f"{path}{'&' if '?' in path else '?'}{urlencode({'cr': challenge_id})}"


def _error(reason: str, status: int = 400) -> tuple[Response, int]:
    return jsonify(error=reason, message=certificate_message(reason)), status


@bp.post("/certificate/challenge")
def challenge() -> Response | tuple[Response, int]:
    data: dict[str, Any] = request.get_json(silent=True) or request.form.to_dict()
    purpose = str(data.get("purpose") or "")
    nxt = _local_path(str(data.get("next") or ""))
    if purpose not in PURPOSES or nxt is None:
        return _error("malformed")
    try:
        business_number = normalise_business_number(str(data.get("business_number") or ""))
    except InvalidNumber:
        return _error("business_number")
    p = provider()
    if p.certificate_verifier is None:
        return _error("unavailable", 503)
    limits = p.settings["npki"]
    window = int(p.clock.now() // limits["challenge_window"])
    if p.store.incr(f"cert-challenge:{ip_bucket(client_ip())}:{window}",
                    limits["challenge_window"] * 2) > limits["challenges_per_ip"]:
        return _error("too_many", 429)
    ch = p.certificates.start(purpose=purpose, business_number=business_number,
                              browser=browser_id(), return_to=nxt)
    db.session.commit()
    return jsonify(id=ch.id, to_sign=ch.to_sign,
                   verify_url=url_for("certificate.verify", cid=ch.id))


def _b64(value: Any) -> bytes:
    if not isinstance(value, str) or len(value) > 64 * 1024:
        raise ValueError("not a Base64 string")
    return base64.b64decode(value, validate=True)


@bp.post("/certificate/verify/<cid>")
def verify(cid: str) -> Response | tuple[Response, int]:
    p = provider()
    data = request.get_json(silent=True)
    browser = cookies().browser.read()
    ch = p.certificates.pending(cid, browser=browser)
    if ch is None:
        audit.record(db.session, "certificate.refused", ip=client_ip(), reason="replayed")
        db.session.commit()
        return _error("replayed")
    try:
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        chain = data.get("chain") or []
        if not isinstance(chain, list) or len(chain) > 5:
            raise ValueError("chain")
        proof = CertificateProof(
            certificate=_b64(data.get("certificate")), signature=_b64(data.get("signature")),
            random_r=None if data.get("random_r") is None else _b64(data.get("random_r")),
            chain=tuple(_b64(c) for c in chain))
    except (ValueError, binascii.Error):
        return _error("malformed")
    if p.certificate_verifier is None:
        return _error("unavailable", 503)
    try:
        result = p.certificates.complete(cid, proof, p.certificate_verifier, browser=browser)
    except CertificateRefused as exc:
        audit.record(db.session, "certificate.refused", ip=client_ip(), purpose=ch.purpose,
                     business_number=ch.business_number, reason=exc.reason,
                     detail=exc.detail[:200])
        db.session.commit()
        return _error(exc.reason)
    audit.record(db.session, "certificate.verified", ip=client_ip(), purpose=ch.purpose,
                 business_number=result.business_number, serial=result.serial,
                 policy=result.policy_oid, revocation=result.revocation)
    if result.revocation != "good":  # IDP_NPKI_REVOCATION=soft let an unchecked one through
        audit.record(db.session, "certificate.revocation_unchecked", ip=client_ip(),
                     business_number=result.business_number, serial=result.serial)
    db.session.commit()
    return jsonify(next=with_certificate(ch.return_to, cid))


__all__ = ["MESSAGES", "CertificateError", "bp", "certificate_message", "take_certificate",
           "with_certificate"]
