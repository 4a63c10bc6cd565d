#!/usr/bin/env bash
# Temporary files holding personal data: an extractor's spill (names, addresses,
# phone numbers) and the staged payload being written are mode 0600; the spill is
# never visible by name; a run that fails, or is stopped by SIGTERM, leaves
# nothing behind; what a run killed by SIGKILL leaves (and spill files of older
# versions) the next run removes, never a live run's. The extractor is held in
# the middle of its run by reading persons.csv from a FIFO the test writes: no
# sleeping, no timing.
# Usage: test_extract_temp_files.sh BIN_DIR
set -u
BIN=$(cd "${1:?usage: $0 BIN_DIR}" && pwd)
work=$(mktemp -d /tmp/mcr-extract-temp.XXXXXX)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
"$BIN/mcr-synth" --people 40 --seed 7 --out "$work/r" >/dev/null || { echo "FAIL: mcr-synth"; exit 1; }
ods=$(basename "$(ls -d "$work"/r/sources/lcs/*)")
src=$work/r/sources/lcs/$ods
stage=$work/r/staging/$ods/lcs
mkdir -p "$work/in"
cp "$src/involvements.csv" "$work/in/"
extract() { MCR_NOW=$1 "$BIN/mcr-extract-lcs" --config "$work/r/mcr.yaml" --org "$ods" --input "$2"; }

# held RUN_NOW: start an extractor whose persons.csv is a FIFO and hold it after
# it has opened its temporary files (it blocks reading the FIFO's remaining rows).
held() {
  rm -f "$work/in/persons.csv"
  mkfifo "$work/in/persons.csv"
  MCR_NOW=$1 "$BIN/mcr-extract-lcs" --config "$work/r/mcr.yaml" --org "$ods" --input "$work/in" \
    >"$work/held.out" 2>"$work/held.err" &
  pid=$!
  exec 3>"$work/in/persons.csv"   # returns once the extractor has opened it
  head -n 5 "$src/persons.csv" >&3
}
# (the spill is opened before persons.csv, so by now it exists: see its mode and
# that it has no name, through /proc)
inspect_held() {
  local tmp
  tmp=$(ls -A "$stage" | grep -c '\.xml\.gz\.tmp$')
  [ "$tmp" -eq 1 ] || fail "$1: $tmp payload temporary files while writing, expected 1: $(ls -A "$stage")"
  for f in "$stage"/.*.xml.gz.tmp; do
    [ "$(stat -c %a "$f")" = 600 ] || fail "$1: $f has mode $(stat -c %a "$f"), expected 600"
  done
  ls -A "$stage" | grep -E '^\.(spill|bucket)-' && fail "$1: the spill has a name in $stage"
  local deleted=0 l
  for fd in /proc/"$pid"/fd/*; do
    l=$(readlink "$fd") || continue
    case $l in "$stage"/.spill-*' (deleted)')
      deleted=$((deleted + 1))
      [ "$(stat -L -c %a "$fd")" = 600 ] || fail "$1: the spill has mode $(stat -L -c %a "$fd"), expected 600" ;;
    esac
  done
  [ "$deleted" -eq 1 ] || fail "$1: $deleted open unnamed spill file(s), expected 1"
}

# 1. Stopped by SIGTERM (as mcr-nightly's children are when it is killed): nothing left.
held 2026-11-21T02:00:00Z
inspect_held sigterm
kill -TERM "$pid"
wait "$pid"; st=$?
exec 3>&-
[ "$st" -eq 143 ] || fail "sigterm: exit $st, expected 143 (killed by SIGTERM)"
[ -z "$(ls -A "$stage")" ] || fail "sigterm: left behind: $(ls -A "$stage")"

# 2. Killed by SIGKILL: the payload's temporary file stays (nothing can remove it
# then) until the next run. A live writer's files, and other files, are kept.
held 2026-11-21T03:00:00Z
inspect_held sigkill
kill -KILL "$pid"
wait "$pid" 2>/dev/null
exec 3>&-
left=$(ls -A "$stage")
[ "$(echo "$left" | grep -c '\.xml\.gz\.tmp$')" -eq 1 ] || fail "sigkill: expected the payload temporary file left, found: $left"
dead=$(sh -c 'echo $$')
printf 'Smith,1 High St,01632 960000\n' >"$stage/.spill-$dead-0"   # an older version's spill
printf 'x' >"$stage/.bucket-$dead-3"
printf 'x' >"$stage/.spill-$$-0"                                   # a live process's: kept
printf 'x' >"$stage/notes.txt"
chmod 644 "$stage/.spill-$dead-0"
rm -f "$work/in/persons.csv"; cp "$src/persons.csv" "$work/in/"
extract 2026-11-21T04:00:00Z "$work/in" >"$work/next.out" 2>&1 || { fail "next run failed"; cat "$work/next.out"; }
[ -z "$(ls -A "$stage" | grep -E "\.xml\.gz\.tmp$|^\.(spill|bucket)-$dead-")" ] ||
  fail "the next run did not remove the killed run's leftovers: $(ls -A "$stage")"
[ -f "$stage/.spill-$$-0" ] || fail "the next run removed a live process's file"
[ -f "$stage/notes.txt" ] || fail "the next run removed a file that is not a temporary file"
rm -f "$stage/.spill-$$-0" "$stage/notes.txt"
[ "$(stat -c %a "$stage/20261121T040000Z.xml.gz")" = 600 ] || fail "the staged payload is not mode 600"
[ -f "$stage/20261121T040000Z.yaml" ] || fail "the next run staged no manifest"

# 3. A run that fails (a malformed row) leaves nothing.
before=$(ls -A "$stage")
{ cat "$src/persons.csv"; printf '"unterminated\n'; } >"$work/in/persons.csv"
extract 2026-11-21T05:00:00Z "$work/in" >"$work/bad.out" 2>&1
st=$?
[ "$st" -eq 1 ] || fail "bad input: exit $st, expected 1"
[ "$(ls -A "$stage")" = "$before" ] || fail "bad input: left behind: $(ls -A "$stage")"

[ "$fails" -eq 0 ] || { echo "$fails failure(s); work folder $work"; exit 1; }
echo "ok: test_extract_temp_files"
