"""Sign-ups per second end to end (issue 6), over HTTP against a running provider:

    hub (POST /signup/general) → 약관동의 (all agree) → 실명인증 through the development
    emulator's 휴대폰 popup (carrier, name, birthdate, gender, phone, the SMS code read from
    /dev/outbox.json, the signed result back to /verify/callback) → 회원정보 입력 (기본정보:
    ID, password — argon2id at the production parameters of config/default.toml —, email;
    then 가입하기) → 가입완료 page.

Each sign-up is a new browser (its own cookies) and a new person (name, birthdate and a
phone number of its own: the emulator derives CI and DI from them, so no two collide).
Prints the rate and the p50/p99 latency of a whole sign-up, like the other scenarios.

    .venv/bin/python bench/signup_e2e.py [--duration 20] [--concurrency 4]
    .venv/bin/python bench/signup_e2e.py --base-url http://127.0.0.1:5000   # a running one

Without --base-url it starts its own provider (`idp serve`, IDP_ENV=development: the
emulator exists only in development and testing; argon2 is NOT lowered there) on a
temporary SQLite file (or --database-url, which is then migrated and filled: never point it
at a database you care about), after `idp db upgrade` and `idp demo seed` (the terms).
"""

from __future__ import annotations

import argparse
import html
import itertools
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
IDP = ROOT / ".venv" / "bin" / "idp"
PASSWORD = "Bench!signup-2026x"
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
VERIFY_LINK = re.compile(r'href="([^"]*/verify/start\?[^"]*method=mobile[^"]*)"')
RESULT_LINK = re.compile(r'id="verify-continue" data-autofollow href="([^"]+)"')
CODE = re.compile(r"\[(\d{6})\]")

_counter = itertools.count(int(time.time()) % 10_000_000)
_counter_lock = threading.Lock()


class SignupFailed(Exception):
    pass


def _next_person() -> dict[str, str]:
    with _counter_lock:
        n = next(_counter)
    # 010 + 8 digits, a birthdate in 1960-1999: a person (CI/DI) of its own per sign-up
    return {"name": "벤치", "birthdate": f"{1960 + n % 40}{1 + n % 12:02d}{1 + n % 28:02d}",
            "mobile": f"010{n % 100_000_000:08d}", "gender": "M", "carrier": "SKT",
            "agree": "y"}


def _csrf(resp: httpx.Response) -> str:
    found = CSRF.search(resp.text)
    if not found:
        raise SignupFailed(f"no CSRF token on {resp.request.url} ({resp.status_code})")
    return found.group(1)


def _expect(resp: httpx.Response, status: int, what: str) -> httpx.Response:
    if resp.status_code != status:
        raise SignupFailed(f"{what}: {resp.status_code} at {resp.request.url}: "
                           f"{resp.text[:200]!r}")
    return resp


def _local(base: str, location: str) -> str:
    parts = urlsplit(urljoin(base + "/", location))
    return parts.path + (f"?{parts.query}" if parts.query else "")


def one_signup(base: str) -> None:
    """One whole sign-up, as a browser without script would do it."""
    person = _next_person()
    with httpx.Client(base_url=base, timeout=30.0, follow_redirects=False) as web:
        hub = _expect(web.get("/signup"), 200, "hub")
        resp = _expect(web.post("/signup/general", data={"csrf_token": _csrf(hub)}), 303,
                       "일반회원 가입")
        terms_path = _local(base, resp.headers["location"])
        fid = terms_path.split("/")[2]
        terms = _expect(web.get(terms_path), 200, "terms")
        resp = _expect(web.post(terms_path, data={"csrf_token": _csrf(terms),
                                                  "agree_all": "yes"}), 303, "약관동의")
        verify = _expect(web.get(_local(base, resp.headers["location"])), 200, "실명인증")
        link = VERIFY_LINK.search(verify.text)
        if not link:
            raise SignupFailed("no 휴대폰 인증 link")
        resp = _expect(web.get(html.unescape(link.group(1))), 303, "verify/start")
        resp = _expect(web.get(_local(base, resp.headers["location"])), 303, "emulator start")
        popup = _local(base, resp.headers["location"]).split("?")[0]
        form = _expect(web.get(popup), 200, "emulator form")
        _expect(web.post(popup, data={"csrf_token": _csrf(form), "action": "next", **person}),
                303, "인증번호 요청")
        outbox = _expect(web.get("/dev/outbox.json", params={"to": person["mobile"]}), 200,
                         "outbox").json()["messages"]
        sms = [m for m in outbox if m["channel"] == "sms"]
        code = CODE.search(sms[0]["body"]) if sms else None
        if code is None:
            raise SignupFailed("no SMS code in /dev/outbox.json")
        page = _expect(web.get(popup), 200, "emulator code page")
        done = _expect(web.post(popup, data={"csrf_token": _csrf(page), "action": "verify",
                                             "code": code.group(1)}), 200, "인증번호 확인")
        result = RESULT_LINK.search(done.text)
        if not result:
            raise SignupFailed("no result link from the emulator")
        resp = _expect(web.get(_local(base, html.unescape(result.group(1)))), 303, "callback")
        resp = _expect(web.get(_local(base, resp.headers["location"])), 303, "verified")
        info_path = f"/signup/{fid}/info"
        info = _expect(web.get(info_path), 200, "회원정보 입력")
        login_id = "b" + secrets.token_hex(6)
        resp = _expect(web.post(info_path + "?tab=basic", data={
            "csrf_token": _csrf(info), "login_id": login_id, "password": PASSWORD,
            "confirm": PASSWORD, "email": f"{login_id}@example.com", "decision": "next"}),
            303, "기본정보")
        resp = _expect(web.post(info_path + "?tab=company", data={
            "csrf_token": _csrf(info), "decision": "complete"}), 303, "가입하기")
        if not resp.headers["location"].endswith(f"/signup/{fid}/done"):
            raise SignupFailed(f"가입하기 went to {resp.headers['location']}")
        page = _expect(web.get(f"/signup/{fid}/done"), 200, "가입완료")
        if login_id not in page.text:
            raise SignupFailed("the done page does not show the new ID")


