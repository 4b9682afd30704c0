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


def _failures(app, kind, value):
    with app.app_context():
        failures = app.extensions["idp"].throttle.failures(kind, value)
        db.session.rollback()
    return failures


def _rebuild_throttle(app, **settings):
    p = app.extensions["idp"]
    p.settings["throttle"].update(settings)
    p.throttle = build_throttle(p.settings, p.store, p.clock)


@pytest.mark.parametrize("login_id", ["member01", "ghostuser1"])  # unknown IDs count alike
def test_parallel_wrong_passwords_lock_after_exactly_the_threshold(app, rp, hashes, login_id):
    lock_after = app.extensions["idp"].settings["throttle"]["account_lock_after"]
    assert GUESSES > lock_after
    forms = _login_forms(app, rp, GUESSES + 1)
    statuses = _post_all_at_once(forms[:GUESSES], login_id, "Wrong!pass123")
    assert hashes[0] == lock_after  # never more hashes than the lock threshold
    assert statuses == {401: lock_after, 429: GUESSES - lock_after}
    events = _events(app)
    assert events["login.failure"] == lock_after and events["login.locked"] == 1
    assert events["login.throttled"] == GUESSES - lock_after
    assert _failures(app, "ip", "127.0.0.1") == lock_after  # every verified guess, no more
    # The account is locked: even the right password is refused, before any hash.
    web, action, hidden = forms[-1]
    resp = web.post(action, data={**hidden, "login_id": login_id, "password": PASSWORD})
    assert resp.status_code == 429 and hashes[0] == lock_after
    assert "분 후 다시 시도해 주세요" in resp.get_data(as_text=True)


def test_parallel_right_passwords_on_one_account_all_sign_in(app, rp, hashes):
    """Members sharing an account sign in from several places at once: nobody is held up."""
    statuses = _post_all_at_once(_login_forms(app, rp, 8), "member01", PASSWORD)
    assert statuses == {303: 8} and hashes[0] == 8
    assert _failures(app, "account", "member01") == 0


def test_a_success_is_not_counted_against_the_ip(app, client, rp):
    _post_all_at_once(_login_forms(app, rp, 2), "member01", "Wrong!pass123")
    assert _failures(app, "account", "member01") == 2 and _failures(app, "ip", "127.0.0.1") == 2
    _post_all_at_once(_login_forms(app, rp, 1), "member01", PASSWORD)
    assert _failures(app, "account", "member01") == 0 and _failures(app, "ip", "127.0.0.1") == 2


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
