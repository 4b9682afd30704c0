"""The `idp` command: database, demo data, keys, clients, members, server.

Every command takes --json for automation; errors exit non-zero with a message on stderr
(and {"error": ...} on stdout with --json).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select

from idp.config import ConfigError
from idp.errors import AlreadyExists, IdpError, InvalidInput
from idp.protocol import CLIENT_AUTH_METHODS, SIGNING_ALGS


def _app():  # type: ignore[no-untyped-def]
    from idp import create_app

    try:
        return create_app()
    except ConfigError as exc:
        _config_failure(exc)


def _config_failure(exc: ConfigError) -> None:
    """Settings that do not pass: every problem on stderr, no traceback, exit status 2."""
    click.echo(f"error: {exc}", err=True)
    sys.exit(2)


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


def _fail(as_json: bool, message: str, *, error: str | None = None,
          field: str | None = None) -> None:
    """Exit 1 saying what is wrong and what to do.

    With --json, stdout gets {"error": code, "message": sentence, "field": option} (the code
    is the message itself for callers that give none); stderr always gets the sentence.
    """
    if as_json:
        data = {"error": error or message, "message": message}
        if field:
            data["field"] = field
        click.echo(json.dumps(data, ensure_ascii=False))
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


# The option behind each field a service may refuse, and what the operator can do about it.
_FIELDS: dict[str, tuple[str, str]] = {
    "login_id": ("--login-id", "Choose another login ID"),
    "password": ("--password-stdin", "Send a stronger password on standard input"),
    "email": ("--email", "Give a valid address or leave the option out"),
    "name": ("--name", "Give a name"),
    "redirect_uri": ("--redirect-uri", "Fix the URI"),
    "post_logout_redirect_uri": ("--post-logout-redirect-uri", "Fix the URI"),
    "backchannel_logout_uri": ("--backchannel-logout-uri", "Fix the URI"),
    "grant_type": ("--grant-type", "Give one or more supported grant types"),
    "token_endpoint_auth_method": ("--token-endpoint-auth-method", "Choose a supported method"),
    "id_token_signed_response_alg": ("--id-token-alg", "Choose RS256 or ES256"),
}


def _refuse(as_json: bool, exc: IdpError, values: dict[str, Any] | None = None) -> None:
    """_fail with a sentence for a service's refusal (InvalidInput, AlreadyExists, ...)."""
    values = values or {}
    if isinstance(exc, InvalidInput):
        field, code = exc.field, "invalid_input"
        shown = f" {values[field]!r}" if values.get(field) and field != "password" else ""
        problem = f"{field}{shown} is not valid: {exc.message.rstrip('.')}"
    elif isinstance(exc, AlreadyExists):
        field, code = str(exc), "already_exists"
        shown = f" {values[field]!r}" if values.get(field) else ""
        problem = f"{field}{shown} is already taken"
    else:
        field, code, problem = "", type(exc).__name__, str(exc) or type(exc).__name__
    option, remedy = _FIELDS.get(field, ("", ""))
    message = problem + (f". {remedy} ({option})." if remedy else ".")
    _fail(as_json, message, error=code, field=field or None)


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
        from idp.services.hs import load_builtin  # the shipped HS nomenclature (idempotent)

        hs_loaded = load_builtin(sqla.session).as_dict()
    _emit(as_json, {"upgraded": True, "keys_created": created, "hs_codes": hs_loaded},
          f"database upgraded; keys created: {', '.join(created) or 'none'}; HS codes: "
          f"{hs_loaded['inserted']} new, {hs_loaded['updated']} changed")


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
@click.option("--no-terms", is_flag=True,
              help="Publish no demo terms (every member would be asked to agree at login).")
@json_option
def demo_seed(clients_file: str | None, no_terms: bool, as_json: bool) -> None:
    """Create the demo members, company, two demo sites and terms (idempotent)."""

    from idp.demo import DEMO_CLIENTS_FILE, seed, seed_terms
    from idp.extensions import db as sqla
    from idp.models.base import utcnow

    app = _app()
    with _context(app):
        result = seed(sqla.session, app.extensions["idp"],
                      Path(clients_file) if clients_file else DEMO_CLIENTS_FILE)
        result["terms_published"] = [] if no_terms else seed_terms(sqla.session, now=utcnow())
        sqla.session.commit()

    def human() -> str:
        lines = [f"demo accounts (password for all: {result['members'][0]['password']}):"]
        for m in result["members"]:
            lines.append(f"  {m['login_id']:<14} {m['name']}  affiliation: {m['affiliation']}")
        if result.get("legacy"):
            lines.append("old sites' accounts to convert (일반회원 tab, old ID and password "
                         f"{result['legacy'][0]['password']}):")
            for a in result["legacy"]:
                lines.append(f"  {a['legacy_id']:<14} {a['name']}  {a['site']} / "
                             f"{a['member_type']}  ({a['note']})")
        if result.get("identities"):
            lines.append("간편인증 login (로그인 → 간편인증 로그인, emulated popup; "
                         "name, birthdate, mobile):")
            for i in result["identities"]:
                lines.append(f"  {i['login_id']:<14} {i['name']}  {i['birthdate']}  "
                             f"{i['mobile']}")
        lines.append(f"demo sites' client credentials: {result['clients_file']}")
        if result.get("mileage_api"):  # issue 7: the service and mileage API
            api = result["mileage_api"]
            lines.append(f"mileage API: {api['openapi']} (the demo sites hold {api['scopes']}; "
                         f"company {api['business_number']} starts with "
                         f"{api['initial_mileage']:,} points; docs/api.md)")
        if result["terms_published"]:
            lines.append("demo terms published (version 1): "
                         + ", ".join(result["terms_published"]))
        if result.get("company_directory"):  # issue 7, registries
            cd = result["company_directory"]
            lines.append(f"company directory: {cd['rows']} demo companies ({cd['file']}); "
                         "tax office emulator: 휴업 " + ", ".join(cd["suspended"])
                         + "; 폐업 " + ", ".join(cd["closed"]) + "; 미등록 "
                         + ", ".join(cd["unregistered"]) + "; any other valid number 계속사업자")
        if result.get("npki"):  # issue 7, NPKI verifier
            lines.append("demo corporate certificates (인증서찾기: signCert.der + signPri.key, "
                         f"or the .pfx; all in {result['npki']['readme']}):")
            for person in result["npki"]["people"]:
                lines.append(f"  {person['name']} {person['business_number'] or '(개인, refused)'}"
                             f"  password {person['password']}")
                lines.append(f"    {Path(person['files']['signCert']).parent}")
        if result.get("company_console"):  # issue 7: the 기업정보 관리 tab and /company
            cc = result["company_console"]
            lines.append(f"company manager (로그인 → 기업정보 관리, or /company): "
                         f"{cc['business_number']} / {cc['password']}")
        if result.get("affiliation"):  # issue 7: MY KOTRA 소속기업 관리, sign-up tab 4
            af = result["affiliation"]
            lines.append(f"approval password (승인 비밀번호) of {af['business_number']}: "
                         f"{af['approval_password']}")
        if result.get("operator"):  # issue 7: the operator console
            op = result["operator"]
            lines.append(f"operator console /operator: {op['login_id']} / {op['password']}, "
                         f"TOTP {op['otpauth_uri']}; pending registration "
                         f"{result.get('pending_company')}")
        return "\n".join(lines)

    _emit(as_json, result, human)


