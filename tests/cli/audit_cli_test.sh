#!/usr/bin/env bash
# `magic audit` against the real PostgreSQL of scripts/services
# (MAGIC_TEST_POSTGRES_URL, as a superuser). A scratch schema gets a chain
# whose hashes are computed HERE, in Python, from the format documented in
# broker/audit.h: so this also proves that the chain can be verified
# independently of our C++ (e.g. by a SIEM). Then rows are edited and
# deleted behind the trigger's back and --verify must say so (exit 1).
# Usage: audit_cli_test.sh BUILD_BIN_DIR   (run from the repository root)
set -u
magic="$1/magic"
url="${MAGIC_TEST_POSTGRES_URL:?MAGIC_TEST_POSTGRES_URL is not set (scripts/services start)}"
tmp="$(mktemp -d)"
schema="audit_cli_$$_$RANDOM"
cleanup() {
  psql -q "$url" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT
pass=0
fail=0
# shellcheck source=tests/cli/checks.sh
. "$(dirname "$0")/checks.sh"

sql() { psql -q -v ON_ERROR_STOP=1 "$url" "$@" >"$tmp/psql.out" 2>&1 || cat "$tmp/psql.out"; }

# The table as MigrateAuditLog makes it, minus the trigger (we tamper later).
sql -c "CREATE SCHEMA $schema; CREATE TABLE $schema.audit_log (
  chain_seq bigint PRIMARY KEY, id text NOT NULL UNIQUE, time timestamptz NOT NULL,
  request_id text NOT NULL, controller text NOT NULL, version text NOT NULL,
  capability text NOT NULL, operation text NOT NULL, allowed boolean NOT NULL, code text NOT NULL,
  latency_us bigint NOT NULL, seq bigint NOT NULL, worker_id text NOT NULL, fields jsonb NOT NULL,
  prev_hash bytea NOT NULL, hash bytea NOT NULL)"

# Five rows, hashed independently: hash = SHA-256(prev || canonical JSON).
/usr/bin/python3 - "$schema" >"$tmp/rows.sql" <<'PY'
import hashlib, json, sys
schema = sys.argv[1]
prev = bytes(32)
def lit(s): return "'" + s.replace("'", "''") + "'"
for n in range(1, 6):
    rec = {"id": f"aud_cli_{n}", "time": f"2024-05-01T12:00:0{n}.00000{n}Z",
           "request_id": "req_cli_a" if n <= 3 else "req_cli_b", "controller": "invoice_sync",
           "version": "1.2.0", "capability": "db:read" if n != 4 else "http:egress",
           "operation": "query" if n != 2 else "que\x1b[31mry",  # an ANSI escape
           "decision": "denied" if n == 4 else "allowed", "code": "E2003" if n == 4 else "",
           "latency_us": 1500 * n, "seq": n, "worker_id": "wk_cli",
           "fields": {"table": "customers", "query_hash": f"h{n}", "note": "two words"}}
    canonical = json.dumps(dict(rec, chain_seq=n), sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False).encode()
    h = hashlib.sha256(prev + canonical).digest()
    t = rec["time"].replace("T", " ").replace("Z", "+00")
    print(f"INSERT INTO {schema}.audit_log VALUES ({n}, {lit(rec['id'])}, {lit(t)}, "
          f"{lit(rec['request_id'])}, {lit(rec['controller'])}, {lit(rec['version'])}, "
          f"{lit(rec['capability'])}, {lit(rec['operation'])}, {rec['decision'] == 'allowed'}, "
          f"{lit(rec['code'])}, {rec['latency_us']}, {n}, {lit(rec['worker_id'])}, "
          f"{lit(json.dumps(rec['fields']))}, decode('{prev.hex()}', 'hex'), "
          f"decode('{h.hex()}', 'hex'));")
    prev = h
PY
sql -f "$tmp/rows.sql"

