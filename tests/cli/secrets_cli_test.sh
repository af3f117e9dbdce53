#!/usr/bin/env bash
# `magic secrets set|list|rm` against the real PostgreSQL of scripts/services
# (MAGIC_TEST_POSTGRES_URL): exit codes (0 ok, 1 bad secret, 2 usage or
# configuration), values never printed, the master key file's mode check,
# and the `magic dev` state file fallback. Secret names carry the run id.
# Usage: secrets_cli_test.sh BUILD_BIN_DIR   (run from the repository root)
set -u
magic="$1/magic"
pg="${MAGIC_TEST_POSTGRES_URL:?set MAGIC_TEST_POSTGRES_URL (source /tmp/magic-services/env)}"
tmp="$(mktemp -d)"
run="T$$_$RANDOM"
cleanup() {
  psql -q "$pg" -c "DELETE FROM magic.secrets WHERE name LIKE '${run}%'" >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT
pass=0
fail=0
# shellcheck source=tests/cli/checks.sh
. "$(dirname "$0")/checks.sh"

# Nothing from the caller's environment or a real `magic dev` may leak in.
unset MAGIC_POSTGRES_URL MAGIC_MASTER_KEY MAGIC_MASTER_KEY_FILE
export HOME="$tmp/home"
mkdir -p "$HOME"

equals() {  # equals GOT WANT DESCRIPTION
  if [ "$1" = "$2" ]; then pass=$((pass + 1)); else
    fail=$((fail + 1))
    echo "FAIL: $3: got '$1', want '$2'"
  fi
}

# Stored ciphertext length = value length + 16 (the MAC): tells what was stored.
stored_len() {
  psql -qtA "$pg" -c "SELECT length(ciphertext) - 16 FROM magic.secrets WHERE name = '$1'"
}

key="$tmp/master.key"
python3 -c 'import secrets; print(secrets.token_hex(32))' >"$key"
chmod 600 "$key"
where=(--postgres "$pg" --master-key-file "$key")

for verb in set list rm; do
  expect 0 "secrets $verb --help" -- "$magic" secrets "$verb" --help
  contains "$tmp/out" "Usage" "secrets $verb --help prints usage"
done
expect 2 "secrets without a verb" -- "$magic" secrets
expect 2 "secrets unknown verb" -- "$magic" secrets get X

value="s3cr3t-value-$run"
expect 0 "set --value" -- "$magic" secrets set "${run}_A" --value "$value" "${where[@]}"
contains "$tmp/out" "${run}_A" "set names the secret"
lacks "$tmp/out" "$value" "set does not print the value"
equals "$(stored_len "${run}_A")" "${#value}" "the --value is stored as given"

expect 0 "list" -- "$magic" secrets list "${where[@]}"
contains "$tmp/out" "${run}_A" "list shows the name"
lacks "$tmp/out" "$value" "list never shows values"
expect 0 "list --json" -- "$magic" secrets list --json --postgres "$pg"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); r=[s for s in d["secrets"] if s["name"]==sys.argv[2]]; assert len(r)==1 and set(r[0])=={"name","updated_at"}, r' \
  "$tmp/out" "${run}_A" && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: list --json shape"; }
lacks "$tmp/out" "$value" "list --json never shows values"

printf 'from-stdin\n' | "$magic" secrets set "${run}_B" "${where[@]}" >"$tmp/out" 2>&1
equals "$?" "0" "set from stdin"
equals "$(stored_len "${run}_B")" "10" "one trailing newline is dropped from stdin"
printf 'in-a-file\n' >"$tmp/value.txt"
expect 0 "set --from-file" -- "$magic" secrets set "${run}_C" --from-file "$tmp/value.txt" "${where[@]}"
equals "$(stored_len "${run}_C")" "10" "--from-file is stored as is"

expect 1 "bad name" -- "$magic" secrets set lower_case --value v "${where[@]}"
contains "$tmp/out" '"E1005"' "bad name is E1005"
expect 1 "empty value" -- "$magic" secrets set "${run}_D" --value "" "${where[@]}"
expect 1 "--value and --from-file" -- "$magic" secrets set "${run}_D" --value v --from-file "$tmp/value.txt" "${where[@]}"

expect 0 "rm" -- "$magic" secrets rm "${run}_A" --postgres "$pg"
expect 1 "rm again" -- "$magic" secrets rm "${run}_A" --postgres "$pg"
contains "$tmp/out" '"E4003"' "rm of a missing secret is E4003"
contains "$tmp/out" "${run}_A" "E4003 names the secret"

chmod 644 "$key"
expect 2 "a world-readable key file" -- "$magic" secrets set "${run}_E" --value v "${where[@]}"
contains "$tmp/out" '"E5002"' "mode check is E5002"
contains "$tmp/out" "chmod 600" "the error says how to fix it"
chmod 600 "$key"
expect 2 "no master key" -- "$magic" secrets set "${run}_E" --value v --postgres "$pg"
contains "$tmp/out" '"E5001"' "no master key is E5001"
expect 2 "no postgres" -- "$magic" secrets list
contains "$tmp/out" '"E5001"' "no PostgreSQL is E5001"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
expect 2 "postgres unreachable" -- "$magic" secrets list --postgres "postgresql://postgres@127.0.0.1:$port/magic?connect_timeout=2"
contains "$tmp/out" '"E3005"' "unreachable is E3005"

MAGIC_MASTER_KEY="$(cat "$key")" MAGIC_POSTGRES_URL="$pg" \
  "$magic" secrets set "${run}_F" --value from-env >"$tmp/out" 2>&1
equals "$?" "0" "environment variables are used"

# A running `magic dev` is found through its state file.
mkdir -p "$HOME/.cache/magic/dev"
printf '{"postgres_url": "%s", "master_key_file": "%s"}\n' "$pg" "$key" >"$HOME/.cache/magic/dev/state.json"
expect 0 "set via the dev state file" -- "$magic" secrets set "${run}_G" --value dev
expect 0 "list via the dev state file" -- "$magic" secrets list
contains "$tmp/out" "${run}_G" "the dev state file's database is used"
expect 0 "rm via the dev state file" -- "$magic" secrets rm "${run}_G"

echo "secrets_cli_test: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