@main.group()
def keys() -> None:
    """Signing keys."""


@keys.command("rotate")
@click.option("--alg", default=None, help=f"{' or '.join(SIGNING_ALGS)} "
              "(default: every alg of [keys] allowed_algs).")
@json_option
def keys_rotate(alg: str | None, as_json: bool) -> None:
    """Add a new signing key; the previous one stays published until its tokens expire."""
    from idp.extensions import db as sqla
    from idp.services.keys import rotate_key

    app = _app()
    settings = app.config["IDP_SETTINGS"]
    algs = [alg] if alg else settings["keys"]["allowed_algs"]
    with _context(app):
        if alg and alg not in settings["keys"]["allowed_algs"]:
            _fail(as_json, f"{alg} is not in [keys] allowed_algs "
                           f"({', '.join(settings['keys']['allowed_algs'])}): it would sign "
                           "nothing; enable it there first")
            return
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


@keys.command("reencrypt")
@click.option("--old-secret-stdin", is_flag=True, required=True,
              help="Read the previous IDP_SECRET_KEY from standard input.")
@json_option
def keys_reencrypt(old_secret_stdin: bool, as_json: bool) -> None:
    """After a new IDP_SECRET_KEY: re-encrypt the signing keys that the old one encrypted.

    Run with the new secret in the environment and the old one on standard input
    (docs/operations.md, rotating the secret key). Keys already readable with the new
    secret are left alone, so it is safe to run twice.
    """
    from cryptography.exceptions import InvalidTag

    from idp.extensions import db as sqla
    from idp.models import SigningKey
    from idp.services.keys import KeyCipher

    old_secret = sys.stdin.readline().rstrip("\r\n")
    if not old_secret:
        _fail(as_json, "no old secret on standard input", field="old_secret")
        return
    app = _app()
    with _context(app):
        new = app.extensions["idp"].cipher
        old = KeyCipher(old_secret)
        done, kept, unreadable = [], [], []
        for row in sqla.session.scalars(select(SigningKey).order_by(SigningKey.id)):
            try:
                new.decrypt(row.private_key_encrypted)
                kept.append(row.kid)
                continue
            except (InvalidTag, ValueError):
                pass
            try:
                plain = old.decrypt(row.private_key_encrypted)
            except (InvalidTag, ValueError):
                unreadable.append(row.kid)
                continue
            row.private_key_encrypted = new.encrypt(plain)
            done.append(row.kid)
        if unreadable:
            sqla.session.rollback()
            _fail(as_json, f"keys readable with neither secret: {', '.join(unreadable)}; "
                           "nothing changed", error="unreadable")
            return
        sqla.session.commit()
    _emit(as_json, {"reencrypted": done, "already_current": kept},
          f"re-encrypted: {', '.join(done) or 'none'}; already current: {len(kept)}")


@main.group("personal-data")
def personal_data() -> None:
    """Personal data sealed at rest: CI/DI, uploaded documents, operators' TOTP keys."""


@personal_data.command("reseal")
@click.option("--old-key-stdin", is_flag=True,
              help="Read the previous IDP_PERSONAL_DATA_KEY (base64 of 32 bytes) from "
                   "standard input.")
@click.option("--old-secret-stdin", is_flag=True,
              help="Read the previous IDP_SECRET_KEY from standard input: the data was "
                   "sealed while IDP_PERSONAL_DATA_KEY was empty.")
@json_option
def personal_data_reseal(old_key_stdin: bool, old_secret_stdin: bool, as_json: bool) -> None:
    """After a new IDP_PERSONAL_DATA_KEY (or setting it for the first time): re-seal the
    personal data that the previous key sealed, and recompute the look-up hashes.

    Run with every server stopped, the new key in the environment and the old key (or the
    old IDP_SECRET_KEY) on standard input (docs/operations.md, rotating the personal-data
    key). All or nothing; values already under the new key are left alone, so it is safe
    to run twice. Exits 1, changing nothing, when a value opens with neither key.
    """
    from idp.extensions import db as sqla
    from idp.services.personal_data import master_key
    from idp.services.personal_data_reseal import Unreadable, reseal

    if old_key_stdin == old_secret_stdin:
        _fail(as_json, "give exactly one of --old-key-stdin and --old-secret-stdin",
              field="old_key")
        return
    old_value = sys.stdin.readline().rstrip("\r\n")
    if not old_value:
        _fail(as_json, "no old key on standard input", field="old_key")
        return
    try:
        old_master = (master_key(old_value, "") if old_key_stdin
                      else master_key("", old_value))
    except ValueError:  # binascii.Error is one
        _fail(as_json, "the old key is not base64 of 32 bytes", field="old_key")
        return
    app = _app()
    settings = app.config["IDP_SETTINGS"]
    new_master = master_key(settings["personal_data"]["key"], settings["secret_key"])
    with _context(app):
        try:
            report = reseal(sqla.session, old_master=old_master, new_master=new_master)
        except Unreadable as exc:
            sqla.session.rollback()
            _fail(as_json, f"{exc}; nothing changed", error="unreadable")
            return
        sqla.session.commit()
    _emit(as_json, {"resealed": report.resealed, "already_current": report.current},
          "re-sealed: " + ", ".join(f"{t} {n}" for t, n in report.resealed.items())
          + "; already current: " + ", ".join(f"{t} {n}" for t, n in report.current.items()))


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
              type=click.Choice(CLIENT_AUTH_METHODS))
