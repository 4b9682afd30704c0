#!/usr/bin/env bash
# Benchmark kotra-idp against the node-oidc-provider peer, on the same machine in the same run.
#
# Runs the peer-bench harness (../shared/peer-bench: load.py for all scenarios, wrk_bench.py for
# the cheap GET/POST ones) against
#   1. our provider on SQLite           (backend "sqlite")
#   2. our provider on PostgreSQL+Redis (backend "postgres")
#   3. the node-oidc-provider peer      (backend "peer": its in-memory adapter)
#   4. the same peer with a Redis adapter (backend "peer-redis": bench/peer_redis, issue 10)
# and prints one markdown table: req/s, p50/p99 latency, server CPU ms per operation and the
# ratios ours/peer and ours/peer-redis of server CPU ms per operation. Compare the CPU column,
# not req/s: the load generator shares the cores with the server. Before the scenarios it times
# one bare argon2id hash at the provider's parameters (bench/argon2_bare.py) for the line
# "authcode / bare hash"; during every server's scenarios (ours and the peers') it samples the
# RSS and private memory of every server process (bench/rss_sampler.py) for the "max RSS per
# worker" table.
#
# Usage (from anywhere; paths are relative to the project root):
#   bench/run_bench.sh
#   CONCURRENCY=8 DURATION=5 BACKENDS=sqlite SKIP_PEER=1 bench/run_bench.sh
#   RUNS=3 PEERS=peer-redis SCENARIOS=introspect,authcode bench/run_bench.sh
#
# Environment knobs:
#   CONCURRENCY=8        parallel clients (load.py threads and wrk connections)
#   DURATION=20          measured seconds per scenario (max 60; wrk uses the integer part)
#   WARMUP=2             unmeasured seconds before each scenario
#   BACKENDS=sqlite,postgres   which of our backends to run (empty: none)
#   SCENARIOS=discovery,jwks,cc,refresh,userinfo,introspect,authcode
#                        (load.py's scenarios plus bench/load_ext.py's introspect: RFC 7662 of an
#                        access token, client_secret_basic)
#   SKIP_PEER=0          1: do not run any peer (same as PEERS=)
#   PEERS=peer,peer-redis  which peers to run: peer (in-memory adapter, the reference of the
#                        ours/peer ratio) and peer-redis (bench/peer_redis: Redis adapter)
#   BENCH_PEER_REDIS_DB=1  database number, on BENCH_REDIS_URL's server, of peer-redis; FLUSHED
#                        before its run
#   INTERLEAVE=1         1: scenario by scenario, every backend and peer in turn (the order
#                        reversed in every other run), each started afresh for it, so that the
#                        figures a ratio divides are measured a minute apart, not ten (the
#                        bare argon2id hash too: it is timed right before authcode); a
#                        backend's results are then one file per scenario (<name>-py-<scenario>
#                        .json, report.py puts them together). 0: each backend runs all its
#                        scenarios, then the next (the order before 2026-12-04)
#   RUNS=1               repeat the whole set (argon2 + backends + peers) N times; N > 1 keeps
#                        each run in run<i>/ and adds a MEDIAN table (make bench: RUNS=3)
#   PROFILE=0            1: py-spy records one worker of our provider per scenario into
#                        profile-<backend>-<scenario>.txt (+ -top.txt summary); py-spy is pip-
#                        installed into .venv if missing; skipped with a note if it cannot attach
#   ARGON2_N=20          hashes timed by bench/argon2_bare.py per run
#   SKIP_WRK=0           1: do not run wrk (also forced when wrk is missing and cannot be installed)
#   PEER_BENCH           peer-bench source folder (default ../shared/peer-bench, then
#                        /work/shared/peer-bench); copied to bench/.work/peer-bench
#   BENCH_IDP_PORT=5000 BENCH_PEER_PORT=3000   loopback ports of our provider and of the peer
#   BENCH_PG_URL         SQLAlchemy URL of the PostgreSQL server; default: the one in .ci/run if
#                        any, else postgresql+psycopg://postgres@127.0.0.1:5432/test. Only its
#                        host/port/user are used; the database is BENCH_PG_DB.
#   BENCH_PG_DB=idp_bench  database for the bench (created if absent, schema reset every run).
#                        Pointing it at the tests' database requires BENCH_PG_RESET=1 (its schema
#                        public is then DROPPED).
#   BENCH_REDIS_URL      default: IDP_REDIS_URL from .ci/run if any, else redis://127.0.0.1:6379/0
#   BENCH_REDIS_FLUSH=0  1: FLUSHDB the bench Redis database before the postgres run
#   BENCH_IDP_ENV=production   IDP_ENV of the provider (no overlay file: production defaults)
#   BENCH_SIG_ALG=ES256  IDP_KEYS_DEFAULT_ALG (the peer signs with ES256); empty: provider default
#   BENCH_CC_SCOPE       scope for client_credentials (load.py --cc-scope and the wrk body)
#   BENCH_SCOPE          scope of the authcode flow (load.py default: openid profile email offline_access)
#   BENCH_CLIENT_ARGS    extra arguments for `idp clients add` (word-split)
#   BENCH_KEEP_IDP_ENV=0 1: keep IDP_* variables from the caller's environment (default: unset them)
set -euo pipefail
{ # the whole script is one block: bash reads it completely before running it

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

CONCURRENCY="${CONCURRENCY:-8}"
DURATION="${DURATION:-20}"
WARMUP="${WARMUP:-2}"
BACKENDS="${BACKENDS-sqlite,postgres}"
SCENARIOS="${SCENARIOS:-discovery,jwks,cc,refresh,userinfo,introspect,authcode}"
SKIP_PEER="${SKIP_PEER:-0}"
PEERS="${PEERS-peer,peer-redis}"
[ "$SKIP_PEER" = "1" ] && PEERS=""
BENCH_PEER_REDIS_DB="${BENCH_PEER_REDIS_DB:-1}"
RUNS="${RUNS:-1}"
INTERLEAVE="${INTERLEAVE:-1}"
TAG=""  # INTERLEAVE=1: "-<scenario>" in the names of one scenario's result files
PROFILE="${PROFILE:-0}"
ARGON2_N="${ARGON2_N:-20}"
SKIP_WRK="${SKIP_WRK:-0}"
OUR_PORT="${BENCH_IDP_PORT:-5000}"
PEER_PORT="${BENCH_PEER_PORT:-3000}"
BENCH_PG_DB="${BENCH_PG_DB:-idp_bench}"
BENCH_PG_RESET="${BENCH_PG_RESET:-0}"
BENCH_REDIS_FLUSH="${BENCH_REDIS_FLUSH:-0}"
BENCH_IDP_ENV="${BENCH_IDP_ENV:-production}"
BENCH_SIG_ALG="${BENCH_SIG_ALG-ES256}"
BENCH_CC_SCOPE="${BENCH_CC_SCOPE:-}"
BENCH_SCOPE="${BENCH_SCOPE:-}"
BENCH_CLIENT_ARGS="${BENCH_CLIENT_ARGS:-}"
REDIRECT_URI="http://127.0.0.1:9/cb"
BENCH_LOGIN="benchuser1"
BENCH_PASSWORD='Bench!pass-2026'
PEER_CLIENT_ID="bench-client"
PEER_CLIENT_SECRET="bench-secret"
PEER_USER="alice"
PEER_PASSWORD="correct-horse-battery-staple"

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

case "$CONCURRENCY" in ''|*[!0-9]*) die "CONCURRENCY must be an integer";; esac
case "$RUNS" in ''|*[!0-9]*|0) die "RUNS must be a positive integer";; esac
has_peer() { tr ',' '\n' <<<"$PEERS" | tr -d ' ' | grep -qx "$1"; }
for p in ${PEERS//,/ }; do
  case "$p" in peer|peer-redis) ;; *) die "unknown peer $p (peer, peer-redis)";; esac
