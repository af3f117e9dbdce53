#!/usr/bin/env bash
# The farm as separate processes, as production runs it: `magic keygen`,
# then magic-broker (development policy file, Redis, secrets key, the
# gateways' grant public key), magic-worker relaying to it, magic-gateway
# signing grants, magic-scheduler; against the real Kafka, PostgreSQL and
# Redis of scripts/services (MAGIC_TEST_* variables). VisitCounter counts
# through the broker and its calls are in the audit log; a delayed run that
# magic-scheduler signs and produces counts too.
# Usage: processes_test.sh BUILD_BIN_DIR   (from the repository root)
set -uo pipefail
bin="$1"
: "${MAGIC_TEST_KAFKA_BROKERS:?run scripts/services start and load its env file}"
: "${MAGIC_TEST_POSTGRES_URL:?run scripts/services start and load its env file}"
: "${MAGIC_TEST_REDIS_URL:?run scripts/services start and load its env file}"
tmp="$(mktemp -d)"
pids=()
pass=0
fail=0
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
# shellcheck source=tests/cli/checks.sh
. tests/cli/checks.sh
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
run="$(date +%s%N)"
grpc_port="$(free_port)"
http_port="$(free_port)"
broker_port="$(free_port)"
common=(--set "kafka.brokers=$MAGIC_TEST_KAFKA_BROKERS" --set "postgres.url=$MAGIC_TEST_POSTGRES_URL"
        --set controllers.dir=examples)

expect 0 "keygen" -- "$bin/magic" keygen --dir "$tmp/keys"
expect 1 "keygen refuses to overwrite" -- "$bin/magic" keygen --dir "$tmp/keys"
check_mode() { [ "$(stat -c %a "$1")" = 600 ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: $1 mode"; }; }
check_mode "$tmp/keys/grant.key"
check_mode "$tmp/keys/master.key"
cat >"$tmp/policy.yaml" <<'YAML'
environment: development
cache: {max_ttl: 86400, namespace: "proc:"}
YAML

# The Control service has no authentication: a non-loopback address is refused.
expect 2 "scheduler refuses a non-loopback Control address" -- "$bin/magic-scheduler" \
  "${common[@]}" --set scheduler.grpc_addr=0.0.0.0:0
contains "$tmp/err" "has no authentication yet" "the reason is printed"
control_port="$(free_port)"
"$bin/magic-scheduler" "${common[@]}" --set controllers.source=dir \
  --set "scheduler.grpc_addr=127.0.0.1:$control_port" \
  --set "grant.signing_key_file=$tmp/keys/grant.key" --set retry.base_ms=200 \
  >"$tmp/scheduler.log" 2>&1 &
pids+=($!)
"$bin/magic-broker" "${common[@]}" --set "broker.grpc_addr=127.0.0.1:$broker_port" \
  --set "broker.policy_file=$tmp/policy.yaml" --set "grant.public_key_files=$tmp/keys/grant.pub" \
  --set "redis.url=$MAGIC_TEST_REDIS_URL" --set "secrets.master_key_file=$tmp/keys/master.key" \
  >"$tmp/broker.log" 2>&1 &
pids+=($!)
"$bin/magic-worker" "${common[@]}" --set "worker.group=workers_proc_$run" \
  --set "broker.addr=127.0.0.1:$broker_port" >"$tmp/worker.log" 2>&1 &
pids+=($!)
"$bin/magic-gateway" "${common[@]}" --set "gateway.grpc_addr=127.0.0.1:$grpc_port" \
  --set "gateway.http_port=$http_port" --set "grant.signing_key_file=$tmp/keys/grant.key" \
  >"$tmp/gateway.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 150); do
  curl -sf "http://127.0.0.1:$http_port/healthz" >/dev/null && grep -q "broker started" "$tmp/broker.log" && break
  sleep 0.2
done
contains "$tmp/broker.log" "broker started" "magic-broker starts"
contains "$tmp/broker.log" "cache=redis" "broker reports its backends"

page="proc-$run"
expect 0 "first visit" -- "$bin/magic" invoke VisitCounter --addr "127.0.0.1:$grpc_port" \
  --input "{\"page\": \"$page\"}"
contains "$tmp/out" '"visits": 1' "counted once"
expect 0 "second visit" -- "$bin/magic" invoke VisitCounter --json --addr "127.0.0.1:$grpc_port" \
  --input "{\"page\": \"$page\"}"
contains "$tmp/out" '"visits": 2' "counted twice"
id="$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["request_id"])' "$tmp/out" 2>/dev/null)"
for _ in $(seq 1 50); do
  "$bin/magic" audit --postgres "$MAGIC_TEST_POSTGRES_URL" --request "$id" >"$tmp/audit" 2>&1
  grep -q "cache:write" "$tmp/audit" && break
  sleep 0.1
done
contains "$tmp/audit" "cache:write" "the call is in the audit log"
contains "$tmp/audit" "key=visits:$page" "with its key"

# The scheduler process: a delayed run it signs and produces, counted through the broker.
expect 0 "schedule a delayed run" -- "$bin/magic" schedule add VisitCounter --in 1s --json \
  --addr "127.0.0.1:$control_port" --input "{\"page\": \"$page\"}"
run_id="$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["request_id"])' "$tmp/out" 2>/dev/null)"
for _ in $(seq 1 100); do
  "$bin/magic" status "$run_id" --addr "127.0.0.1:$grpc_port" >"$tmp/status" 2>&1
  grep -q '"state": "SUCCEEDED"' "$tmp/status" && break
  sleep 0.2
done
contains "$tmp/status" '"visits": 3' "the timer's run counted through the broker (its grant is valid)"
expect 0 "schedule list" -- "$bin/magic" schedule list --addr "127.0.0.1:$control_port"
lacks "$tmp/out" "$run_id" "a fired one-off schedule is gone"

[ "$fail" -eq 0 ] || tail -n 20 "$tmp"/*.log
echo "processes_test: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
