#!/usr/bin/env bash
# mcr-synth's region extracts with exactly the counts mcr-synth printed: each
# organisation of its mcr.yaml is extracted with the extractor of its kind and
# every count of the manifest (people, members, items, objections, items by
# section, withheld by reason) is compared with the summary (docs/SYNTH.md).
# Usage: test_extract_synth.sh BIN_DIR [PEOPLE] [SEED]
set -u
BIN=$(cd "$1" && pwd)
PEOPLE=${2:-300}
SEED=${3:-7}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0

. "$(dirname "$0")/region.sh"
region_make "$PEOPLE" "$SEED"

orgs=$(region_orgs)
[ -n "$orgs" ] || { echo "no organisations in the summary"; exit 1; }
for ods in $orgs; do
  kind=$(summary_value "organisations.$ods.kind")
  src=$(summary_value "organisations.$ods.source")
  if ! "$BIN/mcr-extract-$kind" --config "$work/region/mcr.yaml" --org "$ods" \
       --input "$work/region/$src" >"$work/out.$ods" 2>"$work/err.$ods"; then
    echo "$ods: mcr-extract-$kind failed: $(cat "$work/err.$ods")"; fail=1; continue
  fi
  manifest=$(tail -n 1 "$work/out.$ods")
  [ -f "$manifest" ] || { echo "$ods: no manifest at '$manifest'"; fail=1; continue; }
  flatten "$manifest" >"$work/manifest.$ods"
  checked=0
  while read -r key want; do
    case "$key" in
      organisations.$ods.counts.*) ;;
      *) continue ;;
    esac
    rel=${key#organisations.$ods.counts.}
    case "$rel" in
      withheld.*) mkey=$rel ;;
      *) mkey=counts.$rel ;;
    esac
    got=$(awk -v k="$mkey" '$1 == k { print $2 }' "$work/manifest.$ods")
    checked=$((checked + 1))
    if [ "$got" != "$want" ]; then
      echo "$ods ($kind): $rel is ${got:-missing} in the manifest, mcr-synth printed $want"; fail=1
    fi
  done <"$work/summary"
  [ "$checked" -ge 22 ] || { echo "$ods: only $checked counts compared"; fail=1; }
  # No temporary file is left in the staging folder.
  left=$(find "$(dirname "$manifest")" -name '.*' -type f)
  [ -z "$left" ] || { echo "$ods: temporary files left: $left"; fail=1; }
done
if [ $fail -eq 0 ]; then echo "extract counts equal mcr-synth's for:" $orgs; fi
exit $fail
