"""idp/oidc/hot.py: the everyday requests served by hand answer exactly as Authlib's endpoints.

Each scenario runs twice on the same app: through the hot path, and with it switched off
(the endpoints of endpoints.py). Status, headers, body (the random token values aside) and the
rows written must be the same; and the hot path must really have served the first run.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from sqlalchemy import select

from idp.extensions import db
from idp.models import Token
from idp.oidc import hot as hot_module
from idp.oidc.lanes import Lanes

RANDOM = ("access_token", "refresh_token")
ROW_FIELDS = ("client_id", "member_id", "scope", "refresh_scope", "code_hash", "sid",
              "auth_time", "acr", "amr", "rotated_at", "revoked_at")


@pytest.fixture()
def served(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the hot handlers that answered (not None)."""
    answered: list[str] = []
    original = hot_module._json

    def spy(body: dict[str, Any], **kw: Any) -> Any:
        answered.append(",".join(sorted(body)))
        return original(body, **kw)

    monkeypatch.setattr(hot_module, "_json", spy)
    return answered


def _lanes(app: Any) -> Any:
    layer = app.wsgi_app
    while not isinstance(layer, Lanes):  # under the telemetry and proxy middlewares
        layer = getattr(layer, "_inner", None) or layer.app
    return layer


def _without_hot(app: Any) -> Any:
    class Off:
        def __enter__(self) -> None:
            self.saved = _lanes(app)._hot
            _lanes(app)._hot = {}

        def __exit__(self, *exc: Any) -> None:
            _lanes(app)._hot = self.saved
    return Off()


def _shape(resp: Any) -> tuple[int, dict[str, str], dict[str, Any]]:
    headers = {k: v for k, v in resp.headers.items()
               if k not in ("X-Request-ID", "Content-Length")}
    body = resp.get_json()
    return resp.status_code, headers, {k: ("<random>" if k in RANDOM else v)
                                       for k, v in body.items()}


def _row(app: Any, access_token: str) -> dict[str, Any]:
    from idp.models.tokens import token_hash

    with app.app_context():
        tok = db.session.scalar(select(Token).where(
            Token.access_token_hash == token_hash(access_token)))
        assert tok is not None
        return {f: getattr(tok, f) for f in ROW_FIELDS} | {
            "ttl": tok.access_expires_at - tok.issued_at,
            "refresh_ttl": (tok.refresh_expires_at - tok.issued_at)
            if tok.refresh_expires_at else None}


def _both(app: Any, call: Any, served: list[str]) -> tuple[Any, Any]:
    served.clear()
    hot = call()
    assert served, "the hot path did not serve the request"
    served.clear()
    with _without_hot(app):
        slow = call()
    assert not served
    return hot, slow


def _meanwhile(monkeypatch: pytest.MonkeyPatch, app: Any, statement: Any) -> None:
    """Right after the hot path's next read, another request runs `statement` and commits:
    the race between two holders of one token or code, made to happen every time."""
    from idp.models.hotsql import HotConnection

    original = HotConnection.one

    def then_the_other_request_writes(self: Any, prepared: Any, values: Any) -> Any:
        row = original(self, prepared, values)
        with app.app_context():
            db.session.execute(statement)
            db.session.commit()
        return row

    monkeypatch.setattr(HotConnection, "one", then_the_other_request_writes)


def test_client_credentials_as_authlib(app, client, rp, served):
    for data in ({"grant_type": "client_credentials"},
                 {"grant_type": "client_credentials", "scope": ""}):
        hot, slow = _both(app, lambda d=data: client.post("/token", data=d,
                                                         headers=rp.auth_header()), served)
        assert _shape(hot) == _shape(slow)
        assert _row(app, hot.get_json()["access_token"]) == \
            _row(app, slow.get_json()["access_token"])


def test_refresh_as_authlib(app, client, rp, served):
    tokens = rp.tokens(client)
    hot, slow = None, None
    first = tokens["refresh_token"]
    served.clear()
    hot = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": first},
                      headers=rp.auth_header())
    assert served
    second = rp.tokens(client)["refresh_token"]
    with _without_hot(app):
        slow = client.post("/token", data={"grant_type": "refresh_token",
                                           "refresh_token": second},
                           headers=rp.auth_header())
    assert _shape(hot) == _shape(slow)
    assert _row(app, hot.get_json()["access_token"]) | {"code_hash": 0, "sid": 0, "auth_time": 0} \
        == _row(app, slow.get_json()["access_token"]) | {"code_hash": 0, "sid": 0, "auth_time": 0}
    # The first refresh token is rotated: presented again, the whole family is revoked
    # (by the Authlib path, which the hot path hands it to).
    served.clear()
    reuse = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": first},
                        headers=rp.auth_header())
    assert reuse.status_code == 400 and reuse.get_json()["error"] == "invalid_grant"
    assert not served
    again = client.post("/token", data={"grant_type": "refresh_token",
                                        "refresh_token": hot.get_json()["refresh_token"]},
                        headers=rp.auth_header())
    assert again.status_code == 400  # revoked with its family
    userinfo = client.get("/userinfo", headers={
        "Authorization": f"Bearer {hot.get_json()['access_token']}"})
    assert userinfo.status_code == 401