done
WRK_DURATION="${DURATION%%.*}"
[ -n "$WRK_DURATION" ] && [ "$WRK_DURATION" -ge 1 ] 2>/dev/null || WRK_DURATION=1

if [ "${BENCH_KEEP_IDP_ENV:-0}" != "1" ]; then
  # a stray IDP_ENV=testing (fast argon2) or IDP_DATABASE_URL must not leak into the bench
  while IFS= read -r name; do unset "$name"; done < <(compgen -e | grep '^IDP_' || true)
fi

# ---------------------------------------------------------------------------------------------
# peer-bench: a writable copy with its venv and node_modules

find_peer_bench() {
  local c
  for c in "${PEER_BENCH:-../shared/peer-bench}" /work/shared/peer-bench; do
    case "$c" in /*) ;; *) c="$ROOT/$c";; esac
    if [ -f "$c/load.py" ] && [ -f "$c/wrk_bench.py" ]; then
      (cd "$c" && pwd)
      return 0
    fi
  done
  return 1
}
PB_SRC="$(find_peer_bench)" || die "peer-bench not found (set PEER_BENCH=/path/to/peer-bench)"
WORK="$ROOT/bench/.work"
PB="$WORK/peer-bench"
mkdir -p "$PB"
log "peer-bench: $PB_SRC -> $PB"
# refresh the scripts on every run; keep .venv, node_modules and results
chmod -R u+w "$PB" 2>/dev/null || true
tar -C "$PB_SRC" --exclude=./.venv --exclude=./peer/node_modules --exclude=./results -cf - . \
  | tar -C "$PB" --no-same-owner -xf -
chmod -R u+w "$PB"

if ! "$PB/.venv/bin/python" -c 'import httpx' >/dev/null 2>&1; then
  log "creating $PB/.venv (httpx)"
  python3 -m venv "$PB/.venv" >&2
  "$PB/.venv/bin/pip" install -q httpx >&2
fi
lock_sum="$(sha256sum "$PB/peer/package-lock.json" | cut -d' ' -f1)"
if [ -n "$PEERS" ]; then
  if [ ! -d "$PB/peer/node_modules/oidc-provider" ] \
     || [ "$(cat "$PB/peer/node_modules/.bench-lock-sha256" 2>/dev/null)" != "$lock_sum" ]; then
    command -v npm >/dev/null || die "npm not found (needed for the peer; or SKIP_PEER=1)"
    log "npm ci in $PB/peer"
    (cd "$PB/peer" && npm ci --no-audit --no-fund) >&2
    echo "$lock_sum" > "$PB/peer/node_modules/.bench-lock-sha256"
  fi
fi
PR="$ROOT/bench/peer_redis"
if has_peer peer-redis; then
  pr_sum="$(sha256sum "$PR/package-lock.json" | cut -d' ' -f1)"
  if [ ! -d "$PR/node_modules/ioredis" ] \
     || [ "$(cat "$PR/node_modules/.bench-lock-sha256" 2>/dev/null)" != "$pr_sum" ]; then
    command -v npm >/dev/null || die "npm not found (needed for peer-redis; or PEERS=peer)"
    log "npm ci in $PR"
    (cd "$PR" && npm ci --no-audit --no-fund) >&2
    echo "$pr_sum" > "$PR/node_modules/.bench-lock-sha256"
  fi
fi

PY_SPY=""
if [ "$PROFILE" = "1" ]; then
  if [ ! -x "$ROOT/.venv/bin/py-spy" ]; then
    log "PROFILE=1: pip install py-spy into .venv"
    "$ROOT/.venv/bin/pip" install -q py-spy >&2 || log "py-spy install failed: no profiles"
  fi
  [ -x "$ROOT/.venv/bin/py-spy" ] && PY_SPY="$ROOT/.venv/bin/py-spy"
fi

if [ "$SKIP_WRK" != "1" ] && ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    log "installing wrk (apt-get)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; } >&2 \
      || { log "wrk install failed: SKIP_WRK=1"; SKIP_WRK=1; }
  else
    log "wrk missing and not root: SKIP_WRK=1"
    SKIP_WRK=1
  fi
fi
command -v wrk >/dev/null || SKIP_WRK=1

# wrk only covers cc, discovery and jwks
WRK_SCENARIOS="$(tr ',' '\n' <<<"$SCENARIOS" | grep -xE 'cc|discovery|jwks' | paste -sd, - || true)"

# ---------------------------------------------------------------------------------------------
# results

TS="$(date -u +%Y%m%dT%H%M%SZ)"
RESULTS="$ROOT/bench/results/$TS"
RESULTS_TOP="$RESULTS"
mkdir -p "$RESULTS"
log "results: $RESULTS"
# The provider's bytecode, as an installed wheel has it: an editable install under
# PYTHONDONTWRITEBYTECODE=1 would compile every module from source in every process, which
# costs each worker ~1 MB of RSS (and the master's compile garbage, which forked workers share).
"$ROOT/.venv/bin/python" -m compileall -q "$ROOT/idp" >/dev/null || log "compileall failed (ignored)"
T_START="$(date +%s)"
{
  echo "utc=$TS"
  echo "nproc=$(nproc)"
  echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "mem=$(free -m | awk '/Mem:/ {print $2" MiB"}')"
  echo "node=$(node --version 2>/dev/null || echo -) python=$("$PB/.venv/bin/python" -V 2>&1 | cut -d' ' -f2)" \
       "wrk=$(if [ "$SKIP_WRK" = 1 ]; then echo skipped; else wrk -v 2>&1 | head -1 | cut -d' ' -f2; fi)"
  echo "concurrency=$CONCURRENCY duration=$DURATION warmup=$WARMUP scenarios=$SCENARIOS"
  echo "backends=$BACKENDS skip_peer=$SKIP_PEER skip_wrk=$SKIP_WRK idp_env=$BENCH_IDP_ENV sig_alg=${BENCH_SIG_ALG:-default}"
  echo "peers=${PEERS:-none} peer_redis_db=$BENCH_PEER_REDIS_DB runs=$RUNS profile=$PROFILE interleave=$INTERLEAVE"
} > "$RESULTS/env.txt"

# ---------------------------------------------------------------------------------------------
# helpers

port_busy() { curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/" ; }

descendants() {  # all descendant PIDs of $1 (depth first)
  local c
  for c in $(pgrep -P "$1" 2>/dev/null || true); do
    echo "$c"
    descendants "$c"
  done
}

stop_tree() {  # stop $1 and its descendants, by PID
  local pid="$1" p
  [ -n "$pid" ] || return 0
  local tree
  tree="$pid $(descendants "$pid" | tr '\n' ' ')"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    local alive=0
    for p in $tree; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && return 0
    sleep 0.1
  done
  for p in $tree; do kill -9 "$p" 2>/dev/null || true; done
}

wait_http_200() {  # url pid log
  local url="$1" pid="$2" logf="$3"
  for _ in $(seq 1 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)" = "200" ] && return 0
    kill -0 "$pid" 2>/dev/null || { log "server exited during start-up:"; tail -n 40 "$logf" >&2; return 1; }
    sleep 0.1
  done
  log "no 200 from $url after 30 s:"; tail -n 40 "$logf" >&2
  return 1
}

run_load() {  # name base client_id client_secret user password server_pid label
  local name="$1" base="$2" cid="$3" csec="$4" user="$5" pw="$6" spid="$7" label="$8"
  local rc=0
  local extra=()
  [ -n "$BENCH_CC_SCOPE" ] && extra+=(--cc-scope "$BENCH_CC_SCOPE")
  [ -n "$BENCH_SCOPE" ] && extra+=(--scope "$BENCH_SCOPE")
  case "$name" in
    peer|peer-*) ;;
    *) extra+=(--username-field auto --password-field auto) ;;
  esac
  if [ -n "${PROFILE_ARGS:-}" ]; then
    # shellcheck disable=SC2206  # word-split on purpose (no spaces in these paths)
    extra+=($PROFILE_ARGS)
  fi
  "$PB/.venv/bin/python" "$ROOT/bench/load_ext.py" --load-py "$PB/load.py" --base-url "$base" \
    --client-id="$cid" --client-secret="$csec" --username "$user" --password "$pw" \
    --redirect-uri "$REDIRECT_URI" "${extra[@]}" \
    --scenarios "$SCENARIOS" --concurrency "$CONCURRENCY" --duration "$DURATION" --warmup "$WARMUP" \
    --server-pid "$spid" --label "$label" \
    --json "$RESULTS/$name-py$TAG.json" 2> "$RESULTS/$name-py$TAG.stderr" | tee "$RESULTS/$name-py$TAG.txt" >&2 \
    || rc=$?
  [ "$rc" = 0 ] || log "$name: load.py exit $rc (a scenario had no successful operation; see $name-py$TAG.txt / .stderr)"
  if [ "$SKIP_WRK" != "1" ] && [ -n "$WRK_SCENARIOS" ]; then
    sleep 2
    local body="grant_type=client_credentials"
    [ -n "$BENCH_CC_SCOPE" ] && body="$body&scope=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$BENCH_CC_SCOPE")"
    "$PB/.venv/bin/python" "$PB/wrk_bench.py" --base-url "$base" \
      --client-id="$cid" --client-secret="$csec" --cc-body "$body" --scenarios "$WRK_SCENARIOS" \
      --threads 1 --connections "$CONCURRENCY" --duration "$WRK_DURATION" --warmup "${WARMUP%%.*}" \
      --server-pid "$spid" --label "$label" \
      --json "$RESULTS/$name-wrk$TAG.json" 2> "$RESULTS/$name-wrk$TAG.stderr" | tee "$RESULTS/$name-wrk$TAG.txt" >&2 \
      || { log "$name: wrk_bench.py failed (see $name-wrk$TAG.stderr)"; rc=1; }
  fi
  return "$rc"
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL / Redis settings: reuse .ci/run's if present

ci_value() {  # first value assigned to $1 in .ci/run (VAR=value, export VAR=value, ${VAR:-value})
  [ -f "$ROOT/.ci/run" ] || return 0
  grep -oE "$1[:=-]+[\"']?(postgres(ql)?(\+[a-z0-9]+)?|redis)://[^\"' }]+" "$ROOT/.ci/run" 2>/dev/null \
    | head -n1 | sed -E "s/^$1[:=-]+[\"']?//"
}
PG_URL_BASE="${BENCH_PG_URL:-$(ci_value IDP_DATABASE_URL)}"
PG_URL_BASE="${PG_URL_BASE:-postgresql+psycopg://postgres@127.0.0.1:5432/test}"
REDIS_URL="${BENCH_REDIS_URL:-$(ci_value IDP_REDIS_URL)}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"

pg_parts() {  # prints: host port user password dbname  (of PG_URL_BASE)
  python3 - "$PG_URL_BASE" <<'EOF'
import sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
print(u.hostname or "127.0.0.1", u.port or 5432, urllib.parse.unquote(u.username or "postgres"),
      urllib.parse.unquote(u.password or "") or "-", u.path.lstrip("/") or "-")
EOF
}

prepare_postgres() {  # sets IDP_DATABASE_URL for the dedicated bench database, empties it
  local host port user pw ci_db
  read -r host port user pw ci_db < <(pg_parts)
  [ "$pw" = "-" ] || export PGPASSWORD="$pw"
  command -v psql >/dev/null || die "psql not found"
  pg_isready -h "$host" -p "$port" -q 2>/dev/null || die "PostgreSQL not reachable at $host:$port"
  if [ "$BENCH_PG_DB" = "$ci_db" ] && [ "$BENCH_PG_RESET" != "1" ]; then
    die "BENCH_PG_DB=$BENCH_PG_DB is the tests' database; set BENCH_PG_RESET=1 to let the bench drop its schema"
  fi
  if ! psql -h "$host" -p "$port" -U "$user" -d postgres -Atqc \
        "SELECT 1 FROM pg_database WHERE datname = '$BENCH_PG_DB'" | grep -q 1; then
    log "createdb $BENCH_PG_DB"
    createdb -h "$host" -p "$port" -U "$user" "$BENCH_PG_DB"
  fi
  log "resetting schema public of database $BENCH_PG_DB"
  PGOPTIONS='--client-min-messages=warning' \
    psql -h "$host" -p "$port" -U "$user" -d "$BENCH_PG_DB" -q -v ON_ERROR_STOP=1 \
    -c 'DROP SCHEMA public CASCADE; CREATE SCHEMA public;' >&2
  export IDP_DATABASE_URL
  IDP_DATABASE_URL="$(python3 - "$PG_URL_BASE" "$BENCH_PG_DB" <<'EOF'
import sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
print(urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + sys.argv[2], u.query, u.fragment)))
EOF
)"
  export IDP_REDIS_URL="$REDIS_URL"
  command -v redis-cli >/dev/null && { redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1 \
    || die "Redis not reachable at $REDIS_URL"; }
  if [ "$BENCH_REDIS_FLUSH" = "1" ]; then
    log "FLUSHDB $REDIS_URL"
    redis-cli -u "$REDIS_URL" flushdb >/dev/null
  fi
}

# ---------------------------------------------------------------------------------------------
# one backend of our provider (runs in a subshell: its own traps and exports)

SERVER_PID=""
run_ours() {
  local backend="$1"
  local idp="$ROOT/.venv/bin/idp"
  [ -x "$idp" ] || die "$idp not found (create the project venv: pip install -e '.[dev]')"
  trap 'stop_tree "$SERVER_PID"' EXIT
  trap 'exit 130' INT TERM

  export IDP_ENV="$BENCH_IDP_ENV"
  export IDP_ISSUER="http://127.0.0.1:$OUR_PORT"
  # A fresh random secret per run: production refuses any secret written in the repository
  # (the databases are emptied per run, so nothing encrypted with a previous one remains).
  IDP_SECRET_KEY="$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
  export IDP_SECRET_KEY
  # Production refuses the tax office's API without a key (issue 7); the bench asks it nothing.
  export IDP_NTS_SERVICE_KEY="${IDP_NTS_SERVICE_KEY:-bench-no-tax-office-calls}"
  [ -n "$BENCH_SIG_ALG" ] && export IDP_KEYS_DEFAULT_ALG="$BENCH_SIG_ALG"
  case "$backend" in
    sqlite)
      unset IDP_REDIS_URL
      mkdir -p "$WORK/sqlite"
      rm -f "$WORK/sqlite/bench.db" "$WORK/sqlite/bench.db-wal" "$WORK/sqlite/bench.db-shm" \
            "$WORK/sqlite/bench.db-journal"
      export IDP_DATABASE_URL="sqlite:///$WORK/sqlite/bench.db"
      ;;
    postgres) prepare_postgres ;;
    *) die "unknown backend $backend (sqlite, postgres)" ;;
  esac
  log "$backend: IDP_DATABASE_URL=$IDP_DATABASE_URL IDP_REDIS_URL=${IDP_REDIS_URL:-}"
  port_busy "$OUR_PORT" && die "something already listens on 127.0.0.1:$OUR_PORT"

  local setup_log="$RESULTS/$backend-setup.log"
  log "$backend: idp db upgrade"
  "$idp" db upgrade >> "$setup_log" 2>&1 || { tail -n 30 "$setup_log" >&2; die "idp db upgrade failed"; }

  log "$backend: idp clients add"
  local client_json
  # shellcheck disable=SC2086  # BENCH_CLIENT_ARGS is word-split on purpose
  client_json="$("$idp" clients add --name bench --redirect-uri "$REDIRECT_URI" \
      --grant-type authorization_code --grant-type refresh_token --grant-type client_credentials \
      --token-endpoint-auth-method client_secret_basic --first-party $BENCH_CLIENT_ARGS --json \
      2>> "$setup_log")" || { tail -n 30 "$setup_log" >&2; die "idp clients add failed"; }
  echo "$client_json" | sed -E 's/("client_secret" *: *")[^"]*/\1<redacted>/' >> "$setup_log"
  local client_id client_secret
  client_id="$(python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["client_id"])' <<<"$client_json")" \
    || die "cannot parse client_id from: $client_json"
  client_secret="$(python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["client_secret"])' <<<"$client_json")" \
    || die "cannot parse client_secret"

  log "$backend: idp members add $BENCH_LOGIN"
  printf '%s' "$BENCH_PASSWORD" | "$idp" members add --login-id "$BENCH_LOGIN" --name Bench \
      --email bench@example.com --password-stdin --json >> "$setup_log" 2>&1 \
    || { tail -n 30 "$setup_log" >&2; die "idp members add failed"; }

  log "$backend: idp serve --bind 127.0.0.1:$OUR_PORT"
  local server_log="$RESULTS/$backend-server$TAG.log"
  "$idp" serve --bind "127.0.0.1:$OUR_PORT" > "$server_log" 2>&1 &
  SERVER_PID=$!
  wait_http_200 "http://127.0.0.1:$OUR_PORT/healthz" "$SERVER_PID" "$server_log" \
    || die "$backend: server did not come up"
  log "$backend: server up (pid $SERVER_PID: $(descendants "$SERVER_PID" | wc -l) descendant processes)"

  "$PB/.venv/bin/python" "$ROOT/bench/rss_sampler.py" --pid "$SERVER_PID" \
    --out "$RESULTS/$backend-rss.jsonl" 2>> "$setup_log" &
  local sampler=$!
  PROFILE_ARGS=""
  if [ -n "$PY_SPY" ]; then
    local w
    w="$(descendants "$SERVER_PID" | tail -n1)"
    local ok=0
    for _ in 1 2 3 4 5; do  # attaching fails now and then on some VMs: a few attempts
      if "$PY_SPY" dump --pid "${w:-$SERVER_PID}" > "$RESULTS/$backend-pyspy-check.txt" 2>&1; then
        ok=1; break
      fi
      sleep 0.5
    done
    if [ "$ok" = 1 ]; then
      PROFILE_ARGS="--profile-dir $RESULTS --profile-name profile-$backend --py-spy $PY_SPY"
    else
      log "$backend: py-spy cannot read the worker ($(grep -m1 '^Error' "$RESULTS/$backend-pyspy-check.txt" || echo 'ptrace?')): no profile; see $backend-pyspy-check.txt"
    fi
  fi

  local rc=0
  run_load "$backend" "http://127.0.0.1:$OUR_PORT" "$client_id" "$client_secret" \
    "$BENCH_LOGIN" "$BENCH_PASSWORD" "$SERVER_PID" "kotra-idp $backend" || rc=$?
  PROFILE_ARGS=""
  kill -TERM "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  stop_tree "$SERVER_PID"
  SERVER_PID=""
  return "$rc"
}

