"""Member emails are checked for real (email-validator, syntax only), not for an "@" alone."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from idp.errors import InvalidInput
from idp.extensions import db
from idp.models import Member
from idp.services.members import add_member
from tests.helpers import PASSWORD


def _add(app, email):
    with app.app_context():
        p = app.extensions["idp"]
        member = add_member(db.session, p.passwords, p.policy, login_id="mailcheck1",
                            name="홍길동", email=email, password=PASSWORD)
        db.session.commit()
        return member.email


@pytest.mark.parametrize("email", [
    "a@b@c", "<script>@x", "a\x01@b.example", "a@b", "@example.com", "a@", "a..b@example.com",
    "a@-example.com", "홍길동 <a@example.com>", "a@[127.0.0.1]", '"a b"@example.com',
    "a@localhost", "a@example.test", "x" * 65 + "@example.com",
])
def test_add_member_refuses_what_is_not_an_address(app, email):
    with pytest.raises(InvalidInput) as refused:
        _add(app, email)
    assert refused.value.field == "email"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Member)) == 0


@pytest.mark.parametrize(("email", "stored"), [
    ("hong@example.com", "hong@example.com"),
    ("Hong.Gildong+kotra@EXAMPLE.Co.KR", "Hong.Gildong+kotra@example.co.kr"),
    ("홍길동@example.kr", "홍길동@example.kr"),
    (None, None),
])
def test_add_member_stores_a_valid_address_in_normal_form(app, email, stored):
    assert _add(app, email) == stored
