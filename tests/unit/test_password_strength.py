"""안전도 (idp/services/password_strength.py) and the password policy's refusals: common
passwords and weak scores (issue 6). The vectors are shared with the browser's copy of the
estimator (tests/browser/test_signup_browser.py runs static/password_strength.js on them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from idp.errors import InvalidInput
from idp.services.password_strength import common_ranks, estimate, is_common
from idp.services.passwords import COMMON_PASSWORD, WEAK_PASSWORD, PasswordPolicy

VECTORS = json.loads((Path(__file__).with_name("password_strength_vectors.json"))
                     .read_text(encoding="utf-8"))["vectors"]


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["password"][:20] or "empty")
def test_shared_vectors(vector):
    got = estimate(vector["password"], vector["user_inputs"])
    assert (got.cost, got.score, got.level) == (vector["cost"], vector["score"], vector["level"])


def test_the_vectors_cover_every_score_and_meter_level():
    assert {v["score"] for v in VECTORS} == {0, 1, 2, 3, 4}
    assert {v["level"] for v in VECTORS} == {0, 1, 2}


@pytest.mark.parametrize(("weaker", "stronger"), [
    ("Password1!", "Pxsqword1!"),          # a dictionary word costs less than random letters
    ("P@ssw0rd123", "Pq@sw0rxd123"),       # l33t does not hide it
    ("abcd1234!x", "adbc1324!x"),          # sequences
    ("qwer!asdf1", "qewr!adsf1"),          # keyboard runs
    ("Aaaaaaaa1!", "Abaxcada1!"),          # repeats
    ("Hello!2019x", "Hello!2719x"),        # years
])
def test_patterns_cost_less_than_the_same_characters_at_random(weaker, stronger):
    assert estimate(weaker).cost < estimate(stronger).cost


def test_user_inputs_count_as_dictionary_words():
    assert estimate("Newmember1!x", ["newmember1"]).cost < estimate("Newmember1!x").cost


def test_only_the_first_64_characters_are_scored():
    assert estimate("x" + "A1!b" * 40).cost == estimate(("x" + "A1!b" * 40)[:64]).cost


def test_the_common_list_is_ranked_most_common_first():
    ranks = common_ranks()
    assert len(ranks) >= 10_000
    assert ranks["123456"] == 1 and ranks["password"] == 2


@pytest.mark.parametrize("password", ["password", "Password123!", "P@ssw0rd!", "qwer1234!",
                                      "1q2w3e4r!", "!!Iloveyou99"])
def test_common_passwords_are_recognised(password):
    assert is_common(password)


@pytest.mark.parametrize("password", ["Correct!horse9", "Blue!ocean2026x", "Kotra!demo2026"])
def test_uncommon_passwords_are_not(password):
    assert not is_common(password)


POLICY = PasswordPolicy()


@pytest.mark.parametrize(("password", "reason"), [
    ("Password123!", COMMON_PASSWORD),
    ("P@ssw0rd1!", COMMON_PASSWORD),
    ("Aaaaaaaa1!", WEAK_PASSWORD),
    ("9876543210zZ!", WEAK_PASSWORD),
    ("!@#$%^&*()aA1", WEAK_PASSWORD),
])
def test_policy_refuses_common_and_weak_passwords(password, reason):
    with pytest.raises(InvalidInput) as exc:
        POLICY.check_password(password)
    assert (exc.value.field, exc.value.message) == ("password", reason)


@pytest.mark.parametrize("password", ["Correct!horse9", "E2e!tester2026", "Kotra!demo2026",
                                      "Blue!ocean2026x", "Unified!pass26"])
def test_policy_accepts_the_passwords_the_project_uses(password):
    POLICY.check_password(password, login_id="someone1", name="홍길동")


def test_policy_still_refuses_the_id_and_name():
    with pytest.raises(InvalidInput, match="login_id"):
        POLICY.check_password("Zq!newmember1x", login_id="newmember1")
    with pytest.raises(InvalidInput, match="name"):
        POLICY.check_password("Zq!홍길동xyz12", name="홍길동")
