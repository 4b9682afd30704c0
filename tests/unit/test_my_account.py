"""MY KOTRA's pieces without the web: sessions remember device and IP, the re-authentication
window on the clock, client removal from sessions (idp/services/my_account.py, sessions.py)."""

from __future__ import annotations

from idp.adapters.clock import FakeClock
from idp.services.my_account import Reauth
from idp.services.sessions import SsoSessions
from idp.stores import MemoryStore


def _sessions() -> tuple[SsoSessions, FakeClock]:
    clock = FakeClock(1_000_000.0)
    return SsoSessions(MemoryStore(clock), 3600, clock), clock


def test_a_session_remembers_its_device_and_address_across_rotation():
    sessions, _ = _sessions()
    handle, sess = sessions.create(member_id=1, acr="1", amr=["pwd"], ua="U" * 500,
                                   ip="192.0.2.1")
    stored = sessions.get(handle)
    assert stored is not None and stored.ua == "U" * 200 and stored.ip == "192.0.2.1"
    # A re-login of the same member from elsewhere: the new device and address.
    handle2, again = sessions.login(stored, member_id=1, acr="1", amr=["pwd"],
                                    ua="Firefox/120", ip="192.0.2.9")
    assert again.sid == sess.sid and (again.ua, again.ip) == ("Firefox/120", "192.0.2.9")
    # Without them (an older caller) the previous ones stay.
    _, third = sessions.login(again, member_id=1, acr="1", amr=["pwd"])
    assert (third.ua, third.ip) == ("Firefox/120", "192.0.2.9")


def test_sessions_stored_before_device_and_address_still_load():
    sessions, _ = _sessions()
    handle, sess = sessions.create(member_id=1, acr="1", amr=["pwd"])
    data = sess.to_dict()
    del data["ua"], data["ip"]
    sessions._store.put(f"sso:{sess.handle_hash}", data, 60)  # noqa: SLF001
    loaded = sessions.get(handle)
    assert loaded is not None and loaded.ua is None and loaded.ip is None


def test_remove_client_forgets_a_relying_party():
    sessions, _ = _sessions()
    handle, sess = sessions.create(member_id=1, acr="1", amr=["pwd"])
    sessions.add_client(sess, "a")
    sessions.add_client(sess, "b")
    sessions.remove_client(sess, "a")
    loaded = sessions.get(handle)
    assert loaded is not None and loaded.clients == ["b"]


def test_reauthentication_is_fresh_for_its_window_only():
    clock = FakeClock(1_000_000.0)
    reauth = Reauth(MemoryStore(clock), clock, 300)
    assert not reauth.fresh("sid1")
    reauth.mark("sid1")
    assert reauth.fresh("sid1") and not reauth.fresh("sid2")
    clock.advance(299)
    assert reauth.fresh("sid1")
    clock.advance(2)
    assert not reauth.fresh("sid1")
    reauth.mark("sid1")
    reauth.forget("sid1")
    assert not reauth.fresh("sid1")


def test_console_client_registered_once_and_follows_the_issuer(app):
    from sqlalchemy import select

    from idp.extensions import db
    from idp.models import OAuthClient
    from idp.services.my_account import CONSOLE_CLIENT_ID, ensure_console_client

    with app.app_context():
        ensure_console_client(db.session, "http://127.0.0.1:5999")
        ensure_console_client(db.session, "http://127.0.0.1:5999")
        ensure_console_client(db.session, "https://login.kotra.example/")
        rows = list(db.session.scalars(select(OAuthClient).where(
            OAuthClient.client_id == CONSOLE_CLIENT_ID)))
        assert len(rows) == 1
        client = rows[0]
        assert client.redirect_uris == ["https://login.kotra.example/my/callback"]
        assert client.first_party and client.is_public and client.require_pkce
        assert client.backchannel_logout_uri is None
