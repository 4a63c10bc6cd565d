#!/usr/bin/env bash
# Lookups per second with one and with two mcr-serve nodes on one PostgreSQL
# (store.backend postgresql: the store generation and the audit log in the
# database, every view durably audited there), beside the SQLite single node, in
# the same run, with wrk as bench/bench_serve.sh drives it.
#
#   bench/bench_serve_pg.sh BIN_DIR [PEOPLE (100000)] [SECONDS per run (20)] [CONNECTIONS (64)]
#
# The region is bench_serve.sh's ($MCR_BENCH_REGION, default
# /tmp/mcr-bench-serve-PEOPLE, built once by mcr-synth + mcr-nightly); its
# generation and load history are copied into a throwaway PostgreSQL 15
# (tests/scripts/pg_server.sh with fsync on; tests/scripts/sqlite_to_pg.py).
# $MCR_BENCH_SESSIONS sessions (default 400) are launched on each node (sessions
# live in a node's memory), for people on one practice's list. Runs, each SECONDS
# at CONNECTIONS: sqlite (one node, its own SQLite audit log), pg-1 (one node, wrk
# with all connections), pg-2 (two nodes, one wrk each with half the connections,
# at the same time; their req/s added). Every run checks the audit log grew by the
# requests served. A figure, never a test: the machine is shared, so say when it
# was not quiet.
set -eu
BIN=$(cd "$1" && pwd)
PEOPLE=${2:-100000}
SECS=${3:-20}
CONNS=${4:-64}
SESSIONS=${MCR_BENCH_SESSIONS:-400}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
SRC=$(cd "$here/.." && pwd)
region=${MCR_BENCH_REGION:-/tmp/mcr-bench-serve-$PEOPLE}
work=$(mktemp -d /tmp/mcr-bench-serve-pg.XXXXXX)
srvs=()
cleanup() {
  for p in "${srvs[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
for tool in wrk curl openssl sqlite3 python3; do
  command -v "$tool" >/dev/null || { echo "bench_serve_pg: $tool is not installed" >&2; exit 1; }
done
if [ ! -e "$region/store/current" ]; then
  echo "building a $PEOPLE-person region in $region (once)"
  rm -rf "$region"
  MCR_NOW=2026-11-21T06:00:00Z nice "$BIN/mcr-synth" --people "$PEOPLE" --seed 7 --out "$region" >/dev/null
  st=0
  MCR_NOW=2026-11-21T06:00:00Z nice "$BIN/mcr-nightly" --config "$region/mcr.yaml" >/dev/null 2>&1 || st=$?
  [ $st -eq 0 ] || [ $st -eq 3 ] || { echo "mcr-nightly exited $st" >&2; exit 1; }
fi

MCR_PG_FSYNC=on
. "$SRC/tests/scripts/pg_server.sh"
pg_server_start >/dev/null || { echo "bench_serve_pg: no PostgreSQL server" >&2; exit 1; }
echo "copying the generation into PostgreSQL"
python3 "$SRC/tests/scripts/sqlite_to_pg.py" "$SRC/schema" "$region/store/current" \
  "$region/store/history.sqlite" | pg_server_psql -q >/dev/null

openssl ecparam -name prime256v1 -genkey -noout -out "$work/key.pem" 2>/dev/null
openssl ec -in "$work/key.pem" -pubout -out "$work/pub.pem" 2>/dev/null
# config NAME BACKEND: the region's config, absolute paths, this run's audit log,
# log and state, and the backend.
config() {
  local d="$work/$1"
  mkdir -p "$d"
  sed -e "s#^\(  \(staging\|archive\|quarantine\|store\): \)\(.*\)#\1$region/\3#" \
      -e "s#^\(  audit: \).*#\1$d/audit.sqlite#" -e "s#^\(  log: \).*#\1$d/mcr.log#" \
      -e "s#^\(  lock: \).*#\1$d/mcr.lock#" "$region/mcr.yaml" >"$d/mcr.yaml"
  cat >>"$d/mcr.yaml" <<YAML
web:
  listen: 127.0.0.1:0
  state: $d/state
  threads: ${MCR_BENCH_THREADS:-8}
  session_idle: 7200
  session_max: 14400
  ig_roles: [ig]
  launchers:
    - id: bench
      public_key: $work/pub.pem
      organisations: [A81001]
store:
  backend: $2
YAML
  [ "$2" = sqlite ] || cat >>"$d/mcr.yaml" <<YAML
postgresql:
  conninfo: $PG_CONNINFO
  password_file: $PG_PASSWORD_FILE
YAML
}
config sqlite sqlite
config pg1 postgresql
config pg2 postgresql

sqlite3 "$region/store/current" "SELECT nhs FROM member WHERE org = 'A81001' ORDER BY nhs LIMIT $SESSIONS" \
  >"$work/people"

# node NAME: start mcr-serve on NAME's config; sets base_NAME, its sessions in
# $work/NAME/cookies and a wrk script $work/NAME/view.lua.
node() {
  local d="$work/$1" line port n=0 nhs tok
  mkfifo "$d/out"
  "$BIN/mcr-serve" --config "$d/mcr.yaml" >"$d/out" 2>"$d/serve.err" &
  srvs+=($!)
  exec {fd}<"$d/out"
  read -r line <&"$fd"
  case "$line" in "listening on 127.0.0.1:"*) ;; *) echo "mcr-serve: $line $(cat "$d/serve.err")" >&2; exit 1 ;; esac
  port=${line##*:}
  echo "http://127.0.0.1:$port" >"$d/base"
  : >"$d/cookies"
  while read -r nhs; do
    tok=$("$BIN/mcr-launch" --key "$work/key.pem" --iss bench --user "bench.$((n % 50))" --org A81001 \
      --role clinician --nhs "$nhs")
    curl -s -o /dev/null -D - "http://127.0.0.1:$port/launch?token=$tok" |
      sed -n 's/^[Ss]et-[Cc]ookie: mcr_session=\([^;]*\);.*/\1/p' >>"$d/cookies"
    n=$((n + 1))
  done <"$work/people"
  [ "$(wc -l <"$d/cookies")" -eq "$n" ] || { echo "$1: only some launches gave a session" >&2; exit 1; }
  curl -s -H "Cookie: mcr_session=$(head -1 "$d/cookies")" "http://127.0.0.1:$port/record" |
    grep -q 'class="patient"' || { echo "$1: a session's /record is not the view" >&2; exit 1; }
  view_lua "$d/cookies" >"$d/view.lua"
}

