"""The terms service (idp/services/terms.py): versions, required items, the 2-year period,
marketing history, and publishing; plus `idp terms publish|list` and the demo terms."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, func, select

from idp.errors import AlreadyExists, InvalidInput
from idp.extensions import db
from idp.models import MarketingConsent, Member, TermsConsent, TermsDocument
from idp.services import terms
from tests.helpers import add_test_member

NOW = dt.datetime(2026, 12, 2, 9, 0, 0)


def _publish(kind: str, version: int = 1, *, required: bool = True,
             now: dt.datetime = NOW) -> TermsDocument:
    return terms.publish(db.session, kind=kind, version=version, title_ko=f"{kind} 제목",
                         title_en=f"{kind} title", body=f"{kind} v{version} 본문",
                         required=required, now=now)


@pytest.fixture()
def member(app: Any) -> Any:
    add_test_member(app)
    with app.app_context():
        _publish("service")
        _publish("privacy")
        _publish("marketing", required=False)
        _publish("privacy_optional", required=False)
        db.session.commit()
        yield db.session.scalar(select(Member.id).where(Member.login_id == "member01"))


def _kinds(docs: list[TermsDocument]) -> list[str]:
    return [doc.kind for doc in docs]


def _agree_all(member_id: int, now: dt.datetime = NOW, **marketing: bool) -> None:
    terms.record_consents(db.session, member_id, agreed={"service": True, "privacy": True,
                                                         "marketing": True},
                          marketing=marketing, source="signup", now=now)
    db.session.commit()


def test_current_documents_are_the_latest_version_of_each_kind_in_the_manuals_order(member):
    _publish("service", 2)
    _publish("custom_notice", required=False)
    docs = terms.current_documents(db.session)
    assert _kinds(docs) == ["service", "privacy", "marketing", "privacy_optional",
                            "custom_notice"]
    assert docs[0].version == 2


def test_a_new_member_misses_every_required_document_and_none_once_agreed(member):
    assert _kinds(terms.missing_consents(db.session, member, now=NOW)) == ["service", "privacy"]
    _agree_all(member)
    assert terms.missing_consents(db.session, member, now=NOW) == []
    rows = db.session.scalars(select(TermsConsent).where(TermsConsent.member_id == member))
    assert {(r.kind, r.version, r.agreed, r.at, r.source) for r in rows} == {
        ("service", 1, True, NOW, "signup"), ("privacy", 1, True, NOW, "signup"),
        ("marketing", 1, True, NOW, "signup")}


def test_a_new_version_of_a_required_document_is_missing_again(member):
    _agree_all(member)
    _publish("privacy", 2)
    assert [(d.kind, d.version) for d in terms.missing_consents(db.session, member, now=NOW)] \
        == [("privacy", 2)]


def test_a_new_version_of_an_optional_document_asks_nothing(member):
    _agree_all(member)
    _publish("marketing", 2, required=False)
    assert terms.missing_consents(db.session, member, now=NOW) == []


def test_consent_older_than_the_reconsent_period_is_missing(member):
    _agree_all(member)
    assert terms.missing_consents(db.session, member, now=NOW + dt.timedelta(days=730)) == []
    later = NOW + dt.timedelta(days=730, seconds=1)
    assert _kinds(terms.missing_consents(db.session, member, now=later)) == [
        "service", "privacy"]
    # a company member's 5-year period
    assert terms.missing_consents(db.session, member, now=later, reconsent_days=1825) == []
    # agreeing again starts a new period
    terms.record_consents(db.session, member, agreed={"service": True, "privacy": True},
                          marketing={}, source="reconsent", now=later)
    assert terms.missing_consents(db.session, member, now=later) == []


@pytest.mark.parametrize(("agreed", "field"), [
    ({"service": True, "privacy": False}, "privacy"),      # declined
    ({"service": True}, "privacy"),                        # left out while missing
    ({"privacy": True, "marketing": True}, "service"),
    ({"service": True, "privacy": True, "no_such": True}, "no_such"),  # no such document
])
def test_record_consents_refuses_without_every_required_item(member, agreed, field):
    with pytest.raises(InvalidInput) as refused:
        terms.record_consents(db.session, member, agreed=agreed, marketing={"email": True},
                              source="signup", now=NOW)
    assert refused.value.field == field
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(TermsConsent)) == 0
    assert db.session.scalar(select(func.count()).select_from(MarketingConsent)) == 0


def test_record_consents_refuses_unknown_channels_sources_and_marketing_without_consent(member):
    base = {"service": True, "privacy": True}
    with pytest.raises(InvalidInput, match="marketing"):
        terms.record_consents(db.session, member, agreed=base, marketing={"fax": True},
                              source="signup", now=NOW)
    with pytest.raises(InvalidInput, match="source"):
        terms.record_consents(db.session, member, agreed=base, marketing={}, source="web",
                              now=NOW)
    with pytest.raises(InvalidInput, match="marketing"):
        terms.record_consents(db.session, member, agreed={**base, "marketing": False},
                              marketing={"sms": True}, source="signup", now=NOW)


def test_a_required_document_already_agreed_may_be_left_out(member):
    _agree_all(member)
    _publish("privacy", 2)
    terms.record_consents(db.session, member, agreed={"privacy": True}, marketing={},
                          source="reconsent", now=NOW)
    assert terms.missing_consents(db.session, member, now=NOW) == []


def test_marketing_consent_per_channel_keeps_its_history(member):
    _agree_all(member, email=True, sms=False)
    later = NOW + dt.timedelta(days=30)
    terms.record_consents(db.session, member, agreed={}, marketing={"email": False},
                          source="mykotra", now=later)
    status = terms.marketing_status(db.session, member)
    assert (status["email"].agreed, status["email"].at) == (False, later)
    assert (status["sms"].agreed, status["sms"].at) == (False, NOW)
    history = db.session.execute(select(MarketingConsent.channel, MarketingConsent.agreed,
                                        MarketingConsent.at)
                                 .order_by(MarketingConsent.id)).all()
    assert [tuple(row) for row in history] == [("email", True, NOW), ("sms", False, NOW),
                                              ("email", False, later)]


def test_consents_go_with_the_member(member):
    _agree_all(member, email=True)
    db.session.execute(delete(Member).where(Member.id == member))
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(TermsConsent)) == 0
    assert db.session.scalar(select(func.count()).select_from(MarketingConsent)) == 0


def test_publish_refuses_duplicates_lower_versions_and_bad_input(member):
    with pytest.raises(AlreadyExists):
        _publish("service", 1)
    _publish("service", 3)
    with pytest.raises(InvalidInput, match="version"):
        _publish("service", 2)
    for kwargs, field in [({"kind": "Bad Kind"}, "kind"), ({"version": 0}, "version"),
                          ({"version": 2**31}, "version"), ({"version": True}, "version"),
                          ({"title_ko": "  "}, "title_ko"), ({"title_en": "x" * 201},
                                                            "title_en"),
                          ({"body": ""}, "body"), ({"body": "a\x00b"}, "body")]:
        args = {"kind": "service", "version": 9, "title_ko": "이용약관", "title_en": "",
                "body": "본문", "required": True, "now": NOW, **kwargs}
        with pytest.raises(InvalidInput) as refused:
            terms.publish(db.session, **args)
        assert refused.value.field == field


def test_no_documents_means_nothing_is_missing(app):
    add_test_member(app)
    with app.app_context():
        member_id = db.session.scalar(select(Member.id))
        assert terms.missing_consents(db.session, member_id) == []
        terms.record_consents(db.session, member_id, agreed={}, marketing={"sms": True},
                              source="signup", now=NOW)


def _cli(args: list[str], database_url: str) -> Any:
    from idp.cli import main

    env = {"IDP_ENV": "testing", "IDP_DATABASE_URL": database_url}
    return CliRunner().invoke(main, args, env=env)


def test_terms_publish_and_list_from_the_command_line(app, migrated, tmp_path):
    text = tmp_path / "service-v2.txt"
    text.write_text("제1조(목적)\n이 약관은 ...", encoding="utf-8")
    published = _cli(["terms", "publish", "--kind", "service", "--version", "2", "--file",
                      str(text), "--required", "--json"], migrated)
    assert published.exit_code == 0, published.output
    data = json.loads(published.output)
    assert (data["kind"], data["version"], data["required"], data["title_ko"]) == (
        "service", 2, True, "이용약관")
    again = _cli(["terms", "publish", "--kind", "service", "--version", "2", "--file",
                  str(text), "--json"], migrated)
    assert again.exit_code == 1 and json.loads(again.stdout)["error"] == "already_exists"
    lower = _cli(["terms", "publish", "--kind", "service", "--version", "1", "--file",
                  str(text), "--title", "이용약관(구)", "--json"], migrated)
    assert lower.exit_code == 1 and json.loads(lower.stdout)["field"] == "version"
    cp949 = tmp_path / "cp949.txt"
    cp949.write_bytes("이용약관".encode("cp949"))
    bad = _cli(["terms", "publish", "--kind", "privacy", "--version", "1", "--file",
                str(cp949), "--json"], migrated)
    assert bad.exit_code == 1 and "UTF-8" in json.loads(bad.stdout)["message"]
    _cli(["terms", "publish", "--kind", "marketing", "--version", "1", "--file", str(text),
          "--title-en", "Marketing", "--json"], migrated)
    listed = json.loads(_cli(["terms", "list", "--json"], migrated).output)
    assert [(d["kind"], d["version"], d["current"], d["required"]) for d in listed] == [
        ("marketing", 1, True, False), ("service", 2, True, True)]
    assert listed[0]["title_en"] == "Marketing"
    human = _cli(["terms", "list"], migrated)
    assert "service" in human.output and "current" in human.output
    with app.app_context():  # leave no published terms to the next test's logins
        db.session.execute(delete(TermsDocument))
        db.session.commit()


def test_demo_terms_are_seeded_once_and_the_demo_members_have_agreed(app):
    from idp.demo import DEMO_MEMBERS, seed_terms

    add_test_member(app, DEMO_MEMBERS[0][0])
    with app.app_context():
        assert seed_terms(db.session, now=NOW) == list(terms.KIND_ORDER)
        assert seed_terms(db.session, now=NOW) == []
        db.session.commit()
        docs = terms.current_documents(db.session)
        assert [(d.kind, d.required) for d in docs] == [
            ("service", True), ("privacy", True), ("marketing", False),
            ("privacy_optional", False)]
        assert "2년 단위 재동의" in docs[1].body
        member_id = db.session.scalar(select(Member.id))
        assert terms.missing_consents(db.session, member_id, now=NOW) == []


def test_the_shared_terms_fields_read_back_every_answer(app):
    """The macro and form helpers that sign-up and conversion pages reuse (idp/web/terms)."""
    from flask import render_template_string

    from idp.web.terms import marketing_answers, terms_answers

    with app.test_request_context("/"):
        _publish("service")
        _publish("marketing", required=False)
        docs = terms.current_documents(db.session)
        html = render_template_string(
            '{% from "login/_terms_fields.html" import terms_fields with context %}'
            "{{ terms_fields(docs, ['service'], ['marketing', 'sms'], marketing=true) }}",
            docs=docs)
        assert 'id="agree_service"' in html and 'aria-describedby="agree_service-error"' in html
        assert 'id="marketing_sms" name="marketing_sms" value="yes" data-terms-item checked' \
            in html
        assert 'id="marketing_email" name="marketing_email" value="yes" data-terms-item>' in html
        assert "<legend>마케팅 정보 수신 동의 (선택)</legend>" in html
        form = {"agree_marketing": "yes", "marketing_sms": "yes"}
        assert terms_answers(form, docs) == {"service": False, "marketing": True}
        assert marketing_answers(form) == {"email": False, "sms": True}
        everything = {"agree_all": "yes"}
        assert terms_answers(everything, docs) == {"service": True, "marketing": True}
        assert marketing_answers(everything) == {"email": True, "sms": True}
        db.session.rollback()