peer_redis_url() {  # BENCH_REDIS_URL's server with database BENCH_PEER_REDIS_DB
  python3 - "$REDIS_URL" "$BENCH_PEER_REDIS_DB" <<'EOF'
import sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
print(urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + sys.argv[2], u.query, u.fragment)))
EOF
}

run_peer() {  # peer | peer-redis
  local name="${1:-peer}"
  trap 'stop_tree "$SERVER_PID"' EXIT
  trap 'exit 130' INT TERM
  command -v node >/dev/null || die "node not found (or SKIP_PEER=1)"
  port_busy "$PEER_PORT" && die "something already listens on 127.0.0.1:$PEER_PORT"
  local server_log="$RESULTS/$name-server$TAG.log"
  local script="peer/server.mjs" label="node-oidc-provider peer"
  if [ "$name" = "peer-redis" ]; then
    case "$BENCH_PEER_REDIS_DB" in ''|*[!0-9]*) die "BENCH_PEER_REDIS_DB must be a number";; esac
    export PEER_REDIS_URL PEER_SERVER="$PB/peer/server.mjs"
    PEER_REDIS_URL="$(peer_redis_url)"
    command -v redis-cli >/dev/null || die "redis-cli not found (needed to flush $PEER_REDIS_URL)"
    redis-cli -u "$PEER_REDIS_URL" ping >/dev/null 2>&1 || die "Redis not reachable at $PEER_REDIS_URL"
    log "peer-redis: FLUSHDB $PEER_REDIS_URL"
    redis-cli -u "$PEER_REDIS_URL" flushdb >/dev/null
    script="$ROOT/bench/peer_redis/server.mjs" label="node-oidc-provider peer (Redis adapter)"
  fi
  (cd "$PB" && PEER_HOST=127.0.0.1 PEER_PORT="$PEER_PORT" CLIENT_ID="$PEER_CLIENT_ID" \
     CLIENT_SECRET="$PEER_CLIENT_SECRET" BENCH_USER="$PEER_USER" BENCH_PASSWORD="$PEER_PASSWORD" \
     REDIRECT_URI="$REDIRECT_URI" exec node "$script") > "$server_log" 2>&1 &
  SERVER_PID=$!
  wait_http_200 "http://127.0.0.1:$PEER_PORT/healthz" "$SERVER_PID" "$server_log" \
    || die "$name did not come up"
  log "$name: up (pid $SERVER_PID)"
  "$PB/.venv/bin/python" "$ROOT/bench/rss_sampler.py" --pid "$SERVER_PID" \
    --out "$RESULTS/$name-rss.jsonl" 2>> "$server_log" &
  local sampler=$!
  local rc=0
  run_load "$name" "http://127.0.0.1:$PEER_PORT" "$PEER_CLIENT_ID" "$PEER_CLIENT_SECRET" \
    "$PEER_USER" "$PEER_PASSWORD" "$SERVER_PID" "$label" || rc=$?
  kill -TERM "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  stop_tree "$SERVER_PID"
  SERVER_PID=""
  return "$rc"
}

