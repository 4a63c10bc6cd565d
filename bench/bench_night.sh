#!/usr/bin/env bash
# The whole night (mcr-nightly: every extract, then the load) for regions of
# several sizes: wall, user and sys seconds, peak RSS of the largest process,
# seconds per 1k people, and the night log's time per step.
# Usage: [SEED=S] [FORMAT=xml] [JOBS=N] [NICE=10] [BASE=BIN_DIR0] bench/bench_night.sh BIN_DIR PEOPLE...
# e.g. bench/bench_night.sh build-rel/bin 25000 50000 100000 200000
#      bench/bench_night.sh build-rel/bin 1500000      (the 1.5M-person region)
# Regions beyond the 999 test range's 909,089 people use mcr-synth's
# --second-nhs-range (benchmarks only: numbers that may be real Northern Irish
# H&C numbers, docs/SYNTH.md), so the data always lives in a temporary folder
# under /tmp, deleted afterwards, whatever ends the run. Runs niced; the load
# average is printed at the start of each size (the machine is shared: wall
# time is noisy, user+sys is not). BASE: another build's programs run the same
# night on the same region first (side by side, e.g. before and after a change).
set -eu
BIN=$(cd "$1" && pwd)
shift
[ $# -ge 1 ] || { echo "usage: bench_night.sh BIN_DIR PEOPLE..." >&2; exit 2; }
work=$(mktemp -d /tmp/bench_night.XXXXXX)
trap 'rm -rf "$work"' EXIT
jobs=${JOBS:-$(nproc)}
echo "machine: $(nproc) cores, $(free -g | awk '/^Mem:/ { print $2 }') GiB; --jobs $jobs; format ${FORMAT:-xml}"
for n in "$@"; do
  rm -rf "$work/r"
  second=
  [ "$n" -gt 909089 ] && second=--second-nhs-range
  echo "== $n people (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  /usr/bin/time -f 'synth: wall %e s, user %U s, sys %S s, peak %M KiB' \
    nice -n "${NICE:-10}" "$BIN/mcr-synth" --people "$n" --seed "${SEED:-1}" --out "$work/r" --gzip --flat \
    --format "${FORMAT:-xml}" $second >"$work/summary"
  export MCR_NOW=$(awk '$1 == "synth.extract_time" { print $2 }' "$work/summary")
  echo "sources: $(du -sm "$work/r/sources" | cut -f1) MB"
  for bin in ${BASE:+$(cd "$BASE" && pwd)} "$BIN"; do
    rm -rf "$work/r/staging" "$work/r/store" "$work/r/archive" "$work/r/log" "$work/r/audit" "$work/r/run"
    rc=0
    (cd "$work/r" && /usr/bin/time -v -o "$work/time" nice -n "${NICE:-10}" "$bin/mcr-nightly" --config mcr.yaml \
      --jobs "$jobs" --no-report >"$work/out" 2>&1) || rc=$?
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, a, ":"); s = 0;
            for (i = 1; i <= n; i++) s = s * 60 + a[i]; print s }' "$work/time")
    user=$(awk -F': ' '/User time/ { print $2 }' "$work/time")
    sys=$(awk -F': ' '/System time/ { print $2 }' "$work/time")
    rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$work/time")
    printf 'night (%s): exit %s, wall %.1f s, user %.1f s, sys %.1f s, peak %.0f MiB (largest process), %.3f s wall / %.3f s cpu per 1k people\n' \
      "$bin" "$rc" "$wall" "$user" "$sys" "$(echo "$rss / 1024" | bc -l)" "$(echo "$wall * 1000 / $n" | bc -l)" \
      "$(echo "($user + $sys) * 1000 / $n" | bc -l)"
    # The night log's steps (each extract's and the load's own time).
    sed -n 's/.* step=\(extract org=[A-Z0-9]*\) end: exit \([0-9]*\) in \([0-9.]*\) s/  \1: \3 s (exit \2)/p;
            s/.* step=load end: exit \([0-9]*\) in \([0-9.]*\) s/  load: \2 s (exit \1)/p;
            s/.* step=load stdout: \(mcr-load: .*\)/  \1/p' "$work/r/log/mcr.log"
    [ "$rc" = 0 ] || { echo "night failed:"; tail -5 "$work/out"; }
  done
done