@click.option("--first-party", is_flag=True, help="A KOTRA site: no consent screen.")
@click.option("--resource-server", is_flag=True,
              help="An API that may introspect tokens issued to other clients (RFC 7662).")
@click.option("--no-pkce", is_flag=True, help="Do not require PKCE (confidential only).")
@click.option("--id-token-alg", default=None, type=click.Choice(SIGNING_ALGS),
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
                allowed_algs=app.config["IDP_SETTINGS"]["keys"]["allowed_algs"],
            )
        except IdpError as exc:
            _refuse(as_json, exc)
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
            _fail(as_json, f"no client has the client_id {client_id!r}. See `idp clients list` "
                  "for the registered ones.", error="not_found", field="client_id")
            return
        sqla.session.commit()
    _emit(as_json, {"removed": client_id}, f"removed {client_id}")


@clients.command("rotate-secret")
@click.argument("client_id")
@click.option("--grace", "grace_seconds", type=click.IntRange(min=0), default=86400,
              show_default=True,
              help="Seconds the current secret keeps working beside the new one "
                   "(0: it stops now, e.g. when it leaked).")
@json_option
def clients_rotate_secret(client_id: str, grace_seconds: int, as_json: bool) -> None:
    """Give a client a new secret (printed only now); the current one works on for --grace
    seconds, so the site can deploy the new one without downtime."""
    from idp.extensions import db as sqla
    from idp.models import OAuthClient
    from idp.services.clients import NoSecret, rotate_secret

    app = _app()
    with _context(app):
        client = sqla.session.scalar(select(OAuthClient).where(
            OAuthClient.client_id == client_id))
        if client is None:
            _fail(as_json, f"no client has the client_id {client_id!r}. See `idp clients list` "
                  "for the registered ones.", error="not_found", field="client_id")
            return
        try:
            secret = rotate_secret(sqla.session, client, grace_seconds=grace_seconds,
                                   now=app.extensions["idp"].clock.now())
        except NoSecret:
            _fail(as_json, f"{client_id} is a public client (token_endpoint_auth_method none): "
                  "it has no secret", error="public_client", field="client_id")
            return
        until = client.previous_secret_expires_at
        sqla.session.commit()
    previous = (dt.datetime.fromtimestamp(until, dt.UTC).isoformat().replace("+00:00", "Z")
                if until else None)
    _emit(as_json, {"client_id": client_id, "client_secret": secret,
                    "previous_secret_valid_until": previous},
          f"client_id: {client_id}\nclient_secret: {secret} (shown only now)\n"
          + (f"the previous secret works until {previous}" if previous
             else "the previous secret no longer works"))


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
            _refuse(as_json, exc, {"login_id": login_id, "email": email})
            return
        sqla.session.commit()
        data = {"login_id": member.login_id, "sub": member.subject}
    _emit(as_json, data, f"member {data['login_id']} created (sub {data['sub']})")


@members.command("require-password-change")
@click.argument("login_id")
@click.option("--off", is_flag=True, help="Withdraw the requirement.")
@json_option
def members_require_password_change(login_id: str, off: bool, as_json: bool) -> None:
    """Make the member choose a new password at the next login, before any site gets a code."""
    from idp.extensions import db as sqla
    from idp.services.password_change import require_password_change

    app = _app()
    with _context(app):
        try:
            member = require_password_change(sqla.session, login_id=login_id, required=not off)
        except InvalidInput:
            _no_member(as_json, login_id)
            return
        data = {"login_id": member.login_id, "password_change_required": not off}
    _emit(as_json, data, f"member {login_id}: password change "
                         + ("no longer required" if off else "required at the next login"))


def _find_member(session: Any, login_id: str) -> Any:
    from idp.models import Member

    return session.scalar(select(Member).where(Member.login_id == login_id.strip().lower()))


def _no_member(as_json: bool, login_id: str) -> None:
    _fail(as_json, f"no member has the login ID {login_id!r}: check it (login IDs are "
                   "case-insensitive; company managers and simple members have none)",
          error="not_found", field="login_id")


def _revocation_data(login_id: str, done: Any) -> dict[str, Any]:
    return {"login_id": login_id, "sessions_ended": done.sessions,
            "tokens_revoked": done.tokens, "codes_revoked": done.codes,
            "backchannel_queued": done.notified}


def _revocation_text(data: dict[str, Any]) -> str:
    queued = ", ".join(data["backchannel_queued"]) or "none"
    return (f"{data['login_id']}: {data['sessions_ended']} session(s) ended, "
            f"{data['tokens_revoked']} token(s) and {data['codes_revoked']} code(s) revoked; "
            f"back-channel logout queued for: {queued}")


@members.command("revoke-sessions")
@click.argument("login_id")
@json_option
def members_revoke_sessions(login_id: str, as_json: bool) -> None:
    """End every session of a member: SSO sessions, tokens, codes; tell the sites."""
    from idp.extensions import db as sqla

    app = _app()
    with _context(app):
        member = _find_member(sqla.session, login_id)
        if member is None:
            _no_member(as_json, login_id)
            return
        done = app.extensions["idp"].revocation.revoke_member(
            sqla.session, member.id, reason="operator_revoke", actor="cli")
        data = _revocation_data(member.login_id, done)
    _emit(as_json, data, lambda: _revocation_text(data))


@members.command("lock")
@click.argument("login_id")
@json_option
def members_lock(login_id: str, as_json: bool) -> None:
    """Lock a member: no sign-in, no token works, every session is ended."""
    from idp.extensions import db as sqla

    app = _app()
    with _context(app):
        member = _find_member(sqla.session, login_id)
        if member is None:
            _no_member(as_json, login_id)
            return
        done = app.extensions["idp"].revocation.lock_member(
            sqla.session, member.id, reason="operator_lock", actor="cli")
        data = {**_revocation_data(member.login_id, done), "status": "locked"}
    _emit(as_json, data, lambda: "locked; " + _revocation_text(data))


