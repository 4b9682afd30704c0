"""Server CPU per operation at a thousand members and at many (issue 10): is the cost flat?

    .venv/bin/python bench/scale_bench.py                      # 1,000 then 10,000,000 members
    .venv/bin/python bench/scale_bench.py --large 1000000 --duration 20
    .venv/bin/python bench/scale_bench.py --database-url sqlite:////tmp/scale.db --large 100000

1. Empties the database (PostgreSQL by default: database `scale_bench`, created if absent; its
   schema public is DROPPED) and runs `idp db upgrade`, `idp clients add` (the client of
   bench/run_bench.sh) and `idp members add` for member 0 (login ID sm00000000).
2. Bulk-loads members 1..N-1 copied from member 0's rows as the CLI wrote them (table members
   and its `member.added` row in audit_events): every column the same except the unique ones
   (id, subject from idp.services.members.new_subject, login ID, name, e-mail, timestamps).
   The password hash is member 0's argon2id hash, computed once by the CLI at the production
   parameters and reused: every member has the bench password. PostgreSQL: COPY in chunks, one
   transaction per chunk; SQLite: executemany in one transaction per chunk. `idp members add`
   writes nothing else (no affiliation, no sealed personal data: it takes no CI/DI).
3. ANALYZE, `idp serve` on --port, then peer-bench's load.py (the harness of run_bench.sh)
   with a member from the middle of the table (login ID sm<N/2>), so the login's index lookup
   is a real one; the server process tree's CPU is charged per operation.
4. Grows the same database to --large members, ANALYZE, measures again, prints one table:
   scenario, server CPU ms/op at each size, ratio large/small.

Production settings as run_bench.sh: IDP_ENV=production, a fresh IDP_SECRET_KEY, a placeholder
IDP_NTS_SERVICE_KEY, ES256 tokens; Redis (--redis-url) with PostgreSQL, none with SQLite.
The database is left in place at the end (its size is printed); drop it yourself.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, create_engine, func, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from idp.models import AuditEvent, Member  # noqa: E402
from idp.models.base import utcnow  # noqa: E402
from idp.services.members import new_subject  # noqa: E402

MEMBERS = cast(Table, Member.__table__)
AUDIT = cast(Table, AuditEvent.__table__)
# Columns that differ from member 0's row; every other column is copied from it.
MEMBER_UNIQUE = ("id", "subject", "login_id", "name", "email", "created_at", "updated_at")
AUDIT_UNIQUE = ("id", "at", "member_id")

PASSWORD = "Bench!pass-2026"
REDIRECT_URI = "http://127.0.0.1:9/cb"
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/scale_bench"


def login_id(n: int) -> str:
    """Member n's login ID: letters and digits, 10 characters (the policy allows 6-20)."""
    return f"sm{n:08d}"


def member_name(n: int) -> str:
    return f"Member {n}"


def member_email(n: int) -> str:
    return f"{login_id(n)}@example.com"


# ---------------------------------------------------------------------------------------------
# the bulk loader (also used by tests/test_scale_bench.py)


def template_rows(conn: Connection, n: int = 0) -> tuple[dict[str, Any], dict[str, Any]]:
    """Member n's members row and its `member.added` audit row, as the CLI wrote them."""
    member = conn.execute(select(MEMBERS).where(MEMBERS.c.login_id == login_id(n))).one()
    audit = conn.execute(
        select(AUDIT).where(AUDIT.c.member_id == member.id, AUDIT.c.event == "member.added")
    ).one()
    return dict(member._mapping), dict(audit._mapping)


