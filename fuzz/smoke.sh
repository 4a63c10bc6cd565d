#!/usr/bin/env bash
# A short fuzzing run of one libFuzzer target, for CI (fuzz/CMakeLists.txt adds one
# ctest test per target, label "fuzz"): a fixed seed, SECONDS of fuzzing from the
# seed folders into a throwaway corpus. Fails on any finding (crash, leak,
# sanitizer report, timeout), printing the input as hex for a unit test.
# Long runs are by hand (docs/FUZZING.md).
# Usage: smoke.sh TARGET SECONDS [--prefix-bytes B1,B2] [SEED_DIR...]
#   --prefix-bytes: seed with each seed file prefixed by each byte (fuzz_gz's flags)
set -u
target=${1:?usage: $0 TARGET SECONDS [--prefix-bytes B,...] [SEED_DIR...]}
seconds=${2:?seconds}
shift 2
work=$(mktemp -d /tmp/mcr-fuzz-smoke.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus" "$work/artifacts"
seeds=()
if [ "${1:-}" = --prefix-bytes ]; then
  mkdir "$work/seeds"
  IFS=, read -r -a bytes <<<"$2"
  shift 2
  for dir in "$@"; do
    for f in "$dir"/*; do
      [ -f "$f" ] || continue
      for b in "${bytes[@]}"; do
        { printf "\\$(printf '%03o' "$b")"; cat "$f"; } >"$work/seeds/$b-$(basename "$f")"
      done
    done
  done
  seeds=("$work/seeds")
else
  for dir in "$@"; do [ -d "$dir" ] && seeds+=("$dir"); done
fi
# -timeout: one input taking this long is a finding (a hang); -rss_limit_mb: so is
# this much memory.
nice "$target" -seed=1 -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 \
  -artifact_prefix="$work/artifacts/" -print_final_stats=1 "$work/corpus" "${seeds[@]}" \
  >"$work/log" 2>&1
status=$?
grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+[[:space:]]+DONE)' "$work/log"
if [ "$status" -ne 0 ] || [ -n "$(ls "$work/artifacts")" ]; then
  echo "FAIL: $(basename "$target") exit $status"
  tail -n 60 "$work/log"
  for a in "$work"/artifacts/*; do
    [ -f "$a" ] || continue
    echo "finding $(basename "$a"), $(stat -c %s "$a") bytes:"
    od -A d -t x1 "$a" | head -n 40
  done
  exit 1
fi
echo "ok: $(basename "$target"), $(ls "$work/corpus" | wc -l) new corpus inputs in $seconds s"
