"""Redis as docs/redis.md tells to run it, on private ports: SSO sessions survive a
restart (append-only file) and a failover (Sentinel promotes the replica; the store follows
through its `redis+sentinel://` URL without a restart of the provider).

Each test starts its own redis-server processes and stops exactly those.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from idp.adapters.clock import FakeClock
from idp.services.sessions import SsoSessions
from idp.stores import RedisStore
from tests.conftest import free_port, require_service

# Runs in the PostgreSQL + Redis pass of .ci/run (where redis-server is installed).
pytestmark = pytest.mark.scaleout

REDIS_SERVER = shutil.which("redis-server")


class Processes:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.running: dict[int, subprocess.Popen[bytes]] = {}

    def start(self, name: str, config: str, *, sentinel: bool = False) -> int:
        port = free_port()
        folder = self.tmp / name
        folder.mkdir(exist_ok=True)
        conf = folder / "redis.conf"
        conf.write_text(f"port {port}\nbind 127.0.0.1\ndir {folder}\n"
                        f"logfile {folder / 'log.txt'}\n{config}\n")
        assert REDIS_SERVER is not None
        args = [REDIS_SERVER, str(conf)] + (["--sentinel"] if sentinel else [])
        self.running[port] = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                              stderr=subprocess.DEVNULL)
        _until(lambda: _ping(port), f"{name} on port {port}")
        return port

    def stop(self, port: int) -> None:
        proc = self.running.pop(port)
        proc.terminate()  # SIGTERM: a clean shutdown (the append-only file is flushed)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        for port in list(self.running):
            self.stop(port)


def _ping(port: int) -> bool:
    client = redis.Redis(port=port, socket_timeout=0.5, socket_connect_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _replication(port: int) -> dict[str, Any]:
    client = redis.Redis(port=port, socket_timeout=0.5, socket_connect_timeout=0.5)
    try:
        info: dict[str, Any] = client.info("replication")
        return info
    finally:
        client.close()


def _until(check: Callable[[], Any], what: str, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
        except redis.RedisError:
            result = None
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture()
def processes(tmp_path: Path) -> Iterator[Processes]:
    require_service("redis-server", REDIS_SERVER is not None,
                    "install redis-server (it also runs Sentinel: redis-server --sentinel)")
    procs = Processes(tmp_path)
    try:
        yield procs
    finally:
        procs.stop_all()


def _sessions(url: str) -> tuple[RedisStore, SsoSessions]:
    store = RedisStore(url)
    return store, SsoSessions(store, 3600, FakeClock())


def test_sessions_survive_a_restart_with_the_append_only_file(processes):
    port = processes.start("primary", "appendonly yes\nappendfsync everysec\nsave \"\"")
    store, sessions = _sessions(f"redis://127.0.0.1:{port}/0")
    handle, sess = sessions.create(member_id=7, acr="1", amr=["pwd"])
    sessions.add_client(sess, "rp-a")
    store.close()
    processes.stop(port)
    # The same data directory, the same port: what the operator's service manager does.
    port_again = processes.start("primary", "appendonly yes\nappendfsync everysec\nsave \"\"")
    store, sessions = _sessions(f"redis://127.0.0.1:{port_again}/0")
    try:
        restored = sessions.get(handle)
        assert restored is not None and restored.sid == sess.sid
        assert restored.clients == ["rp-a"]
        assert [s.sid for s in sessions.for_member(7)] == [sess.sid]
    finally:
        store.close()


def test_sessions_survive_a_sentinel_failover(processes):
    primary = processes.start("primary", "appendonly yes")
    replica = processes.start("replica", f"appendonly yes\nreplicaof 127.0.0.1 {primary}")
    _until(lambda: _replication(replica)["master_link_status"] == "up", "the replica to sync")
    sentinel = processes.start("sentinel", "\n".join([
        f"sentinel monitor idp 127.0.0.1 {primary} 1",
        "sentinel down-after-milliseconds idp 500",
        "sentinel failover-timeout idp 3000",
    ]), sentinel=True)
    store, sessions = _sessions(f"redis+sentinel://127.0.0.1:{sentinel}/idp/0")
    try:
        handle, sess = sessions.create(member_id=7, acr="1", amr=["pwd"])
        sessions.add_client(sess, "rp-a")
        store._redis.wait(1, 2000)  # replicated before the primary goes away
        processes.stop(primary)

        _until(lambda: _replication(replica)["role"] == "master",
               "Sentinel to promote the replica")
        # The provider's store follows the new primary by itself (after a refused call or
        # two while Sentinel switches).
        restored = _until(lambda: sessions.get(handle), "the store to reach the new primary")
        assert restored.sid == sess.sid and restored.clients == ["rp-a"]
        sessions.add_client(restored, "rp-b")  # and writes go to the new primary
        assert sessions.get(handle).clients == ["rp-a", "rp-b"]
    finally:
        store.close()