@members.command("unlock")
@click.argument("login_id")
@json_option
def members_unlock(login_id: str, as_json: bool) -> None:
    """Let a locked member sign in again."""
    from idp.extensions import db as sqla
    from idp.services.revocation import NotLocked

    app = _app()
    with _context(app):
        member = _find_member(sqla.session, login_id)
        if member is None:
            _no_member(as_json, login_id)
            return
        try:
            app.extensions["idp"].revocation.unlock_member(sqla.session, member.id,
                                                           actor="cli")
            # The operator's unlock lifts the sign-in throttle's lock on the account too.
            app.extensions["idp"].throttle.reset(account=member.login_id)
            sqla.session.commit()
        except NotLocked as exc:
            _fail(as_json, f"{member.login_id} is not locked (status: {exc}); nothing to do")
            return
        data = {"login_id": member.login_id, "status": "active"}
    _emit(as_json, data, f"{data['login_id']} unlocked: the member can sign in again")


@main.group()
def terms() -> None:
    """Versioned terms documents (이용약관, 개인정보 수집·이용 동의, ...)."""


# The option behind each field publish may refuse.
_TERMS_OPTIONS = {"kind": "--kind", "version": "--version", "title_ko": "--title",
                  "title_en": "--title-en", "body": "--file"}


def _document_data(doc: Any, current: bool) -> dict[str, Any]:
    return {"kind": doc.kind, "version": doc.version, "title_ko": doc.title_ko,
            "title_en": doc.title_en, "required": doc.required,
            "published_at": doc.published_at.isoformat(), "current": current,
            "characters": len(doc.body)}


@terms.command("publish")
@click.option("--kind", required=True,
              help="service, privacy, marketing, privacy_optional (or another lower-case name).")
@click.option("--version", "version", required=True, type=int,
              help="A whole number above the kind's current version.")
@click.option("--file", "path", required=True, type=click.Path(dir_okay=False),
              help="The document's text (UTF-8).")
@click.option("--required", is_flag=True, help="Members must agree (again) before signing in.")
@click.option("--title", default=None, help="Korean title (default: the manual's item name).")
@click.option("--title-en", default=None, help="English title.")
@json_option
def terms_publish(kind: str, version: int, path: str, required: bool, title: str | None,
                  title_en: str | None, as_json: bool) -> None:
    """Add a version of a terms document; a required one is asked of every member at login."""
    from sqlalchemy.exc import IntegrityError

    from idp.extensions import db as sqla
    from idp.models.base import utcnow
    from idp.services.terms import DEFAULT_TITLES, publish

    try:
        with open(path, encoding="utf-8") as fh:
            body = fh.read()
    except OSError as exc:
        _fail(as_json, f"cannot read {path}: {exc.strerror or exc}. Give a readable file "
              "(--file).", error="invalid_input", field="body")
    except UnicodeDecodeError:
        _fail(as_json, f"{path} is not UTF-8 text. Convert it (e.g. iconv -f cp949 -t utf-8) "
              "(--file).", error="invalid_input", field="body")
    default_ko, default_en = DEFAULT_TITLES.get(kind, ("", ""))
    app = _app()
    with _context(app):
        try:
            doc = publish(sqla.session, kind=kind, version=version,
                          title_ko=title if title is not None else default_ko,
                          title_en=title_en if title_en is not None else default_en,
                          body=body, required=required, now=utcnow())
            sqla.session.commit()
        except (IdpError, IntegrityError) as exc:
            sqla.session.rollback()
            if isinstance(exc, InvalidInput):
                option = _TERMS_OPTIONS.get(exc.field, "")
                _fail(as_json, f"{exc.field} is not valid: {exc.message} ({option}).",
                      error="invalid_input", field=exc.field)
            _fail(as_json, f"{kind} version {version} is already published. Publish a higher "
                  "version (--version).", error="already_exists", field="version")
        data = _document_data(doc, current=True)
    _emit(as_json, data, lambda: (
        f"published {data['kind']} version {data['version']} ({data['title_ko']}, "
        f"{'required' if data['required'] else 'optional'})"))


@terms.command("list")
@json_option
def terms_list(as_json: bool) -> None:
    """Every version of every document, the current one of each kind marked."""
    from idp.extensions import db as sqla
    from idp.models import TermsDocument
    from idp.services.terms import current_documents

    app = _app()
    with _context(app):
        current = {doc.id for doc in current_documents(sqla.session)}
        docs = sqla.session.scalars(select(TermsDocument).order_by(
            TermsDocument.kind, TermsDocument.version.desc()))
        data = [_document_data(doc, doc.id in current) for doc in docs]

    def human() -> str:
        if not data:
            return "no terms published (idp terms publish --kind KIND --version 1 --file F)"
        return "\n".join(
            f"{d['kind']:<18} v{d['version']:<4} {'required' if d['required'] else 'optional':<9}"
            f" {'current' if d['current'] else '       '}  {d['published_at'][:19]}  "
            f"{d['title_ko']}" for d in data)

    _emit(as_json, data, human)


@main.group()
def jobs() -> None:
    """Background work: back-channel logout delivery and the membership policies."""


JOB_NAMES = ("backchannel", "mail", "reconsent", "marketing_notices", "purge", "sns_inactive")


