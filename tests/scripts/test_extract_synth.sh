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

"$BIN/mcr-synth" --people "$PEOPLE" --seed "$SEED" --out "$work/region" --flat >"$work/summary" ||
  { echo "mcr-synth failed"; exit 1; }
MCR_NOW=$(awk '$1 == "synth.extract_time" { print $2 }' "$work/summary")
[ -n "$MCR_NOW" ] || { echo "no synth.extract_time in the summary"; exit 1; }
export MCR_NOW

# Flatten a manifest's YAML (two-space indentation) to "dotted.path value" lines.
flatten() {
  awk '
    /^[[:space:]]*#/ || /^[[:space:]]*$/ { next }
    {
      match($0, /^ */); depth = RLENGTH / 2
      line = substr($0, RLENGTH + 1)
      key = line; sub(/:.*/, "", key)
      val = line; sub(/^[^:]*:[[:space:]]*/, "", val); gsub(/"/, "", val)
      path[depth] = key
      p = path[0]; for (i = 1; i <= depth; i++) p = p "." path[i]
      if (val != "") print p, val
    }' "$1"
}

orgs=$(awk -F'[. ]' '$1 == "organisations" && $3 == "kind" { print $2 }' "$work/summary")
[ -n "$orgs" ] || { echo "no organisations in the summary"; exit 1; }
for ods in $orgs; do
  kind=$(awk -v k="organisations.$ods.kind" '$1 == k { print $2 }' "$work/summary")
  src=$(awk -v k="organisations.$ods.source" '$1 == k { print $2 }' "$work/summary")
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
