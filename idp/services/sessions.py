"""SSO sessions and pending authorization requests ("interactions"), kept server-side.

The browser holds only a random session handle; the store keys it by its SHA-256, so a copy
of the store cannot be replayed as cookies. `sid` (OIDC Front/Back-Channel Logout) is a
separate public identifier that relying parties see in ID and logout tokens.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any

from idp.services.ports import Clock
from idp.stores import Store


def _h(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass
class SsoSession:
    handle_hash: str
    sid: str
    member_id: int
    auth_time: int
    acr: str
    amr: list[str]
    # The relying parties that took part (for back-channel logout), read from the store's
    # set of the session; kept in the store as a set so that parallel sign-ins all count.
    clients: list[str] = field(default_factory=list)
    # Where the login happened, for MY KOTRA's list of active sessions (device, IP): the
    # browser's User-Agent (truncated) and the client address. None for older sessions.
    ua: str | None = None
    ip: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "sid": self.sid, "member_id": self.member_id, "auth_time": self.auth_time,
            "acr": self.acr, "amr": self.amr, "ua": self.ua, "ip": self.ip,
        }


class SsoSessions:
    """The SSO sessions, and two indexes over them kept in the same store:

    - `sso:{handle hash}` the session; `sso-sid:{sid}` the handle of a `sid`;
    - `sso-clients:{sid}` the set of relying parties of the session (atomic additions);
    - `sso-member:{member id}` the set of handle hashes of a member's sessions, each entry
      expiring with its session (member-wide revocation finds them with `for_member`).
    """

    def __init__(self, store: Store, ttl: int, clock: Clock) -> None:
        self._store = store
        self.ttl = ttl
        self._clock = clock

    def create(self, *, member_id: int, acr: str, amr: list[str], ua: str | None = None,
               ip: str | None = None) -> tuple[str, SsoSession]:
        """Start a new session (a new handle at every login: no session fixation)."""
        handle = secrets.token_urlsafe(32)
        sess = SsoSession(
            handle_hash=_h(handle), sid=secrets.token_urlsafe(16), member_id=member_id,
            auth_time=int(self._clock.now()), acr=acr, amr=amr, ua=_ua(ua), ip=ip,
        )
        self._save(sess)
        return handle, sess

    def login(
        self, previous: SsoSession | None, *, member_id: int, acr: str, amr: list[str],
        ua: str | None = None, ip: str | None = None,
    ) -> tuple[str, SsoSession]:
        """A successful login: always a new handle (rotation at login).

        Re-authenticating the same member keeps `sid` and the list of relying parties, so a
        later logout still reaches them; the old handle stops working at once.
        """
        if previous is None or previous.member_id != member_id:
            return self.create(member_id=member_id, acr=acr, amr=amr, ua=ua, ip=ip)
        self._store.delete(f"sso:{previous.handle_hash}")
        self._store.set_remove(_member_key(member_id), previous.handle_hash)
        handle = secrets.token_urlsafe(32)
        sess = SsoSession(
            handle_hash=_h(handle), sid=previous.sid, member_id=member_id,
            auth_time=int(self._clock.now()), acr=acr, amr=amr,
            clients=list(self._store.set_members(_clients_key(previous.sid))),
            ua=_ua(ua) or previous.ua, ip=ip or previous.ip,
        )
        self._save(sess)
        return handle, sess

    def _remaining(self, sess: SsoSession) -> float:
        # The session lives `ttl` from the login; later saves never extend it.
        return max(1, sess.auth_time + self.ttl - self._clock.now())

    def _save(self, sess: SsoSession) -> None:
        ttl = self._remaining(sess)
        with self._store.batch():  # the session and its indexes: all of them or none
            self._store.put(f"sso:{sess.handle_hash}", sess.to_dict(), ttl)
            self._store.put(f"sso-sid:{sess.sid}", {"h": sess.handle_hash}, ttl)
            self._store.set_add(_member_key(sess.member_id), sess.handle_hash, ttl)
            for client_id in sess.clients:  # a rotated session lives longer: so its entries
                self._store.set_add(_clients_key(sess.sid), client_id, ttl)

    def get(self, handle: str | None) -> SsoSession | None:
        if not handle:
            return None
        return self._by_hash(_h(handle))

    def _by_hash(self, handle_hash: str) -> SsoSession | None:
        data = self._store.get(f"sso:{handle_hash}")
        if data is None or data["auth_time"] + self.ttl <= self._clock.now():
            return None
        legacy = data.pop("clients", [])  # sessions saved before the set existed
        clients = self._store.set_members(_clients_key(data["sid"])) | set(legacy)
        return SsoSession(handle_hash=handle_hash, clients=sorted(clients), **data)

    def by_sid(self, sid: str) -> SsoSession | None:
        ref = self._store.get(f"sso-sid:{sid}")
        return self._by_hash(ref["h"]) if ref else None

    def for_member(self, member_id: int) -> list[SsoSession]:
        """Every live SSO session of a member (oldest login first), for member-wide
        revocation; entries of sessions gone meanwhile are dropped from the index."""
        found = []
        for handle_hash in self._store.set_members(_member_key(member_id)):
            sess = self._by_hash(handle_hash)
            if sess is None or sess.member_id != member_id:
                self._store.set_remove(_member_key(member_id), handle_hash)
            else:
                found.append(sess)
        return sorted(found, key=lambda s: (s.auth_time, s.sid))

    def add_client(self, sess: SsoSession, client_id: str) -> None:
        """Remember a relying party that took part, for back-channel logout.

        One atomic set addition: parallel sign-ins at several sites (a browser restoring its
        tabs) are all remembered, where a read-modify-write of the session lost some."""
        if client_id not in sess.clients:
            self._store.set_add(_clients_key(sess.sid), client_id, self._remaining(sess))
            sess.clients.append(client_id)

    def remove_client(self, sess: SsoSession, client_id: str) -> None:
        """Forget a relying party of the session (the member revoked it in MY KOTRA)."""
        self._store.set_remove(_clients_key(sess.sid), client_id)
        if client_id in sess.clients:
            sess.clients.remove(client_id)

    def end(self, sess: SsoSession) -> None:
        """End the session; `sess.clients` is refreshed to every relying party it reached,
        including any that joined after `sess` was read."""
        sess.clients = sorted(self._store.set_members(_clients_key(sess.sid))
                              | set(sess.clients))
        with self._store.batch():  # one round trip; no half-ended session for other readers
            self._store.delete(f"sso:{sess.handle_hash}")
            self._store.delete(f"sso-sid:{sess.sid}")
            self._store.delete(_clients_key(sess.sid))
            self._store.set_remove(_member_key(sess.member_id), sess.handle_hash)


def _ua(value: str | None) -> str | None:
    """A User-Agent as kept with a session: at most 200 characters, None when empty."""
    return value[:200] if value else None


def _clients_key(sid: str) -> str:
    return f"sso-clients:{sid}"


def _member_key(member_id: int) -> str:
    return f"sso-member:{member_id}"


@dataclass
class Interaction:
    """A pending authorization request and what the user has done for it so far."""

    uid: str
    params: dict[str, str]
    browser: str
    created: float
    # The login that happened inside this interaction (idp/web/interaction.finish_login):
    # when, in which SSO session, and the authentication context class it reached. It
    # satisfies prompt=login and max_age for this request; the acr still has to meet the
    # request's.
    login_at: float | None = None
    login_sid: str | None = None
    login_acr: str | None = None
    # Interstitial steps completed (consent, password change: idp/oidc/authorize.STEPS).
    done: list[str] = field(default_factory=list)

    def record_login(self, *, at: float, sid: str, acr: str) -> None:
        if sid != self.login_sid:
            # Steps done in another session (another member signed in within this request)
            # do not count for this one: each is checked again.
            self.done = []
        self.login_at, self.login_sid, self.login_acr = at, sid, acr

    def fresh_login(self, sid: str) -> bool:
        """Whether the session `sid` signed in inside this interaction."""
        return self.login_at is not None and self.login_sid == sid

    def to_dict(self) -> dict[str, Any]:
        return {"params": self.params, "browser": self.browser, "created": self.created,
                "login_at": self.login_at, "login_sid": self.login_sid,
                "login_acr": self.login_acr, "done": self.done}


class Interactions:
    """The authorization request waiting for a login or a consent, bound to one browser."""

    def __init__(self, store: Store, ttl: int, clock: Clock) -> None:
        self._store = store
        self.ttl = ttl
        self._clock = clock

    def start(self, params: dict[str, str], browser: str) -> Interaction:
        ia = Interaction(secrets.token_urlsafe(18), params, _h(browser), self._clock.now())
        self.save(ia)
        return ia

    def save(self, ia: Interaction) -> None:
        self._store.put(f"ia:{ia.uid}", ia.to_dict(), self.ttl)

    def get(self, uid: str, browser: str | None) -> Interaction | None:
        """The interaction, only for the browser that started it (no login CSRF via links)."""
        data = self._store.get(f"ia:{uid}") if uid else None
        if data is None or not browser or not secrets.compare_digest(
            data["browser"], _h(browser)
        ):
            return None
        return Interaction(uid=uid, **data)

    def finish(self, ia: Interaction) -> None:
        self._store.delete(f"ia:{ia.uid}")
