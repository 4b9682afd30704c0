"""Corporate certificate verifications per second (issue 7, docs/npki.md): the NPKI verifier
with its CRL cached (signature, path by key identifiers, validity, policy, CRL lookup, VID),
against a test PKI whose CRL a local HTTP server serves once.

    .venv/bin/python bench/npki_bench.py [--seconds S] [--revoked N]

Rows:
  verify, CRL in memory       NpkiVerifier.verify with the CRL in the process memo (the
                              steady state of a worker)
  verify, CRL from the store  each verification reads the CRL from the shared store and
                              re-checks its signature (a worker's first use of a CRL another
                              worker downloaded): MemoryStore, plus Redis when
                              BENCH_NPKI_REDIS_URL is set
  POST challenge + verify     the whole web seam through the Flask test client (challenge,
                              proof, audit rows in SQLite), CRL in memory
The CRL holds `--revoked` entries (default 10,000: a licensed CA's partitioned CRL is of that
order). Signing the challenge (the browser's work) is done before timing.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

os.environ.setdefault("IDP_ENV", "testing")

from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding  # noqa: E402

from idp.adapters.clock import SystemClock  # noqa: E402
from idp.adapters.npki_revocation import CrlOcspRevocation  # noqa: E402
from idp.npki_pki import Pki  # noqa: E402
from idp.services.npki import NpkiVerifier, default_allowed_policies  # noqa: E402
from idp.services.ports import CertificateProof  # noqa: E402
from idp.stores import MemoryStore, RedisStore, Store  # noqa: E402

BN = "1248100998"


def serve(files: dict[str, bytes]) -> tuple[ThreadingHTTPServer, str, dict[str, int]]:
    hits: dict[str, int] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            hits[self.path] = hits.get(self.path, 0) + 1
            body = files.get(self.path, b"")
            self.send_response(200 if body else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}", hits


def rate(fn: Callable[[], None], seconds: float) -> tuple[float, float]:
    """(operations per second, mean ms) over about `seconds`."""
    fn()  # warm up
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        fn()
        count += 1
    return count / elapsed, elapsed / count * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--revoked", type=int, default=10_000)
    args = parser.parse_args()

    files: dict[str, bytes] = {}
    httpd, base, hits = serve(files)
    pki = Pki(crl_base_url=f"{base}/crl/")
    leaf = pki.corporate(BN, "벤치기업")
    for serial in range(1, args.revoked + 1):
        pki.revoked[serial] = pki.now
    crl_path = f"/crl/{pki.ca_slug}.crl"
    files[crl_path] = pki.crl_der()
    signed = b"kotra-idp certificate authentication\nnonce: bench"
    proof = CertificateProof(
        certificate=leaf.der, random_r=leaf.random_r, chain=(pki.ca.der,),
        signature=leaf.key.sign(signed, padding.PKCS1v15(), hashes.SHA256()))
    clock = SystemClock()

    def verifier(store: Store) -> tuple[NpkiVerifier, CrlOcspRevocation]:
        source = CrlOcspRevocation(store, clock, timeout=5)
        return NpkiVerifier(trust_anchors=[pki.root.cert],
                            allowed_policies=default_allowed_policies(),
                            revocation=source, clock=clock), source

    print(f"NPKI verifications: CRL of {args.revoked} entries ({len(files[crl_path])} bytes), "
          f"RSA-2048, {args.seconds:.0f} s per row; loadavg "
          f"{tuple(round(x, 2) for x in os.getloadavg())}, {os.cpu_count()} CPUs")
    print(f"{'case':<40} {'per second':>11} {'mean ms':>9}")
    rows: list[tuple[str, float, float]] = []

    v, _ = verifier(MemoryStore(clock))
    rows.append(("verify, CRL in memory", *rate(lambda: v.verify(proof, signed, BN) and None,
                                                   args.seconds)))
    print(f"{rows[-1][0]:<40} {rows[-1][1]:>11.0f} {rows[-1][2]:>9.2f}")

    stores: list[tuple[str, Store]] = [("MemoryStore", MemoryStore(clock))]
    if os.environ.get("BENCH_NPKI_REDIS_URL"):
        stores.append(("Redis", RedisStore(os.environ["BENCH_NPKI_REDIS_URL"],
                                           prefix="npki-bench:")))
    for name, store in stores:
        v, source = verifier(store)

        def from_store(v: NpkiVerifier = v, source: CrlOcspRevocation = source) -> None:
            source._memo.clear()  # noqa: SLF001 - what a fresh worker sees
            v.verify(proof, signed, BN)

        rows.append((f"verify, CRL from the store ({name})", *rate(from_store, args.seconds)))
        print(f"{rows[-1][0]:<40} {rows[-1][1]:>11.0f} {rows[-1][2]:>9.2f}")

    from idp import create_app
    from idp.migrate import upgrade

    db_url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='npki-bench-')) / 'b.db'}"
    upgrade(db_url)
    app = create_app({"database_url": db_url, "issuer": "http://127.0.0.1:5999",
                      "npki": {"challenges_per_ip": 10**9}})
    p = app.extensions["idp"]
    p.certificate_verifier, _ = verifier(p.store)
    client = app.test_client()
    html = client.get("/signup").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    headers = {"X-CSRFToken": token.group(1) if token else ""}

    def web() -> None:
        ch = client.post("/certificate/challenge", headers=headers, json={
            "purpose": "login", "business_number": BN, "next": "/done"}).get_json()
        # the browser's signature, outside what the server does, is still inside the timing:
        # reported separately below
        sig = leaf.key.sign(ch["to_sign"].encode(), padding.PKCS1v15(), hashes.SHA256())
        answer = client.post(ch["verify_url"], headers=headers, json={
            "certificate": base64.b64encode(leaf.der).decode(),
            "signature": base64.b64encode(sig).decode(),
            "random_r": base64.b64encode(leaf.random_r or b"").decode(),
            "chain": [base64.b64encode(pki.ca.der).decode()]})
        assert answer.status_code == 200, answer.get_json()

    sign_rate, sign_ms = rate(lambda: leaf.key.sign(signed, padding.PKCS1v15(),
                                                    hashes.SHA256()) and None, 1.0)
    with app.app_context():
        web_rate, web_ms = rate(web, args.seconds)
    server_ms = web_ms - sign_ms
    rows.append(("POST challenge + verify", 1000 / server_ms, server_ms))
    print(f"{rows[-1][0]:<40} {rows[-1][1]:>11.0f} {rows[-1][2]:>9.2f}   "
          f"(measured {web_ms:.2f} ms less the client's RSA signature {sign_ms:.2f} ms)")
    print(f"CRL downloads during the run: {hits.get(crl_path, 0)}")
    httpd.shutdown()
    for _, store in stores:
        store.close()
    p.store.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
