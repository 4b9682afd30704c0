#!/usr/bin/env bash
# Start the provider and the two demo KOTRA sites; Ctrl-C stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."
# The laptop demo: the development overlay (a public secret, http on 127.0.0.1). Without
# IDP_ENV the provider would start as production and refuse it.
export IDP_ENV=development
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

.venv/bin/idp serve & pids+=($!)
.venv/bin/python -m clients.demo_site --site 1 & pids+=($!)
.venv/bin/python -m clients.demo_site --site 2 & pids+=($!)

cat <<'TXT'

  provider      http://127.0.0.1:5000   (discovery: /.well-known/openid-configuration)
  demo site 1   http://127.0.0.1:5001
  demo site 2   http://127.0.0.1:5002

  demo accounts (password Kotra!demo2026):
    demouser1      general member, no company
    demoapprove1   general member, affiliated by approval password
    democert1      general member, affiliated by certificate

  간편인증 로그인 (emulated popup): 홍길동 / 19850301 / 01012345678 signs in demouser1
    (the others are printed by `idp demo seed` above); SMS codes: /dev/outbox

  Ctrl-C stops everything.
TXT
wait -n "${pids[@]}"