class RowMaker:
    """Members and their audit rows: member 0's rows with the unique columns replaced.

    Rows are tuples in the tables' column order; `bound` passes member 0's values through the
    columns' bind processors once (COPY bypasses them; the replaced values need none)."""

    def __init__(self, member0: dict[str, Any], audit0: dict[str, Any], dialect: Any = None):
        self.member_cols = [c.name for c in MEMBERS.columns]
        self.audit_cols = [c.name for c in AUDIT.columns]

        def base(table: Table, cols: list[str], row: dict[str, Any]) -> list[Any]:
            if dialect is None:
                return [row[c] for c in cols]
            procs = [table.c[c].type.bind_processor(dialect) for c in cols]
            return [p(row[c]) if p else row[c] for c, p in zip(cols, procs, strict=True)]

        self.member0 = base(MEMBERS, self.member_cols, member0)
        self.audit0 = base(AUDIT, self.audit_cols, audit0)
        m = {c: i for i, c in enumerate(self.member_cols)}
        a = {c: i for i, c in enumerate(self.audit_cols)}
        self.m = [m[c] for c in MEMBER_UNIQUE]
        self.a = [a[c] for c in AUDIT_UNIQUE]

    def rows(self, first: int, count: int, first_member_id: int, first_audit_id: int
             ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """Members first..first+count-1 (numbers, not ids) and their `member.added` rows."""
        now = utcnow()
        m_id, m_subject, m_login, m_name, m_email, m_created, m_updated = self.m
        a_id, a_at, a_member = self.a
        members, audits = [], []
        for i in range(count):
            n = first + i
            mid = first_member_id + i
            row = self.member0.copy()
            row[m_id] = mid
            row[m_subject] = new_subject()
            row[m_login] = login_id(n)
            row[m_name] = member_name(n)
            row[m_email] = member_email(n)
            row[m_created] = row[m_updated] = now
            members.append(tuple(row))
            audit = self.audit0.copy()
            audit[a_id] = first_audit_id + i
            audit[a_at] = now
            audit[a_member] = mid
            audits.append(tuple(audit))
        return members, audits


def _next_ids(conn: Connection) -> tuple[int, int]:
    m = conn.execute(select(func.max(MEMBERS.c.id))).scalar() or 0
    a = conn.execute(select(func.max(AUDIT.c.id))).scalar() or 0
    return m + 1, a + 1


def _copy_chunk(conn: Connection, maker: RowMaker, members: list[tuple[Any, ...]],
                audits: list[tuple[Any, ...]]) -> None:
    """PostgreSQL: COPY both tables."""
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    with dbapi.cursor() as cur:  # type: ignore[attr-defined]
        for table, cols, rows in ((MEMBERS, maker.member_cols, members),
                                  (AUDIT, maker.audit_cols, audits)):
            with cur.copy(f"COPY {table.name} ({', '.join(cols)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)


def _insert_chunk(conn: Connection, maker: RowMaker, members: list[tuple[Any, ...]],
                  audits: list[tuple[Any, ...]]) -> None:
    """SQLite (or any other database): executemany through SQLAlchemy's column types."""
    conn.execute(MEMBERS.insert(), [dict(zip(maker.member_cols, r, strict=True))
                                    for r in members])
    conn.execute(AUDIT.insert(), [dict(zip(maker.audit_cols, r, strict=True)) for r in audits])


def load_members(engine: Engine, target: int, *, chunk: int = 50_000,
                 progress: Callable[[str], None] | None = None) -> float:
    """Grow the members to `target` (member 0 made by the CLI must exist, and members
    1..have-1 loaded before); members per second."""
    with engine.connect() as conn:
        have = conn.execute(select(func.count()).select_from(MEMBERS)
                            .where(MEMBERS.c.login_id.like("sm%"))).scalar() or 0
        member0, audit0 = template_rows(conn)
    if have >= target:
        return 0.0
    pg = engine.dialect.name == "postgresql"
    maker = RowMaker(member0, audit0, engine.dialect if pg else None)
    write = _copy_chunk if pg else _insert_chunk
    started = time.perf_counter()
    done = 0
    while have < target:
        count = min(chunk, target - have)
        with engine.begin() as conn:
            mid, aid = _next_ids(conn)
            members, audits = maker.rows(have, count, mid, aid)
            write(conn, maker, members, audits)
        have += count
        done += count
        if progress:
            rate = done / (time.perf_counter() - started)
            progress(f"loaded {have:,}/{target:,} members ({rate:,.0f} members/s)")
    if pg:
        with engine.begin() as conn:  # the serial columns continue after the explicit ids
            for name in (MEMBERS.name, AUDIT.name):  # the models' table names
                sql = (f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "  # noqa: S608
                       f"(SELECT max(id) FROM {name}))")
                conn.execute(text(sql))
    return done / (time.perf_counter() - started)


def explain(engine: Engine, size: int) -> str:
    """EXPLAIN (ANALYZE) of the member-keyed queries the protocol runs, as the provider builds
    them: the sign-in's lookup by login ID, the member by id (ID token, userinfo claims) and
    the token with its member (userinfo, refresh). PostgreSQL only."""
    from idp.models.readmodels import _MEMBER_BY_ID, _MEMBER_BY_LOGIN_ID, _TOKEN_AND_MEMBER

    if engine.dialect.name != "postgresql":
        return ""
    who = login_id(size // 2)
    with engine.connect() as conn:
        mid = conn.execute(select(MEMBERS.c.id).where(MEMBERS.c.login_id == who)).scalar()
        digest = conn.execute(text("SELECT access_token_hash FROM tokens WHERE access_token_hash"
                                   " IS NOT NULL ORDER BY id DESC LIMIT 1")).scalar()
        queries: dict[str, tuple[Any, dict[str, Any]]] = {
            f"sign-in lookup by login ID ({who})": (_MEMBER_BY_LOGIN_ID, {"login_id": who}),
            f"member by id ({mid})": (_MEMBER_BY_ID, {"member_id": mid}),
            "token and member by access token hash": (
                _TOKEN_AND_MEMBER["access_token_hash"], {"digest": digest or "none"}),
        }
        out = []
        for label, (query, params) in queries.items():
            compiled = query.compile(dialect=engine.dialect)
            plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) "
                                        + str(compiled), compiled.construct_params(params))
            out.append(f"-- {label}\n" + "\n".join(r[0] for r in plan))
    return "\n".join(out)


def analyze(engine: Engine) -> None:
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text("ANALYZE"))


