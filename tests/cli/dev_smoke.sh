#!/usr/bin/env bash
# `magic dev` as a user runs it: the whole farm in one process on its
# embedded defaults (librdkafka mock cluster, a private PostgreSQL), then
# `magic invoke` (sync and --async), `magic status`, HTTP with X-Request-ID,
# an E1003, the broker (a cache-backed counter through the private Redis,
# its audit records, `magic secrets` against the same farm), `magic logs`
# (catch-up, --request, --json, --follow), the lifecycle
# verbs (deploy a v2, E4002, rollback, E4004, get, list, undeploy, each
# switch live), timers (`magic schedule`), an idempotent submit, a
# queue:subscribe trigger, and a clean stop on SIGTERM.
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
succeeded() {  # succeeded ID: polls `magic status` up to 20 s for SUCCEEDED ($tmp/status)
  for _ in $(seq 1 100); do
    "$magic" status "$1" --addr "$grpc" >"$tmp/status" 2>&1
    grep -q '"state": "SUCCEEDED"' "$tmp/status" && return 0
    sleep 0.2
  done
  return 1
}
port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
grpc="127.0.0.1:$(port)"
http="127.0.0.1:$(port)"
control="127.0.0.1:$(port)"
"$magic" dev --controllers examples --grpc-addr "$grpc" --http-addr "$http" \
  --control-addr "$control" --ready-file "$tmp/ready" >"$tmp/out" 2>"$tmp/log" &
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
check "status SUCCEEDED" succeeded "$id"
check "status: attempts" grep -q '"attempts": 1' "$tmp/status"
check "status: timing breakdown" grep -q '"exec_us"' "$tmp/status"
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

# Controller logs over magic.logs: `magic logs` finds the embedded Kafka
# through state.json (not the environment's brokers).
logs() { env -u MAGIC_KAFKA_BROKERS "$magic" logs "$@"; }
for _ in $(seq 1 50); do
  logs VisitCounter >"$tmp/logs" 2>&1
  [ "$(grep -c 'visit counted' "$tmp/logs")" -ge 2 ] && break
  sleep 0.1
done
check "logs: the line with its request id" grep -q "^[0-9T:.-]*Z info $vid visit counted page=smoke visits=2" "$tmp/logs"
check "logs: both invocations" test "$(grep -c 'visit counted' "$tmp/logs")" -ge 2
logs VisitCounter --request "$vid" >"$tmp/logs_req" 2>&1
check "logs --request: that request" test "$(grep -c " $vid visit counted" "$tmp/logs_req")" -eq 1
check "logs --request: only that request" test "$(wc -l <"$tmp/logs_req")" -eq 1
logs VisitCounter --request "$vid" --json >"$tmp/logs_json" 2>&1
check "logs --json" grep -q "\"request_id\":\"$vid\"" "$tmp/logs_json"
logs Greeter --request req_none >"$tmp/logs_none" 2>&1
check "logs: nothing matched is said" grep -q "no log lines for Greeter request req_none" "$tmp/logs_none"
timeout 30 env -u MAGIC_KAFKA_BROKERS "$magic" logs VisitCounter --follow --since 0s \
  >"$tmp/follow" 2>&1 &
follow=$!
sleep 0.5
"$magic" invoke VisitCounter --addr "$grpc" --input '{"page": "followed"}' >"$tmp/v3" 2>&1
fid="$(sed -n 's/.*"request_id": "\(req_[a-z0-9]*\)".*/\1/p' "$tmp/v3" | head -1)"
for _ in $(seq 1 50); do
  grep -q "$fid visit counted page=followed" "$tmp/follow" && break
  sleep 0.1
done
check "logs --follow: a line produced after it started" \
  grep -q "$fid visit counted page=followed" "$tmp/follow"
