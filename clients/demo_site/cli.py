"""``python -m clients.demo_site --site N``: run one demo site on 127.0.0.1:500N."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from clients.demo_site.app import create_app

DEFAULT_ISSUER = "http://127.0.0.1:5000"
DEFAULT_CONFIG = os.path.join("instance", "demo_clients.json")


def load_client_config(site: int, path: str) -> dict:
    """The ``site{n}`` entry of the demo client file, overridden by DEMO_CLIENT_ID/SECRET."""
    client: dict = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        client = dict(data.get(f"site{site}") or {})
    if os.environ.get("DEMO_CLIENT_ID"):
        client["client_id"] = os.environ["DEMO_CLIENT_ID"]
    if os.environ.get("DEMO_CLIENT_SECRET"):
        client["client_secret"] = os.environ["DEMO_CLIENT_SECRET"]
    return client


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m clients.demo_site", description="KOTRA demo relying party"
    )
    parser.add_argument("--site", type=int, choices=(1, 2), required=True)
    parser.add_argument("--port", type=int)
    parser.add_argument("--issuer", default=DEFAULT_ISSUER)
    parser.add_argument("--config", default=DEFAULT_CONFIG)
    args = parser.parse_args(argv)
    client = load_client_config(args.site, args.config)
    if not client.get("client_id") or not client.get("client_secret"):
        print(
            f"no client for site {args.site}: run `idp demo seed` (writes {args.config}) "
            "or set DEMO_CLIENT_ID and DEMO_CLIENT_SECRET",
            file=sys.stderr,
        )
        return 2
    port = args.port or 5000 + args.site
    logging.basicConfig(level=logging.INFO)
    app = create_app(args.site, args.issuer, client)
    app.run(host="127.0.0.1", port=port)
    return 0
