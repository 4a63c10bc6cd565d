#!/usr/bin/env bash
# Runs one data-driven test case (curl's tests/data style).
#   tests/cases/<name>/cmd       shell commands; $BIN is the programs' folder, $CASE the
#                                case folder, $CASES tests/cases (its mcr.yaml is the
#                                config the cases share), $DATA tests/data, $SHARED
#                                ../shared/data; runs in a fresh temporary directory
#   tests/cases/<name>/exit      expected exit status (default 0)
#   tests/cases/<name>/stdout    expected standard output, exactly (optional)
#   tests/cases/<name>/stderr    a fixed string standard error must contain (optional)
set -u
CASE=$(cd "$1" && pwd); BIN=$(cd "$2" && pwd); CASES=$(dirname "$CASE")
DATA=$(cd "$(dirname "$0")/data" && pwd)
SHARED=$(cd "$(dirname "$0")/../.." && pwd)/../shared/data
export CASE CASES BIN DATA SHARED
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
bash "$CASE/cmd" >"$work/.out" 2>"$work/.err"
status=$?
want=0; [ -f "$CASE/exit" ] && want=$(tr -d '[:space:]' <"$CASE/exit")
fail=0
if [ "$status" != "$want" ]; then
  echo "exit status $status, expected $want"; fail=1
fi
if [ -f "$CASE/stdout" ] && ! diff -u "$CASE/stdout" "$work/.out"; then
  echo "standard output differs from $CASE/stdout"; fail=1
fi
if [ -f "$CASE/stderr" ]; then
  while IFS= read -r line; do
    [ -z "$line" ] && continue
    grep -qF -- "$line" "$work/.err" || { echo "stderr lacks: $line"; fail=1; }
  done <"$CASE/stderr"
fi
if [ $fail -ne 0 ]; then
  echo "--- stderr:"; head -c 4000 "$work/.err"
  echo "--- stdout:"; head -c 4000 "$work/.out"
fi
exit $fail