check "logs --follow: no older line" bash -c "! grep -q 'page=smoke' '$tmp/follow'"
kill -INT "$follow"
wait "$follow"
check "logs --follow stops on SIGINT with 0" test $? -eq 0
echo -n "s3cr3t-dev-value" | "$magic" secrets set DEV_TOKEN >"$tmp/secret" 2>&1
check "secrets set via state.json" test $? -eq 0
"$magic" secrets list >"$tmp/secrets" 2>&1
check "secrets list" grep -q DEV_TOKEN "$tmp/secrets"
check "secret value not listed" bash -c "! grep -q s3cr3t-dev-value '$tmp/secrets'"

# Lifecycle: the examples were deployed at start; now a v2, live.
export MAGIC_CONTROL_ADDR="$control"
greet() {  # greet NAME TEXT: waits up to 2 s for Greeter's answer to contain TEXT
  for _ in $(seq 1 20); do
    "$magic" invoke Greeter --addr "$grpc" --input "{\"name\": \"$1\"}" >"$tmp/greet" 2>&1
    grep -q "$2" "$tmp/greet" && return 0
    sleep 0.1
  done
  cat "$tmp/greet"
  return 1
}
# magic batch: 20 Greeter lines; a bad JSON line stops before submitting
# (exit 1, E1005 naming the line); a schema-invalid line is E1003 from the gateway.
for i in $(seq 1 20); do echo "{\"name\": \"b$i\"}"; done >"$tmp/batch.jsonl"
"$magic" batch Greeter --addr "$grpc" --file "$tmp/batch.jsonl" >"$tmp/batch" 2>"$tmp/batch.err"
check "batch of 20: exit 0" test $? -eq 0
check "batch summary" grep -q "20 runs, 20 succeeded, 0 failed" "$tmp/batch"
check "batch progress on stderr" grep -q "20/20 ok 20 failed 0" "$tmp/batch.err"
{ cat "$tmp/batch.jsonl"; echo '{"name": '; } >"$tmp/badline.jsonl"
"$magic" batch Greeter --addr "$grpc" --file "$tmp/badline.jsonl" >"$tmp/badline" 2>&1
check "bad JSON line: exit 1" test $? -eq 1
check "bad JSON line: E1005 with the line" grep -q '"line": 21' "$tmp/badline"
{ head -3 "$tmp/batch.jsonl"; echo '{"name": 5}'; } >"$tmp/badinput.jsonl"
"$magic" batch Greeter --addr "$grpc" --file "$tmp/badinput.jsonl" >"$tmp/badinput" 2>&1
check "schema-invalid line: exit 1" test $? -eq 1
check "schema-invalid line: E1003 naming item 3" grep -q '"item": 3' "$tmp/badinput"
# Timers: a delayed run, a cron schedule listed and removed, a bad cron.
"$magic" schedule add Greeter --in 1s --input '{"name": "Timer"}' --json >"$tmp/sched" 2>&1
check "schedule --in: exit 0" test $? -eq 0
run_id="$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["request_id"])' "$tmp/sched" 2>/dev/null)"
check "schedule --in: run id given" test -n "$run_id"
check "delayed run SUCCEEDED" succeeded "$run_id"
check "delayed run answered" grep -q "Hello, Timer!" "$tmp/status"
"$magic" schedule add Greeter --cron '*/5 * * * *' --input '{"name": "Cron"}' >"$tmp/cron" 2>&1
check "schedule --cron: exit 0" test $? -eq 0
sid="$(grep -o 'sch_[0-9a-z]*' "$tmp/cron" | head -1)"
"$magic" schedule list >"$tmp/schedules" 2>&1
check "schedule list shows it" grep -q "$sid.*\*/5 \* \* \* \*" "$tmp/schedules"
"$magic" schedule rm "$sid" >"$tmp/rm" 2>&1
check "schedule rm: exit 0" test $? -eq 0
"$magic" schedule list >"$tmp/schedules" 2>&1
check "schedule gone" bash -c "! grep -q '$sid' '$tmp/schedules'"
"$magic" schedule add Greeter --cron '61 * * * *' --input '{"name": "x"}' >"$tmp/badcron" 2>&1
check "bad cron: exit 1" test $? -eq 1
check "bad cron: E1005" grep -q '"E1005"' "$tmp/badcron"
"$magic" schedule add Greeter --in 1h --input '{"name": 5}' >"$tmp/badinput" 2>&1
check "schedule bad input: E1003" grep -q '"E1003"' "$tmp/badinput"
# Idempotent submit: the same key answers with the same run.
k1="$("$magic" invoke Greeter --addr "$grpc" --input '{"name": "Once"}' --async --idempotency-key smoke-key)"
k2="$("$magic" invoke Greeter --addr "$grpc" --input '{"name": "Once"}' --async --idempotency-key smoke-key)"
check "idempotency key: same run" test -n "$k1" -a "$k1" = "$k2"
# queue:subscribe: OrderIntake publishes, OrderAudit is triggered per message.
"$magic" invoke OrderIntake --addr "$grpc" --input '{"order_id": "ord-77", "amount": 1500}' \
  >"$tmp/intake" 2>&1
