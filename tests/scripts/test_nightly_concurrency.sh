#!/usr/bin/env bash
# Two nights started at once on one region, with the real programs: while one run
# holds the run lock the other exits 75 at once, doing nothing; with --wait it
# runs after the first has ended; both publish, serially. An ad hoc mcr-load
# holding the loader's own lock makes the night exit 75 with its staged files kept
# for the next run. The first run's load is held at a gate (a wrapper found
# through $MCR_BIN waits on a FIFO) so the overlap is certain: no sleeping.
# Usage: test_nightly_concurrency.sh BIN_DIR
set -u
BIN=$(cd "${1:?usage: $0 BIN_DIR}" && pwd)
work=$(mktemp -d /tmp/mcr-nightly-concurrency.XXXXXX)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
. "$(dirname "$0")/sync.sh"
for p in mcr-synth mcr-extract-gp mcr-extract-lcs mcr-extract-ooh mcr-load mcr-report mcr-nightly; do
  [ -x "$BIN/$p" ] || { echo "FAIL: $BIN/$p is missing"; exit 1; }
done
region=$work/region
"$BIN/mcr-synth" --people 200 --seed 3 --out "$region" --flat >"$work/summary" || { echo "FAIL: mcr-synth"; exit 1; }
log=$region/log/mcr.log
now=2026-11-21T06:00:00Z

# The real programs, with mcr-load waiting at a gate before it starts.
gate_make load
mkdir "$work/gatedbin"
for p in "$BIN"/mcr-*; do ln -s "$p" "$work/gatedbin/"; done
rm "$work/gatedbin/mcr-load"
printf '#!/bin/sh\necho $$ >"%s/load/started"\nread -r _ <"%s/load/go"\nexec "%s/mcr-load" "$@"\n' \
  "$work" "$work" "$BIN" >"$work/gatedbin/mcr-load"
chmod +x "$work/gatedbin/mcr-load"

MCR_NOW=$now MCR_BIN=$work/gatedbin "$BIN/mcr-nightly" --config "$region/mcr.yaml" --no-report \
  >"$work/first.out" 2>&1 &
first=$!
gate_wait_started load   # the first run holds the run lock and is in its load step

# The second: 75 at once, no step run. (Had it waited for the lock it would wait
# for ever, the first being held at the gate: the timeout ends that as a failure.)
MCR_NOW=$now timeout 300 "$BIN/mcr-nightly" --config "$region/mcr.yaml" --no-report \
  >"$work/second.out" 2>"$work/second.err"
status=$?
[ "$status" -eq 75 ] || fail "the second run exited $status, expected 75 (124: it waited)"
grep -q 'another run holds the lock' "$work/second.err" || fail "the second run did not say why"
[ -z "$(grep ' step=' "$log" | grep -v -- "-$first step=")" ] || fail "the second run ran a step"

# The third, with --wait: runs once the first has ended.
MCR_NOW=2026-11-21T06:00:05Z "$BIN/mcr-nightly" --config "$region/mcr.yaml" --no-report --wait \
  >"$work/third.out" 2>&1 &
third=$!
wait_line "$log" "run=[0-9TZ]*-$third waiting: another run holds the lock" ||
  fail "the third run did not say it was waiting"
gate_open load
wait "$first"; s1=$?
wait "$third"; s3=$?
[ "$s1" -eq 0 ] || { fail "the first run exited $s1"; cat "$work/first.out"; }
[ "$s3" -eq 0 ] || { fail "the waiting run exited $s3"; cat "$work/third.out"; }
grep -q "run=[0-9TZ]*-$third waiting: another run holds the lock" "$log" || fail "the third run did not wait"
first_end=$(grep -n "run=[0-9TZ]*-$first end:" "$log" | cut -d: -f1)
third_start=$(grep -n "run=[0-9TZ]*-$third start:" "$log" | cut -d: -f1)
[ -n "$first_end" ] && [ -n "$third_start" ] && [ "$third_start" -gt "$first_end" ] ||
  fail "the waiting run started before the first ended"
gens=$(sqlite3 -batch -noheader "$region/store/history.sqlite" "SELECT count(*) FROM load WHERE generation IS NOT NULL")
[ "$gens" -eq 2 ] || fail "$gens loads published, expected 2"
[ "$(readlink "$region/store/current")" = gen-000002.sqlite ] || fail "generation 2 is not the current one"

# An ad hoc mcr-load holding the loader's lock (this shell holds it, on fd 5,
# which the night does not inherit): the night exits 75, keeps its files.
lock=$region/run/mcr.lock
exec 5>>"$lock"
flock 5
MCR_NOW=2026-11-22T06:00:00Z "$BIN/mcr-nightly" --config "$region/mcr.yaml" --no-report \
  >"$work/fourth.out" 2>&1 5>&-
status=$?
[ "$status" -eq 75 ] || { fail "a night with the loader's lock held exited $status, expected 75"; cat "$work/fourth.out"; }
[ "$(ls "$region"/staging/*/*/20261122T060000Z.yaml 2>/dev/null | wc -l)" -eq 5 ] ||
  fail "the night's staged files were not kept when the loader could not run"
exec 5>&-
MCR_NOW=2026-11-22T06:05:00Z "$BIN/mcr-nightly" --config "$region/mcr.yaml" --no-report >"$work/fifth.out" 2>&1 ||
  { fail "the next night did not complete"; cat "$work/fifth.out"; }
[ -z "$(ls "$region"/staging/*/*/ | grep -E '\.(yaml|xml\.gz)$')" ] || fail "staged files left after the next night"

[ "$fails" -eq 0 ] || { echo "$fails failure(s); work folder $work"; exit 1; }
echo "ok: test_nightly_concurrency"
