#!/usr/bin/env bash
# mcr-lookup --format html in headless Chromium: the page shows the record on
# screen, loads nothing from elsewhere, and prints only the "printing is disabled"
# notice. $1 = bin dir; MCR_SOURCE_DIR = source tree. Needs sqlite3, chromium,
# pdftotext (scripts/deps.sh installs them).
set -u
BIN=$(cd "$1" && pwd)
SRC=${MCR_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
for tool in sqlite3 chromium pdftotext; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed (scripts/deps.sh)"; exit 1; }
done
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

mkdir -p "$work/store"
cp "$SRC/tests/data/lookup/mcr.yaml" "$work/mcr.yaml"
cat "$SRC/schema/store.sql" "$SRC/tests/data/lookup/store.sql" | sqlite3 "$work/store/gen-000001.sqlite" ||
  { echo "cannot build the fixture store"; exit 1; }
ln -s gen-000001.sqlite "$work/store/current"
export MCR_CONFIG="$work/mcr.yaml" MCR_NOW=2026-11-21T10:00:00Z

"$BIN/mcr-lookup" --user asmith --org A81001 --role clinician --nhs 9990000018 --format html \
  >"$work/record.html" 2>"$work/err" || { echo "FAIL: mcr-lookup: $(cat "$work/err")"; exit 1; }

# Self-contained: no scripts, nothing fetched, no print button.
grep -qi "<script" "$work/record.html" && bad "page holds a script"
grep -Eqi "https?://" "$work/record.html" && bad "page names an http(s) URL"
grep -Eqi "src=|href=\"[^#]|url\(|@import" "$work/record.html" && bad "page loads something"
grep -qi "print()" "$work/record.html" && bad "page has a print button"
grep -q "Glucose &lt;fasting&gt; &amp; &quot;random&quot;" "$work/record.html" || bad "content not HTML-escaped"

chrome() {
  timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
    --no-first-run --user-data-dir="$work/profile" "$@" 2>>"$work/chromium.log"
}

# On screen: the record is there.
chrome --dump-dom "file://$work/record.html" >"$work/dom.html" || bad "chromium --dump-dom failed"
for text in "Penicillin allergy" "Care Package" "2 items not shared by policy" \
            "Hillside Practice data is stale" "it may not be the complete record"; do
  grep -qF "$text" "$work/dom.html" || bad "screen: '$text' missing"
done

# Printed: only the notice.
chrome --print-to-pdf="$work/record.pdf" --no-pdf-header-footer "file://$work/record.html" >/dev/null ||
  bad "chromium --print-to-pdf failed"
if [ -s "$work/record.pdf" ]; then
  pdftotext "$work/record.pdf" "$work/record.txt" || bad "pdftotext failed"
  grep -q "Printing is disabled" "$work/record.txt" || bad "print: notice missing"
  for text in Penicillin "O'Brien" "999 000 0018" "Care Package" Riverside; do
    grep -qF "$text" "$work/record.txt" && bad "print: record text '$text' printed"
  done
else
  bad "no PDF written: $(tail -3 "$work/chromium.log")"
fi

[ $fail -eq 0 ] && echo "lookup html: all checks passed"
exit $fail
