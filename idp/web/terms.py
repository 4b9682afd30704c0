"""The re-consent step between login and the code (authorize.STEPS `terms`), and the form
helpers every terms page shares (sign-up, SNS sign-up, legacy conversion).

A page that asks for the terms renders `login/_terms_fields.html`'s `terms_fields` macro
with the documents to show, and reads the answers back with `terms_answers` and
`marketing_answers`; idp/services/terms.record_consents decides.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

from authlib.oauth2.rfc6749 import AccessDeniedError
from flask import Response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse

from idp.errors import InvalidInput
from idp.extensions import db
from idp.models import Member, TermsDocument
from idp.oidc import authorize as pipeline
from idp.oidc.server import client_ip, provider
from idp.services import audit
from idp.services.terms import CHANNELS, missing_consents, record_consents
from idp.web.interaction import current_interaction, current_session
from idp.web.views import _expired, bp

AGREE_ALL = "agree_all"


class TermsForm(FlaskForm):
    """CSRF only: the items depend on the documents shown (read by terms_answers)."""


def field_name(kind: str) -> str:
    return f"agree_{kind}"


def terms_answers(form: Mapping[str, str], documents: Iterable[TermsDocument]
                  ) -> dict[str, bool]:
    """Kind -> agreed, for each document shown. 약관 전체 동의 agrees to all of them (so the
    page works without script, where the toggle cannot tick the items)."""
    everything = form.get(AGREE_ALL) == "yes"
    return {doc.kind: everything or form.get(field_name(doc.kind)) == "yes"
            for doc in documents}


def marketing_answers(form: Mapping[str, str]) -> dict[str, bool]:
    """Channel -> opted in, for a page that shows the marketing channels."""
    everything = form.get(AGREE_ALL) == "yes"
    return {c: everything or form.get(f"marketing_{c}") == "yes" for c in CHANNELS}


def _now() -> dt.datetime:
    return dt.datetime.fromtimestamp(provider().clock.now(), dt.UTC).replace(tzinfo=None)


@bp.route("/interaction/<uid>/terms", methods=["GET", "POST"])
def terms_page(uid: str) -> BaseResponse:
    """Agree again to revised or expired required terms before the login resumes (SPEC §4)."""
    ia = current_interaction(uid)
    if ia is None:
        return _expired()
    sess = current_session()
    if sess is None:
        return redirect(url_for("web.login_page", uid=uid), 303)
    member = db.session.get(Member, sess.member_id)
    if member is None:
        return redirect(url_for("web.login_page", uid=uid), 303)
    now = _now()
    days = pipeline.member_reconsent_days(member)
    documents = missing_consents(db.session, member.id, now=now, reconsent_days=days)
    if not documents:
        return redirect(url_for("web.resume", uid=uid), 303)  # nothing to agree to here
    form = TermsForm()
    message = None
    invalid: list[str] = []
    checked: dict[str, bool] = {}
    if request.method == "POST":
        if not form.validate_on_submit():
            return _expired()
        if request.form.get("decision") == "decline":
            # The login does not complete: the relying party hears access_denied (RFC 6749
            # §4.1.2.1); the next sign-in asks again.
            provider().interactions.finish(ia)
            audit.record(db.session, "terms.declined", member_id=member.id,
                         client_id=ia.params.get("client_id"), ip=client_ip())
            db.session.commit()
            return pipeline.redirect_error(AccessDeniedError(), ia.params["redirect_uri"],
                                           ia.params.get("state"))
        checked = terms_answers(request.form, documents)
        try:
            record_consents(db.session, member.id, agreed=checked, marketing={},
                            source="reconsent", now=now, reconsent_days=days)
        except InvalidInput:
            db.session.rollback()
            invalid = [doc.kind for doc in documents if doc.required and not checked[doc.kind]]
            message = _("필수 약관에 모두 동의하셔야 로그인을 계속할 수 있습니다.")
        else:
            db.session.commit()
            # Not marked done on the interaction: the step is over because the consents are
            # on record, whoever signs in next in this interaction.
            return redirect(url_for("web.resume", uid=uid), 303)
    return Response(render_template(
        "login/terms.html", form=form, ia=ia, documents=documents, message=message,
        invalid=invalid, checked=[k for k, v in checked.items() if v]),
        400 if message else 200)