# ---------------------------------------------------------------------------------------------
# the run


def log(msg: str) -> None:
    print(f"[scale {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def idp_env(args: argparse.Namespace) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update({
        "IDP_ENV": "production",
        "IDP_ISSUER": f"http://127.0.0.1:{args.port}",
        # fresh per run: production refuses any secret written in the repository
        "IDP_SECRET_KEY": secrets.token_urlsafe(32),
        "IDP_NTS_SERVICE_KEY": "bench-no-tax-office-calls",
        "IDP_KEYS_DEFAULT_ALG": "ES256",
        "IDP_DATABASE_URL": args.database_url,
    })
    if args.database_url.startswith("postgresql") and args.redis_url:
        env["IDP_REDIS_URL"] = args.redis_url
    return env


def reset_database(url: str) -> None:
    """An empty database at `url` (PostgreSQL: created if absent, schema public dropped)."""
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(path + suffix).unlink(missing_ok=True)
        return
    parts = urllib.parse.urlsplit(url)
    name = parts.path.lstrip("/")
    if name in ("", "postgres", "test", "template0", "template1"):
        raise SystemExit(f"refusing to empty database {name!r}: name a dedicated one")
    admin = create_engine(urllib.parse.urlunsplit(parts._replace(path="/postgres")),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                            {"n": name}).scalar():
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("SET client_min_messages = warning"))
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def idp(env: dict[str, str], *argv: str, stdin: str | None = None) -> str:
    out = subprocess.run([str(ROOT / ".venv" / "bin" / "idp"), *argv], env=env, input=stdin,
                         capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"idp {' '.join(argv)} failed:\n{out.stderr}")
    return out.stdout


def peer_bench_python(work: Path) -> tuple[Path, Path]:
    """load.py copied from peer-bench (as run_bench.sh does) and a Python with httpx."""
    pb = work / "peer-bench"
    src = Path(os.environ.get("PEER_BENCH", ROOT.parent / "shared" / "peer-bench"))
    if not (src / "load.py").exists():
        src = Path("/work/shared/peer-bench")
    pb.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src / "load.py", pb / "load.py")
    py = pb / ".venv" / "bin" / "python"
    if subprocess.run([str(py), "-c", "import httpx"], capture_output=True).returncode:
        log(f"creating {pb}/.venv (httpx)")
        subprocess.run([sys.executable, "-m", "venv", str(pb / ".venv")], check=True)
        subprocess.run([str(pb / ".venv" / "bin" / "pip"), "install", "-q", "httpx"], check=True)
    return py, pb / "load.py"


