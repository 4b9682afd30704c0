"""The demo site's own in-process state: its sessions and the values it must see only once."""

from __future__ import annotations

import secrets
import threading
import time

from clients.demo_site.tokens import CLOCK_LEEWAY, LOGOUT_TOKEN_MAX_AGE

SESSION_TTL = 8 * 3600  # local session lifetime


class ReplayCache:
    """Remembers logout-token jti values until they could no longer be accepted."""

    def __init__(self, ttl: float = LOGOUT_TOKEN_MAX_AGE + 2 * CLOCK_LEEWAY):
        self.ttl = ttl
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, key: str, now: float | None = None) -> bool:
        """Record key; False when it was already seen (a replay)."""
        now = time.time() if now is None else now
        with self._lock:
            for old, expires in list(self._seen.items()):
                if expires < now:
                    del self._seen[old]
            if key in self._seen:
                return False
            self._seen[key] = now + self.ttl
            return True

    def consume(self, key: str, now: float | None = None) -> bool:
        """Forget key; True when it was recorded and still fresh."""
        now = time.time() if now is None else now
        with self._lock:
            expires = self._seen.pop(key, None)
            return expires is not None and expires >= now


class SessionStore:
    """In-process session store: random cookie value -> dict."""

    def __init__(self, ttl: float = SESSION_TTL):
        self.ttl = ttl
        self._data: dict[str, dict] = {}
        self._lock = threading.Lock()

    def new(self, data: dict | None = None) -> str:
        key = secrets.token_urlsafe(32)
        with self._lock:
            self._purge()
            self._data[key] = {"created": time.time(), **(data or {})}
        return key

    def get(self, key: str | None) -> dict | None:
        if not key:
            return None
        with self._lock:
            data = self._data.get(key)
            if data is not None and data["created"] + self.ttl < time.time():
                del self._data[key]
                return None
            return data

    def delete(self, key: str | None) -> dict | None:
        if not key:
            return None
        with self._lock:
            return self._data.pop(key, None)

    def delete_user_sessions(self, *, sid: str | None = None, sub: str | None = None) -> int:
        """Drop signed-in sessions with this sid (or, when sid is None, this sub)."""
        with self._lock:
            doomed = []
            for key, data in self._data.items():
                user = data.get("user")
                if not user:
                    continue
                if sid is not None:
                    if user.get("sid") == sid and (sub is None or user.get("sub") == sub):
                        doomed.append(key)
                elif sub is not None and user.get("sub") == sub:
                    doomed.append(key)
            for key in doomed:
                del self._data[key]
            return len(doomed)

    def _purge(self) -> None:
        limit = time.time() - self.ttl
        for key in [k for k, v in self._data.items() if v["created"] < limit]:
            del self._data[key]

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)