def _policy_jobs(app: Any, only: tuple[str, ...]) -> list[Any]:
    """The jobs of one run, in order (issue 6; idp/services/policy_jobs.py)."""
    from idp.extensions import db as sqla
    from idp.oidc.logout import drain_backchannel
    from idp.services import policy_jobs as pj

    p = app.extensions["idp"]
    settings = p.settings

    def backchannel() -> dict[str, int]:
        report = drain_backchannel(app)
        return {"delivered": report.delivered, "retrying": report.retrying,
                "gave_up": report.gave_up, "dropped": report.dropped}

    def reconsent() -> dict[str, int]:
        return pj.reconsent_due(sqla.session, now=pj.naive_utc(p.clock.now()),
                                personal_days=settings["terms"]["reconsent_days"],
                                company_days=settings["terms"]["company_reconsent_days"])

    def marketing_notices() -> dict[str, int]:
        return pj.send_marketing_notices(
            sqla.session, p.notify, now=pj.naive_utc(p.clock.now()),
            period_days=settings["jobs"]["marketing_reconfirm_days"],
            my_url=p.issuer + "/my")

    def purge() -> dict[str, int]:
        return pj.purge(sqla.session, p.store, now=p.clock.now(),
                        dev_messages_days=settings["jobs"]["dev_messages_days"])

    def mail() -> dict[str, int]:
        from idp.mail_worker import drain_mail

        report = drain_mail(app)
        return {"sent": report.sent, "retrying": report.retrying, "gave_up": report.gave_up}

    every = {"backchannel": backchannel, "mail": mail, "reconsent": reconsent,
             "marketing_notices": marketing_notices, "purge": purge}

    def sns_inactive() -> dict[str, int]:
        # Issue 9: simple members not seen for 3 years, after a notice 30 days before.
        from idp.services import sns_inactivity

        return sns_inactivity.run(
            sqla.session, p.notify, p.revocation, now=pj.naive_utc(p.clock.now()),
            inactive_days=settings["sns_inactive"]["days"],
            notice_days=settings["sns_inactive"]["notice_days"], login_url=p.issuer + "/")

    every["sns_inactive"] = sns_inactive
    return [pj.Job(name, every[name]) for name in JOB_NAMES if not only or name in only]


def _run_policy_jobs(app: Any, only: tuple[str, ...], as_json: bool) -> dict[str, Any]:
    from idp.extensions import db as sqla
    from idp.services.policy_jobs import run_jobs

    def progress(name: str, result: dict[str, Any]) -> None:
        counts = ", ".join(f"{k} {v}" for k, v in result.items() if k != "duration_ms")
        # One line per job: on stdout for people, on stderr beside the --json summary.
        click.echo(f"{name}: {counts} ({result['duration_ms']} ms)", err=as_json)

    with app.app_context():
        try:
            return run_jobs(_policy_jobs(app, only), progress=progress,
                            on_error=sqla.session.rollback)
        finally:
            sqla.session.remove()


@jobs.command("run")
@click.option("--once", is_flag=True,
              help="Run every job once and exit (cron); else deliver logout tokens and "
                   "emails continuously and run the policy jobs every jobs.interval_seconds.")
@click.option("--only", "only", multiple=True, type=click.Choice(JOB_NAMES),
              help="Run only this job (repeatable).")
@json_option
def jobs_run(once: bool, only: tuple[str, ...], as_json: bool) -> None:
    """Deliver queued back-channel logout tokens and emails, and apply the policies:
    re-consent due (counted; asked at login), marketing-consent reconfirmation notices, purge
    of what expired. Idempotent and safe to run from cron; --json prints {job: {counts,
    duration_ms}}. Exits 1 when a job failed."""
    import threading

    from idp.extensions import db as sqla
    from idp.mail_worker import MailWorker
    from idp.oidc.logout import BackchannelWorker

    app = _app()
    summary: dict[str, Any] = {}
    try:
        if not once:
            click.echo("delivering back-channel logout tokens and emails and running the "
                       "policy jobs; Ctrl-C stops", err=True)
            BackchannelWorker(app).start()  # daemon threads, until this process ends
            MailWorker(app).start()
            stop = threading.Event()
            interval = float(app.config["IDP_SETTINGS"]["jobs"]["interval_seconds"])
            policies = tuple(n for n in (only or JOB_NAMES) if n not in ("backchannel", "mail"))
            try:
                while True:
                    if policies:
                        _run_policy_jobs(app, policies, as_json)
                    stop.wait(interval)
            except KeyboardInterrupt:
                pass
            return
        summary = _run_policy_jobs(app, only, as_json)
    finally:
        with app.app_context():
            sqla.engine.dispose()
        app.extensions["idp"].store.close()
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False, default=str))
    if any("error" in result for result in summary.values()):
        sys.exit(1)


@main.group()
def legacy() -> None:
    """Members of the old sites: import their export, follow their conversion."""


@legacy.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default=None,
              help="Default: from the file's extension (.csv, .jsonl).")
@click.option("--encoding", type=click.Choice(["utf-8", "cp949", "euc-kr"]), default="utf-8",
              show_default=True, help="Old Korean systems export cp949 / euc-kr.")
@click.option("--dry-run", is_flag=True, help="Check every row and report; write nothing.")
@click.option("--rejects", "rejects_path", type=click.Path(dir_okay=False), default=None,
              help="Write each bad row's line and reason here (.csv, or .jsonl).")
@json_option
def legacy_import(file: str, fmt: str | None, encoding: str, dry_run: bool,
                  rejects_path: str | None, as_json: bool) -> None:
    """Import an export of the old member database (docs/legacy.md); safe to re-run."""
    import os
    from contextlib import ExitStack

    from idp.extensions import db as sqla
    from idp.services.legacy_import import (
        ImportFileError,
        Progress,
        RejectsWriter,
        import_file,
    )

    app = _app()
    path = Path(file)
    total = os.path.getsize(path) if path.is_file() else 0
    with _context(app), ExitStack() as stack:
        rejects = None
        if rejects_path:
            stream = stack.enter_context(open(rejects_path, "w", encoding="utf-8", newline=""))
            rejects = RejectsWriter.for_path(stream, rejects_path)
        progress: Progress | None = None
        if not as_json:
            bar: Any = click.progressbar(length=max(total, 1), label=f"importing {path.name}",
                                         file=sys.stderr)
            stack.enter_context(bar)
            done = [0]

            def advance(rows: int, position: int) -> None:
                bar.update(position - done[0])
                done[0] = position

            progress = advance
        try:
            report = import_file(
                sqla.session, path, secret_key=app.config["IDP_SETTINGS"]["secret_key"],
                fmt=fmt, encoding=encoding, dry_run=dry_run, rejects=rejects,
                progress=progress)
        except ImportFileError as exc:
            _fail(as_json, str(exc), error="bad_file")
            return
        except KeyboardInterrupt:
            click.echo("\ninterrupted: the batches written so far stay, the one in flight was "
                       "rolled back; run the same command again to resume", err=True)
            sys.exit(130)
    data = report.as_dict()
    if rejects_path:
        data["rejects_file"] = rejects_path

    def human() -> str:
        verb = "would write" if dry_run else "wrote"
        lines = [f"{data['read']} rows read: {data['inserted']} new, {data['updated']} changed "
                 f"({verb} {data['inserted'] + data['updated']}), {data['unchanged']} unchanged, "
                 f"{data['skipped_converted']} already converted, {data['rejected']} rejected"]
        lines += [f"  {reason}: {count}" for reason, count in data["reasons"].items()]
        if data["rejected"] and rejects_path:
            lines.append(f"bad rows with their line and reason: {rejects_path}")
        elif data["rejected"]:
            lines.append("give --rejects PATH to get each bad row's line and reason")
        if data["updated"] + data["inserted"] == 0 and not dry_run and data["read"]:
            lines.append("nothing changed: every row was already imported")
        return "\n".join(lines)

    _emit(as_json, data, human)


