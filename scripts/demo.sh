#!/usr/bin/env bash
# The README's main command: one whole night on the synthetic sample region.
#
#   scripts/demo.sh [BIN_DIR [REGION_DIR]]
#
# BIN_DIR: the built programs (default build/bin). REGION_DIR: the work folder
# (default ./demo-region; $DEMO_PEOPLE people, default 1000, seed $DEMO_SEED,
# default 42). The script writes the region with mcr-synth (a run before is
# replaced: its sources, staging, store, audit and log are removed first), runs
# mcr-nightly on it at the synth's extract time (MCR_NOW), which prints the
# coverage report, then shows one example lookup: a clinician at a practice
# looking up one of its registered patients. Then it starts mcr-serve on
# loopback (port $DEMO_PORT, default any free one) with a demo launcher key and
# prints two launch links, a clinician's and an IG lead's, each valid for five
# minutes and once; it serves until Ctrl-C. MCR_DEMO_NO_SERVE=1 skips serving
# (CI). Exit: mcr-nightly's status (0 when the night was good), or the
# lookup's or the server's when that fails.
set -eu
bin=$(cd "${1:-build/bin}" && pwd)
region=${2:-demo-region}
people=${DEMO_PEOPLE:-1000}
seed=${DEMO_SEED:-42}

for p in mcr-synth mcr-nightly mcr-lookup mcr-serve mcr-launch; do
  [ -x "$bin/$p" ] || { echo "demo: $bin/$p is missing: build first (cmake --build build)" >&2; exit 1; }
done
mkdir -p "$region"
region=$(cd "$region" && pwd)
# Only what a previous demo made, never the folder itself.
for d in sources staging archive quarantine store audit log run web; do rm -rf "${region:?}/$d"; done

echo "== mcr-synth: $people people, seed $seed, in $region"
"$bin/mcr-synth" --people "$people" --seed "$seed" --out "$region" --flat >"$region/synth-summary.txt"
value() { awk -v k="$1" '$1 == k { print $2; exit }' "$region/synth-summary.txt"; }
now=$(value synth.extract_time)
[ -n "$now" ] || { echo "demo: no synth.extract_time in the synth summary" >&2; exit 1; }

echo "== mcr-nightly at $now (MCR_NOW): extracts, load, archive, coverage report"
set +e
MCR_NOW=$now "$bin/mcr-nightly" --config "$region/mcr.yaml" --verbose
night=$?
set -e
echo "(every step is in $region/log/mcr.log)"

# The example: a clinician at a practice looks up one of its registered patients.
# The synth summary names staff who are patients of the region (staff.N.nhs and
# staff.N.patient_at); a colleague at that practice looks one of them up.
nhs=""; org=""
i=0
while [ -n "$(value "staff.$i.user")" ]; do
  at=$(value "staff.$i.patient_at")
  case $at in
    A8*) nhs=$(value "staff.$i.nhs"); org=$at; break ;;
  esac
  i=$((i + 1))
done
if [ -z "$nhs" ]; then
  echo "demo: the synth summary names no staff member registered at a practice" >&2
  exit 1
fi
echo
echo "== mcr-lookup: dr.demo, clinician at $org, looks up registered patient $nhs"
set +e
MCR_NOW=$now "$bin/mcr-lookup" --config "$region/mcr.yaml" --user dr.demo --org "$org" \
  --role clinician --nhs "$nhs"
lookup=$?
set -e
if [ "$lookup" -ne 0 ]; then
  echo "demo: mcr-lookup exited $lookup" >&2
  [ "$night" -ne 0 ] || night=$lookup
fi
[ "${MCR_DEMO_NO_SERVE:-}" = 1 ] && exit "$night"

# The Health link service: a demo host system ("demo-lcs") with its own key pair,
# allowed to launch for the practice and for IG work (docs/WEB.md).
mkdir -p "$region/web"
openssl ecparam -name prime256v1 -genkey -noout -out "$region/web/demo-launcher.key.pem" 2>/dev/null
openssl ec -in "$region/web/demo-launcher.key.pem" -pubout -out "$region/web/demo-launcher.pub.pem" 2>/dev/null
cat >>"$region/mcr.yaml" <<YAML
web:
  listen: 127.0.0.1:${DEMO_PORT:-0}
  threads: 2
  ig_roles: [ig]
  launchers:
    - id: demo-lcs
      public_key: web/demo-launcher.pub.pem
      organisations: [$org, Q99IG]
YAML
echo
echo "== mcr-serve: the Health link on loopback"
fifo="$region/web/ready"
rm -f "$fifo" && mkfifo "$fifo"
# MCR_NOW: source freshness judged at the night's time, like the lookup above;
# launch tokens, sessions and the audit use the real clock.
MCR_NOW=$now "$bin/mcr-serve" --config "$region/mcr.yaml" >"$fifo" &
serve=$!
exec 3<"$fifo"
if ! read -r -t 30 -u 3 ready; then
  echo "demo: mcr-serve did not start (see $region/log/mcr.log)" >&2
  kill "$serve" 2>/dev/null
  exit 1
fi
base="http://${ready#listening on }"
echo "$ready (log: $region/log/mcr.log)"
launch() { "$bin/mcr-launch" --key "$region/web/demo-launcher.key.pem" --iss demo-lcs --ttl 300 --url "$base" "$@"; }
echo
echo "Open in a browser within five minutes (each link works once):"
echo "  clinician dr.demo at $org, patient $nhs:"
echo "    $(launch --user dr.demo --org "$org" --role clinician --nhs "$nhs")"
echo "  information governance lead ig.demo:"
echo "    $(launch --user ig.demo --org Q99IG --role ig --ig)"
echo "More links: $bin/mcr-launch --key $region/web/demo-launcher.key.pem --iss demo-lcs --url $base ..."
echo "Press Ctrl-C to stop the server."
trap 'kill -TERM "$serve" 2>/dev/null' INT TERM
set +e
wait "$serve"
st=$?
if [ "$st" -gt 128 ]; then   # the trap ran: wait for the clean stop
  wait "$serve"
  st=$?
fi
set -e
exec 3<&-
[ "$st" -eq 0 ] || [ "$night" -ne 0 ] || night=$st
exit "$night"
