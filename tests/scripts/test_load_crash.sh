#!/usr/bin/env bash
# mcr-load killed with SIGKILL: at each phase (MCR_LOAD_CRASH_AT) and at random
# moments of a medium load. After every kill: 'current' still names the
# previous generation, that file passes PRAGMA integrity_check and its content
# is unchanged; the next run succeeds and leaves no orphan. Also: a second
# run while one holds the lock exits 75 saying so.
# Usage: test_load_crash.sh BIN_DIR [PEOPLE] [RANDOM_KILLS]
set -u
BIN=$(cd "$1" && pwd)
PEOPLE=${2:-3000}
KILLS=${3:-6}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
err() { echo "$*"; fail=1; }

"$BIN/mcr-synth" --people "$PEOPLE" --seed 5 --out "$work/region" --flat >"$work/summary" ||
  { echo "mcr-synth failed"; exit 1; }
export MCR_NOW=$(awk '$1 == "synth.extract_time" { print $2 }' "$work/summary")
cfg=$work/region/mcr.yaml
store=$work/region/store
orgs=$(awk -F'[. ]' '$1 == "organisations" && $3 == "kind" { print $2 }' "$work/summary")
extract_all() {
  for ods in $orgs; do
    kind=$(awk -v k="organisations.$ods.kind" '$1 == k { print $2 }' "$work/summary")
    src=$(awk -v k="organisations.$ods.source" '$1 == k { print $2 }' "$work/summary")
    "$BIN/mcr-extract-$kind" --config "$cfg" --org "$ods" --input "$work/region/$src" \
      >/dev/null 2>"$work/err" || { echo "$ods: extract failed: $(cat "$work/err")"; exit 1; }
  done
}
extract_all
"$BIN/mcr-load" --config "$cfg" >/dev/null 2>"$work/err" || { echo "first load failed: $(cat "$work/err")"; exit 1; }
gen0=$(readlink "$store/current")

dump() {
  sqlite3 -readonly "$store/current" "
    SELECT * FROM source ORDER BY org; SELECT * FROM source_section ORDER BY 1, 2;
    SELECT * FROM withheld ORDER BY 1, 2; SELECT * FROM member ORDER BY 1, 2;
    SELECT * FROM person ORDER BY 1, 2; SELECT * FROM objection ORDER BY 1, 2;
    SELECT * FROM item ORDER BY id; SELECT * FROM person_withheld ORDER BY 1, 2, 3, 4;"
}
dump >"$work/before"

# New extracts an hour later, so every run has files to load.
export MCR_NOW=$(date -u -d "${MCR_NOW%Z} UTC + 1 hour" +%Y-%m-%dT%H:%M:%SZ)
extract_all

check_unchanged() { # label
  local now
  now=$(readlink "$store/current")
  [ "$now" = "$gen0" ] || { err "$1: current is $now, expected $gen0"; return; }
  [ "$(sqlite3 -readonly "$store/current" 'PRAGMA integrity_check')" = ok ] ||
    err "$1: integrity_check failed"
  dump >"$work/after"
  cmp -s "$work/before" "$work/after" || err "$1: published content changed"
}

for phase in parsed inserted indexed checked linked; do
  # (in a command substitution, so the shell's "Killed" notice stays quiet)
  status=$( { MCR_LOAD_CRASH_AT=$phase "$BIN/mcr-load" --config "$cfg" >/dev/null 2>&1; echo $?; } 2>/dev/null )
  [ $status -eq 137 ] || err "crash at $phase: exit $status, expected death by SIGKILL (137)"
  check_unchanged "crash at $phase"
done