@legacy.command("stats")
@json_option
def legacy_stats_command(as_json: bool) -> None:
    """Old accounts imported, converted, merged and pending, by site and by type."""
    from idp.extensions import db as sqla
    from idp.services.legacy_import import legacy_stats

    app = _app()
    with _context(app):
        data = legacy_stats(sqla.session)

    def human() -> str:
        def line(label: str, d: dict[str, int]) -> str:
            return (f"{label:<20} imported {d['imported']:>8}  converted {d['converted']:>8}  "
                    f"merged {d['merged']:>8}  pending {d['pending']:>8}")

        lines = [line("all", data)]
        lines += [line(f"site {site}", d) for site, d in data["by_site"].items()]
        lines += [line(f"type {t}", d) for t, d in data["by_type"].items()]
        return "\n".join(lines)

    _emit(as_json, data, human)


@main.command("serve")
@click.option("--bind", default=None, help="host:port (default from config [server]).")
@click.option("--workers", type=int, default=None)
@click.option("--engine", type=click.Choice(["granian", "gunicorn"]), default=None,
              help="HTTP server (default from config [server] engine).")
def serve(bind: str | None, workers: int | None, engine: str | None) -> None:
    """Run the provider: one process per worker, each building its own app."""
    _restart_for_workers()
    from idp.config import load_settings
    from idp.wiring import EmulatorInProduction, refuse_emulators_in_production

    try:
        settings = load_settings()
        refuse_emulators_in_production(settings)  # here, not in each worker's traceback
    except ConfigError as exc:
        _config_failure(exc)
        return
    except EmulatorInProduction as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    server = settings["server"]
    bind = bind or server["bind"]
    workers = workers or server["workers"]
    engine = engine or server["engine"]
    host, _, port = bind.rpartition(":")
    # Metrics (issue 10): every worker counts into this start's own files; this process
    # serves their sum on [metrics] bind. Set up before any worker imports prometheus_client.
    from idp.observability import (
        prepare_multiprocess_dir,
        remove_multiprocess_dir,
        start_exposition,
    )

    if settings["metrics"]["bind"]:  # else nothing is scraped: counts stay in each worker
        prepare_multiprocess_dir()
    try:
        try:
            start_exposition(settings)
        except OSError as exc:
            click.echo(f"error: metrics bind {settings['metrics']['bind']}: {exc}", err=True)
            sys.exit(2)
        if engine == "granian":
            _serve_granian(host, int(port), workers, server)
        else:
            _serve_gunicorn(bind, workers, server)
    finally:
        remove_multiprocess_dir()


def _restart_for_workers() -> None:
    """Replace this process (same pid, same arguments) by one whose malloc uses transparent
    huge pages and whose modules load without docstrings, before any worker is started
    (`idp.serve_argv`)."""
    from idp import serve_argv

    if Path(sys.argv[0]).name != "idp":
        return  # serve called inside another program (a test's CliRunner): not ours to replace
    argv = serve_argv(os.environ, sys.orig_argv[1:])
    if argv is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(argv[0], argv)  # noqa: S606 — this interpreter, our own arguments, no shell
    _warn_uncached_bytecode()


def _warn_uncached_bytecode() -> None:
    """Say so when the workers will compile their modules at every start (idp.uncached_bytecode):
    our own package and SQLAlchemy's ORM stand for the ~950 modules a worker imports."""
    import sysconfig
    from importlib.util import find_spec

    from idp import uncached_bytecode

    sources = [origin for spec in (find_spec("idp"), find_spec("sqlalchemy.orm"))
               if spec is not None and (origin := spec.origin) is not None]
    level = sys.flags.optimize
    if uncached_bytecode(sources, optimize=level, dont_write=sys.dont_write_bytecode):
        dirs = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"],
                              str(Path(sources[0]).parent)])
        flag = f" -{'O' * level}" if level else ""
        click.echo(
            "warning: no bytecode is cached for this optimisation level and "
            "PYTHONDONTWRITEBYTECODE (or -B) forbids writing it: every worker compiles its "
            "modules at every start (about 1.5 s of CPU and 3-4 MB more per worker). Compile "
            f"them once per install: {sys.executable}{flag} -m compileall -q {' '.join(dirs)} "
            "(docs/operations.md §1).", err=True)


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



# --- HS nomenclature (issue 6: interests) ------------------------------------------------

@main.group()
def hs() -> None:
    """The HS nomenclature behind the interests search (관심품목)."""


@hs.command("load-builtin")
@json_option
def hs_load_builtin(as_json: bool) -> None:
    """Load the shipped HS 2022 nomenclature (2/4/6 digits); idempotent, run by db upgrade."""
    from idp.extensions import db as sqla
    from idp.services.hs import load_builtin

    app = _app()
    with _context(app):
        data = load_builtin(sqla.session).as_dict()
    _emit(as_json, data, f"HS 2022: {data['inserted']} new, {data['updated']} changed, "
                         f"{data['unchanged']} unchanged")


@hs.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--encoding", default="auto", show_default=True,
              help="auto (UTF-8, else CP949), or a codec name: utf-8, cp949, euc-kr.")
