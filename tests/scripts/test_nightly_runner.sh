#!/usr/bin/env bash
# mcr-nightly's own rules, with test doubles of the other programs
# (tests/data/nightly/fakebin, found through $MCR_BIN): exit status of a good,
# degraded, failed and locked night; a failed extract recorded for the loader while
# the others go on; an extract staged with refusals (exit 3) loaded, the night degraded; the log; archiving of loaded staged files (older superseded
# ones too) and nothing archived after a failed load; archive pruning by
# retention; the out-of-hours run extracting only the OOH organisation.
# Usage: test_nightly_runner.sh BIN_DIR
set -u
BIN=$(cd "${1:?usage: $0 BIN_DIR}" && pwd)
SRC=${MCR_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
work=$(mktemp -d /tmp/mcr-nightly-runner.XXXXXX)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
export MCR_BIN=$SRC/tests/data/nightly/fakebin FAKE_REGION=$work
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
. "$(dirname "$0")/sync.sh"

mkdir -p "$work/sources/gp" "$work/sources/lcs" "$work/sources/ooh"
cat >"$work/mcr.yaml" <<'EOF'
region: Runner test
paths:
  staging: staging
  store: store
  audit: audit/audit.sqlite
  archive: archive
  quarantine: quarantine
  log: log/mcr.log
retention:
  generations: 3
  archive_days: 30
organisations:
  - ods: A81001
    name: Riverside Surgery
    kind: gp
    source: sources/gp
  - ods: LCS01
    name: County Council Social Care
    kind: lcs
    source: sources/lcs
  - ods: NLO01
    name: Out of Hours
    kind: ooh
    schedule: twice-daily
    source: sources/ooh
policy:
  roles:
    clinician: [demographics, allergies]
EOF
log=$work/log/mcr.log

night() { # night EXPECTED_EXIT MCR_NOW [args...]
  local want=$1 now=$2; shift 2
  MCR_NOW=$now "$BIN/mcr-nightly" --config "$work/mcr.yaml" "$@" >"$work/out" 2>"$work/err"
  local got=$?
  if [ "$got" != "$want" ]; then
    fail "mcr-nightly $* at $now: exit $got, expected $want"
    sed 's/^/  stdout: /' "$work/out"; sed 's/^/  stderr: /' "$work/err"
    tail -n 20 "$log" 2>/dev/null | sed 's/^/  log: /'
  fi
}

# Night 1: all good, and silent (cron mails nothing); the report is in the log.
night 0 2026-11-20T02:00:00Z
[ -s "$work/out" ] && fail "night 1: a good night wrote on stdout: $(head -3 "$work/out")"
[ -s "$work/err" ] && fail "night 1: a good night wrote on stderr: $(head -3 "$work/err")"
grep -q 'step=report stdout: COVERAGE (test double)' "$log" || fail "night 1: the coverage report is not in the log"
# --verbose: the report and the summary line on stdout, as by hand.
night 0 2026-11-20T03:00:00Z --verbose
grep -q '^COVERAGE (test double)' "$work/out" || fail "night 1b: --verbose printed no coverage report"
grep -q 'run 20261120T030000Z-[0-9]* good (exit 0)' "$work/out" || fail "night 1b: --verbose printed no summary line"
[ "$(wc -l <"$work/out")" -eq 5 ] || fail "night 1b: stdout is more than the report and the summary"
[ -s "$work/err" ] && fail "night 1b: a good night wrote on stderr"
for f in A81001/gp LCS01/lcs NLO01/ooh; do
  [ -f "$work/archive/$f/20261120T020000Z.yaml" ] && [ -f "$work/archive/$f/20261120T020000Z.xml.gz" ] ||
    fail "night 1: $f staged files not archived"
  [ -z "$(ls "$work/staging/$f")" ] || fail "night 1: $f staged files left in staging"
done
grep -q 'run=20261120T020000Z-[0-9]* step=extract org=LCS01 start: .*/mcr-extract-lcs --config .* --org LCS01 --input .*/sources/lcs' "$log" ||
  fail "night 1: the log lacks the LCS extract's start"
grep -q 'step=extract org=LCS01 end: exit 0 in [0-9.]* s' "$log" || fail "night 1: the log lacks the LCS extract's end"
grep -q 'step=extract org=LCS01 stdout: mcr-extract-lcs: staged LCS01' "$log" || fail "night 1: extractor output not logged"
grep -q 'step=load end: exit 0' "$log" || fail "night 1: the log lacks the load's end"
grep -q 'end: good, exit 0' "$log" || fail "night 1: the log lacks the run's end"

# Night 2: the GP export is broken; the others go on; degraded.
echo "malformed XML: unexpected end of file (bundle-3.xml:17)" >"$work/sources/gp/BROKEN"
night 3 2026-11-21T02:00:00Z
# A short summary on stderr, for cron's mail: what is wrong and where the log is.
[ -s "$work/out" ] && fail "night 2: a degraded night wrote on stdout"
grep -q '^mcr-nightly: run 20261121T020000Z-[0-9]* degraded (exit 3): 3 extract(s), 1 failed A81001;' "$work/err" ||
  fail "night 2: the stderr summary does not name A81001 as failed"
grep -q 'stale: A81001' "$work/err" || fail "night 2: the stderr summary does not name A81001 as stale"
grep -qx 'mcr-nightly:   extract of A81001 failed: mcr-extract-gp: malformed XML: unexpected end of file (bundle-3.xml:17)' "$work/err" ||
  fail "night 2: the stderr summary does not give the extractor's error"
grep -q "^mcr-nightly: details: grep 'run=20261121T020000Z-[0-9]*' $log\$" "$work/err" ||
  fail "night 2: the stderr summary does not say where the log is"
[ "$(wc -l <"$work/err")" -le 8 ] || fail "night 2: the stderr summary is not short: $(wc -l <"$work/err") lines"
marker=$work/quarantine/A81001-20261121T020000Z.failed
[ -f "$marker" ] && grep -qx 'mcr-extract-gp: malformed XML: unexpected end of file (bundle-3.xml:17)' "$marker" ||
  fail "night 2: the failed extract was not recorded with the extractor's error"
grep -q 'step=extract org=A81001 stderr: mcr-extract-gp: malformed XML' "$log" || fail "night 2: extractor stderr not logged"
for f in LCS01/lcs NLO01/ooh; do
  [ -f "$work/archive/$f/20261121T020000Z.yaml" ] || fail "night 2: $f not extracted and archived after the GP failure"
done
rm "$work/sources/gp/BROKEN"

# Night 3: the load fails; nothing is archived; failed.
FAKE_LOAD_EXIT=1 night 1 2026-11-22T02:00:00Z
grep -q 'failed (exit 1)' "$work/err" || fail "night 3: the stderr summary does not say failed"
grep -qx 'mcr-nightly:   mcr-load failed (exit 1): mcr-load: cannot write the store: No space left on device' "$work/err" ||
  fail "night 3: the stderr summary does not give the loader's error"
grep -q 'step=load stderr: mcr-load: cannot write the store' "$log" || fail "night 3: load stderr not logged"
[ -f "$work/staging/A81001/gp/20261122T020000Z.yaml" ] || fail "night 3: staged files archived although the load failed"

# Night 4: good again; night 3's staged files, never loaded, are archived with night 4's.
night 0 2026-11-23T02:00:00Z
for s in 20261122T020000Z 20261123T020000Z; do
  [ -f "$work/archive/A81001/gp/$s.yaml" ] || fail "night 4: A81001 $s not archived"
done
[ -z "$(ls "$work/staging/A81001/gp")" ] || fail "night 4: staged files left behind"

# Night 4b: the GP extractor staged its file but refused a record (exit 3): the file is
# loaded and archived like any other, no failure is recorded; the night is degraded.
echo "in/b.xml:9: Condition c9: onsetDateTime is not a date; item withheld (invalid-date)" >"$work/sources/gp/REFUSED"
night 3 2026-11-23T12:00:00Z
[ -f "$work/archive/A81001/gp/20261123T120000Z.yaml" ] || fail "night 4b: the file staged with refusals was not loaded and archived"
[ -e "$work/quarantine/A81001-20261123T120000Z.failed" ] && fail "night 4b: a file staged with refusals was recorded as a failed extract"
grep -q 'step=extract org=A81001 stderr: mcr-extract-gp: refused: in/b.xml:9:' "$log" || fail "night 4b: the refusal is not in the log"
grep -q 'step=extract org=A81001 staged, but some records or documents were refused' "$log" ||
  fail "night 4b: the log does not say the extract staged with refusals"
grep -q 'extract of A81001 refused some records or documents' "$work/err" || fail "night 4b: the stderr summary does not name the refusals"
rm "$work/sources/gp/REFUSED"

# Night 5: the loader's lock is held by an ad hoc load: 75, staged files kept.
FAKE_LOAD_EXIT=75 night 75 2026-11-24T02:00:00Z
[ -f "$work/staging/NLO01/ooh/20261124T020000Z.yaml" ] || fail "night 5: staged files not kept for the next run"

# Night 35: retention prunes archived files more than 30 days old.
night 0 2026-12-24T02:00:00Z
[ ! -e "$work/archive/A81001/gp/20261120T020000Z.yaml" ] || fail "night 35: archive not pruned"
[ -f "$work/archive/A81001/gp/20261124T020000Z.yaml" ] || fail "night 35: archive pruned too much"
grep -q 'step=prune end: [1-9][0-9]* archived file(s) older than 30 days removed' "$log" || fail "night 35: prune not logged"

# The out-of-hours run at 14:00: only the OOH organisation is extracted.
before=$(wc -l <"$log")
night 0 2026-12-24T14:00:00Z --only-kind ooh --no-report
tail -n +"$((before + 1))" "$log" | grep -q 'step=extract org=NLO01 start' || fail "ooh run: OOH not extracted"
tail -n +"$((before + 1))" "$log" | grep -q 'step=extract org=A81001' && fail "ooh run: GP extracted too"
grep -q COVERAGE "$work/out" && fail "ooh run: --no-report printed the report"

# Two runs at once: the second exits 75 at once; with --wait it runs after.
# (The first run's load waits at a gate, so the overlap is certain.)
gate_make load
MCR_NOW=2026-12-25T02:00:00Z FAKE_LOAD_GATE=$work/load "$BIN/mcr-nightly" --config "$work/mcr.yaml" \
  --no-report >/dev/null 2>&1 &
first=$!
gate_wait_started load
night 75 2026-12-25T02:00:00Z --no-report
grep -q 'another run holds the lock' "$work/err" || fail "second run: no lock message on stderr"
[ "$(wc -l <"$work/err")" -eq 1 ] || fail "second run: more than one line on stderr"
MCR_NOW=2026-12-25T02:00:01Z "$BIN/mcr-nightly" --config "$work/mcr.yaml" --no-report --wait \
  >"$work/third.out" 2>&1 &
third=$!
wait_line "$log" "run=[0-9TZ]*-$third waiting: another run holds the lock" || fail "--wait run did not wait"
gate_open load
wait "$first" || fail "first of two runs failed"
wait "$third" || fail "the --wait run failed: $(cat "$work/third.out")"

# Usage errors.
night 2 2026-12-26T02:00:00Z --only-kind xyz
night 2 2026-12-26T02:00:00Z --org Z99999

[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "ok: test_nightly_runner"
