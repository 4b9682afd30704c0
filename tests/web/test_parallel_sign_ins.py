"""Sign-ins that arrive at the same time, through the real views, in both storage modes.

Finding 1 of the security review (parallel wrong passwords verified past the lock and
under-counted), finding 3 (parallel prompt=none authorizations losing relying parties from the
SSO session), finding 7's IPv6 part (the IP throttle counts an IPv6 /64), and the member index
of SSO sessions that member-wide revocation reads.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from idp.extensions import db
from idp.models import AuditEvent
from idp.wiring import build_throttle
from tests.helpers import PASSWORD, TestRP, form_fields

GUESSES = 12
# Production's argon2 takes tens of milliseconds; the tests' parameters take one. A hash that
# takes as long as production's leaves the window in which parallel guesses overlapped.
HASH_SECONDS = 0.05


@pytest.fixture()
def hashes(app):
    """Count the password verifications (each one an argon2 hash), slowed to production's."""
    passwords = app.extensions["idp"].passwords
    verify = passwords.verify
    count = [0]
    lock = threading.Lock()

    def counting_verify(stored, password):
        with lock:
            count[0] += 1
        time.sleep(HASH_SECONDS)
        return verify(stored, password)

    passwords.verify = counting_verify
    return count


def _login_forms(app, rp, n, **environ):
    """n browsers, each on the login page of its own authorization request."""
    forms = []
    for _ in range(n):
        web = app.test_client()
        location = rp.authorize(web, environ_base=environ).headers["Location"]
        action, hidden = form_fields(web.get(location).get_data(as_text=True))
        forms.append((web, action, hidden))
    return forms


def _post_all_at_once(forms, login_id, password, **environ):
    barrier = threading.Barrier(len(forms))

    def post(form):
        web, action, hidden = form
        barrier.wait()
        return web.post(action, data={**hidden, "login_id": login_id, "password": password},
                        environ_base=environ).status_code

    with ThreadPoolExecutor(len(forms)) as pool:
        return Counter(pool.map(post, forms))


def _events(app):
    with app.app_context():
        rows = db.session.execute(
            select(AuditEvent.event, func.count()).group_by(AuditEvent.event)).all()
    return dict(rows)


def _counts(app, login_id, ip="127.0.0.1"):
    with app.app_context():
        throttle = app.extensions["idp"].throttle
        counts = (throttle.failures("account", login_id), throttle.failures("ip", ip))
        db.session.rollback()
    return counts


def _rebuild_throttle(app, **settings):
    p = app.extensions["idp"]
    p.settings["throttle"].update(settings)
    p.throttle = build_throttle(p.settings, p.store, p.clock)


@pytest.mark.parametrize("login_id", ["member01", "ghostuser1"])  # unknown IDs count alike
def test_parallel_wrong_passwords_lock_after_exactly_the_threshold(app, rp, hashes, login_id):
    _rebuild_throttle(app, account_delay_after=5, account_lock_after=5)
    forms = _login_forms(app, rp, GUESSES + 1)
    statuses = _post_all_at_once(forms[:GUESSES], login_id, "Wrong!pass123")
    assert hashes[0] == 5  # never more hashes than the lock threshold
    assert statuses == {401: 5, 429: GUESSES - 5}
    events = _events(app)
    assert events["login.failure"] == 5 and events["login.locked"] == 1
    assert events["login.throttled"] == GUESSES - 5
    assert _counts(app, login_id)[1] == 5  # the IP counted every verified guess, no more
    # The account is locked: even the right password is refused, before any hash.
    web, action, hidden = forms[-1]
    resp = web.post(action, data={**hidden, "login_id": login_id, "password": PASSWORD})
    assert resp.status_code == 429 and hashes[0] == 5


def test_parallel_wrong_passwords_are_counted_exactly_under_the_default_delays(app, rp, hashes):
    settings = app.extensions["idp"].settings["throttle"]
    statuses = _post_all_at_once(_login_forms(app, rp, GUESSES), "member01", "Wrong!pass123")
    # Up to `delay_after` attempts run at once; past it, one at a time after a delay.
    assert hashes[0] <= settings["account_delay_after"] + 1
    assert statuses == {401: hashes[0], 429: GUESSES - hashes[0]}
    assert _counts(app, "member01") == (hashes[0], hashes[0])
    assert _events(app)["login.failure"] == hashes[0]


def test_a_success_is_not_counted_against_the_ip(app, client, rp):
    _post_all_at_once(_login_forms(app, rp, 2), "member01", "Wrong!pass123")
    assert _counts(app, "member01") == (2, 2)
    _post_all_at_once(_login_forms(app, rp, 1), "member01", PASSWORD)
    assert _counts(app, "member01") == (0, 2)


def test_the_ip_throttle_counts_an_ipv6_slash_64(app, rp):
    _rebuild_throttle(app, ip_lock_after=5)
    for i in range(5):
        statuses = _post_all_at_once(
            _login_forms(app, rp, 1), f"spray{i:04d}x", "Wrong!pass123",
            REMOTE_ADDR=f"2001:db8:5:6::{i + 1:x}")
        assert statuses == {401: 1}
    # Another address of the same /64, another account: refused before any hash.
    assert _post_all_at_once(_login_forms(app, rp, 1), "member01", PASSWORD,
                             REMOTE_ADDR="2001:db8:5:6:aaaa:bbbb:cccc:dddd") == {429: 1}
    # The next /64 is someone else.
    assert _post_all_at_once(_login_forms(app, rp, 1), "member01", PASSWORD,
                             REMOTE_ADDR="2001:db8:5:7::1") == {303: 1}


def _signed_in_browser(app, rp):
    web = app.test_client()
    rp.code_flow(web)
    name = app.extensions["idp"].settings["session"]["cookie_name"]
    cookie = web.get_cookie(name)
    assert cookie is not None
    return web, name, cookie.value


def test_parallel_prompt_none_authorizations_are_all_remembered(app, rp):
    """Finding 3: a browser restoring eight tabs of eight sites, all at once."""
    _, name, handle = _signed_in_browser(app, rp)
    sites = [TestRP.create(app, member=False, name=f"Site {i}") for i in range(8)]
    barrier = threading.Barrier(len(sites))

    def authorize(site):
        web = app.test_client()
        web.set_cookie(name, handle)
        barrier.wait()
        return site.authorize(web, prompt="none").status_code

    with ThreadPoolExecutor(len(sites)) as pool:
        assert set(pool.map(authorize, sites)) == {302}
    with app.app_context():
        sess = app.extensions["idp"].sessions.get(handle)
        db.session.rollback()
    assert sess.clients == sorted([rp.client_id] + [s.client_id for s in sites])


def test_sessions_of_a_member_are_found_and_leave_the_index_when_they_end(app, rp):
    _, _, first = _signed_in_browser(app, rp)
    _, _, second = _signed_in_browser(app, rp)
    with app.app_context():
        sessions = app.extensions["idp"].sessions
        member_id = sessions.get(first).member_id
        found = sessions.for_member(member_id)
        assert {s.handle_hash for s in found} == {
            sessions.get(first).handle_hash, sessions.get(second).handle_hash}
        sessions.end(sessions.get(first))
        db.session.commit()
        assert [s.handle_hash for s in sessions.for_member(member_id)] == [
            sessions.get(second).handle_hash]
        db.session.rollback()