def run(base: str, duration: float, concurrency: int, warmup: int) -> int:
    for _ in range(warmup):
        one_signup(base)
    samples: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + duration

    def worker() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                one_signup(base)
            except (SignupFailed, httpx.HTTPError) as exc:
                with lock:
                    errors.append(str(exc))
                continue
            with lock:
                samples.append(time.perf_counter() - started)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if not samples:
        print(f"signup_e2e: no sign-up succeeded ({len(errors)} failed): "
              f"{errors[:3]}", file=sys.stderr)
        return 1
    ordered = sorted(samples)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000
    print(f"sign-ups end to end (hub → terms → 휴대폰 emulator → info → done), "
          f"concurrency {concurrency}, {elapsed:.1f} s")
    print(f"{'signup_e2e':<12} {len(samples) / elapsed:8.2f} sign-ups/s  "
          f"p50 {p50:8.1f} ms  p99 {p99:8.1f} ms  ok {len(samples)}  failed {len(errors)}")
    if errors:
        print(f"  first failure: {errors[0]}", file=sys.stderr)
    return 0 if not errors else 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _own_provider(database_url: str | None, workers: int | None
                  ) -> tuple[str, subprocess.Popen[bytes], Path]:
    tmp = Path(tempfile.mkdtemp(prefix="idp-bench-signup-"))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update(IDP_ENV="development", IDP_ISSUER=base,
               IDP_DATABASE_URL=database_url or f"sqlite:///{tmp}/bench.db",
               # every simulated person verifies from 127.0.0.1
               IDP_IDENTITY_STARTS_PER_IP="1000000")
    with (tmp / "setup.log").open("wb") as setup:
        for cmd in ([str(IDP), "db", "upgrade"],
                    [str(IDP), "demo", "seed", "--clients-file", str(tmp / "clients.json")]):
            if subprocess.run(cmd, env=env, cwd=ROOT, stdout=setup,
                              stderr=subprocess.STDOUT).returncode != 0:
                raise SystemExit((tmp / "setup.log").read_text(errors="replace")[-3000:])
    serve = [str(IDP), "serve", "--bind", f"127.0.0.1:{port}"]
    if workers:
        serve += ["--workers", str(workers)]
    log = (tmp / "server.log").open("wb")
    proc = subprocess.Popen(serve, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit((tmp / "server.log").read_text(errors="replace")[-3000:])
        time.sleep(0.2)
    return base, proc, tmp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", help="a running provider (development or testing)")
    parser.add_argument("--database-url", help="for the provider this script starts")
    parser.add_argument("--workers", type=int, help="idp serve --workers")
    parser.add_argument("--duration", type=float, default=float(
        os.environ.get("DURATION", 20)))
    parser.add_argument("--concurrency", type=int, default=int(
        os.environ.get("CONCURRENCY", 4)))
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured sign-ups first")
    args = parser.parse_args()
    if args.base_url:
        sys.exit(run(args.base_url.rstrip("/"), args.duration, args.concurrency, args.warmup))
    base, proc, tmp = _own_provider(args.database_url, args.workers)
    try:
        code = run(base, args.duration, args.concurrency, args.warmup)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
