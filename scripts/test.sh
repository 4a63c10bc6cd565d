#!/usr/bin/env bash
# Builds and runs every test: the normal build (all unit, case and scenario tests
# under ctest), then an AddressSanitizer + UndefinedBehaviorSanitizer build running
# them all again (the scenario scripts then drive the sanitized programs), then a
# clang build of everything with the libFuzzer targets (warnings are errors for
# clang too), each target fuzzed for a few seconds (ctest -L fuzz; docs/FUZZING.md).
# Usage: scripts/test.sh [--no-sanitize]   (skips the sanitizer and fuzz builds)
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
jobs=$(nproc 2>/dev/null || echo 2)

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"

if [ "${1:-}" != "--no-sanitize" ]; then
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DMCR_SANITIZE=ON >/dev/null
  cmake --build build-asan -j"$jobs"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j"$jobs"

  CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMCR_FUZZ=ON >/dev/null
  cmake --build build-fuzz -j"$jobs"
  ctest --test-dir build-fuzz -L fuzz --output-on-failure -j"$jobs"
fi
