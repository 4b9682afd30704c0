"""A server worker loads only what its requests need (issue 10: at most 100 MB per worker).

Each module below is imported on first use by the code that needs it; importing one with the
app again costs every worker its size (docs/benchmarks.md, "Memory per worker"). Checked in a
fresh interpreter: the test process has long imported all of them.
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

# Module -> who needs it (and imports it when it does).
LAZY = {
    "psycopg": "a PostgreSQL database (SQLAlchemy imports it with the engine)",
    "redis": "a Redis store (idp.stores.redis_client)",
    "requests": "outbound HTTP: SNS, identity vendors, NTS, SMS, back-channel logout, CRLs",
    "requests_oauthlib": "an SNS login (idp.adapters.sns._builders)",
    "jsonschema": "the first API request body (idp.web.api._validator)",
    "asn1crypto": "certificate login with trust anchors (idp.wiring.build_certificate_verifier)",
    "smtplib": "the first email sent (idp.adapters.email_smtp.SmtpMailer.send)",
    "email.headerregistry": "the first email built (SmtpMailer.build, _domain)",
    "email.policy": "the first email built (SmtpMailer.build)",
    "email_validator": "an address checked: sign-up, profile, SNS, conversion, legacy import",
}

PROBE = """
import json, sys, threading
from idp import create_server_app
create_server_app()
print(json.dumps({"loaded": sorted(m for m in %r if m in sys.modules),
                  "threads": sorted(t.name for t in threading.enumerate())}))
"""


def test_server_app_on_sqlite_loads_no_optional_module(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update(IDP_ENV="production", IDP_ISSUER="http://127.0.0.1:5301",
               IDP_SECRET_KEY=secrets.token_urlsafe(32), IDP_NTS_SERVICE_KEY="not-called",
               IDP_DATABASE_URL=f"sqlite:///{tmp_path / 'idp.db'}")
    done = subprocess.run([sys.executable, "-c", PROBE % (list(LAZY),)], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    assert probe["loaded"] == [], {m: LAZY[m] for m in probe["loaded"]}
    # The worker threads of every server process: logout tokens and emails sent outside the
    # requests (idp/oidc/logout.py, idp/mail_worker.py).
    assert {"backchannel-logout", "mail-outbox"} <= set(probe["threads"])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt")
def test_tune_malloc_applies_on_glibc() -> None:
    from idp import tune_malloc

    assert tune_malloc() is (platform.libc_ver()[0] == "glibc")


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="a glibc tunable")
def test_serve_restarts_once_with_huge_pages_and_without_docstrings() -> None:
    from idp import serve_argv

    environ: dict[str, str] = {}
    argv = serve_argv(environ, ["/venv/bin/idp", "serve", "--workers", "2"])
    assert argv == [sys.executable, "/venv/bin/idp", "serve", "--workers", "2"]
    assert environ == {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1", "PYTHONOPTIMIZE": "2"}
    # The replaced process finds both set: no second restart.
    assert serve_argv(environ, ["/venv/bin/idp", "serve"]) is None

    # An operator's own tunables are kept; one that names hugetlb (=0: off) is theirs.
    environ = {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2", "PYTHONOPTIMIZE": "2"}
    assert serve_argv(environ, ["idp", "serve"]) is not None
    assert environ["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"
    environ = {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0", "PYTHONOPTIMIZE": "2"}
    assert serve_argv(environ, ["idp", "serve"]) is None
    assert environ == {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0", "PYTHONOPTIMIZE": "2"}

    # So is an operator's PYTHONOPTIMIZE (0: docstrings and asserts kept).
    environ = {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1", "PYTHONOPTIMIZE": "0"}
    assert serve_argv(environ, ["idp", "serve"]) is None
    assert environ["PYTHONOPTIMIZE"] == "0"
    environ = {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}
    assert serve_argv(environ, ["idp", "serve"]) is not None
    assert environ["PYTHONOPTIMIZE"] == "2"


def test_server_app_serves_without_docstrings(tmp_path: Path) -> None:
    """`idp serve` runs its workers under python -OO (idp.serve_argv): nothing a request runs
    may need a docstring or an assert. The browser tests and tests/integration run the whole
    provider that way; this checks the protocol's paths on any machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update(IDP_ENV="production", IDP_ISSUER="http://127.0.0.1:5301",
               IDP_SECRET_KEY=secrets.token_urlsafe(32), IDP_NTS_SERVICE_KEY="not-called",
               IDP_DATABASE_URL=f"sqlite:///{tmp_path / 'idp.db'}", PYTHONOPTIMIZE="2")
    idp = [sys.executable, "-m", "idp.cli"]
    for command in (["db", "upgrade"],
                    ["clients", "add", "--name", "oo", "--redirect-uri", "http://127.0.0.1/cb",
                     "--grant-type", "client_credentials", "--json"]):
        done = subprocess.run(idp + command, env=env, capture_output=True, text=True,
                              timeout=120, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
    client = json.loads(done.stdout)
    probe = PROBE_OO % (client["client_id"], client["client_secret"])
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "optimize": 2, "discovery": 200, "token": 200, "introspect": True, "find_id": 200}


