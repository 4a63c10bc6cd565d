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
# looking up one of its registered patients. Exit: mcr-nightly's status (0 when
# the night was good), or the lookup's when that fails.
set -eu
bin=$(cd "${1:-build/bin}" && pwd)
region=${2:-demo-region}
people=${DEMO_PEOPLE:-1000}
seed=${DEMO_SEED:-42}

for p in mcr-synth mcr-nightly mcr-lookup; do
  [ -x "$bin/$p" ] || { echo "demo: $bin/$p is missing: build first (cmake --build build)" >&2; exit 1; }
done
mkdir -p "$region"
region=$(cd "$region" && pwd)
# Only what a previous demo made, never the folder itself.
for d in sources staging archive quarantine store audit log run; do rm -rf "${region:?}/$d"; done

echo "== mcr-synth: $people people, seed $seed, in $region"
"$bin/mcr-synth" --people "$people" --seed "$seed" --out "$region" --flat >"$region/synth-summary.txt"
value() { awk -v k="$1" '$1 == k { print $2; exit }' "$region/synth-summary.txt"; }
now=$(value synth.extract_time)
[ -n "$now" ] || { echo "demo: no synth.extract_time in the synth summary" >&2; exit 1; }

echo "== mcr-nightly at $now (MCR_NOW): extracts, load, archive, coverage report"
set +e
MCR_NOW=$now "$bin/mcr-nightly" --config "$region/mcr.yaml"
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
exit "$night"
