#!/usr/bin/env bash
# Items per second and peak memory of each extractor on mcr-synth regions.
# Usage: [SEED=S] bench/bench_extract.sh BIN_DIR [PEOPLE...]   (default: 10000 100000)
# Runs niced, data under a temporary folder in /tmp, deleted afterwards. One
# line per organisation: people, items staged, seconds (wall), items/s, peak
# RSS (/usr/bin/time -v). Not a test: figures only.
set -eu
BIN=$(cd "$1" && pwd); shift
sizes=${*:-10000 100000}
work=$(mktemp -d /tmp/bench_extract.XXXXXX)
trap 'rm -rf "$work"' EXIT
printf '%-8s %-7s %-4s %8s %9s %8s %10s %10s\n' people org kind persons items seconds items/s peak_MiB
for n in $sizes; do
  nice -n 10 "$BIN/mcr-synth" --people "$n" --seed "${SEED:-1}" --out "$work/r$n" --flat >"$work/summary$n"
  export MCR_NOW=$(awk '$1 == "synth.extract_time" { print $2 }' "$work/summary$n")
  for ods in $(awk -F'[. ]' '$1 == "organisations" && $3 == "kind" { print $2 }' "$work/summary$n"); do
    kind=$(awk -v k="organisations.$ods.kind" '$1 == k { print $2 }' "$work/summary$n")
    src=$(awk -v k="organisations.$ods.source" '$1 == k { print $2 }' "$work/summary$n")
    nice -n 10 /usr/bin/time -v -o "$work/time" "$BIN/mcr-extract-$kind" \
      --config "$work/r$n/mcr.yaml" --org "$ods" --input "$work/r$n/$src" >"$work/out"
    manifest=$(tail -n 1 "$work/out")
    items=$(awk '$1 == "items:" { print $2; exit }' "$manifest")
    persons=$(awk '$1 == "people:" { print $2; exit }' "$manifest")
    secs=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s }' "$work/time")
    rss=$(awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$work/time")
    rate=$(awk -v i="$items" -v s="$secs" 'BEGIN { printf "%.0f", (s > 0 ? i / s : 0) }')
    printf '%-8s %-7s %-4s %8s %9s %8s %10s %10s\n' "$n" "$ods" "$kind" "$persons" "$items" "$secs" "$rate" "$rss"
  done
  rm -rf "$work/r$n"
done
