"""The interests picker's search (관심품목 and 관심국가, issue 6).

    GET /interests/hs?q=초콜릿        JSON: HS codes by code prefix or Korean/English words
    GET /interests/countries?q=미국   JSON: countries (CLDR names)
    GET /interests/search?kind=hs&q=  the same as a plain page, for browsers without script

The nomenclature and the country names are public reference data (the Korea Customs Service
publishes the same), so the endpoints need no sign-in: the sign-up wizard uses them before
the person has an account. They are rate-limited per client address
(`interests.search_per_minute`): a picker sends a request per pause in typing, far fewer.

Pages that let a member choose interests include templates/interests/_picker.html (the
`interest_picker` macro and static/interests.js) inside their own form, read the answer with
idp.services.interests.parse_picker_form and save it with save_interests.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _

from idp.extensions import db
from idp.oidc.server import client_ip, provider
from idp.services import countries, hs
from idp.services.interests import FIELD_HS, InterestsRefused
from idp.services.throttle import ip_bucket

bp = Blueprint("interests", __name__, url_prefix="/interests")

RATE_WINDOW = 60  # seconds


def refusal_message(exc: InterestsRefused) -> str:
    """The page's message for a refused choice, in the page's language."""
    items = exc.field == FIELD_HS
    if exc.reason == "too_many":
        if items:
            return _("관심품목은 %(n)s개까지 선택할 수 있습니다.", n=exc.limit)
        return _("관심지역은 %(n)s개까지 선택할 수 있습니다.", n=exc.limit)
    values = ", ".join(exc.values)
    if items:
        return _("없는 HS 코드입니다: %(codes)s", codes=values)
    return _("없는 국가 코드입니다: %(codes)s", codes=values)


def _locale() -> str:
    return str(get_locale() or "ko")


def _rate_limited() -> Response | None:
    """Fixed one-minute windows per client address (IPv6: per /64), in the provider's store."""
    limit = int(current_app.config["IDP_SETTINGS"].get("interests", {})
                .get("search_per_minute", 120))
    if limit <= 0:
        return None
    window = int(provider().clock.now() // RATE_WINDOW)
    key = f"rate:interests:{ip_bucket(client_ip())}:{window}"
    count = provider().store.incr(key, RATE_WINDOW * 2)
    db.session.commit()  # a DatabaseStore counter lives in the request's transaction
    if count <= limit:
        return None
    retry = max(1, int((window + 1) * RATE_WINDOW - provider().clock.now()))
    resp = jsonify(error="rate_limited", message="잠시 후 다시 시도해 주세요.")
    resp.status_code = 429
    resp.headers["Retry-After"] = str(retry)
    return resp


def _query() -> tuple[str, Response | None]:
    q = request.args.get("q", "")
    if len(q) > hs.MAX_QUERY_LENGTH or "\x00" in q:
        resp = jsonify(error="invalid_request",
                       message=f"검색어는 {hs.MAX_QUERY_LENGTH}자 이내로 입력해 주세요.")
        resp.status_code = 400
        return q, resp
    return q, None


def _limit() -> int:
    try:
        return max(1, min(hs.MAX_LIMIT, int(request.args.get("limit", hs.DEFAULT_LIMIT))))
    except ValueError:
        return hs.DEFAULT_LIMIT


def hs_result(entry: hs.HsEntry, locale: str) -> dict[str, Any]:
    name = entry.name(locale)
    return {"code": entry.code, "label": entry.label, "level": entry.level, "name": name,
            "name_ko": entry.name_ko, "name_en": entry.name_en, "chip": f"{entry.label} {name}"}


def country_result(country: countries.Country, locale: str) -> dict[str, Any]:
    # The manual writes a country as 수리남(Suriname).
    chip = (f"{country.name_en} ({country.name_ko})" if locale.startswith("en")
            else f"{country.name_ko}({country.name_en})")
    return {"code": country.code, "label": country.code, "name": country.name(locale),
            "name_ko": country.name_ko, "name_en": country.name_en, "chip": chip}


def _json(results: list[dict[str, Any]], q: str, started: float) -> Response:
    resp = jsonify(query=q, count=len(results), results=results)
    resp.headers["Cache-Control"] = "private, max-age=300"
    resp.headers["Server-Timing"] = f"search;dur={(time.perf_counter() - started) * 1000:.1f}"
    return resp


@bp.get("/hs")
def hs_search() -> Response:
    """HS codes matching q (JSON)."""
    refused = _rate_limited()
    if refused is not None:
        return refused
    q, bad = _query()
    if bad is not None:
        return bad
    started = time.perf_counter()
    locale = _locale()
    found = [hs_result(e, locale) for e in hs.search(db.session, q, _limit())]
    return _json(found, q, started)


@bp.get("/countries")
def country_search() -> Response:
    """Countries matching q (JSON); without q, every country in Korean order."""
    refused = _rate_limited()
    if refused is not None:
        return refused
    q, bad = _query()
    if bad is not None:
        return bad
    started = time.perf_counter()
    locale = _locale()
    if q.strip():
        found = countries.search(q, _limit())
    else:
        found = list(countries.all_countries())
    return _json([country_result(c, locale) for c in found], q, started)


@bp.get("/search")
def search_page() -> Any:
    """The search as a plain page (the picker's fallback without script)."""
    refused = _rate_limited()
    if refused is not None:
        return render_template("interests/search.html", kind="hs", q="", results=[],
                               error="rate_limited"), 429
    kind = request.args.get("kind", "hs")
    if kind not in ("hs", "country"):
        kind = "hs"
    q = request.args.get("q", "")
    locale = _locale()
    error = None
    results: list[dict[str, Any]] = []
    if len(q) > hs.MAX_QUERY_LENGTH or "\x00" in q:
        error, q = "too_long", ""
    elif q.strip():
        if kind == "hs":
            results = [hs_result(e, locale) for e in hs.search(db.session, q, hs.MAX_LIMIT)]
        else:
            results = [country_result(c, locale) for c in countries.search(q, hs.MAX_LIMIT)]
    status = 400 if error else 200
    return render_template("interests/search.html", kind=kind, q=q, results=results,
                           error=error), status
