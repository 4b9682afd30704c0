"""A new approval password ends the company-wide lock of the window; the per-member and
per-address locks stay (idp/services/affiliations.lift_company_lock)."""

from __future__ import annotations

from idp.adapters.clock import FakeClock
from idp.models import Company
from idp.services.affiliations import ApprovalLimits, _keys, approval_lock, lift_company_lock
from idp.stores import MemoryStore


def test_a_new_approval_password_lifts_the_company_lock_only():
    clock = FakeClock(1_800_000_000.0)
    store = MemoryStore(clock)
    limits = ApprovalLimits(window_seconds=3600, company_failures=10, member_failures=5,
                            ip_failures=20)
    company = Company(id=7, business_number="1248100998", name="x")
    window = int(clock.now() // 3600)
    keys = _keys(company, "member:1", "10.0.0.1", window)
    store.incr(keys["company"] + ":failures", 7200, 10)
    locked = approval_lock(store, clock, limits, company, who="member:2", ip="10.0.0.2")
    assert locked is not None and locked.scope == "company"
    lift_company_lock(store, clock, limits, company)
    assert approval_lock(store, clock, limits, company, who="member:2", ip="10.0.0.2") is None
    store.incr(keys["member"] + ":failures", 7200, 5)
    lift_company_lock(store, clock, limits, company)
    still = approval_lock(store, clock, limits, company, who="member:1", ip="10.0.0.1")
    assert still is not None and still.scope == "member"


def test_after_the_lift_the_right_password_is_accepted(monkeypatch):
    import pytest

    from idp.services.affiliations import AffiliationRefused, check_approval_password
    from idp.services.passwords import Passwords

    class Session:
        def commit(self) -> None: ...
        def add(self, _obj: object) -> None: ...

    clock = FakeClock(1_800_000_000.0)
    store = MemoryStore(clock)
    limits = ApprovalLimits(window_seconds=3600, company_failures=3, member_failures=5,
                            ip_failures=20)
    passwords = Passwords({"time_cost": 1, "memory_kib": 8, "parallelism": 1, "hash_len": 16,
                           "salt_len": 16})
    company = Company(id=8, business_number="1248100998", name="x",
                      approval_password_hash=passwords.hash("482915"))
    from idp.services import affiliations
    monkeypatch.setattr(affiliations.audit, "record", lambda *a, **k: None)
    for n in range(3):
        with pytest.raises(AffiliationRefused):
            check_approval_password(Session(), store, clock, passwords, limits, company,
                                    "000001", who=f"member:{n}", ip=f"10.0.0.{n}")
    with pytest.raises(AffiliationRefused) as exc:
        check_approval_password(Session(), store, clock, passwords, limits, company, "482915",
                                who="member:9", ip="10.0.0.9")
    assert exc.value.reason == "locked"
    company.approval_password_hash = passwords.hash("593026")
    lift_company_lock(store, clock, limits, company)
    check_approval_password(Session(), store, clock, passwords, limits, company, "593026",
                            who="member:9", ip="10.0.0.9")