@json_option
def hs_import(file: str, encoding: str, as_json: bool) -> None:
    """Import the Korea Customs Service HSK list (10 digits) from CSV; all or nothing.

    Columns by header name: the code (HS부호, HS코드, 세번, 품목번호, code), the Korean name
    (한글품목명, 품목명, name_ko) and optionally the English name (영문품목명, name_en); other
    columns are ignored. Codes may carry dots and dashes (0101.21-1000). Re-running with a
    newer list updates the rows that changed (docs/interests.md).
    """
    from contextlib import ExitStack

    from idp.extensions import db as sqla
    from idp.services.hs import HsImportError, count_rows, import_file

    app = _app()
    path = Path(file)
    with _context(app), ExitStack() as stack:
        progress = None
        if not as_json:
            bar: Any = click.progressbar(length=max(count_rows(path) - 1, 1),
                                         label=f"importing {path.name}", file=sys.stderr)
            stack.enter_context(bar)
            progress = bar.update
        try:
            report = import_file(sqla.session, path, encoding=encoding, progress=progress)
        except HsImportError as exc:
            stack.close()
            if as_json:
                click.echo(json.dumps({"error": "bad_file", "message": str(exc),
                                       "problems": [{"line": p.line, "message": p.message}
                                                    for p in exc.problems[:1000]]},
                                      ensure_ascii=False))
            for p in exc.problems[:50]:
                click.echo(f"  {p}", err=True)
            if len(exc.problems) > 50:
                click.echo(f"  ... and {len(exc.problems) - 50} more", err=True)
            click.echo(f"error: {exc}: fix the rows above and run the command again", err=True)
            sys.exit(1)
    data = report.as_dict()
    _emit(as_json, data, f"{data['rows']} rows ({data['encoding']}): {data['inserted']} new, "
                         f"{data['updated']} changed, {data['unchanged']} unchanged")


@hs.command("stats")
@json_option
def hs_stats(as_json: bool) -> None:
    """Codes per level and how many have a Korean name."""
    from idp.extensions import db as sqla
    from idp.services.hs import korean_names, stats

    app = _app()
    with _context(app):
        data: dict[str, Any] = stats(sqla.session)
        data["korean_names"] = {f"level_{lvl}": list(korean_names(sqla.session, lvl))
                                for lvl in (2, 4, 6, 10)}
    _emit(as_json, data, lambda: "\n".join(
        f"{k}: {v}" for k, v in data.items() if k != "korean_names") + "\n" + "\n".join(
        f"Korean names {k}: {v[0]} of {v[1]}" for k, v in data["korean_names"].items()))


@hs.command("search")
@click.argument("query")
@click.option("--limit", type=int, default=20, show_default=True)
@json_option
def hs_search(query: str, limit: int, as_json: bool) -> None:
    """Search the nomenclature as the interests picker does."""
    from idp.extensions import db as sqla
    from idp.services.hs import search

    app = _app()
    with _context(app):
        found = [e.as_dict() for e in search(sqla.session, query, limit)]
    _emit(as_json, found, lambda: "\n".join(
        f"{e['label']:<14} {e['name_ko'] or e['name_en']}" for e in found) or "no match")


# Issue 7: the operator console's accounts (idp/services/operators.py, docs/operators.md).
@main.group()
def operators() -> None:
    """Operators of the console (KOTRA staff): password + TOTP."""


def _operator_tools(app: Any) -> Any:
    from idp.services.operators import operator_sessions

    p = app.extensions["idp"]
    return p, operator_sessions(p.settings, p.store, p.clock)


def _enrolment_text(e: Any, what: str) -> str:
    return (f"operator {e.login_id} ({e.name}) {what}.\n"
            "Add this TOTP key to the operator's authenticator app (scan it as a QR code or "
            "type the secret), once; it is not shown again:\n"
            f"{e.otpauth_uri}")


@operators.command("add")
@click.option("--login-id", required=True, help="6-20 letters and digits.")
@click.option("--name", required=True, help="The operator's name.")
@click.option("--password-stdin", is_flag=True, required=True,
              help="Read the password from standard input (never from the command line).")
@json_option
def operators_add(login_id: str, name: str, password_stdin: bool, as_json: bool) -> None:
    """Create an operator; prints the otpauth:// URI of its TOTP secret."""
    from idp.extensions import db as sqla
    from idp.services.operators import add_operator

    password = sys.stdin.readline().rstrip("\r\n")
    app = _app()
    with _context(app):
        p = app.extensions["idp"]
        try:
            enrolment = add_operator(sqla.session, p.passwords, p.policy, p.personal_data,
                                     login_id=login_id, name=name, password=password)
        except IdpError as exc:
            sqla.session.rollback()
            _refuse(as_json, exc, {"login_id": login_id})
            return
        sqla.session.commit()
    _emit(as_json, {"login_id": enrolment.login_id, "name": enrolment.name,
                    "otpauth_uri": enrolment.otpauth_uri},
          lambda: _enrolment_text(enrolment, "created"))


@operators.command("list")
@json_option
def operators_list(as_json: bool) -> None:
    """List the operators."""
    from idp.extensions import db as sqla
    from idp.services.operators import list_operators

    app = _app()
    with _context(app):
        data = [{"login_id": o.login_id, "name": o.name, "status": o.status,
                 "created_at": o.created_at.isoformat(timespec="seconds"),
                 "last_login_at": o.last_login_at.isoformat(timespec="seconds")
                 if o.last_login_at else None}
                for o in list_operators(sqla.session)]
    _emit(as_json, data, lambda: "\n".join(
        f"{d['login_id']:<20} {d['status']:<9} {d['name']}  last sign-in: "
        f"{d['last_login_at'] or 'never'}" for d in data) or "no operators")


def _no_operator(as_json: bool, login_id: str) -> None:
    _fail(as_json, f"no operator has the login ID {login_id!r}. See `idp operators list`.",
          error="not_found", field="login_id")


@operators.command("disable")
@click.option("--login-id", required=True)
@json_option
def operators_disable(login_id: str, as_json: bool) -> None:
    """Disable an operator: no further sign-in; its open console sessions end."""
    from idp.extensions import db as sqla
    from idp.services.operators import OperatorNotFound, disable_operator

    app = _app()
    with _context(app):
        _, sessions = _operator_tools(app)
        try:
            operator = disable_operator(sqla.session, sessions, login_id=login_id)
        except OperatorNotFound:
            _no_operator(as_json, login_id)
            return
        sqla.session.commit()
        data = {"login_id": operator.login_id, "status": operator.status}
    _emit(as_json, data, f"operator {data['login_id']} disabled")


