# Shared checks of the CLI test scripts (sourced). The sourcing script sets
# `tmp` (a scratch directory) and counts in `pass` / `fail`.
#   expect 0 "validate ok" -- "$magic" validate examples
#   contains "$tmp/out" "E1003" "error printed"
#   lacks "$tmp/out" "$secret" "value not printed"

expect() {  # expect EXIT_CODE DESCRIPTION -- COMMAND...   (stdin: /dev/null)
  local want="$1" what="$2"
  shift 3
  "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
  local got=$?
  if [ "$got" -eq "$want" ]; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAIL: $what: exit $got, want $want"
    sed 's/^/  out: /' "$tmp/out" | head -20
    sed 's/^/  err: /' "$tmp/err" | head -20
  fi
}

contains() {  # contains FILE TEXT DESCRIPTION
  if grep -qF -- "$2" "$1"; then pass=$((pass + 1)); else
    fail=$((fail + 1))
    echo "FAIL: $3: '$2' not in output"
    head -20 "$1" | sed 's/^/  /'
  fi
}

lacks() {  # lacks FILE TEXT DESCRIPTION
  if grep -qF -- "$2" "$1"; then
    fail=$((fail + 1))
    echo "FAIL: $3: '$2' found in output"
  else pass=$((pass + 1)); fi
}