PROBE_OO = """
import json, sys
from idp import create_server_app
c = create_server_app().test_client()
discovery = c.get("/.well-known/openid-configuration").status_code
auth = (%r, %r)
token = c.post("/token", data={"grant_type": "client_credentials"}, auth=auth)
active = c.post("/introspect", data={"token": token.json["access_token"]}, auth=auth).json
find_id = c.get("/find-id").status_code
print(json.dumps({"optimize": sys.flags.optimize, "discovery": discovery,
                  "token": token.status_code, "introspect": active["active"], "find_id": find_id}))
"""


def test_smtp_mailer_loads_the_system_ca_store_on_first_use() -> None:
    """The system's CA store (~150 certificates parsed into OpenSSL, 1-2 MB) is loaded by the
    first connection, not by every worker's start; a configured ca_file still loads at start,
    so a wrong path refuses the start as before."""
    import ssl

    from idp.adapters.email_smtp import SmtpMailer

    section = {"host": "mail.example", "port": 587, "tls": "starttls", "username": "",
               "password": "", "from_address": "noreply@kotra.example", "reply_to": "",
               "timeout": 5.0, "ca_file": ""}
    mailer = SmtpMailer.from_settings({"env": "production", "email": section})
    assert mailer._ssl_context is None
    context = mailer.ssl_context
    assert isinstance(context, ssl.SSLContext) and context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname and mailer.ssl_context is context
    with pytest.raises(OSError):
        SmtpMailer.from_settings({"env": "production",
                                  "email": {**section, "ca_file": "/nonexistent/ca.pem"}})


# Imports redis-py's modules compiled from source (no bytecode cache: an empty pycache_prefix
# and -B, as under PYTHONDONTWRITEBYTECODE), then gives the heap's free pages back.
PROBE_TRIM = """
import json
from idp import trim_malloc

def anon_kb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("RssAnon"))

import redis
before = anon_kb()
trimmed = trim_malloc()
print(json.dumps({"trimmed": trimmed, "freed_kb": before - anon_kb()}))
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc malloc_trim")
def test_trim_malloc_returns_what_compiling_from_source_left(tmp_path: Path) -> None:
    """`create_server_app` calls trim_malloc once the app is built: a worker that compiled its
    modules from source holds 12 MB less on PostgreSQL + Redis (docs/benchmarks.md)."""
    cmd = [sys.executable, "-OO", "-B", "-X", f"pycache_prefix={tmp_path}", "-c", PROBE_TRIM]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    assert probe["trimmed"] is True
    assert probe["freed_kb"] > 4096, probe  # about 12 MB here; without the trim, nothing


def test_server_app_trims_the_heap_once_built(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update(IDP_ENV="production", IDP_ISSUER="http://127.0.0.1:5301",
               IDP_SECRET_KEY=secrets.token_urlsafe(32), IDP_NTS_SERVICE_KEY="not-called",
               IDP_DATABASE_URL=f"sqlite:///{tmp_path / 'idp.db'}")
    probe = """
import gc, json, idp
calls = []
idp.trim_malloc = lambda: calls.append(gc.get_freeze_count()) or True
idp.create_server_app()
print(json.dumps(calls))
"""
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    calls = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(calls) == 1 and calls[0] > 0  # once, after the start-up objects were frozen


def test_uncached_bytecode_names_what_every_worker_would_compile(tmp_path: Path) -> None:
    from importlib.util import cache_from_source

    from idp import uncached_bytecode

    cached, bare = tmp_path / "cached.py", tmp_path / "bare.py"
    for source in (cached, bare):
        source.write_text("X = 1\n")
    pyc = Path(cache_from_source(str(cached), optimization=2))
    pyc.parent.mkdir(exist_ok=True)
    pyc.write_bytes(b"")
    sources = [str(cached), str(bare)]
    assert uncached_bytecode(sources, optimize=2, dont_write=True) == [str(bare)]
    # The -OO bytecode is not the plain one; and where Python may write it, it will.
    assert uncached_bytecode(sources, optimize=0, dont_write=True) == sources
    assert uncached_bytecode(sources, optimize=2, dont_write=False) == []
