#!/usr/bin/env bash
# kill -9 a worker during a load of 1,000 invocations: every invocation
# still gets exactly one result. Real processes (magic-gateway, two
# magic-worker, magic-scheduler) against the real Kafka and PostgreSQL of
# scripts/services (MAGIC_TEST_* variables).
# Usage: kill_worker_test.sh BUILD_BIN_DIR   (from the repository root)
set -uo pipefail
bin="$1"
: "${MAGIC_TEST_KAFKA_BROKERS:?run scripts/services start and load its env file}"
: "${MAGIC_TEST_POSTGRES_URL:?run scripts/services start and load its env file}"
tmp="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
grpc_port="$(free_port)"
http_port="$(free_port)"
run="$(date +%s%N)"
common=(--set "kafka.brokers=$MAGIC_TEST_KAFKA_BROKERS" --set "postgres.url=$MAGIC_TEST_POSTGRES_URL")
ctl=(--set controllers.dir=worker/testdata/controllers)

"$bin/magic-scheduler" "${common[@]}" >"$tmp/scheduler.log" 2>&1 &
pids+=($!)
for n in 1 2; do
  "$bin/magic-worker" "${common[@]}" "${ctl[@]}" --set "worker.id=wk_kill_${run}_$n" \
    --set "worker.group=workers_kill_$run" >"$tmp/worker$n.log" 2>&1 &
  pids+=($!)
done
victim="${pids[1]}"
"$bin/magic-gateway" "${common[@]}" "${ctl[@]}" --set "gateway.grpc_addr=127.0.0.1:$grpc_port" \
  --set "gateway.http_port=$http_port" >"$tmp/gateway.log" 2>&1 &
pids+=($!)

for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$http_port/healthz" >/dev/null && break
  sleep 0.2
done

# Submit 1,000 jobs (keep-alive HTTP), kill -9 worker 1 after 300 were
# submitted, then wait for every result.
/usr/bin/python3 - "$http_port" "$MAGIC_TEST_POSTGRES_URL" "$victim" "$run" <<'PY'
import http.client, json, os, signal, subprocess, sys, threading, time
port, pg_url, victim, run = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
ids = [f"req_kill_{run}_{i:04d}" for i in range(1000)]

def query(sql):
    return subprocess.run(["psql", pg_url, "-At", "-c", sql], check=True,
                          capture_output=True, text=True).stdout.strip()

def submit_all():
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for n, rid in enumerate(ids):
        conn.request("POST", "/v1/controllers/Adder:submit", body=json.dumps({"a": n, "b": 2}),
                     headers={"X-Request-ID": rid, "Content-Type": "application/json"})
        r = conn.getresponse(); r.read()
        assert r.status == 202, (r.status, rid)
        if n == 300:  # mid-load: the victim holds partitions with work still coming
            os.kill(victim, signal.SIGKILL)
            print(f"kill -9 worker {victim} after submitting {n + 1}", flush=True)

submitter = threading.Thread(target=submit_all)
submitter.start()
pattern = f"req_kill_{run}_%"
deadline = time.time() + 180
while time.time() < deadline:
    done = int(query(f"select count(*) from magic.invocations where request_id like '{pattern}' "
                     "and state in ('SUCCEEDED','FAILED')"))
    if done >= 1000:
        break
    time.sleep(0.2)
submitter.join()
killed = True
rows = query("select state, count(*) from magic.invocations "
             f"where request_id like '{pattern}' group by state order by state")
print("states:", rows.replace("\n", ", "))
total = int(query(f"select count(*) from magic.invocations where request_id like '{pattern}'"))
succeeded = int(query(f"select count(*) from magic.invocations where request_id like '{pattern}' "
                      "and state = 'SUCCEEDED'"))
ok = killed and total == 1000 and succeeded == 1000
print(f"kill_worker: killed={killed} rows={total} succeeded={succeeded}")
sys.exit(0 if ok else 1)
PY
rc=$?
if [ "$rc" -ne 0 ]; then tail -20 "$tmp"/*.log; fi
exit "$rc"