def _id_claims(client: Any, id_token: str) -> dict[str, Any]:
    from joserfc import jwt
    from joserfc.jwk import KeySet

    jwks = KeySet.import_key_set(client.get("/jwks").get_json())
    return dict(jwt.decode(id_token, jwks, algorithms=["RS256", "ES256"]).claims)


def test_code_exchange_as_authlib(app, client, rp, served):
    """RFC 6749 §4.1.3, PKCE and the ID token: the same answer, the same row, the same
    claims (those that differ per flow aside), and the code spent."""
    from idp.models import AuthorizationCode
    from idp.models.tokens import token_hash

    answers = []
    for hot_on in (True, False):
        code = rp.code_flow(client)["code"]
        served.clear()
        if hot_on:
            resp = rp.exchange(client, code)
            assert served == ["access_token,expires_in,id_token,refresh_token,scope,token_type"]
        else:
            with _without_hot(app):
                resp = rp.exchange(client, code)
            assert not served
        assert resp.status_code == 200, resp.get_data(as_text=True)
        body = resp.get_json()
        claims = _id_claims(client, body["id_token"])
        with app.app_context():
            spent = db.session.get(AuthorizationCode, token_hash(code))
            assert spent is not None and spent.used_at is not None
        assert claims["nonce"] == rp.last["nonce"]
        assert claims["auth_time"] <= claims["iat"] < claims["exp"]
        answers.append((
            _shape(resp)[:2], {k: v for k, v in _shape(resp)[2].items() if k != "id_token"},
            {k: v for k, v in claims.items() if k not in ("iat", "exp", "nonce", "at_hash")},
            set(claims) >= {"at_hash", "iat", "exp"},
            _row(app, body["access_token"]) | {"code_hash": 0},
        ))
    assert answers[0] == answers[1]


@pytest.mark.parametrize("change", [
    {"code_verifier": "x" * 43},                         # PKCE fails (RFC 7636 §4.6)
    {"code_verifier": None},                             # verifier missing
    {"redirect_uri": "https://rp.example/other"},        # §4.1.3: not identical
    {"redirect_uri": None},
    {"client_id": "<its own>"},                          # an extra parameter
])
def test_a_code_exchange_out_of_the_ordinary_goes_to_the_endpoint(client, rp, served, change):
    code = rp.code_flow(client)["code"]
    served.clear()
    if "client_id" in change:  # requests-oauthlib sends it beside Basic: the endpoint's call
        change = {"client_id": rp.client_id}
    resp = rp.exchange(client, code, **change)
    assert not served
    assert resp.status_code == (200 if "client_id" in change else 400), resp.get_data()


def test_a_replayed_code_goes_to_the_endpoint_which_revokes_its_tokens(client, rp, served):
    code = rp.code_flow(client)["code"]
    first = rp.exchange(client, code)
    assert first.status_code == 200 and served
    served.clear()
    again = rp.exchange(client, code)
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_grant"
    assert not served
    userinfo = client.get("/userinfo", headers={
        "Authorization": f"Bearer {first.get_json()['access_token']}"})
    assert userinfo.status_code == 401  # RFC 6749 §4.1.2: revoked with the replay


def test_another_clients_code_goes_to_the_endpoint(app, client, rp, served):
    from tests.helpers import TestRP

    other = TestRP.create(app, login_id="member02", name="Other RP")
    code = rp.code_flow(client)["code"]
    served.clear()
    resp = client.post("/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": rp.redirect_uri,
        "code_verifier": rp.last["verifier"]}, headers=other.auth_header())
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_grant"
    assert not served
    assert rp.exchange(client, code).status_code == 200  # still the right client's


