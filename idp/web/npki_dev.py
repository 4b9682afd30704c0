"""The demo PKI's CRL, served by the provider itself (issue 7, docs/npki.md): `make run`'s
demo certificates name http://127.0.0.1:5000/dev/npki/crl/<ca>.crl as their CRL
distribution point, so strict revocation checking works on a laptop with no CA around.
Registered only when IDP_ENV is development or testing (idp/__init__.py): in production the
path does not exist (404)."""

from __future__ import annotations

import re

from flask import Blueprint, abort, current_app
from werkzeug.wrappers import Response

from idp.adapters.npki_revocation import demo_dir

bp = Blueprint("npki_dev", __name__)

_NAME = re.compile(r"[a-z0-9-]{1,64}")


@bp.get("/dev/npki/crl/<name>.crl")
def crl(name: str) -> Response:
    """The demo CA's CRL (DER, RFC 5280 §5; served as application/pkix-crl, RFC 2585 §4.2)."""
    folder = demo_dir(current_app.config["IDP_SETTINGS"])
    if folder is None or not _NAME.fullmatch(name):
        abort(404)
    path = folder / "crl" / f"{name}.crl"
    if not path.is_file():
        abort(404)
    return Response(path.read_bytes(), mimetype="application/pkix-crl",
                    headers={"Cache-Control": "no-store"})
