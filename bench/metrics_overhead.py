"""What the operators' instrumentation costs per request (issue 10: under 3% of CPU).

Runs the real app in this process (SQLite in a temporary folder, prometheus_client in its
multiprocess mode as under `idp serve`, JSON log lines written to /dev/null) and calls the
WSGI stack directly, alternating between the instrumented stack (`Observe` around the lanes
and Flask: request id, histogram observation, access log line, audit counters) and the same
stack without `Observe`. CPU time (process_time) per request, best of several rounds each.

    .venv/bin/python bench/metrics_overhead.py [--rounds 7] [--requests 2000]
"""

from __future__ import annotations

import argparse
import base64
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

WORK = tempfile.mkdtemp(prefix="idp-metrics-bench-")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = WORK  # before anything imports prometheus_client
os.environ.setdefault("IDP_ENV", "testing")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from werkzeug.test import EnvironBuilder, run_wsgi_app  # noqa: E402

from idp import create_app  # noqa: E402
from idp.extensions import db  # noqa: E402
from idp.migrate import upgrade  # noqa: E402
from idp.observability import Observe, make_handler  # noqa: E402
from idp.services.clients import add_client  # noqa: E402
from idp.services.keys import ensure_keys  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()

    url = f"sqlite:///{WORK}/bench.sqlite3"
    upgrade(url)
    # (IDP_ENV=testing: no handler of its own; the JSON one to /dev/null is added below)
    app = create_app({"database_url": url, "issuer": "http://127.0.0.1:5000",
                      # production's caches (the testing overlay turns them off)
                      "keys": {"cache_seconds": 30}, "clients": {"cache_seconds": 5}})
    with app.app_context():
        p = app.extensions["idp"]
        ensure_keys(db.session, p.cipher, algs=["RS256", "ES256"])
        client, secret = add_client(
            db.session, name="bench", redirect_uris=["http://127.0.0.1:9/cb"],
            grant_types=["client_credentials"], token_endpoint_auth_method="client_secret_basic",
            first_party=True, post_logout_redirect_uris=[], backchannel_logout_uri=None,
            resource_server=True, id_token_signed_response_alg="RS256", require_pkce=True)
        db.session.commit()
        client_id = client.client_id
    # Production's log lines: JSON, one per request, to a file (here /dev/null).
    devnull = open(os.devnull, "w")  # noqa: SIM115
    root = logging.getLogger()
    root.addHandler(make_handler({"log_format": "json"}, stream=devnull))
    from flask.logging import default_handler

    logging.getLogger("idp").removeHandler(default_handler)  # as configure_logging does
    root.setLevel(logging.INFO)
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False  # as in prod

    instrumented = app.wsgi_app
    assert isinstance(instrumented, Observe), type(instrumented)
    bare = instrumented._inner
    basic = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()

    def call(stack: Any, **kw: Any) -> tuple[str, bytes]:
        env = EnvironBuilder(**kw).get_environ()
        body, status, _ = run_wsgi_app(stack, env, buffered=True)
        return status, b"".join(body)

    status, body = call(bare, path="/token", method="POST",
                        data={"grant_type": "client_credentials"},
                        headers={"Authorization": basic})
    assert status.startswith("200"), body
    import json

    access = json.loads(body)["access_token"]
    if os.environ.get("PROFILE"):
        import cProfile
        import pstats

        kw = dict(path="/healthz")
        for label, stack in (("bare", bare), ("observed", instrumented)):
            prof = cProfile.Profile()
            prof.enable()
            for _ in range(300):
                call(stack, **kw)
            prof.disable()
            print("=====", label)
            pstats.Stats(prof).sort_stats("tottime").print_stats(15)
        return
    scenarios = {
        "discovery": dict(path="/.well-known/openid-configuration"),
        "jwks": dict(path="/jwks"),
        "client_credentials": dict(path="/token", method="POST",
                                   data={"grant_type": "client_credentials"},
                                   headers={"Authorization": basic}),
        "introspect": dict(path="/introspect", method="POST", data={"token": access},
                           headers={"Authorization": basic}),
        "healthz (Flask)": dict(path="/healthz"),
    }
    # As `idp serve` does (create_server_app): start-up objects out of the collector's way.
    import gc

    gc.collect()
    gc.freeze()
    if os.environ.get("VARIANTS"):
        from idp.adapters.prometheus import RequestMetrics as RM
        from idp.observability import access_log as al

        kw = scenarios[os.environ["VARIANTS"]]
        variants = [("bare", bare, True),
                    ("observe, no metrics, no log", Observe(bare, trust_request_id=False,
                                                            metrics=None), False),
                    ("observe, metrics, no log", Observe(bare, trust_request_id=False,
                                                         metrics=RM()), False),
                    ("observe, metrics, log", Observe(bare, trust_request_id=False,
                                                      metrics=RM()), True)]
        import gc

        gc.collect()
        gc.freeze()
        best = {v[0]: float("inf") for v in variants}
        for _ in range(args.rounds):
            for label, stack, log_on in variants:
                al.setLevel(logging.INFO if log_on else logging.WARNING)
                start = time.process_time()
                for _ in range(args.requests):
                    call(stack, **kw)
                best[label] = min(best[label], (time.process_time() - start) / args.requests)
        for label, took in best.items():
            print(f"{label}: {took * 1e6:.1f} µs")
        return
    print("| scenario | CPU µs/request bare | instrumented | added µs | added % |")
    print("|---|---|---|---|---|")
    for name, kw in scenarios.items():
        best = {"bare": float("inf"), "observed": float("inf")}
        for i in range(args.rounds):
            order = [("bare", bare), ("observed", instrumented)]
            for label, stack in (order if i % 2 == 0 else order[::-1]):  # no order bias
                for _ in range(50):
                    call(stack, **kw)  # warm
                start = time.process_time()
                for _ in range(args.requests):
                    call(stack, **kw)
                took = (time.process_time() - start) / args.requests
                best[label] = min(best[label], took)
        added = best["observed"] - best["bare"]
        print(f"| {name} | {best['bare'] * 1e6:.0f} | {best['observed'] * 1e6:.0f} | "
              f"{added * 1e6:.1f} | {added / best['bare'] * 100:.1f}% |")
    # The instrumentation alone, around an app that does nothing: what it adds to any request
    # (deterministic work, unlike the end-to-end rows above, which the machine's noise moves).
    def nothing(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b""]

    from idp.adapters.prometheus import RequestMetrics
    from idp.observability import access_log

    def per_call(stack: Any, path: str, n: int = 100000) -> float:
        env = EnvironBuilder(path=path).get_environ()
        best = float("inf")
        for _ in range(args.rounds):
            start = time.process_time()
            for _ in range(n // args.rounds):
                stack(dict(env), lambda *a: None)
            best = min(best, (time.process_time() - start) / (n // args.rounds))
        return best * 1e6

    base = per_call(nothing, "/x")
    rows = []
    access_log.setLevel(logging.WARNING)
    rows.append(("request id + histogram (access log off)",
                 per_call(Observe(nothing, trust_request_id=False, metrics=RequestMetrics()),
                          "/x")))
    access_log.setLevel(logging.INFO)
    rows.append(("request id + histogram + JSON access line",
                 per_call(Observe(nothing, trust_request_id=False, metrics=RequestMetrics()),
                          "/x")))
    rows.append(("discovery/JWKS path (histogram only)",
                 per_call(Observe(nothing, trust_request_id=False, metrics=RequestMetrics(),
                                  documents=["/jwks"]), "/jwks")))
    print()
    print("| instrumentation alone | CPU µs added per request |")
    print("|---|---|")
    for label, took in rows:
        print(f"| {label} | {took - base:.1f} |")


if __name__ == "__main__":
    import shutil

    try:
        main()
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