def test_a_code_exchange_that_loses_the_race_writes_nothing(app, client, rp, served,
                                                           monkeypatch):
    """Two exchanges of one code at once: the second spends nothing and issues nothing, and
    the endpoint answers it as the replay it is."""
    from sqlalchemy import update

    from idp.models import AuthorizationCode
    from idp.models.tokens import token_hash

    code = rp.code_flow(client)["code"]
    served.clear()
    _meanwhile(monkeypatch, app, update(AuthorizationCode).where(
        AuthorizationCode.code_hash == token_hash(code)).values(used_at=db.func.now()))
    resp = rp.exchange(client, code)
    monkeypatch.undo()
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_grant"
    assert not served
    with app.app_context():
        assert db.session.scalars(select(Token).where(
            Token.code_hash == token_hash(code))).all() == []


def test_userinfo_and_introspection_as_authlib(app, client, rp, served):
    tokens = rp.tokens(client)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    hot, slow = _both(app, lambda: client.get("/userinfo", headers=bearer), served)
    assert _shape(hot) == _shape(slow)
    assert hot.get_data() == slow.get_data()
    for data in ({"token": tokens["access_token"]},
                 {"token": tokens["refresh_token"], "token_type_hint": "refresh_token"},
                 {"token": tokens["access_token"], "token_type_hint": "whatever"}):
        hot, slow = _both(app, lambda d=data: client.post("/introspect", data=d,
                                                         headers=rp.auth_header()), served)
        assert hot.get_data() == slow.get_data()
        assert _shape(hot) == _shape(slow)


def test_revocation_stops_the_hot_path_at_once(app, client, rp, served):
    tokens = rp.tokens(client)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/userinfo", headers=bearer).status_code == 200
    assert client.post("/revoke", data={"token": tokens["refresh_token"]},
                       headers=rp.auth_header()).status_code == 200
    served.clear()
    assert client.get("/userinfo", headers=bearer).status_code == 401
    intro = client.post("/introspect", data={"token": tokens["access_token"]},
                        headers=rp.auth_header())
    assert intro.get_json() == {"active": False}
    refresh = client.post("/token", data={"grant_type": "refresh_token",
                                          "refresh_token": tokens["refresh_token"]},
                          headers=rp.auth_header())
    assert refresh.status_code == 400
    assert not served


@pytest.mark.parametrize("mutate", [
    lambda h, d: (h, {**d, "extra": "1"}),                            # unknown parameter
    lambda h, d: ({"Authorization": h["Authorization"] + "x"}, d),    # bad credentials
    lambda h, d: ({"Authorization": "Basic " + base64.b64encode(b"nobody:x").decode()}, d),
    lambda h, d: ({}, d),                                             # no credentials
])
def test_anything_unusual_goes_to_the_endpoint(client, rp, served, mutate):
    headers, data = mutate(rp.auth_header(), {"grant_type": "client_credentials"})
    resp = client.post("/token", data=data, headers=headers)
    assert not served
    assert resp.status_code in (200, 400, 401)


def test_member_scopes_with_client_credentials_are_refused_by_the_endpoint(client, rp, served):
    resp = client.post("/token", data={"grant_type": "client_credentials", "scope": "openid"},
                       headers=rp.auth_header())
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_scope"
    assert not served


def test_a_failed_statement_drops_the_connection_and_the_next_request_reconnects(
        app, client, rp, served, monkeypatch):
    hotdb = _lanes(app)._hot["/token"].__self__.db()
    assert client.post("/token", data={"grant_type": "client_credentials"},
                       headers=rp.auth_header()).status_code == 200
    conn = hotdb._local.conn

    def broken(*_a: Any, **_k: Any) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(type(conn), "write", broken)
    resp = client.post("/token", data={"grant_type": "client_credentials"},
                       headers=rp.auth_header())
    assert resp.status_code == 500 and resp.get_json() == {"error": "server_error"}
    assert conn.closed and hotdb._local.conn is None
    monkeypatch.undo()
    assert client.post("/token", data={"grant_type": "client_credentials"},
                       headers=rp.auth_header()).status_code == 200
    assert hotdb._local.conn is not conn
    with app.app_context():
        db.engine.dispose()  # closes the hot connections too
    assert hotdb._local.conn.closed


def test_a_refresh_that_loses_the_race_is_the_reuse_it_is(app, client, rp, served, monkeypatch):
    """Two holders of one refresh token at once: the one that comes second rotates nothing,
    writes nothing, and the endpoint treats it as reuse (RFC 9700 §4.14.2)."""
    from sqlalchemy import update

    from idp.models.tokens import token_hash

    tokens = rp.tokens(client)
    served.clear()
    _meanwhile(monkeypatch, app, update(Token).where(
        Token.refresh_token_hash == token_hash(tokens["refresh_token"])).values(rotated_at=1))
    resp = client.post("/token", data={"grant_type": "refresh_token",
                                       "refresh_token": tokens["refresh_token"]},
                       headers=rp.auth_header())
    monkeypatch.undo()
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_grant"
    assert not served
    with app.app_context():
        rows = db.session.scalars(select(Token).where(Token.client_id == rp.client_id)).all()
        assert len(rows) == 1 and rows[0].revoked_at is not None  # nothing new; all revoked