def wait_healthy(port: int, proc: subprocess.Popen[bytes], logf: Path) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise SystemExit(f"idp serve exited:\n{logf.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"no 200 from /healthz after 30 s:\n{logf.read_text()[-3000:]}")


def measure(args: argparse.Namespace, env: dict[str, str], client: dict[str, str],
            size: int, out: Path) -> dict[str, float]:
    """One `idp serve`, --repeat load.py runs; the median server CPU ms per operation by
    scenario."""
    py, load = peer_bench_python(ROOT / "bench" / ".work")
    logf = out / f"server-{size}.log"
    with open(logf, "wb") as fh:
        server = subprocess.Popen([str(ROOT / ".venv" / "bin" / "idp"), "serve", "--bind",
                                   f"127.0.0.1:{args.port}"], env=env, stdout=fh,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    runs: dict[str, list[float]] = {}
    try:
        wait_healthy(args.port, server, logf)
        user = login_id(size // 2)
        for rep in range(1, args.repeat + 1):
            log(f"{size:,} members: load.py as {user} ({args.scenarios}), run {rep}/{args.repeat}")
            result = out / f"load-{size}-{rep}.json"
            _load_py(args, py, load, client, user, server.pid, size, result)
            for r in json.loads(result.read_text())["results"]:
                if r["ok"] and r.get("server_cpu_ms_per_op") is not None:
                    runs.setdefault(r["scenario"], []).append(r["server_cpu_ms_per_op"])
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    log(f"{size:,} members, server CPU ms/op per run: {runs}")
    return {s: statistics.median(v) for s, v in runs.items()}


def _load_py(args: argparse.Namespace, py: Path, load: Path, client: dict[str, str], user: str,
             server_pid: int, size: int, result: Path) -> None:
    subprocess.run([str(py), str(load), "--base-url", f"http://127.0.0.1:{args.port}",
                    "--client-id", client["client_id"],
                    "--client-secret", client["client_secret"],
                    "--username", user, "--password", PASSWORD,
                    "--username-field", "auto", "--password-field", "auto",
                    "--redirect-uri", REDIRECT_URI, "--scenarios", args.scenarios,
                    "--concurrency", str(args.concurrency), "--duration", str(args.duration),
                    "--warmup", str(args.warmup), "--server-pid", str(server_pid),
                    "--label", f"kotra-idp {size} members", "--json", str(result)],
                   stdout=sys.stderr, check=False)


def database_size(engine: Engine, url: str) -> str:
    if engine.dialect.name != "postgresql":
        path = Path(url.removeprefix("sqlite:///"))
        return f"{path.stat().st_size / 2**20:,.0f} MiB (file {path})"
    with engine.connect() as conn:
        db = conn.execute(text("SELECT pg_database_size(current_database())")).scalar() or 0
        rels = {t: conn.execute(text(f"SELECT pg_total_relation_size('{t}')")).scalar() or 0
                for t in ("members", "audit_events")}
    return (f"{db / 2**20:,.0f} MiB (members with indexes {rels['members'] / 2**20:,.0f} MiB, "
            f"audit_events {rels['audit_events'] / 2**20:,.0f} MiB)")


def table(sizes: list[int], figures: list[dict[str, float]], scenarios: list[str]) -> str:
    small, large = sizes
    lines = [f"| scenario | ms/op at {small:,} | ms/op at {large:,} | ratio |",
             "|---|---:|---:|---:|"]
    for s in scenarios:
        a, b = figures[0].get(s), figures[1].get(s)
        ratio = f"{b / a:.2f}×" if a and b else "-"
        lines.append(f"| {s} | {a if a is not None else '-'} | {b if b is not None else '-'} "
                     f"| {ratio} |")
    return "\n".join(lines)


def add_client(env: dict[str, str]) -> dict[str, str]:
    """The client of bench/run_bench.sh."""
    return cast(dict[str, str], json.loads(idp(
        env, "clients", "add", "--name", "bench", "--redirect-uri", REDIRECT_URI,
        "--grant-type", "authorization_code", "--grant-type", "refresh_token",
        "--grant-type", "client_credentials", "--token-endpoint-auth-method",
        "client_secret_basic", "--first-party", "--json")))


def measure_again(args: argparse.Namespace, env: dict[str, str], out: Path) -> int:
    """--measure-only: the database's members as they are, under this run's fresh secret."""
    engine = create_engine(args.database_url)
    with engine.begin() as conn:
        size = conn.execute(select(func.count()).select_from(MEMBERS)
                            .where(MEMBERS.c.login_id.like("sm%"))).scalar() or 0
        conn.execute(text("DELETE FROM signing_keys"))  # sealed with an earlier run's secret
    engine.dispose()
    idp(env, "db", "upgrade")  # new signing keys
    figures = measure(args, env, add_client(env), size, out)
    print(json.dumps({"members": size, "server_cpu_ms_per_op": figures}))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database-url", default=DEFAULT_PG_URL,
                   help="SQLAlchemy URL; EMPTIED first (default %(default)s)")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/12",
                   help="Redis with PostgreSQL (empty: the database store)")
    p.add_argument("--small", type=int, default=1_000)
    p.add_argument("--large", type=int, default=10_000_000)
    p.add_argument("--chunk", type=int, default=50_000, help="members per transaction")
    p.add_argument("--load-only", action="store_true", help="load --large members, measure nothing")
    p.add_argument("--scenarios", default="cc,refresh,userinfo,authcode")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--repeat", type=int, default=3, help="load.py runs per size (the median)")
    p.add_argument("--port", type=int, default=5200, help="loopback port of `idp serve`")
    p.add_argument("--measure-only", action="store_true",
                   help="measure the database as it is (no reset, no load): its signing keys "
                        "are replaced (made with a secret of an earlier run) and a client added")
    p.add_argument("--explain-only", action="store_true",
                   help="print the plans of the member-keyed queries on the database as it is")
    args = p.parse_args(argv)
    if args.explain_only:
        engine = create_engine(args.database_url)
        with engine.connect() as conn:
            have = conn.execute(select(func.count()).select_from(MEMBERS)).scalar() or 0
        print(explain(engine, have))
        return 0
    if not args.load_only and not 2 <= args.small < args.large:
        p.error("need 2 <= --small < --large")

    out = ROOT / "bench" / "results" / f"scale-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    out.mkdir(parents=True, exist_ok=True)
    env = idp_env(args)
    if args.measure_only:
        return measure_again(args, env, out)
    log(f"emptying {args.database_url}; idp db upgrade")
    reset_database(args.database_url)
    idp(env, "db", "upgrade")
    client = add_client(env)
    idp(env, "members", "add", "--login-id", login_id(0), "--name", member_name(0), "--email",
        member_email(0), "--password-stdin", "--json", stdin=PASSWORD + "\n")

    engine = create_engine(args.database_url)
    sizes = [args.small, args.large]
    figures: list[dict[str, float]] = []
    for size in ([args.large] if args.load_only else sizes):
        log(f"loading to {size:,} members")
        rate = load_members(engine, size, chunk=args.chunk, progress=log)
        analyze(engine)
        size_now = database_size(engine, args.database_url)
        log(f"{size:,} members ({rate:,.0f} members/s); database {size_now}")
        plans = explain(engine, size)
        if plans:
            (out / f"explain-{size}.txt").write_text(plans + "\n")
            log(f"plans at {size:,} members:\n{plans}")
        if not args.load_only:
            figures.append(measure(args, env, client, size, out))
    if figures:
        scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
        report = table(sizes, figures, scenarios)
        (out / "table.md").write_text(report + "\n")
        print(report)
        log(f"results in {out}")
    log(f"database left in place: {args.database_url} — {database_size(engine, args.database_url)}")
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
