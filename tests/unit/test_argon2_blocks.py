"""Password checks on a kept memory area answer as argon2-cffi does (idp/services/argon2_blocks)."""

from __future__ import annotations

import os
import sys
import time

import pytest
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from idp.services.argon2_blocks import BlockArea
from idp.services.passwords import Passwords

SETTINGS = {"time_cost": 1, "memory_kib": 1024, "parallelism": 1, "hash_len": 32,
            "salt_len": 16}


def reference(encoded: str, password: str) -> bool:
    try:
        return PasswordHasher().verify(encoded, password)
    except (VerificationError, InvalidHashError):
        return False


def wait_for(predicate, seconds: float = 5.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


@pytest.mark.parametrize("params", [
    {"time_cost": 1, "memory_cost": 1024, "parallelism": 1, "hash_len": 32, "salt_len": 16},
    {"time_cost": 2, "memory_cost": 19456, "parallelism": 1, "hash_len": 32, "salt_len": 16},
    {"time_cost": 3, "memory_cost": 4096, "parallelism": 2, "hash_len": 16, "salt_len": 8},
    {"time_cost": 1, "memory_cost": 2048, "parallelism": 4, "hash_len": 64, "salt_len": 32},
])
def test_a_kept_area_answers_as_argon2_cffi(params: dict[str, int]) -> None:
    area = BlockArea(60, 80 << 20)
    hasher = PasswordHasher(type=Type.ID, **params)
    for password in ("Bench!pass-2026", "", "비밀번호-한글-2026", "x" * 200):
        encoded = hasher.hash(password)
        for attempt in (password, password + "!", password[:-1], password.upper()):
            assert area.verify(encoded, attempt) is reference(encoded, attempt), (params, attempt)
    assert area.mapped  # and it stays mapped between checks


def test_what_it_cannot_answer_is_left_to_the_usual_way() -> None:
    area = BlockArea(60, 4 << 20)
    good = PasswordHasher(type=Type.ID, memory_cost=1024, time_cost=1).hash("pw")
    for encoded in (
        PasswordHasher(type=Type.I, memory_cost=1024, time_cost=1).hash("pw"),  # argon2i
        good.replace("$v=19$", "$v=16$"),
        good + "$",
        good[:-1] + "*",
        good.rsplit("$", 1)[0] + "$A",  # a digest libargon2 refuses (too short)
        PasswordHasher(type=Type.ID, memory_cost=8192, time_cost=1).hash("pw"),  # > max_bytes
        "plain text",
        "",
    ):
        assert area.verify(encoded, "pw") is None, encoded
    assert area.verify(good, "pw") is True


def test_a_busy_area_is_left_to_the_usual_way_and_passwords_still_answers() -> None:
    passwords = Passwords({**SETTINGS, "keep_blocks_seconds": 60})
    encoded = passwords.hash("Bench!pass-2026")
    area = passwords._blocks
    assert area is not None
    with area._lock:  # another thread is checking a password on it
        assert area.verify(encoded, "Bench!pass-2026") is None
        assert passwords.verify(encoded, "Bench!pass-2026") is True
        assert passwords.verify(encoded, "Bench!pass-2027") is False
    assert passwords.verify(encoded, "Bench!pass-2026") is True
    assert passwords.verify(None, "not-a-password-but-equally-slow") is False  # unknown ID


def test_the_area_is_unmapped_once_no_check_came_for_keep_seconds() -> None:
    area = BlockArea(0.2, 4 << 20)
    encoded = PasswordHasher(type=Type.ID, memory_cost=1024, time_cost=1).hash("pw")
    assert area.verify(encoded, "pw") is True
    assert area.mapped
    assert wait_for(lambda: not area.mapped)
    assert area._reaper is None or wait_for(lambda: area._reaper is None)
    assert area.verify(encoded, "pw") is True  # mapped again on the next check
    assert area.mapped


def test_zero_keep_seconds_checks_the_usual_way() -> None:
    passwords = Passwords({**SETTINGS, "keep_blocks_seconds": 0})
    assert passwords._blocks is None
    encoded = passwords.hash("Bench!pass-2026")
    assert passwords.verify(encoded, "Bench!pass-2026") is True
    assert passwords.verify(encoded, "nope") is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork")
def test_a_forked_child_starts_without_the_parents_area() -> None:
    area = BlockArea(60, 4 << 20)
    encoded = PasswordHasher(type=Type.ID, memory_cost=1024, time_cost=1).hash("pw")
    assert area.verify(encoded, "pw") is True and area.mapped
    pid = os.fork()
    if pid == 0:  # the child: exit status 0 only if every check holds
        ok = not area.mapped and area._reaper is None
        ok = ok and area.verify(encoded, "pw") is True and area.mapped
        ok = ok and area.verify(encoded, "pX") is False
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert area.mapped and area.verify(encoded, "pw") is True  # the parent's is untouched