@pytest.mark.scaleout  # PostgreSQL only: .ci/run's SQLite pass deselects it
@pytest.mark.parametrize("mode", ["async", "sync"])
def test_token_commit_setting_reaches_the_hot_connection_only(base_settings, mode):
    from tests.conftest import make_app

    if not base_settings["database_url"].startswith("postgresql"):
        pytest.skip("synchronous_commit is PostgreSQL's")
    app = make_app(base_settings, token_commit=mode)
    try:
        hot = _lanes(app)._hot["/token"].__self__
        with hot.db().connection() as conn:
            assert conn.dbapi.execute("SHOW synchronous_commit").fetchone()[0] == \
                ("off" if mode == "async" else "on")
        with app.app_context():  # everything else (revocation, logins, audit) waits
            assert db.session.execute(select(1).where(True)).scalar() == 1
            from sqlalchemy import text
            assert db.session.execute(text("SHOW synchronous_commit")).scalar() == "on"
    finally:
        with app.app_context():
            db.engine.dispose()
        app.extensions["idp"].store.close()


@pytest.mark.parametrize("body", [
    "grant_type=client_credentials", "a=&b=c", "=x", "a=b=c", "token=abc-_.~&token_type_hint=x",
    "a", "a=b&", "&a=b", "a=b&&c=d", ";", "a=b;c=d",                      # malformed
    "a=b&a=c",                                                             # repeated
    "scope=openid+profile", "token=%41%42", "a=%zz", "a=%00", "a=\x00",    # quoted
])
def test_a_form_reads_as_parse_qsl_reads_it(body: str) -> None:
    """read_form splits a body with nothing to unquote itself: the same answer as parse_qsl
    under the same rules (RFC 6749 §3.2: each parameter once; strict: every part name=value)."""
    from io import BytesIO
    from urllib.parse import parse_qsl

    data = body.encode()
    environ = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": "application/x-www-form-urlencoded",
               "CONTENT_LENGTH": str(len(data)), "wsgi.input": BytesIO(data)}
    try:
        pairs = parse_qsl(body, keep_blank_values=True, strict_parsing=True, errors="strict")
    except ValueError:
        expected = None
    else:
        form = dict(pairs)
        unique = len(form) == len(pairs) and not any("\x00" in k + v for k, v in pairs)
        expected = form if unique else None
    assert hot_module.read_form(environ) == expected
    assert environ["wsgi.input"].read() == data  # put back for the Authlib path


@pytest.mark.scaleout  # PostgreSQL only: .ci/run's SQLite pass deselects it
def test_postgres_statements_go_through_libpq_as_the_cursor_would(app):
    """hotsql.PqConnection: a statement prepared once per set of parameter types, the values
    dumped and loaded by psycopg's adapters, %% and a repeated bind as the dialect wrote them,
    and an error raised as psycopg raises it, the connection then replaced."""
    import psycopg
    from sqlalchemy import Integer, String, bindparam, literal_column
    from sqlalchemy import select as core_select

    from idp.models.hotsql import PqConnection

    if app.config["SQLALCHEMY_DATABASE_URI"].split(":")[0].split("+")[0] != "postgresql":
        pytest.skip("the libpq path is PostgreSQL's")
    hot = _lanes(app)._hot["/token"].__self__.db()
    a, b = bindparam("a", type_=Integer), bindparam("b", type_=String)
    both = hot.prepare(core_select(a, b, a + 1, literal_column("'100%'")))
    assert "%%" in both.sql and both.pq_names == ("a", "b", "param_1")
    with hot.connection() as conn:
        assert isinstance(conn, PqConnection)
        assert tuple(conn.record(both, {"a": 41, "b": "가"})) == (41, "가", 42, "100%")
        assert tuple(conn.record(both, {"a": None, "b": "x"})) == (None, "x", None, "100%")
        assert tuple(conn.record(both, {"a": 7, "b": None})) == (7, None, 8, "100%")
        assert conn.one(hot.prepare(core_select(a).where(a > 1)), {"a": 1}) is None
        first = conn
    with pytest.raises(psycopg.errors.DivisionByZero), hot.connection() as conn:
        conn.record(hot.prepare(core_select(a // 0)), {"a": 1})
    assert first.closed
    with hot.connection() as conn:
        assert conn is not first and tuple(conn.record(both, {"a": 1, "b": "y"}))[:3] == (1, "y", 2)
