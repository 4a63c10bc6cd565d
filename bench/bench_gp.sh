#!/usr/bin/env bash
# mcr-extract-gp against the bare parse of the same files, in the same run, for
# each GP practice of a mcr-synth region in each format; then the whole night.
# Usage: [SEED=S] [FORMATS="xml json"] [NIGHT=1] bench/bench_gp.sh BIN_DIR [PEOPLE]
# (default 100000). Data under a temporary folder in /tmp, deleted afterwards.
# Runs niced. The target: each extract within 2x the bare parse (bench_gp_parse:
# mcr_gz + libxml2 SAX2 or yajl, no work per event). Wall times on a shared
# machine are noisy: user CPU seconds are printed beside them, and the load
# average at the start.
set -eu
BIN=$(cd "$1" && pwd)
n=${2:-100000}
work=$(mktemp -d /tmp/bench_gp.XXXXXX)
trap 'rm -rf "$work"' EXIT
t() { /usr/bin/time -f '%e %U %S %M' -o "$work/time" "$@"; }
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-6s %-7s %8s | %7s %7s | %7s %7s %7s | %6s %6s\n' format org MB_in parse_s parse_u \
  extr_s extr_u peakMiB ratio_s ratio_u
for fmt in ${FORMATS:-xml json}; do
  nice -n 10 "$BIN/mcr-synth" --people "$n" --seed "${SEED:-1}" --out "$work/r" --format "$fmt" \
    --gzip --flat >"$work/summary"
  export MCR_NOW=$(awk '$1 == "synth.extract_time" { print $2 }' "$work/summary")
  for ods in $(awk -F'[. ]' '$1 == "organisations" && $4 == "gp" { print $2 }' "$work/summary"); do
    files=$(find "$work/r/sources/gp/$ods" -type f | sort)
    mb=$(du -cm $files | tail -1 | cut -f1)
    read -r _ _ _ _ _ pw _ pu _ < <(nice -n 10 "$BIN/bench_gp_parse" $files)
    t nice -n 10 "$BIN/mcr-extract-gp" --config "$work/r/mcr.yaml" --org "$ods" \
      --input "$work/r/sources/gp/$ods" --out "$work/staging" >/dev/null
    read -r ew eu _ rss <"$work/time"
    printf '%-6s %-7s %8s | %7.2f %7.2f | %7.2f %7.2f %7.1f | %6.2f %6.2f\n' "$fmt" "$ods" "$mb" \
      "$pw" "$pu" "$ew" "$eu" "$(echo "$rss / 1024" | bc -l)" \
      "$(echo "$ew / $pw" | bc -l)" "$(echo "$eu / $pu" | bc -l)"
  done
  rm -rf "$work/staging"
  if [ "${NIGHT:-1}" = 1 ] && [ "$fmt" = xml ]; then
    for jobs in 1 $(nproc); do
      rm -rf "$work/r/staging" "$work/r/store" "$work/r/archive" "$work/r/log"
      (cd "$work/r" && t nice -n 10 "$BIN/mcr-nightly" --config mcr.yaml --jobs "$jobs" --no-report) || true
      read -r nw nu ns rss <"$work/time"
      printf 'night (%s people, %s, --jobs %s): wall %.1f s, user %.1f s, sys %.1f s, peak %.0f MiB (largest process)\n' \
        "$n" "$fmt" "$jobs" "$nw" "$nu" "$ns" "$(echo "$rss / 1024" | bc -l)"
    done
  fi
  rm -rf "$work/r"
done
