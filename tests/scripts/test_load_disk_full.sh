#!/usr/bin/env bash
# The disk fills up during a load, at moments spread over the whole run (a shim,
# tests/preload/enospc.c, makes writes under the store fail with ENOSPC after a
# byte budget; SQLite's temporary files are put there too): every time mcr-load
# exits 1 naming the real error ("No space left on device"), never a symptom
# such as "counts ... differ from its source"; nothing is published; the next
# run with space succeeds.
# Usage: test_load_disk_full.sh BIN_DIR  (VERBOSE=1 prints each message; the budget
# grows by STEP/STEP_DIV, default doubling)
set -u
BIN=$(cd "${1:?usage: $0 BIN_DIR}" && pwd)
shim=$(cd "$BIN/.." && pwd)/lib/libmcr_test_enospc.so
[ -f "$shim" ] || { echo "FAIL: $shim is missing"; exit 1; }
work=$(mktemp -d /tmp/mcr-disk-full.XXXXXX)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
. "$(dirname "$0")/region.sh"
region_make 300 9
cfg=$work/region/mcr.yaml
store=$work/region/store
extract_all() {
  for ods in $(region_orgs); do
    "$BIN/mcr-extract-$(summary_value "organisations.$ods.kind")" --config "$cfg" --org "$ods" \
      --input "$work/region/$(summary_value "organisations.$ods.source")" >/dev/null 2>"$work/err" ||
      { echo "FAIL: extract $ods: $(cat "$work/err")"; exit 1; }
  done
}
extract_all
"$BIN/mcr-load" --config "$cfg" >/dev/null 2>"$work/err" || { echo "FAIL: first load: $(cat "$work/err")"; exit 1; }
gen0=$(readlink "$store/current")
export MCR_NOW=$(date -u -d "${MCR_NOW%Z} UTC + 1 hour" +%Y-%m-%dT%H:%M:%SZ)
extract_all
mkdir -p "$store/tmp"

# A budget from nothing up to more than a load writes, doubling.
budget=0 runs=0 full=0
while :; do
  runs=$((runs + 1))
  LD_PRELOAD=$shim MCR_TEST_ENOSPC_DIR=$store MCR_TEST_ENOSPC_AFTER=$budget SQLITE_TMPDIR=$store/tmp \
    ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
    "$BIN/mcr-load" --config "$cfg" >"$work/out" 2>"$work/err"
  st=$?
  [ "$st" -eq 0 ] && break
  full=$((full + 1))
  [ "$st" -eq 1 ] || fail "disk full after $budget bytes: exit $st, expected 1: $(cat "$work/err")"
  grep -q 'No space left on device' "$work/err" ||
    fail "disk full after $budget bytes: the message does not name the error: $(cat "$work/err")"
  grep -qi 'differ' "$work/err" && fail "disk full after $budget bytes: a symptom reported: $(cat "$work/err")"
  [ "$(readlink "$store/current")" = "$gen0" ] || fail "disk full after $budget bytes: something was published"
  [ -n "${VERBOSE:-}" ] && echo "budget $budget: $(cat "$work/err")"
  [ "$budget" -gt $((1 << 31)) ] && { fail "the load never succeeded"; break; }
  budget=$(( budget ? budget * ${STEP:-2} / ${STEP_DIV:-1} : 4096 ))
done
[ "$full" -ge 5 ] || fail "only $full runs met a full disk"
[ "$(readlink "$store/current")" != "$gen0" ] || fail "the load with enough space published nothing"
[ "$(sqlite3 -readonly "$store/current" 'PRAGMA integrity_check')" = ok ] || fail "integrity_check failed"

[ "$fails" -eq 0 ] || { echo "$fails failure(s); work folder $work"; exit 1; }
echo "ok: test_load_disk_full ($full loads met a full disk, budgets 0 to $budget bytes)"
