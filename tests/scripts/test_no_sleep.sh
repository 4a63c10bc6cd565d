#!/usr/bin/env bash
# The test suite synchronises on events (a FIFO, a pipe, a signal, a readiness or
# log line: tests/scripts/sync.sh), never on a length of time: a test that sleeps
# passes on a quiet machine and fails on a loaded one (or under a sanitizer). This
# finds sleep calls in the tests' code (scripts, test doubles, C, Python).
# Usage: test_no_sleep.sh [BIN_DIR] (unused)
set -u
SRC=${MCR_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$SRC/tests" || exit 1
pattern='(^|[^[:alnum:]_.-])(sleep|usleep|nanosleep|time\.sleep)([[:space:]]+[0-9$"]|[[:space:]]*\()'
hits=$( {
  grep -rnE --include='*.sh' --include='*.c' --include='*.h' --include='*.py' "$pattern" scripts unit
  grep -rnE "$pattern" data/*/fakebin
} 2>/dev/null | grep -vE '^[^:]+:[0-9]+:[[:space:]]*(#|//|/?\*)')
if [ -n "$hits" ]; then
  echo "FAIL: sleep-based synchronisation in the tests (use a FIFO, pipe, signal or readiness line):"
  echo "$hits"
  exit 1
fi
echo "ok: test_no_sleep"
