"""`idp serve` with two workers: one metrics endpoint adds up what every worker counted.

Runs the real server (granian, two worker processes) on a SQLite file; its metrics on their
own port with a bearer token, its log lines as JSON on stderr.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import free_port

PROJECT = Path(__file__).resolve().parents[2]
IDP_BIN = Path(sys.executable).parent / "idp"
TOKEN = "scrape-token-0123456789"


def count_of(text: str, route: str, status: str = "200") -> float:
    wanted = (f'idp_http_request_duration_seconds_count{{method="GET",route="{route}",'
              f'status="{status}"}}')
    total = 0.0
    for line in text.splitlines():
        if line.startswith(wanted + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.fixture()
def served(tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDP_", "PROMETHEUS_"))}
    port, metrics_port = free_port(), free_port()
    env.update({
        "IDP_ENV": "testing",
        "IDP_DATABASE_URL": f"sqlite:///{tmp_path / 'idp.sqlite3'}",
        "IDP_ISSUER": f"http://127.0.0.1:{port}",
        "IDP_METRICS_BIND": f"127.0.0.1:{metrics_port}",
        "IDP_METRICS_TOKEN": TOKEN,
        "IDP_LOG_FORMAT": "json",
        "TMPDIR": str(tmp_path),  # where `idp serve` makes its metrics directory
        **getattr(request, "param", {}),
    })
    subprocess.run([str(IDP_BIN), "db", "upgrade"], cwd=PROJECT, env=env, check=True,
                   capture_output=True, timeout=60)
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(IDP_BIN), "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
            cwd=PROJECT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url, metrics = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}/metrics"
    deadline = time.monotonic() + 40  # a loaded CI machine
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            time.sleep(0.1)
    else:
        proc.kill()
        raise AssertionError(log.read_text(errors="replace")[-3000:])

    def stop() -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    try:
        yield url, metrics, log, tmp_path, stop
    finally:
        stop()


def test_two_workers_are_counted_on_one_endpoint(served: Any) -> None:
    url, metrics, log, tmp_path, stop = served
    auth = {"Authorization": f"Bearer {TOKEN}"}
    before = count_of(requests.get(metrics, headers=auth, timeout=5).text, "/healthz")
    dirs = list(tmp_path.glob("idp-metrics-*"))
    assert len(dirs) == 1

    def counting_pids() -> set[str]:
        return {p.stem.rsplit("_", 1)[1] for p in dirs[0].glob("counter_*.db")}

    # A new connection each, until both workers have counted some: the kernel hands the
    # connections to the workers unevenly (a run of 40 once went all to one of them).
    n = 0
    while n < 20 or (len(counting_pids()) < 3 and n < 1000):
        with requests.Session() as s:
            assert s.get(f"{url}/healthz", timeout=5).status_code == 200
        n += 1
    resp = requests.get(metrics, headers=auth, timeout=5)
    assert resp.status_code == 200
    assert count_of(resp.text, "/healthz") == before + n, resp.text[-2000:]
    assert 'idp_dependency_up{dependency="database"} 1.0' in resp.text
    assert "idp_backchannel_outbox_pending 0.0" in resp.text
    assert "idp_mail_outbox_pending 0.0" in resp.text

    # Every process has its own files in this start's directory: the main one and 2 workers.
    pids = counting_pids()
    assert len(pids) >= 3, n

    # The workers run on transparent huge pages and without docstrings (idp.serve_argv):
    # `idp serve` replaced itself with both set before it started them.
    for pid in pids if sys.platform.startswith("linux") else ():
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        assert b"PYTHONOPTIMIZE=2" in environ, pid
        if platform.libc_ver()[0] == "glibc":
            assert b"GLIBC_TUNABLES=glibc.malloc.hugetlb=1" in environ, pid

    # Refused without the token; the public port has no metrics.
    assert requests.get(metrics, timeout=5).status_code == 401
    assert requests.get(metrics, headers={"Authorization": "Bearer nope"},
                        timeout=5).status_code == 401
    assert requests.get(f"{url}/metrics", timeout=5).status_code == 404

    # The access log: JSON lines carrying the id the response gave.
    rid = requests.get(f"{url}/userinfo", timeout=5).headers["X-Request-ID"]
    deadline = time.monotonic() + 5
    found: list[dict[str, Any]] = []
    while not found and time.monotonic() < deadline:
        lines = [json.loads(line) for line in log.read_text(errors="replace").splitlines()
                 if line.startswith("{")]
        found = [line for line in lines if line.get("request_id") == rid]
        time.sleep(0.05)
    assert found and found[0]["path"] == "/userinfo" and found[0]["status"] == 401
    assert found[0]["logger"] == "idp.access"
    # Once, as JSON: not again in Flask's own plain format.
    assert " in observability: " not in log.read_text(errors="replace")

    # A stop removes this start's metric files (the next start begins at zero).
    stop()
    assert not list(tmp_path.glob("idp-metrics-*"))


@pytest.mark.parametrize("served", [{"IDP_ACCESS_LOG_FLUSH_SECONDS": "3600"}], indirect=True)
def test_held_access_lines_are_written_when_the_workers_stop(served: Any) -> None:
    """Issue 10: a worker holds its access lines (access_log_flush_seconds); granian's
    workers leave through os._exit, and what they held still reaches the log."""
    url, _, log, _, stop = served
    rids = [requests.get(f"{url}/userinfo", timeout=5).headers["X-Request-ID"]
            for _ in range(5)]
    time.sleep(0.5)

    def logged() -> set[str]:
        return {line.get("request_id") for line in (
            json.loads(line) for line in log.read_text(errors="replace").splitlines()
            if line.startswith("{"))}

    assert not logged() & set(rids)  # held for an hour
    stop()
    assert set(rids) <= logged()