s=(--postgres "$url" --schema "$schema")
expect 0 "audit --help" -- "$magic" audit --help
contains "$tmp/out" "--verify" "help lists --verify"

expect 0 "independently hashed chain verifies" -- "$magic" audit "${s[@]}" --verify
contains "$tmp/out" "audit chain intact: 5 row(s) verified" "intact report"
expect 0 "verify --json" -- "$magic" audit "${s[@]}" --verify --json
contains "$tmp/out" '"intact":true' "json report"

expect 0 "list one request" -- "$magic" audit "${s[@]}" --request req_cli_a
contains "$tmp/out" "TIME" "header line"
contains "$tmp/out" "2024-05-01T12:00:01.000001Z  req_cli_a  invoice_sync@1.2.0  db:read" \
  "aligned columns"
contains "$tmp/out" "1.5ms" "latency"
contains "$tmp/out" 'note="two words" query_hash=h1 table=customers' "key fields"
contains "$tmp/out" 'que\x1b[31mry' "control characters shown escaped"
lacks "$tmp/out" $'\x1b' "no raw escape byte reaches the terminal"
[ "$(grep -c req_cli_a "$tmp/out")" -eq 3 ] && pass=$((pass + 1)) ||
  { fail=$((fail + 1)); echo "FAIL: three records of req_cli_a"; }

expect 0 "list --json" -- "$magic" audit "${s[@]}" --controller invoice_sync --limit 2 --json
/usr/bin/python3 - "$tmp/out" <<'PY' && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: json lines"; }
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
assert [r["id"] for r in rows] == ["aud_cli_4", "aud_cli_5"], rows  # the 2 most recent
assert rows[0]["decision"] == "denied" and rows[0]["code"] == "E2003", rows[0]
assert rows[0]["fields"]["query_hash"] == "h4" and rows[0]["time"] == "2024-05-01T12:00:04.000004Z"
PY

expect 0 "a request without records is not an error" -- "$magic" audit "${s[@]}" --request nope
contains "$tmp/err" "no audit records for request nope" "says so"

# The URL from `magic dev`'s state file.
mkdir -p "$tmp/home/.cache/magic/dev"
printf '{"postgres_url": "%s"}\n' "$url" >"$tmp/home/.cache/magic/dev/state.json"
expect 0 "URL from the dev state file" -- env -u MAGIC_POSTGRES_URL HOME="$tmp/home" \
  "$magic" audit --schema "$schema" --verify
expect 0 "URL from MAGIC_POSTGRES_URL" -- env MAGIC_POSTGRES_URL="$url" HOME=/nonexistent \
  "$magic" audit --schema "$schema" --verify
expect 2 "no URL anywhere" -- env -u MAGIC_POSTGRES_URL HOME=/nonexistent "$magic" audit
contains "$tmp/err" "MAGIC_POSTGRES_URL" "says where a URL can come from"
expect 2 "unreachable" -- "$magic" audit --postgres postgresql://postgres@127.0.0.1:1/magic
expect 2 "limit 0" -- "$magic" audit "${s[@]}" --limit 0
expect 2 "verify takes no filter" -- "$magic" audit "${s[@]}" --verify --request x
expect 2 "bad schema" -- "$magic" audit --postgres "$url" --schema "x;drop"

# Tampering: an edited row, then a deleted one.
sql -c "UPDATE $schema.audit_log SET allowed = true WHERE chain_seq = 4"
expect 1 "edited row" -- "$magic" audit "${s[@]}" --verify
contains "$tmp/out" "BROKEN at chain_seq 4" "names the edited row"
sql -c "UPDATE $schema.audit_log SET allowed = false WHERE chain_seq = 4;
        DELETE FROM $schema.audit_log WHERE chain_seq = 2"
expect 1 "deleted row" -- "$magic" audit "${s[@]}" --verify --json
contains "$tmp/out" '"first_bad_seq":2' "names the missing row"

echo "audit_cli_test: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