check "order published" grep -q '"queued": true' "$tmp/intake"
audited=""
for _ in $(seq 1 50); do
  env -u MAGIC_KAFKA_BROKERS "$magic" logs OrderAudit >"$tmp/audit_logs" 2>&1
  grep -q "order audited.*order_id=ord-77" "$tmp/audit_logs" && audited=ok && break
  sleep 0.2
done
check "trigger ran OrderAudit for the message" test "$audited" = ok
check "trigger saw the envelope" grep -q "message_id=orders/" "$tmp/audit_logs"
"$magic" list >"$tmp/list" 2>&1
check "list shows the seeded Greeter" grep -q "^Greeter  *0.1.0" "$tmp/list"
mkdir -p "$tmp/greeter2"
sed 's/^version: 0.1.0$/version: 0.2.0/' examples/greeter/greeter.contract.yaml \
  >"$tmp/greeter2/greeter.contract.yaml"
sed 's/Hello, /Howdy, /' examples/greeter/greeter.py >"$tmp/greeter2/greeter.py"
"$magic" deploy "$tmp/greeter2" >"$tmp/deploy" 2>&1
check "deploy v2" grep -q "deployed Greeter 0.2.0 .*was 0.1.0" "$tmp/deploy"
check "v2 answers" greet V2 "Howdy, V2!"
sed -i 's/Howdy, /Hi, /' "$tmp/greeter2/greeter.py"
"$magic" deploy "$tmp/greeter2" >"$tmp/e4002" 2>&1
check "changed content, same version: exit 1" test $? -eq 1
check "E4002 printed" grep -q '"E4002"' "$tmp/e4002"
"$magic" rollback Greeter --to 0.1.0 >"$tmp/rollback" 2>&1
check "rollback" grep -q "Greeter: active version 0.1.0 (was 0.2.0)" "$tmp/rollback"
check "v1 answers again" greet V1 "Hello, V1!"
"$magic" rollback Greeter --to 9.9.9 >"$tmp/e4004" 2>&1
check "unknown rollback target: exit 1" test $? -eq 1
check "E4004 printed" grep -q '"E4004"' "$tmp/e4004"
"$magic" get Greeter --json >"$tmp/get" 2>&1
check "get lists both versions" grep -q '"version": "0.2.0"' "$tmp/get"
"$magic" undeploy Greeter >"$tmp/undeploy" 2>&1
check "undeploy" grep -q "Greeter undeployed (was 0.1.0)" "$tmp/undeploy"
check "undeployed: E4003" greet Gone '"E4003"'
"$magic" list --addr 127.0.0.1:1 >"$tmp/unreachable" 2>&1
check "control unreachable: exit 2" test $? -eq 2

kill -TERM "$dev"
wait "$dev"
check "clean stop" test $? -eq 0
check "stopping printed" grep -q "magic dev: stopping" "$tmp/out"
check "state.json removed" test ! -e "$HOME/.cache/magic/dev/state.json"
[ "$fail" -eq 0 ] || { tail -20 "$tmp/log"; }
echo "dev_smoke: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
