#!/usr/bin/env bash
# mcr-report's command line over a fixture store (tests/data/report): coverage as
# text, CSV (--out) and HTML rendered in headless Chromium (content present, an
# inline <svg> chart, no scripts, nothing fetched), and the exit statuses: 0 done,
# 1 failed (no audit log), 2 usage errors.
# Usage: test_report_cli.sh BIN_DIR
set -u
BIN=$(cd "${1:?usage: $0 BIN_DIR}" && pwd)
SRC=${MCR_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
DATA=$SRC/tests/data/report
work=$(mktemp -d /tmp/mcr-report-cli.XXXXXX)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
command -v sqlite3 >/dev/null || { echo "FAIL: sqlite3 shell missing"; exit 1; }

mkdir -p "$work/store"
cp "$DATA/mcr.yaml" "$work/mcr.yaml"
sqlite3 -batch "$work/store/gen-000001.sqlite" <"$SRC/schema/store.sql" &&
  sqlite3 -batch "$work/store/gen-000001.sqlite" <"$DATA/store-rows.sql" &&
  ln -s gen-000001.sqlite "$work/store/current" || { echo "FAIL: fixture store"; exit 1; }
export MCR_NOW=2026-11-21T09:00:00Z
report() { # report EXPECTED_EXIT ARGS...: stdout in $work/out, stderr in $work/err
  local want=$1; shift
  "$BIN/mcr-report" --config "$work/mcr.yaml" "$@" >"$work/out" 2>"$work/err"
  local got=$?
  [ "$got" = "$want" ] || { fail "mcr-report $*: exit $got, expected $want"; sed 's/^/  /' "$work/err"; }
}

# ---- text --------------------------------------------------------------------------
report 0 coverage
row() { grep -E "^$1 " "$work/out" | head -n 1 | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^(OK|STALE|FAILED|NEVER)$/) { print $i; exit } }'; }
[ "$(row A81001)" = OK ] || fail "coverage: A81001 not OK"
[ "$(row A81002)" = FAILED ] || fail "coverage: A81002 (newest file rejected) not FAILED"
[ "$(row E10000015)" = OK ] || fail "coverage: E10000015 not OK"
[ "$(row NLO01)" = NEVER ] || fail "coverage: NLO01 (never loaded) not NEVER"
grep -q 'A81002  gp       staging/A81002/gp/20261121T010000Z.yaml  payload CRC-32 mismatch' "$work/out" ||
  fail "coverage: the rejected file and its reason are missing"
# Next morning the social care extract of 22:00 is 29 h old: STALE.
MCR_NOW=2026-11-22T03:00:01Z report 0 coverage
[ "$(row E10000015)" = STALE ] || fail "coverage next morning: E10000015 not STALE"

# ---- CSV to a file -------------------------------------------------------------------
report 0 --format csv --out "$work/coverage.csv" coverage
[ -s "$work/out" ] && fail "coverage --out: wrote to stdout as well"
[ "$(wc -l <"$work/coverage.csv")" -eq 5 ] || fail "coverage CSV: expected a header and 4 rows"
head -n 1 "$work/coverage.csv" | grep -q '^org,name,dataset,schedule,status,freshness,' ||
  fail "coverage CSV: bad header"
grep -q '^E10000015,Herts Social Care & Health,lcs,nightly,current,OK,' "$work/coverage.csv" ||
  fail "coverage CSV: E10000015 row"

# ---- HTML in headless Chromium -----------------------------------------------------------
report 0 --format html --out "$work/coverage.html" coverage
html=$work/coverage.html
if ! command -v chromium >/dev/null; then
  fail "chromium is not installed"
else
  profile=$(mktemp -d /tmp/mcr-report-chromium.XXXXXX)
  chrome() {
    timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
      --no-first-run --user-data-dir="$profile" "$@" 2>>"$work/chromium.err"
  }
  chrome --dump-dom "file://$html" >"$work/dom.html" || fail "chromium --dump-dom failed"
  chrome --window-size=1400,1600 --screenshot="$work/coverage.png" "file://$html" ||
    fail "chromium --screenshot failed"
  rm -rf "$profile"
  for want in 'Coverage: Report Test Region' 'Sources and freshness' 'Riverside Surgery' \
              'Herts Social Care &amp; Health' 'Urgent Care &lt;OOH&gt;' '<svg' '<rect' \
              'Items by organisation and section' '>FAILED<' '>NEVER<' \
              'payload CRC-32 mismatch' 'A81001 Riverside Surgery, Medications: 2100'; do
    grep -qF -- "$want" "$work/dom.html" || fail "rendered page lacks: $want"
  done
  [ "$(head -c 8 "$work/coverage.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] ||
    fail "no PNG screenshot"
  [ "$(stat -c %s "$work/coverage.png" 2>/dev/null || echo 0)" -gt 10000 ] ||
    fail "the screenshot is (nearly) empty"
fi
for f in "$html" "$work/dom.html"; do
  [ -f "$f" ] || continue
  grep -qi '<script' "$f" && fail "$(basename "$f"): holds a script tag"
  grep -qiE 'https?:|src=|href=|url\(|@import|//[a-z]' "$f" && fail "$(basename "$f"): refers to something outside"
done
grep -q '<OOH>' "$html" && fail "coverage HTML: an organisation's name is not escaped"

# ---- exit statuses ---------------------------------------------------------------------
report 0 --help
grep -q '^Usage: mcr-report' "$work/out" || fail "--help: no usage text"
report 0 --version
grep -q '^mcr-report (mcr) ' "$work/out" || fail "--version: no version"
report 2
report 2 frobnicate
report 2 --format pdf coverage
report 2 loads --nhs 9990000018
report 2 coverage --limit 3
report 2 access
report 2 access --nhs 9990000018 --user dr.a
report 2 access --nhs 9990000019
grep -q 'check digit' "$work/err" || fail "access --nhs with a bad check digit: no reason given"
report 2 access --nhs 9990000018 --from 2026-02-30
report 2 access --nhs 9990000018 --from 2026-11-21 --to 2026-11-20
report 2 break-glass --org Z99999
report 2 loads --limit 0
report 2 --config "$work/no-such.yaml" coverage
# No audit log: the reports that read it fail, saying where they looked.
report 1 access --nhs 9990000018
grep -q 'no audit log at' "$work/err" || fail "access without an audit log: no message"
report 1 verify-audit
report 0 loads
grep -q '^(none)$' "$work/out" || fail "loads without a history: no empty table"

[ "$fails" -eq 0 ] || { echo "$fails check(s) failed"; exit 1; }
echo "test_report_cli: all checks passed"