# ---------------------------------------------------------------------------------------------
# main: each target in its own subshell so one failing backend does not stop the others

failed=()
run_target() {  # name command...
  local name="$1"; shift
  log "=== $name ==="
  set +e
  ( set -e; "$@" )
  local rc=$?
  set -e
  if [ "$rc" != 0 ]; then
    failed+=("$name")
    echo "$name: failed (exit $rc)" >> "$RESULTS/failures.txt"
    [ "$rc" = 130 ] && exit 130
  fi
  return 0
}

run_argon2() {
  log "argon2_bare.py: $ARGON2_N bare argon2id hashes at the provider's parameters"
  IDP_ENV="$BENCH_IDP_ENV" "$ROOT/.venv/bin/python" "$ROOT/bench/argon2_bare.py" -n "$ARGON2_N" \
    --json "$RESULTS/argon2-bare.json" 2>&1 | tee "$RESULTS/argon2-bare.txt" >&2
  [ -s "$RESULTS/argon2-bare.json" ]
}

run_interleaved() {  # run: one scenario at a time, every target in turn (reversed in even runs)
  local targets=() t scenario all_scenarios="$SCENARIOS" all_wrk="$WRK_SCENARIOS"
  for t in "${backend_list[@]}"; do t="${t// /}"; [ -n "$t" ] && targets+=("ours:$t"); done
  for t in ${PEERS//,/ }; do targets+=("peer:$t"); done
  if [ $(( $1 % 2 )) = 0 ]; then
    local reversed=()
    local i
    for (( i=${#targets[@]}-1; i>=0; i-- )); do reversed+=("${targets[i]}"); done
    targets=("${reversed[@]}")
  fi
  for scenario in ${all_scenarios//,/ }; do
    SCENARIOS="$scenario" TAG="-$scenario"
    WRK_SCENARIOS="$(tr ',' '\n' <<<"$all_wrk" | grep -x "$scenario" || true)"
    [ "$scenario" = authcode ] && run_target "argon2-bare" run_argon2
    for t in "${targets[@]}"; do
      if [ "${t%%:*}" = "ours" ]; then run_target "${t#*:} $scenario" run_ours "${t#*:}"
      else run_target "${t#*:} $scenario" run_peer "${t#*:}"; fi
      sleep 1
    done
  done
  SCENARIOS="$all_scenarios" WRK_SCENARIOS="$all_wrk" TAG=""
}

IFS=',' read -r -a backend_list <<<"$BACKENDS"
for run in $(seq 1 "$RUNS"); do
  if [ "$RUNS" -gt 1 ]; then
    RESULTS="$RESULTS_TOP/run$run"
    mkdir -p "$RESULTS"
    log "===== run $run of $RUNS ====="
  fi
  # before the authcode scenarios, in the same run: the bare hash the login pays once
  # (interleaved: right before the authcode scenario, a minute from the flows it divides)
  if [ "$INTERLEAVE" != "1" ] || [[ ",${SCENARIOS// /}," != *,authcode,* ]]; then
    run_target "argon2-bare" run_argon2
  fi
  if [ "$INTERLEAVE" = "1" ]; then
    run_interleaved "$run"
  else
    for b in "${backend_list[@]}"; do
      b="${b// /}"
      [ -n "$b" ] || continue
      run_target "$b" run_ours "$b"
      sleep 2
    done
    for p in ${PEERS//,/ }; do
      run_target "$p" run_peer "$p"
      sleep 2
    done
  fi
  if [ "$RUNS" -gt 1 ]; then
    log "run $run done, $(( $(date +%s) - T_START )) s since the start"
  fi
done
RESULTS="$RESULTS_TOP"
if [ "$RUNS" -gt 1 ]; then
  cat "$RESULTS"/run*/failures.txt > "$RESULTS/failures.txt" 2>/dev/null || rm -f "$RESULTS/failures.txt"
fi

echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >> "$RESULTS/env.txt"
echo "elapsed_s=$(( $(date +%s) - T_START ))" >> "$RESULTS/env.txt"
python3 "$ROOT/bench/report.py" "$RESULTS" --out "$RESULTS/table.md" || failed+=("report")
log "results in $RESULTS (table.md, *-py.json, *-wrk.json, *-server.log, *-rss.jsonl; run<i>/ when RUNS > 1)"
log "elapsed: $(( $(date +%s) - T_START )) s"
if [ "${#failed[@]}" -gt 0 ]; then
  log "FAILED: ${failed[*]} (see $RESULTS/failures.txt and the logs there)"
  exit 1
fi
exit 0
}
