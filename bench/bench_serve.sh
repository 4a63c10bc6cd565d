#!/usr/bin/env bash
# mcr-serve under load: lookups per second and latency at 1, 16 and 64 concurrent
# clients (wrk), every lookup durably audited, beside this machine's limits in the
# same run (the same wrk against /healthz: HTTP with no lookup and no audit; and a
# bare fdatasync rate), and the server's RSS sampled through the run.
#
#   bench/bench_serve.sh BIN_DIR [PEOPLE (100000)] [SECONDS per run (30)] [SOAK SECONDS (0)]
#
# The region (mcr-synth + mcr-nightly) is built once in $MCR_BENCH_REGION
# (default /tmp/mcr-bench-serve-PEOPLE) and reused. A figure, never a test: the
# machine is shared, so run it when it is quiet and say when it was not.
set -eu
BIN=$(cd "$1" && pwd)
. "$(dirname "$0")/lib.sh"
PEOPLE=${2:-100000}
SECS=${3:-30}
SOAK=${4:-0}
SESSIONS=${MCR_BENCH_SESSIONS:-2000}
region=${MCR_BENCH_REGION:-/tmp/mcr-bench-serve-$PEOPLE}
work=$(mktemp -d /tmp/mcr-bench-serve.XXXXXX)
srv=
cleanup() {
  [ -n "$srv" ] && kill "$srv" 2>/dev/null && wait "$srv" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
for tool in wrk curl openssl sqlite3; do
  command -v "$tool" >/dev/null || { echo "bench_serve: $tool is not installed" >&2; exit 1; }
done

# ---- the region -----------------------------------------------------------------
if [ ! -e "$region/store/current" ]; then
  echo "building a $PEOPLE-person region in $region (once)"
  rm -rf "$region"
  MCR_NOW=2026-11-21T06:00:00Z nice "$BIN/mcr-synth" --people "$PEOPLE" --seed 7 --out "$region" >/dev/null
  st=0
  MCR_NOW=2026-11-21T06:00:00Z nice "$BIN/mcr-nightly" --config "$region/mcr.yaml" >/dev/null 2>&1 || st=$?
  [ $st -eq 0 ] || [ $st -eq 3 ] || { echo "mcr-nightly exited $st" >&2; exit 1; }
fi
# The region's config with its paths made absolute, but this run's own audit log,
# log and server state.
sed -e "s#^\(  \(staging\|archive\|quarantine\|store\): \)\(.*\)#\1$region/\3#" \
    -e "s#^\(  audit: \).*#\1$work/audit.sqlite#" -e "s#^\(  log: \).*#\1$work/mcr.log#" \
    -e "s#^\(  lock: \).*#\1$work/mcr.lock#" "$region/mcr.yaml" >"$work/mcr.yaml"
grep -q "^  store: $region/store" "$work/mcr.yaml" && grep -q "^  audit: $work/audit.sqlite" "$work/mcr.yaml" ||
  { echo "cannot rewrite the paths of $region/mcr.yaml" >&2; exit 1; }
openssl ecparam -name prime256v1 -genkey -noout -out "$work/key.pem" 2>/dev/null
openssl ec -in "$work/key.pem" -pubout -out "$work/pub.pem" 2>/dev/null
cat >>"$work/mcr.yaml" <<YAML
web:
  listen: 127.0.0.1:0
  state: $work/state
  threads: ${MCR_BENCH_THREADS:-8}
  session_idle: 7200
  session_max: 14400
  ig_roles: [ig]
  launchers:
    - id: bench
      public_key: $work/pub.pem
      organisations: [A81001]
YAML

# ---- the server: readiness from its "listening on" line ------------------------------
mkfifo "$work/out"
"$BIN/mcr-serve" --config "$work/mcr.yaml" >"$work/out" 2>"$work/serve.err" &
srv=$!
exec 3<"$work/out"
read -r line <&3
port=${line##*:}
case "$line" in "listening on 127.0.0.1:"*) ;; *) echo "mcr-serve: $line $(cat "$work/serve.err")" >&2; exit 1 ;; esac
base="http://127.0.0.1:$port"
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$srv/status"; }

# ---- sessions: one launch each for SESSIONS people on the practice's list ------------------
sqlite3 "$region/store/current" "SELECT nhs FROM member WHERE org = 'A81001' ORDER BY nhs LIMIT $SESSIONS" \
  >"$work/people"
