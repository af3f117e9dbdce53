#!/usr/bin/env bash
# End-to-end checks of the real `magic` binary: exit codes (0 ok, 1 invalid,
# 2 usage), --help on every verb, the spec's examples, and a scaffolded
# controller whose own unittest passes under Debian's /usr/bin/python3.
# Usage: cli_e2e.sh BUILD_BIN_DIR   (run from the repository root)
set -u
magic="$1/magic"
root="$(pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
# shellcheck source=tests/cli/checks.sh
. "$(dirname "$0")/checks.sh"

for verb in validate check-input check-output "new controller"; do
  # shellcheck disable=SC2086
  expect 0 "$verb --help" -- "$magic" $verb --help
  contains "$tmp/out" "Usage" "$verb --help prints usage"
done
expect 2 "no verb" -- "$magic"
expect 2 "unknown verb" -- "$magic" frobnicate
expect 2 "unknown flag" -- "$magic" validate --bogus examples

expect 0 "spec examples validate" -- "$magic" validate examples
contains "$tmp/out" "(InvoiceSync 1.2.0)" "InvoiceSync reported"
contains "$tmp/out" "(CustomerLookup 1.0.0)" "CustomerLookup reported"
expect 0 "spec examples validate --json" -- "$magic" validate --json examples
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["summary"]["invalid"]==0' \
  "$tmp/out" && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: --json summary"; }

# Every file of the broken corpus is invalid (named NNN_*.yaml|json, so given explicitly).
broken=(contracts/testdata/broken/*.yaml contracts/testdata/broken/*.json)
expect 1 "broken corpus is invalid" -- "$magic" validate "${broken[@]}"
contains "$tmp/out" "${#broken[@]} contract(s) checked: 0 valid, ${#broken[@]} invalid" \
  "every corpus file rejected"
expect 1 "a directory without contract files" -- "$magic" validate contracts/testdata/broken
contains "$tmp/out" "no contract file found" "says why"
expect 1 "missing file" -- "$magic" validate "$tmp/none.yaml"
contains "$tmp/out" "E1001" "missing file is E1001"

expect 0 "check-input valid" -- "$magic" check-input examples/invoice_sync \
  --input-file examples/invoice_sync/sample_input.json
expect 1 "check-input invalid uuid" -- "$magic" check-input examples/customer_lookup \
  --input '{"customer_id": "not-a-uuid"}'
contains "$tmp/out" '"E1003"' "E1003 on stdout"
contains "$tmp/out" '"expected": "uuid"' "details.expected"
expect 1 "check-output invalid" -- "$magic" check-output examples/customer_lookup \
  --output '{"customer": {"id": "x"}}'
contains "$tmp/out" '"E1004"' "E1004 on stdout"
expect 2 "check-input without value" -- "$magic" check-input examples/customer_lookup

expect 0 "new controller" -- "$magic" new controller HelloWorld --dir "$tmp"
expect 0 "scaffold validates strictly" -- "$magic" validate --strict "$tmp/hello_world"
expect 0 "scaffold sample input" -- "$magic" check-input "$tmp/hello_world" \
  --input-file "$tmp/hello_world/sample_input.json"
(cd "$tmp/hello_world" && PYTHONPATH="$root/sdk/python" /usr/bin/python3 -m unittest -q \
  >"$tmp/py.out" 2>&1) && pass=$((pass + 1)) || {
  fail=$((fail + 1))
  echo "FAIL: scaffolded unittest"
  cat "$tmp/py.out"
}
expect 2 "new controller twice" -- "$magic" new controller HelloWorld --dir "$tmp"
expect 2 "new controller bad name" -- "$magic" new controller hello-world --dir "$tmp"

echo "cli_e2e: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
