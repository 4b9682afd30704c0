"""Mileage operations per second under concurrency (issue 7), over HTTP against a running provider:

    earn and use mixed (half each, 1 point, a fresh Idempotency-Key per operation) by N threads
    on ONE company — the worst case: every operation updates the same mileage_accounts row, so
    the conditional UPDATE (balance = balance - n WHERE balance >= n) serialises them — with the
    demo site's client_credentials token (kotra.mileage.write), as a relying party would.

After the run it checks the books: the final balance must equal the initial one plus the
earnings minus the uses that were answered 201. Prints one table row per backend: operations
per second, p50/p99 latency, outcomes, and whether the books balance.

    .venv/bin/python bench/mileage_bench.py [--duration 20] [--concurrency 8]
    .venv/bin/python bench/mileage_bench.py --backends sqlite,postgres \\
        --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/idp_bench \\
        --redis-url redis://127.0.0.1:6379/9

For each backend it starts its own provider (`idp serve`, IDP_ENV=development) on a temporary
SQLite file or on --pg-url (migrated and filled: never point it at a database you care about),
after `idp db upgrade` and `idp demo seed` (the demo sites may call the API; the demo company
6638501035 starts with 50,000 points and democert1 may use them). A use must carry the member's
access token from a recent certificate login at the calling site: the bench writes one such
token for democert1 and demo site 1 into the database before the server starts (setup, as the
tests do), and sets [api] use_auth_max_age to outlast the run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
IDP = ROOT / ".venv" / "bin" / "idp"
PYTHON = ROOT / ".venv" / "bin" / "python"
COMPANY = "6638501035"
SCOPE = "kotra.mileage.read kotra.mileage.write"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _member_proof(env: dict[str, str], login_id: str, client_id: str) -> tuple[str, str]:
    """The demo member's `sub` and an access token of theirs issued to `client_id` after a
    certificate login just now — what the site holds after the step-up a use needs. Written
    into the provider's database directly (setup, like the tests do: the bench measures the
    API, not the NPKI login)."""
    code = ("import secrets, time\n"
            "from sqlalchemy import select\n"
            "from idp import create_app\nfrom idp.extensions import db\n"
            "from idp.models import Member\n"
            "from idp.models.tokens import Token, token_hash\n"
            "app = create_app()\n"
            "with app.app_context():\n"
            f"    m = db.session.scalar(select(Member).where(Member.login_id == {login_id!r}))\n"
            "    raw, now = secrets.token_urlsafe(32), int(time.time())\n"
            f"    db.session.add(Token(client_id={client_id!r}, member_id=m.id, "
            "scope='openid kotra', access_token_hash=token_hash(raw), "
            "family_id=secrets.token_hex(16), auth_time=now, "
            "acr='urn:kotra:acr:certificate', amr=['pki'], issued_at=now, "
            "access_expires_at=now + 86400))\n"
            "    db.session.commit()\n"
            "    print(m.subject, raw)\n")
    out = subprocess.run([str(PYTHON), "-c", code], env=env, cwd=ROOT, check=True,
                         capture_output=True, text=True)
    sub, raw = out.stdout.strip().splitlines()[-1].split()
    return sub, raw


def own_provider(database_url: str, redis_url: str | None, workers: int | None,
                 duration: float) -> tuple[str, subprocess.Popen[bytes], Path, dict[str, str],
                                           tuple[str, str]]:
    tmp = Path(tempfile.mkdtemp(prefix="idp-bench-mileage-"))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update(IDP_ENV="development", IDP_ISSUER=base,
               IDP_DATABASE_URL=database_url.replace("{tmp}", str(tmp)))
    if redis_url:
        env["IDP_REDIS_URL"] = redis_url
    # The member's certificate login (below) must stay recent for the whole run.
    env["IDP_API_USE_AUTH_MAX_AGE"] = str(int(duration) + 600)
    with (tmp / "setup.log").open("wb") as setup:
        for cmd in ([str(IDP), "db", "upgrade"],
                    [str(IDP), "demo", "seed", "--clients-file", str(tmp / "clients.json")]):
            if subprocess.run(cmd, env=env, cwd=ROOT, stdout=setup,
                              stderr=subprocess.STDOUT).returncode != 0:
                raise SystemExit((tmp / "setup.log").read_text(errors="replace")[-3000:])
    client_id = json.loads((tmp / "clients.json").read_text())["site1"]["client_id"]
    proof = _member_proof(env, "democert1", client_id)
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
    return base, proc, tmp, env, proof


def token(base: str, client: dict[str, str]) -> str:
    resp = httpx.post(f"{base}/token", data={"grant_type": "client_credentials",
                                             "scope": SCOPE},
                      auth=(client["client_id"], client["client_secret"]), timeout=10)
    resp.raise_for_status()
    return str(resp.json()["access_token"])


def balance(web: httpx.Client) -> int:
    resp = web.get(f"/api/v1/companies/{COMPANY}/mileage")
    resp.raise_for_status()
    return int(resp.json()["balance"])


def run(base: str, access_token: str, member: tuple[str, str], duration: float,
        concurrency: int) -> dict[str, object]:
    """`member`: the demo member's sub and their certificate-level access token of the site."""
    headers = {"Authorization": f"Bearer {access_token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as web:
        start_balance = balance(web)
    samples: list[float] = []
    outcomes = {"earned": 0, "used": 0, "refused": 0, "errors": 0}
    lock = threading.Lock()
    deadline = time.perf_counter() + duration

    def worker(seed: int) -> None:
        rnd = random.Random(seed)
        with httpx.Client(base_url=base, headers=headers, timeout=30) as web:
            while time.perf_counter() < deadline:
                earning = rnd.random() < 0.5
                path = f"/api/v1/companies/{COMPANY}/mileage/" + (
                    "earnings" if earning else "uses")
                body = ({"amount": 1, "reason": "bench", "service": "bench"} if earning
                        else {"amount": 1, "reason": "bench", "member": member[0],
                              "member_access_token": member[1]})
                started = time.perf_counter()
                try:
                    resp = web.post(path, json=body,
                                    headers={"Idempotency-Key": str(uuid.uuid4())})
                except httpx.HTTPError:
                    with lock:
                        outcomes["errors"] += 1
                    continue
                elapsed = time.perf_counter() - started
                with lock:
                    samples.append(elapsed)
                    if resp.status_code == 201:
                        outcomes["earned" if earning else "used"] += 1
                    elif resp.status_code == 409:
                        outcomes["refused"] += 1
                    else:
                        outcomes["errors"] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    with httpx.Client(base_url=base, headers=headers, timeout=30) as web:
        end_balance = balance(web)
    ordered = sorted(samples) or [0.0]
    return {
        "ops_per_s": len(samples) / elapsed,
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000,
        **outcomes,
        "books_balance": end_balance == start_balance + outcomes["earned"] - outcomes["used"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default=os.environ.get("BACKENDS", "sqlite"),
                        help="comma-separated: sqlite, postgres")
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL"))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL"))
    parser.add_argument("--workers", type=int, help="idp serve --workers")
    parser.add_argument("--duration", type=float, default=float(
        os.environ.get("DURATION", 20)))
    parser.add_argument("--concurrency", type=int, default=int(
        os.environ.get("CONCURRENCY", 8)))
    args = parser.parse_args()
    rows = []
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        if backend == "postgres" and not args.pg_url:
            raise SystemExit("--pg-url (or BENCH_PG_URL) is needed for the postgres backend")
        url = args.pg_url if backend == "postgres" else "sqlite:///{tmp}/bench.db"
        base, proc, tmp, _env, member = own_provider(
            url, args.redis_url if backend == "postgres" else None, args.workers, args.duration)
        try:
            client = json.loads((tmp / "clients.json").read_text())["site1"]
            result = run(base, token(base, client), member, args.duration, args.concurrency)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        rows.append((backend, result))
    print(f"mileage earn/use mixed on one company, concurrency {args.concurrency}, "
          f"{args.duration:.0f} s per backend")
    print("| backend | ops/s | p50 ms | p99 ms | earned | used | refused (409) | errors "
          "| books balance |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    failed = False
    for backend, r in rows:
        print(f"| {backend} | {r['ops_per_s']:.1f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} "
              f"| {r['earned']} | {r['used']} | {r['refused']} | {r['errors']} "
              f"| {'yes' if r['books_balance'] else 'NO'} |")
        failed = failed or not r["books_balance"] or bool(r["errors"])
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