@operators.command("reset-totp")
@click.option("--login-id", required=True)
@json_option
def operators_reset_totp(login_id: str, as_json: bool) -> None:
    """Give an operator a new TOTP secret (a lost phone); the old codes stop working."""
    from idp.extensions import db as sqla
    from idp.services.operators import OperatorNotFound, reset_totp

    app = _app()
    with _context(app):
        p, sessions = _operator_tools(app)
        try:
            enrolment = reset_totp(sqla.session, p.personal_data, sessions, login_id=login_id)
        except OperatorNotFound:
            _no_operator(as_json, login_id)
            return
        sqla.session.commit()
    _emit(as_json, {"login_id": enrolment.login_id, "name": enrolment.name,
                    "otpauth_uri": enrolment.otpauth_uri},
          lambda: _enrolment_text(enrolment, "has a new TOTP key"))


@operators.command("unlock")
@click.option("--login-id", required=True)
@json_option
def operators_unlock(login_id: str, as_json: bool) -> None:
    """Lift the sign-in lock of an operator's account (after too many wrong passwords or
    codes) before it ends by itself; the client address's lock stays."""
    from idp.extensions import db as sqla
    from idp.services.operators import OperatorNotFound, unlock_operator

    app = _app()
    with _context(app):
        p = app.extensions["idp"]
        try:
            operator = unlock_operator(sqla.session, p.settings, p.store, p.clock,
                                       login_id=login_id)
        except OperatorNotFound:
            _no_operator(as_json, login_id)
            return
        sqla.session.commit()
        data = {"login_id": operator.login_id, "unlocked": True}
    _emit(as_json, data, f"operator {data['login_id']}: sign-in lock lifted")

# --- Issue 7, registries: KOTRA's company directory -----------------------------------------

@main.group()
def companies() -> None:
    """Companies (기업): KOTRA's company directory behind the registration forms."""


@companies.command("import-directory")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--encoding", default="auto", show_default=True,
              help="auto (UTF-8 with or without BOM, else CP949/EUC-KR), or a codec name.")
@json_option
def companies_import_directory(file: str, encoding: str, as_json: bool) -> None:
    """Load KOTRA's company directory from a CSV file; all or nothing; re-running updates.

    Header row with business_number,name_ko,ceo_ko (required) and any of name_en,ceo_en,
    corp_number,postcode,address_ko,address_en,phone,fax,email,homepage, in any order.
    Business numbers with or without dashes (check digit verified). Every bad row is listed
    with its line number and nothing is written until the file is clean
    (docs/companies-registries.md).
    """
    from contextlib import ExitStack

    from idp.extensions import db as sqla
    from idp.services.company_directory_import import (
        DirectoryImportError,
        count_rows,
        import_directory,
    )

    app = _app()
    path = Path(file)
    with _context(app), ExitStack() as stack:
        progress = None
        if not as_json:
            bar: Any = click.progressbar(length=max(2 * count_rows(path), 1),
                                         label=f"importing {path.name}", file=sys.stderr)
            stack.enter_context(bar)
            progress = bar.update
        try:
            report = import_directory(sqla.session, path, encoding=encoding, progress=progress,
                                      actor="cli")
        except DirectoryImportError as exc:
            stack.close()
            if as_json:
                click.echo(json.dumps({"error": "bad_file", "message": str(exc),
                                       "problem_count": exc.count,
                                       "problems": [{"line": p.line, "message": p.message}
                                                    for p in exc.problems]},
                                      ensure_ascii=False))
            for p in exc.problems[:100]:
                click.echo(f"  {p}", err=True)
            if exc.count > 100:
                click.echo(f"  ... and {exc.count - 100} more", err=True)
            click.echo(f"error: {exc}: fix the rows above and run the command again", err=True)
            sys.exit(1)
    data = report.as_dict()
    _emit(as_json, data, f"{data['rows']} rows ({data['encoding']}): {data['added']} added, "
                         f"{data['updated']} updated, {data['unchanged']} unchanged "
                         f"in {data['seconds']} s")


# --- issue 7, NPKI verifier (docs/npki.md) ---------------------------------------------------

@main.group()
def npki() -> None:
    """Corporate certificates (NPKI): the demo PKI."""


@npki.command("demo-pki")
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False),
              help="Folder to write (replaced; default instance/demo-pki).")
@click.option("--crl-base-url", default=None,
              help="Where the CRL will be served (default: make run's /dev/npki/crl/).")
@json_option
def npki_demo_pki(out_dir: str | None, crl_base_url: str | None, as_json: bool) -> None:
    """Write a demo PKI: root, licensed CA, CRL, certificates and key files of the demo
    companies and one personal certificate (never a production trust anchor)."""

    from idp.config import INSTANCE_DIR
    from idp.npki_pki import DEMO_CRL_BASE, write_demo_pki

    folder = Path(out_dir) if out_dir else INSTANCE_DIR / "demo-pki"
    summary = write_demo_pki(folder, crl_base_url or DEMO_CRL_BASE)
    summary["folder"] = str(folder)
    _emit(as_json, summary, lambda: (folder / "README.txt").read_text())


# Issue 7: the service and mileage API for relying parties (docs/api.md).
@main.group("api")
def api_group() -> None:
    """The service and mileage API for relying parties (/api/v1, docs/api.md)."""


@api_group.command("allow")
@click.argument("client_id")
@click.option("--scope", "scopes", multiple=True, required=True,
              type=click.Choice(["kotra.services.read", "kotra.services.write",
                                 "kotra.mileage.read", "kotra.mileage.write"]),
              help="An API scope the client may ask for with client_credentials (repeat).")
@json_option
def api_allow(client_id: str, scopes: tuple[str, ...], as_json: bool) -> None:
    """Let a relying party call the API: client_credentials with these scopes."""
    from idp.extensions import db as sqla
    from idp.services.mileage import allow_api_access

    app = _app()
    with _context(app):
        try:
            allowed = allow_api_access(sqla.session, client_id, list(scopes))
        except IdpError as exc:
            _refuse(as_json, exc)
            return
        sqla.session.commit()
    data = {"client_id": client_id, "api_scopes": allowed}
    _emit(as_json, data, f"{client_id} may now obtain client_credentials tokens with: "
                         + " ".join(allowed))


if __name__ == "__main__":
    main()
