#!/usr/bin/env bash
# `magic dev` as a user runs it: the whole farm in one process on its
# embedded defaults (librdkafka mock cluster, a private PostgreSQL), then
# `magic invoke` (sync and --async), `magic status`, HTTP with X-Request-ID,
# an E1003, the broker (a cache-backed counter through the private Redis,
# its audit records, `magic secrets` against the same farm), and a clean
# stop on SIGTERM.
# Usage: dev_smoke.sh BUILD_BIN_DIR   (from the repository root)
set -u
magic="$1/magic"
tmp="$(mktemp -d)"
export HOME="$tmp/home"  # state.json and master.key of this farm only
pass=0
fail=0
check() {  # check DESCRIPTION COMMAND...
  local what="$1"
  shift
  if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $what"; fi
}
port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
grpc="127.0.0.1:$(port)"
http="127.0.0.1:$(port)"
"$magic" dev --controllers examples --grpc-addr "$grpc" --http-addr "$http" \
  --ready-file "$tmp/ready" >"$tmp/out" 2>"$tmp/log" &
dev=$!
trap 'kill "$dev" 2>/dev/null; wait "$dev" 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 1 300); do
  [ -s "$tmp/ready" ] && break
  kill -0 "$dev" 2>/dev/null || break
  sleep 0.2
done
check "magic dev becomes ready" test -s "$tmp/ready"
check "endpoints printed" grep -q "magic dev: ready" "$tmp/out"
check "limits printed" grep -q "limits: memory=" "$tmp/out"

"$magic" invoke Greeter --addr "$grpc" --input '{"name": "Dev"}' >"$tmp/sync" 2>&1
check "sync invoke" grep -q '"Hello, Dev!"' "$tmp/sync"
id="$("$magic" invoke Greeter --addr "$grpc" --input '{"name": "Later"}' --async)"
check "async id" test "${id#req_}" != "$id"
state=""
for _ in $(seq 1 100); do
  "$magic" status "$id" --addr "$grpc" >"$tmp/status" 2>&1
  grep -q '"state": "SUCCEEDED"' "$tmp/status" && state=ok && break
  sleep 0.1
done
check "status SUCCEEDED" test "$state" = ok
curl -s -D "$tmp/headers" -X POST "http://$http/v1/controllers/Greeter:invoke" \
  -H 'X-Request-ID: req_dev_smoke' -d '{"name": "Curl"}' >"$tmp/http"
check "HTTP invoke" grep -q '"Hello, Curl!"' "$tmp/http"
check "X-Request-ID kept" grep -qi '^X-Request-ID: req_dev_smoke' "$tmp/headers"
"$magic" invoke Greeter --addr "$grpc" --input '{"name": 1}' >"$tmp/bad" 2>&1
check "E1003 exit 1" test $? -eq 1
check "E1003 printed" grep -q '"E1003"' "$tmp/bad"
"$magic" invoke VisitCounter --addr "$grpc" --input '{"page": "smoke"}' >"$tmp/v1" 2>&1
"$magic" invoke VisitCounter --addr "$grpc" --input '{"page": "smoke"}' >"$tmp/v2" 2>&1
check "cache counter 1" grep -q '"visits": 1' "$tmp/v1"
check "cache counter 2" grep -q '"visits": 2' "$tmp/v2"
check "private redis printed" grep -q "magic dev: redis redis://127.0.0.1:.* (private)" "$tmp/out"
check "state.json written" test -s "$HOME/.cache/magic/dev/state.json"
vid="$(sed -n 's/.*"request_id": "\(req_[a-z0-9]*\)".*/\1/p' "$tmp/v2" | head -1)"
for _ in $(seq 1 50); do
  "$magic" audit --request "$vid" >"$tmp/audit" 2>&1 && grep -q "cache:write" "$tmp/audit" && break
  sleep 0.1
done
check "audit record of the call" grep -q "cache:write" "$tmp/audit"
echo -n "s3cr3t-dev-value" | "$magic" secrets set DEV_TOKEN >"$tmp/secret" 2>&1
check "secrets set via state.json" test $? -eq 0
"$magic" secrets list >"$tmp/secrets" 2>&1
check "secrets list" grep -q DEV_TOKEN "$tmp/secrets"
check "secret value not listed" bash -c "! grep -q s3cr3t-dev-value '$tmp/secrets'"
kill -TERM "$dev"
wait "$dev"
check "clean stop" test $? -eq 0
check "stopping printed" grep -q "magic dev: stopping" "$tmp/out"
check "state.json removed" test ! -e "$HOME/.cache/magic/dev/state.json"
[ "$fail" -eq 0 ] || { tail -20 "$tmp/log"; }
echo "dev_smoke: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
