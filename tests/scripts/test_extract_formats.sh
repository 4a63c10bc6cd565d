#!/usr/bin/env bash
# The same region in every GP format stages the same bytes: mcr-synth writes one
# region as FHIR XML, JSON Bundles and Bulk Data NDJSON (--format), gzipped and
# not, plus a folder mixing the three; each practice's staged file (payload and
# manifest) must be identical whatever the format (docs/EXTRACT.md).
# Usage: test_extract_formats.sh BIN_DIR [PEOPLE] [SEED]
set -u
BIN=$(cd "$1" && pwd)
PEOPLE=${2:-400}
SEED=${3:-11}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
export MCR_NOW=2026-11-21T06:00:00Z

synth() { # NAME FORMAT [--gzip]
  "$BIN/mcr-synth" --people "$PEOPLE" --seed "$SEED" --out "$work/$1" --format "$2" ${3:-} --flat \
    >"$work/summary.$1" || { echo "mcr-synth --format $2 failed"; exit 1; }
}
synth xml xml
synth json json
synth ndjson ndjson
synth jsongz json --gzip
synth ndjsongz ndjson --gzip
for n in json ndjson jsongz ndjsongz; do
  cmp -s <(grep -v '^synth\.gzip ' "$work/summary.xml") <(grep -v '^synth\.gzip ' "$work/summary.$n") ||
    { echo "summary of $n differs from xml's"; fail=1; }
done

orgs=$(awk -F'[. ]' '$1 == "organisations" && $3 == "kind" && $4 == "gp" { print $2 }' "$work/summary.xml")
[ -n "$orgs" ] || { echo "no GP practices in the summary"; exit 1; }

# A folder per practice mixing the formats: bundle n from format n mod 3.
for ods in $orgs; do
  mkdir -p "$work/mixed/$ods"
  i=0
  for f in "$work/xml/sources/gp/$ods"/bundle-*.xml; do
    b=$(basename "$f" .xml)
    case $((i % 3)) in
      0) cp "$f" "$work/mixed/$ods/" ;;
      1) cp "$work/json/sources/gp/$ods/$b.json" "$work/mixed/$ods/" ;;
      2) cp "$work/ndjsongz/sources/gp/$ods/$b.ndjson.gz" "$work/mixed/$ods/" ;;
    esac
    i=$((i + 1))
  done
done

for ods in $orgs; do
  for n in xml json ndjson jsongz ndjsongz mixed; do
    case $n in mixed) in="$work/mixed/$ods" ;; *) in="$work/$n/sources/gp/$ods" ;; esac
    if ! "$BIN/mcr-extract-gp" --config "$work/xml/mcr.yaml" --org "$ods" --input "$in" \
         --out "$work/staging.$n" >"$work/out" 2>"$work/err"; then
      echo "$ods $n: mcr-extract-gp failed: $(cat "$work/err")"; fail=1; continue
    fi
    [ "$n" = xml ] && { [ -n "$(ls "$work/staging.xml/$ods/gp")" ] || { echo "$ods: nothing staged"; fail=1; }; continue; }
    for f in "$work/staging.xml/$ods/gp"/*; do
      cmp -s "$f" "$work/staging.$n/$ods/gp/$(basename "$f")" ||
        { echo "$ods: $(basename "$f") from $n differs from the XML export's"; fail=1; }
    done
  done
done
[ $fail -eq 0 ] && echo "xml, json, ndjson (plain and gzip) and mixed stage identical files for:" $orgs
exit $fail
