#!/usr/bin/env bash
# No merge conflict left in the tree: a landing that committed `<<<<<<<` /
# `>>>>>>>` lines (docs/OPERATIONS.md once had one) fails the suite here instead
# of reaching a reader. Looks at the files git tracks (every file below the
# source folder when it is not a git checkout).
# Usage: test_no_conflict_markers.sh [BIN_DIR] (unused)
set -u
SRC=${MCR_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$SRC" || exit 1
pattern='^(<{7}|>{7})( |$)'
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  hits=$(git grep -nIE "$pattern" -- .)
else
  hits=$(grep -rnIE "$pattern" --exclude-dir=build* .)
fi
if [ -n "$hits" ]; then
  echo "FAIL: merge conflict markers left in the tree:"
  echo "$hits"
  exit 1
fi
echo "ok: test_no_conflict_markers"