n=0
: >"$work/cookies"
while read -r nhs; do
  tok=$("$BIN/mcr-launch" --key "$work/key.pem" --iss bench --user "bench.$((n % 50))" --org A81001 \
    --role clinician --nhs "$nhs")
  curl -s -o /dev/null -D - "$base/launch?token=$tok" |
    sed -n 's/^[Ss]et-[Cc]ookie: mcr_session=\([^;]*\);.*/\1/p' >>"$work/cookies"
  n=$((n + 1))
done <"$work/people"
got=$(wc -l <"$work/cookies")
[ "$got" -eq "$n" ] || { echo "only $got of $n launches gave a session" >&2; exit 1; }
# A view must really be a view (not a consent page or a refusal).
c1=$(head -1 "$work/cookies")
curl -s -H "Cookie: mcr_session=$c1" "$base/record" | grep -q 'class="patient"' ||
  { echo "a session's /record is not the view" >&2; exit 1; }

view_lua "$work/cookies" >"$work/view.lua"

audit_n() { sqlite3 "$work/audit.sqlite" "SELECT count(*) FROM audit"; }

# One wrk run: "label conns rps p50 p99 requests non2xx"
run() {
  local label=$1 conns=$2 path=$3 script=$4 secs=$5 t=2 out
  [ "$conns" -lt 2 ] && t=1
  out=$(wrk -t"$t" -c"$conns" -d"${secs}s" --timeout 10s --latency ${script:+-s "$script"} "$base$path")
  local rps p50 p99 reqs bad
  rps=$(awk '/^Requests\/sec/ { print $2 }' <<<"$out")
  p50=$(awk '$1 == "50%" { print $2 }' <<<"$out")
  p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
  reqs=$(awk '/requests in/ { print $1 }' <<<"$out")
  bad=$(awk '/Non-2xx/ { print $NF }' <<<"$out")
  echo "$label $conns $rps $p50 $p99 $reqs ${bad:-0}"
}

echo "# mcr-serve benchmark, $(date -u +%FT%TZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# region $PEOPLE people ($(sqlite3 "$region/store/current" 'SELECT count(*) FROM item') items), $SESSIONS sessions, ${SECS}s per run, server threads ${MCR_BENCH_THREADS:-8}"
printf '%-10s %6s %10s %9s %9s %9s %7s %9s %8s\n' what conns req/s p50 p99 requests non2xx audited rss_kib
for conns in 1 16 64; do
  before=$(audit_n)
  set -- $(run view "$conns" /record "$work/view.lua" "$SECS")
  after=$(audit_n)
  printf '%-10s %6s %10s %9s %9s %9s %7s %9s %8s\n' "$@" "$((after - before))" "$(rss)"
done
for conns in 1 64; do
  set -- $(run healthz "$conns" /healthz "" "$SECS")
  printf '%-10s %6s %10s %9s %9s %9s %7s %9s %8s\n' "$@" - "$(rss)"
done
# The disk's bare durable-write rate: 4 KiB writes each followed by fdatasync.
dd if=/dev/zero of="$work/fsync.dat" bs=4k count=2000 oflag=dsync 2>"$work/dd.out"
awk '/copied/ { for (i = 1; i <= NF; i++) if ($i == "s," || $i == "s") s = $(i - 1)
                printf "# bare 4 KiB write+fdatasync in the same folder: %.0f per second (2000 in %.2f s)\n", 2000 / s, s }' \
  "$work/dd.out"
echo "# audit entries $(audit_n); sessions $(curl -s "$base/healthz" | awk '$1 == "sessions" { print $2 }')"

# ---- soak: memory over a long run at 64 clients ------------------------------------------------
if [ "$SOAK" -gt 0 ]; then
  echo "# soak: 64 connections for ${SOAK}s, RSS (KiB) every 30 s"
  wrk -t2 -c64 -d"${SOAK}s" --timeout 10s --latency -s "$work/view.lua" "$base/record" >"$work/soak.out" &
  w=$!
  t=0
  while kill -0 "$w" 2>/dev/null; do
    echo "rss t=${t}s $(rss)"
    sleep 30
    t=$((t + 30))
  done
  wait "$w"
  grep -E "Requests/sec|50%|99%|requests in|Non-2xx" "$work/soak.out" | sed 's/^/# soak /'
  echo "rss end $(rss)"
fi