# The load history matches what is published, however a run ends. A run records
# its end (outcome, generation, files) just before the rename that publishes;
# the next run corrects the record of one killed in between.
hist() { sqlite3 -batch -noheader -separator ' ' "$store/history.sqlite" "$@"; }
last_run() { hist "SELECT run_id FROM load ORDER BY rowid DESC LIMIT 1"; }
run_row() { hist "SELECT outcome, coalesce(generation, '-'), coalesce(message, '') FROM load WHERE run_id = '$1'"; }
linked_run=$(last_run)   # killed at 'linked' above: recorded, not published
status=$( { MCR_LOAD_CRASH_AT=published "$BIN/mcr-load" --config "$cfg" >/dev/null 2>&1; echo $?; } 2>/dev/null )
[ $status -eq 137 ] || err "crash at published: exit $status, expected death by SIGKILL (137)"
published_run=$(last_run)
now=$(readlink "$store/current")
[ "$now" != "$gen0" ] || err "crash at published: nothing was published"
n=$((10#$(echo "$now" | sed 's/^gen-0*\([0-9][0-9]*\)\.sqlite$/\1/')))
[ "$(sqlite3 -readonly "$store/current" 'PRAGMA integrity_check')" = ok ] || err "crash at published: integrity_check"
"$BIN/mcr-load" --config "$cfg" >"$work/out" 2>&1 || err "run after the crash at published failed: $(cat "$work/out")"
want_linked="failed - interrupted before publishing generation $n: nothing published"
[ "$(run_row "$linked_run")" = "$want_linked" ] ||
  err "killed before its rename: history says '$(run_row "$linked_run")', expected '$want_linked'"
[ "$(run_row "$published_run")" = "ok $n " ] ||
  err "killed after its rename: history says '$(run_row "$published_run")', expected 'ok $n' (generation $n is what it published)"
"$BIN/mcr-report" --config "$cfg" loads >"$work/loads" 2>&1 || err "mcr-report loads failed"
grep -F "$published_run" "$work/loads" | grep -qw "$n" || err "mcr-report loads does not show $published_run with generation $n"
gen0=$(readlink "$store/current")
dump >"$work/before"

# Random moments: measure one full run's time (in a copy), then kill within it.
cp -a "$work/region" "$work/timing"
start=$(date +%s%N)
"$BIN/mcr-load" --config "$work/timing/mcr.yaml" >/dev/null 2>&1
span=$(( ($(date +%s%N) - start) / 1000000 ))
rm -rf "$work/timing"
[ "$span" -gt 0 ] || span=100
for i in $(seq 1 "$KILLS"); do
  delay_ms=$(( (RANDOM % span) * 9 / 10 + 1 ))
  # (timeout kills it at that moment unless it has finished: 137 means killed)
  timeout --foreground -s KILL "$(awk -v m="$delay_ms" 'BEGIN { printf "%.3f", m / 1000 }')" \
    "$BIN/mcr-load" --config "$cfg" >/dev/null 2>&1
  if [ $? -eq 137 ]; then
    now=$(readlink "$store/current")
    if [ "$now" = "$gen0" ]; then
      check_unchanged "kill after ${delay_ms} ms"
    else
      # Killed after the rename: the new generation is published and whole.
      [ "$(sqlite3 -readonly "$store/current" 'PRAGMA integrity_check')" = ok ] ||
        err "kill after ${delay_ms} ms: new generation $now fails integrity_check"
      gen0=$now
      dump >"$work/before"
    fi
  else
    gen0=$(readlink "$store/current")
    dump >"$work/before"
  fi
done

# A run holding the lock: a second one exits 75 and says so.
(
  exec 9>"$work/region/run/mcr.lock"
  flock 9
  "$BIN/mcr-load" --config "$cfg" >"$work/locked.out" 2>"$work/locked.err"
  echo $? >"$work/locked.status"
)
[ "$(cat "$work/locked.status")" = 75 ] || err "locked: exit $(cat "$work/locked.status"), expected 75"
grep -q "another run holds the lock" "$work/locked.err" || err "locked: stderr $(cat "$work/locked.err")"

# The next run succeeds and clears the orphans.
"$BIN/mcr-load" --config "$cfg" >"$work/out" 2>&1 || err "run after the kills failed: $(cat "$work/out")"
now=$(readlink "$store/current")
[ "$now" != "$gen0" ] || err "no new generation after the kills"
[ -e "$store/current.tmp" ] && err "current.tmp left behind"
newest=$(ls "$store" | grep -E '^gen-[0-9]{6}\.sqlite$' | sort | tail -n 1)
[ "$newest" = "$now" ] || err "orphan generation $newest newer than current $now"
[ "$(sqlite3 -readonly "$store/current" 'PRAGMA integrity_check')" = ok ] || err "final integrity_check failed"
running=$(sqlite3 -readonly "$store/history.sqlite" "SELECT count(*) FROM load WHERE outcome = 'running'")
[ "$running" = 0 ] || err "$running history rows still 'running'"

[ $fail -eq 0 ] && echo "mcr-load crash safety: 5 phases and $KILLS random kills left $gen0 published and intact"
exit $fail
