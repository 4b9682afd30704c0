"""Fixtures for the headless-browser end-to-end tests.

Real processes on free ports: the provider (`idp serve`, gunicorn) on a fresh SQLite database,
and the two demo relying parties (`python -m clients.demo_site`), driven by Debian's Chromium
through Playwright. Chromium missing (or not launchable) skips, or fails with
IDP_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

from tests.conftest import free_port, require_service

PROJECT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
IDP = str(VENV_BIN / "idp")
PYTHON = sys.executable
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-background-networking", "--disable-gpu", "--disable-quic",
    "--no-first-run", "--disable-component-update", "--disable-sync",
]
E2E_LOGIN_ID = "e2etester1"
E2E_PASSWORD = "E2e!tester2026"
START_TIMEOUT = 30.0



@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium under Playwright, or a skip."""
    ok = os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK)
    reason = "apt-get install chromium fonts-nanum"
    if not ok:
        require_service("Chromium", False, f"{CHROMIUM} missing; {reason}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require_service("Chromium", False, f"the playwright package is missing; {reason}")
        return
    pw = sync_playwright().start()
    try:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    except Exception as exc:  # noqa: BLE001 — any launch failure means "no browser here"
        pw.stop()
        require_service("Chromium", False, f"playwright cannot launch it ({exc!s:.200}); "
                                           f"{reason}")
        return
    try:
        yield instance
    finally:
        instance.close()
        pw.stop()


@dataclass
class Stack:
    """The running provider and demo sites."""

    issuer: str
    site1: str
    site2: str
    tmp: Path
    env: dict[str, str] = field(default_factory=dict)
    members: dict[str, str] = field(default_factory=dict)
    procs: list[tuple[str, subprocess.Popen[bytes], IO[bytes], Path]] = field(
        default_factory=list)

    def logs(self, limit: int = 3000) -> str:
        """The tail of every process's output, for assertion messages."""
        out = []
        for name, _proc, fh, path in self.procs:
            fh.flush()
            text = path.read_text(errors="replace")
            out.append(f"--- {name} ---\n{text[-limit:]}")
        return "\n".join(out)


def _run(args: list[str], env: dict[str, str], stdin: str | None = None) -> Any:
    done = subprocess.run(args, env=env, cwd=PROJECT, input=stdin, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "null"
    return json.loads(last)


def _wait_http(url: str, proc: subprocess.Popen[bytes], stack: Stack) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{url}: process exited ({proc.returncode})\n{stack.logs()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {START_TIMEOUT}s\n{stack.logs()}")


def _start(stack: Stack, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[
        bytes]:
    path = stack.tmp / f"{name}.log"
    fh = open(path, "wb")  # noqa: SIM115 — closed at teardown
    proc = subprocess.Popen(args, env=env, cwd=PROJECT, stdout=fh, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    stack.procs.append((name, proc, fh, path))
    return proc


def _stop(stack: Stack) -> None:
    for name, proc, _fh, _path in stack.procs:
        if proc.poll() is None:
            # gunicorn: SIGINT is its quick shutdown (SIGTERM waits for the graceful timeout)
            proc.send_signal(signal.SIGINT if name == "idp" else signal.SIGTERM)
    for _name, proc, fh, _path in stack.procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        fh.close()


@pytest.fixture(scope="session")
def stack(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Provider + demo sites 1 and 2 on free ports, on a fresh database. (Depends on
    `browser` so that a machine without Chromium skips before starting anything.)"""
    del browser
    tmp = tmp_path_factory.mktemp("e2e")
    idp_port, port1, port2 = free_port(), free_port(), free_port()
    issuer = f"http://127.0.0.1:{idp_port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDP_", "DEMO_CLIENT"))}
    env.update({
        "IDP_ENV": "testing",
        "IDP_DATABASE_URL": f"sqlite:///{tmp / 'e2e.sqlite3'}",
        "IDP_ISSUER": issuer,
        "PYTHONUNBUFFERED": "1",
    })
    config_path = tmp / "demo_clients.e2e.json"
    stack = Stack(issuer=issuer, site1=f"http://127.0.0.1:{port1}",
                  site2=f"http://127.0.0.1:{port2}", tmp=tmp, env=env)

    _run([IDP, "db", "upgrade", "--json"], env)
    try:
        provider = _start(stack, "idp", [IDP, "serve", "--bind", f"127.0.0.1:{idp_port}",
                                         "--workers", "2"], env)
        _configure(stack, env, config_path)
        sites = [
            _start(stack, f"site{n}", [PYTHON, "-m", "clients.demo_site", "--site", str(n),
                                       "--port", str(port), "--issuer", issuer,
                                       "--config", str(config_path)], env)
            for n, port in ((1, port1), (2, port2))
        ]
        _wait_http(f"{issuer}/healthz", provider, stack)
        _wait_http(f"{stack.site1}/", sites[0], stack)
        _wait_http(f"{stack.site2}/", sites[1], stack)
        yield stack
    finally:
        _stop(stack)


def _configure(stack: Stack, env: dict[str, str], config_path: Path) -> None:
    """Demo members (seed), one CLI-made member, the two sites' clients and their config."""
    # Independent CLI steps in parallel (each is mostly interpreter start-up).
    with ThreadPoolExecutor(max_workers=4) as pool:
        # --clients-file: never overwrite the developer's instance/demo_clients.json
        # --no-terms: the CLI-made member below has agreed to nothing; the terms step has
        # its own stack (test_accessibility.terms_stack)
        seeding = pool.submit(_run, [IDP, "demo", "seed", "--clients-file",
                                     str(stack.tmp / "demo_clients.json"), "--no-terms",
                                     "--json"], env)
        adding = pool.submit(_run, [
            IDP, "members", "add", "--login-id", E2E_LOGIN_ID, "--name", "최종점검",
            "--email", f"{E2E_LOGIN_ID}@example.com", "--password-stdin", "--json",
        ], env, E2E_PASSWORD)
        registering = {n: pool.submit(_run, [
            IDP, "clients", "add", "--name", f"KOTRA 데모 사이트 {n}",
            "--redirect-uri", f"{base}/callback", "--post-logout-redirect-uri", f"{base}/",
            "--backchannel-logout-uri", f"{base}/backchannel-logout",
            "--grant-type", "authorization_code", "--grant-type", "refresh_token",
            "--first-party", "--json",
        ], env) for n, base in ((1, stack.site1), (2, stack.site2))}
        stack.members = {m["login_id"]: m["password"] for m in seeding.result()["members"]}
        assert adding.result()["login_id"] == E2E_LOGIN_ID
        stack.members[E2E_LOGIN_ID] = E2E_PASSWORD
        config: dict[str, Any] = {}
        for n, base in ((1, stack.site1), (2, stack.site2)):
            registered = registering[n].result()
            config[f"site{n}"] = {
                "client_id": registered["client_id"],
                "client_secret": registered["client_secret"],
                "redirect_uri": f"{base}/callback",
                "post_logout_redirect_uri": f"{base}/",
                "backchannel_logout_uri": f"{base}/backchannel-logout",
            }
    config_path.write_text(json.dumps(config, ensure_ascii=False, indent=2), encoding="utf-8")
    config_path.chmod(0o600)


@pytest.fixture()
def context(browser: Any, stack: Stack) -> Iterator[Any]:
    """A fresh browser profile (no cookies) per test, Korean by default."""
    del stack
    ctx = browser.new_context(locale="ko-KR", viewport={"width": 1100, "height": 900})
    ctx.set_default_timeout(10_000)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture(scope="session")
def sns_stack(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Issue 9: a provider of its own with the demo terms published (sign-up asks for them)
    and its SNS emulators (the testing overlay points the four vendors at them), and demo
    site 1 registered with it. Its `members` is empty: SNS members sign up in the tests."""
    del browser
    tmp = tmp_path_factory.mktemp("sns")
    idp_port, site_port = free_port(), free_port()
    issuer = f"http://127.0.0.1:{idp_port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDP_", "DEMO_CLIENT"))}
    env.update({"IDP_ENV": "testing", "IDP_DATABASE_URL": f"sqlite:///{tmp / 'sns.sqlite3'}",
                "IDP_ISSUER": issuer, "PYTHONUNBUFFERED": "1",
                # the emulators are served by the same server the callback waits in
                "IDP_SERVER_THREADS": "4"})
    stack = Stack(issuer=issuer, site1=f"http://127.0.0.1:{site_port}", site2="", tmp=tmp,
                  env=env)
    _run([IDP, "db", "upgrade", "--json"], env)
    seeded = _run([IDP, "demo", "seed", "--clients-file", str(tmp / "clients.json"), "--json"],
                  env)
    assert "service" in seeded["terms_published"]
    base = stack.site1
    registered = _run([IDP, "clients", "add", "--name", "KOTRA 데모 사이트 1",
                       "--redirect-uri", f"{base}/callback", "--post-logout-redirect-uri",
                       f"{base}/", "--grant-type", "authorization_code", "--grant-type",
                       "refresh_token", "--first-party", "--json"], env)
    config_path = tmp / "demo_clients.sns.json"
    config_path.write_text(json.dumps({"site1": {
        "client_id": registered["client_id"], "client_secret": registered["client_secret"],
        "redirect_uri": f"{base}/callback", "post_logout_redirect_uri": f"{base}/",
        "backchannel_logout_uri": f"{base}/backchannel-logout"}}), encoding="utf-8")
    config_path.chmod(0o600)
    try:
        provider = _start(stack, "idp-sns", [IDP, "serve", "--bind", f"127.0.0.1:{idp_port}",
                                             "--workers", "2"], env)
        site = _start(stack, "site1-sns", [PYTHON, "-m", "clients.demo_site", "--site", "1",
                                           "--port", str(site_port), "--issuer", issuer,
                                           "--config", str(config_path)], env)
        _wait_http(f"{issuer}/healthz", provider, stack)
        _wait_http(f"{stack.site1}/", site, stack)
        yield stack
    finally:
        _stop(stack)
