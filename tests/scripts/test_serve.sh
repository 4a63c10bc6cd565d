#!/usr/bin/env bash
# mcr-serve end to end over a loaded sample region: serve_scenario.py drives it
# over HTTP (launch, consent, break glass, every token refusal, CSRF, time-outs,
# bad requests, IG pages, SIGHUP, SIGTERM, audit failure). $1 = bin dir.
# Needs python3 and openssl (scripts/deps.sh).
set -u
BIN=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
r="$work/r"

MCR_NOW=2026-11-21T06:00:00Z "$BIN/mcr-synth" --people 300 --seed 5 --out "$r" >"$work/synth.out" 2>&1 ||
  { echo "mcr-synth failed"; cat "$work/synth.out"; exit 1; }
MCR_NOW=2026-11-21T06:00:00Z "$BIN/mcr-nightly" --config "$r/mcr.yaml" >"$work/night.out" 2>&1
st=$?
[ $st -eq 0 ] || [ $st -eq 3 ] || { echo "mcr-nightly exited $st"; tail -20 "$work/night.out"; exit 1; }

# The host system's key pair, and a stranger's key.
openssl ecparam -name prime256v1 -genkey -noout -out "$work/lcs.key.pem" 2>/dev/null &&
  openssl ec -in "$work/lcs.key.pem" -pubout -out "$work/lcs.pub.pem" 2>/dev/null &&
  openssl ecparam -name prime256v1 -genkey -noout -out "$work/other.key.pem" 2>/dev/null ||
  { echo "openssl could not make keys"; exit 1; }
cat >>"$r/mcr.yaml" <<YAML
web:
  listen: 127.0.0.1:0
  threads: 4
  session_idle: 60
  session_max: 300
  frame_ancestors: [https://lcs.example.org]
  ig_roles: [ig]
  launchers:
    - id: lcs
      public_key: $work/lcs.pub.pem
      organisations: [A81001, A81002, LA919, Q99IG]
YAML
python3 "$here/serve_scenario.py" "$BIN" "$work"