# wrk_run NAME CONNS OUT: wrk on NAME's node into OUT.
wrk_run() {
  wrk -t1 -c"$2" -d"${SECS}s" --timeout 10s --latency -s "$work/$1/view.lua" "$(cat "$work/$1/base")/record" >"$3"
}
field() { awk -v k="$1" '$1 == k { print $2 }' "$2"; }
rps() { awk '/^Requests\/sec/ { print $2 }' "$1"; }
reqs() { awk '/requests in/ { print $1 }' "$1"; }
bad() { awk '/Non-2xx/ { n = $NF } END { print n + 0 }' "$1"; }
audit_sqlite() { sqlite3 "$work/sqlite/audit.sqlite" "SELECT count(*) FROM audit"; }
audit_pg() { pg_server_psql -tAc "SELECT count(*) FROM mcr.audit"; }

echo "starting nodes and launching $SESSIONS sessions on each"
node sqlite
node pg1
node pg2

echo "# mcr-serve on PostgreSQL, $(date -u +%FT%TZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# region $PEOPLE people, $SESSIONS sessions a node, ${SECS}s per run, $CONNS connections in all, server threads ${MCR_BENCH_THREADS:-8}"
printf '%-8s %5s %6s %10s %9s %9s %9s %7s %9s\n' run nodes conns req/s p50 p99 requests non2xx audited
before=$(audit_sqlite)
wrk_run sqlite "$CONNS" "$work/w-sqlite"
printf '%-8s %5s %6s %10s %9s %9s %9s %7s %9s\n' sqlite 1 "$CONNS" "$(rps "$work/w-sqlite")" \
  "$(field 50% "$work/w-sqlite")" "$(field 99% "$work/w-sqlite")" "$(reqs "$work/w-sqlite")" \
  "$(bad "$work/w-sqlite")" "$(($(audit_sqlite) - before))"
before=$(audit_pg)
wrk_run pg1 "$CONNS" "$work/w-pg1"
printf '%-8s %5s %6s %10s %9s %9s %9s %7s %9s\n' pg-1 1 "$CONNS" "$(rps "$work/w-pg1")" \
  "$(field 50% "$work/w-pg1")" "$(field 99% "$work/w-pg1")" "$(reqs "$work/w-pg1")" \
  "$(bad "$work/w-pg1")" "$(($(audit_pg) - before))"
before=$(audit_pg)
half=$((CONNS / 2))
wrk_run pg1 "$half" "$work/w-pg2a" &
wa=$!
wrk_run pg2 "$half" "$work/w-pg2b"
wait "$wa"
total=$(awk -v a="$(rps "$work/w-pg2a")" -v b="$(rps "$work/w-pg2b")" 'BEGIN { printf "%.2f", a + b }')
printf '%-8s %5s %6s %10s %9s %9s %9s %7s %9s\n' pg-2 2 "$CONNS" "$total" \
  "$(field 50% "$work/w-pg2a")/$(field 50% "$work/w-pg2b")" \
  "$(field 99% "$work/w-pg2a")/$(field 99% "$work/w-pg2b")" \
  "$(($(reqs "$work/w-pg2a") + $(reqs "$work/w-pg2b")))" \
  "$(($(bad "$work/w-pg2a") + $(bad "$work/w-pg2b")))" \
  "$(($(audit_pg) - before))"
awk -v one="$(rps "$work/w-pg1")" -v two="$total" \
  'BEGIN { printf "# two nodes / one node: %.2fx (target 1.6x)\n", two / one }'
echo "# audit entries: sqlite $(audit_sqlite), postgresql $(audit_pg)"
