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
