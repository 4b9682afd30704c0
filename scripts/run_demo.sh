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

  issue 6 flows (every SMS and email "sent": http://127.0.0.1:5000/dev/outbox):
    sign up        /signup → 일반회원 가입 → 휴대폰 인증: any carrier, name, birthdate (14+),
                   gender and a phone no member has; the 6-digit code is in /dev/outbox
    find ID        /find-id → 홍길동 + 010-1234-5678, then the code from /dev/outbox
    password reset /reset-password → demouser1 → 휴대폰 인증 or 간편인증 as 홍길동 above
    MY KOTRA       /my (profile and 관심정보, password, consents, devices, sites, withdrawal)

  corporate certificates (issue 7, 인증서찾기): files and passwords in
    instance/demo-pki/README.txt (printed by `idp demo seed` above); the demo CA's CRL is
    served by the provider at /dev/npki/crl/yessign-demo.crl

  Ctrl-C stops everything.
TXT
wait -n "${pids[@]}"
