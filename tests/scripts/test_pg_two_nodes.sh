#!/usr/bin/env bash
# Two mcr-serve nodes on one PostgreSQL 15 (tests/scripts/pg_server.sh): concurrent
# lookups on both, every attempt audited exactly once, no gap, verify-audit passes,
# one jti store; then kill -9 of a node in the middle of a lookup's audit append:
# no partial entry, the other node goes on (pg_two_nodes.py has the details).
# $1 = bin dir. Needs python3 and openssl.
set -u
BIN=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
shim=$(cd "$BIN/../lib" && pwd)/libmcr_test_pq_gate.so
work=$(mktemp -d); chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
. "$here/pg_server.sh"
pg_server_start || exit $?
[ -f "$shim" ] || { echo "FAIL: $shim is missing"; exit 1; }

"$BIN/mcr-synth" --people 150 --seed 13 --out "$work/r" --flat >"$work/summary" || { echo "FAIL: mcr-synth"; exit 1; }
night=$(awk '$1 == "synth.extract_time" { print $2 }' "$work/summary")
openssl ecparam -name prime256v1 -genkey -noout -out "$work/lcs.key.pem" 2>/dev/null &&
  openssl ec -in "$work/lcs.key.pem" -pubout -out "$work/lcs.pub.pem" 2>/dev/null ||
  { echo "FAIL: openssl could not make keys"; exit 1; }
cat >>"$work/r/mcr.yaml" <<YAML
web:
  listen: 127.0.0.1:0
  threads: 4
  launchers:
    - id: lcs
      public_key: $work/lcs.pub.pem
      organisations: [A81001]
YAML
pg_server_config "$work/r/mcr.yaml"
MCR_NOW=$night "$BIN/mcr-nightly" --config "$work/r/mcr.yaml" >"$work/night.out" 2>&1 ||
  { echo "FAIL: the night exited $?"; cat "$work/night.out"; exit 1; }
python3 "$here/pg_two_nodes.py" "$BIN" "$work" "$shim"
