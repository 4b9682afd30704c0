"""The `idp` command: database, demo data, keys, clients, members, server.

Every command takes --json for automation; errors exit non-zero with a message on stderr
(and {"error": ...} on stdout with --json).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
from sqlalchemy import select

from idp.errors import IdpError, InvalidInput


def _app():  # type: ignore[no-untyped-def]
    from idp import create_app

    return create_app()


@contextmanager
def _context(app: Any) -> Iterator[None]:
    """An app context that returns and closes its database connections on the way out."""
    from idp.extensions import db as sqla

    with app.app_context():
        try:
            yield
        finally:
            sqla.session.remove()
            sqla.engine.dispose()
            app.extensions["idp"].store.close()


def _emit(as_json: bool, data: Any, human: str | Callable[[], str]) -> None:
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, default=str))
    else:
        click.echo(human() if callable(human) else human)


def _fail(as_json: bool, message: str) -> None:
    if as_json:
        click.echo(json.dumps({"error": message}, ensure_ascii=False))
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


@click.group()
def main() -> None:
    """kotra-idp administration."""


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@json_option
def db_upgrade(as_json: bool) -> None:
    """Apply Alembic migrations and make sure signing keys exist."""
    from idp.extensions import db as sqla
    from idp.migrate import upgrade
    from idp.services.keys import ensure_keys

    app = _app()
    settings = app.config["IDP_SETTINGS"]
    upgrade(settings["database_url"])
    with _context(app):
        p = app.extensions["idp"]
        created = ensure_keys(sqla.session, p.cipher, algs=settings["keys"]["allowed_algs"],
                              rsa_bits=settings["keys"]["rsa_bits"])
        sqla.session.commit()
    _emit(as_json, {"upgraded": True, "keys_created": created},
          f"database upgraded; keys created: {', '.join(created) or 'none'}")


@db.command("purge")
@json_option
def db_purge(as_json: bool) -> None:
    """Delete what has expired: store entries, used or expired codes, dead tokens."""
    from idp.extensions import db as sqla
    from idp.services.maintenance import purge_expired

    app = _app()
    with _context(app):
        counts = purge_expired(sqla.session, app.extensions["idp"].store)
        sqla.session.commit()
    _emit(as_json, counts, lambda: ", ".join(f"{k}: {v}" for k, v in counts.items()))


@main.group()
def demo() -> None:
    """Demo data."""


@demo.command("seed")
@click.option("--clients-file", default=None, type=click.Path(dir_okay=False),
              help="Where to write the demo sites' credentials (default instance/).")
@json_option
def demo_seed(clients_file: str | None, as_json: bool) -> None:
    """Create the demo members, company and the two demo sites (idempotent)."""
    from pathlib import Path

    from idp.demo import DEMO_CLIENTS_FILE, seed
    from idp.extensions import db as sqla

    app = _app()
    with _context(app):
        result = seed(sqla.session, app.extensions["idp"],
                      Path(clients_file) if clients_file else DEMO_CLIENTS_FILE)

    def human() -> str:
        lines = [f"demo accounts (password for all: {result['members'][0]['password']}):"]
        for m in result["members"]:
            lines.append(f"  {m['login_id']:<14} {m['name']}  affiliation: {m['affiliation']}")
        lines.append(f"demo sites' client credentials: {result['clients_file']}")
        return "\n".join(lines)

    _emit(as_json, result, human)


@main.group()
def keys() -> None:
    """Signing keys."""


@keys.command("rotate")
@click.option("--alg", default=None, help="RS256 or ES256 (default: every allowed alg).")
@json_option
def keys_rotate(alg: str | None, as_json: bool) -> None:
    """Add a new signing key; the previous one stays published until its tokens expire."""
    from idp.extensions import db as sqla
    from idp.services.keys import rotate_key

    app = _app()
    settings = app.config["IDP_SETTINGS"]
    algs = [alg] if alg else settings["keys"]["allowed_algs"]
    with _context(app):
        p = app.extensions["idp"]
        try:
            kids = [rotate_key(sqla.session, p.cipher, alg=a,
                               rsa_bits=settings["keys"]["rsa_bits"]) for a in algs]
        except ValueError as exc:
            _fail(as_json, str(exc))
            return
        sqla.session.commit()
    _emit(as_json, {"rotated": kids}, f"new keys: {', '.join(kids)}")


@keys.command("list")
@json_option
def keys_list(as_json: bool) -> None:
    """List signing keys, newest first."""
    from idp.extensions import db as sqla
    from idp.models import SigningKey

    app = _app()
    with _context(app):
        rows = sqla.session.scalars(
            select(SigningKey).order_by(SigningKey.created_at.desc(), SigningKey.id.desc())
        ).all()
        data = [{"kid": r.kid, "alg": r.alg, "created_at": r.created_at.isoformat(),
                 "retired_at": r.retired_at.isoformat() if r.retired_at else None}
                for r in rows]
    _emit(as_json, data, lambda: "\n".join(
        f"{d['kid']:<32} {d['alg']:<6} created {d['created_at']}"
        + (f" retired {d['retired_at']}" if d["retired_at"] else " active") for d in data))


@main.group()
def clients() -> None:
    """Relying parties."""


@clients.command("add")
@click.option("--name", required=True)
@click.option("--redirect-uri", "redirect_uris", multiple=True)
@click.option("--post-logout-redirect-uri", "post_logout_uris", multiple=True)
@click.option("--backchannel-logout-uri", default=None)
@click.option("--grant-type", "grant_types", multiple=True, required=True)
@click.option("--token-endpoint-auth-method", default="client_secret_basic",
              type=click.Choice(["client_secret_basic", "client_secret_post", "none"]))
@click.option("--first-party", is_flag=True, help="A KOTRA site: no consent screen.")
@click.option("--resource-server", is_flag=True,
              help="An API that may introspect tokens issued to other clients (RFC 7662).")
@click.option("--no-pkce", is_flag=True, help="Do not require PKCE (confidential only).")
@click.option("--id-token-alg", default=None, type=click.Choice(["RS256", "ES256"]),
              help="ID token signing algorithm (default: config [keys] default_alg).")
@json_option
def clients_add(name: str, redirect_uris: tuple[str, ...], post_logout_uris: tuple[str, ...],
                backchannel_logout_uri: str | None, grant_types: tuple[str, ...],
                token_endpoint_auth_method: str, first_party: bool, resource_server: bool,
                no_pkce: bool,
                id_token_alg: str, as_json: bool) -> None:
    """Register a client; prints its client_id and client_secret (the secret only now)."""
    from idp.extensions import db as sqla
    from idp.services.clients import add_client

    app = _app()
    with _context(app):
        try:
            client, secret = add_client(
                sqla.session, name=name, redirect_uris=list(redirect_uris),
                post_logout_redirect_uris=list(post_logout_uris),
                backchannel_logout_uri=backchannel_logout_uri, grant_types=list(grant_types),
                token_endpoint_auth_method=token_endpoint_auth_method,
                first_party=first_party, resource_server=resource_server,
                require_pkce=not no_pkce,
                id_token_signed_response_alg=id_token_alg
                or app.config["IDP_SETTINGS"]["keys"]["default_alg"],
            )
        except InvalidInput as exc:
            _fail(as_json, f"{exc.field}: {exc.message}")
            return
        sqla.session.commit()
        data = {"client_id": client.client_id, "client_secret": secret}
    _emit(as_json, data, f"client_id: {data['client_id']}\nclient_secret: {secret} "
                         "(shown once; stored hashed)")


@clients.command("list")
@json_option
def clients_list(as_json: bool) -> None:
    """List registered clients."""
    from idp.extensions import db as sqla
    from idp.models import OAuthClient

    app = _app()
    with _context(app):
        data: list[dict[str, Any]] = [
            {"client_id": c.client_id, "name": c.name, "redirect_uris": c.redirect_uris,
                 "grant_types": c.grant_types, "auth_method": c.token_endpoint_auth_method,
                 "first_party": c.first_party, "resource_server": c.resource_server,
                 "require_pkce": c.require_pkce,
                 "backchannel_logout_uri": c.backchannel_logout_uri}
                for c in sqla.session.scalars(select(OAuthClient).order_by(OAuthClient.id))]
    def line(d: dict[str, Any]) -> str:
        roles = [r for r in ("first_party", "resource_server") if d[r]]
        flags = f"  [{', '.join(roles)}]" if roles else ""
        return f"{d['client_id']:<32} {d['name']}  {','.join(d['grant_types'])}{flags}"

    _emit(as_json, data, lambda: "\n".join(line(d) for d in data))


@clients.command("remove")
@click.argument("client_id")
@json_option
def clients_remove(client_id: str, as_json: bool) -> None:
    """Remove a client."""
    from idp.extensions import db as sqla
    from idp.services.clients import remove_client

    app = _app()
    with _context(app):
        if not remove_client(sqla.session, client_id):
            _fail(as_json, f"no client {client_id}")
            return
        sqla.session.commit()
    _emit(as_json, {"removed": client_id}, f"removed {client_id}")


@main.group()
def members() -> None:
    """Members."""


@members.command("add")
@click.option("--login-id", required=True)
@click.option("--name", required=True)
@click.option("--email", default=None)
@click.option("--password-stdin", is_flag=True, required=True,
              help="Read the password from standard input (never from the command line).")
@json_option
def members_add(login_id: str, name: str, email: str | None, password_stdin: bool,
                as_json: bool) -> None:
    """Create a general member with a password."""
    from idp.extensions import db as sqla
    from idp.services.members import add_member

    password = sys.stdin.readline().rstrip("\r\n")
    app = _app()
    with _context(app):
        p = app.extensions["idp"]
        try:
            member = add_member(sqla.session, p.passwords, p.policy, login_id=login_id,
                                name=name, email=email, password=password)
        except IdpError as exc:
            _fail(as_json, str(exc) if not isinstance(exc, InvalidInput)
                  else f"{exc.field}: {exc.message}")
            return
        sqla.session.commit()
        data = {"login_id": member.login_id, "sub": member.subject}
    _emit(as_json, data, f"member {data['login_id']} created (sub {data['sub']})")


@main.command("serve")
@click.option("--bind", default=None, help="host:port (default from config [server]).")
@click.option("--workers", type=int, default=None)
@click.option("--engine", type=click.Choice(["granian", "gunicorn"]), default=None,
              help="HTTP server (default from config [server] engine).")
def serve(bind: str | None, workers: int | None, engine: str | None) -> None:
    """Run the provider: one process per worker, each building its own app."""
    from idp.config import load_settings

    server = load_settings()["server"]
    bind = bind or server["bind"]
    workers = workers or server["workers"]
    engine = engine or server["engine"]
    host, _, port = bind.rpartition(":")
    if engine == "granian":
        _serve_granian(host, int(port), workers, server)
    else:
        _serve_gunicorn(bind, workers, server)


def _serve_granian(host: str, port: int, workers: int, server: dict[str, Any]) -> None:
    # Granian (Rust HTTP/1.1 with keep-alive) costs a fifth of gunicorn's sync worker per
    # request on this workload; see docs/benchmarks.md.
    from granian import Granian
    from granian.constants import Interfaces

    Granian(
        "idp:create_server_app", factory=True, address=host, port=port, workers=workers,
        interface=Interfaces.WSGI, blocking_threads=server["threads"],
        respawn_failed_workers=True, log_access=False,
    ).serve()


def _serve_gunicorn(bind: str, workers: int, server: dict[str, Any]) -> None:
    from gunicorn.app.base import BaseApplication

    class Gunicorn(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", bind)
            self.cfg.set("workers", workers)
            self.cfg.set("worker_class", server["worker_class"])
            self.cfg.set("threads", server["threads"])
            self.cfg.set("accesslog", None)
            self.cfg.set("preload_app", False)

        def load(self):  # type: ignore[no-untyped-def]
            # Each worker builds its own app: database pools and Redis clients are not
            # shared across fork.
            from idp import create_server_app

            return create_server_app()

    Gunicorn().run()


if __name__ == "__main__":
    main()
