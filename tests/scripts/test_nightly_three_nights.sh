#!/usr/bin/env bash
# End to end with the real programs, three nights on a 200-person sample region:
#   night 1: all good (exit 0, every organisation current in the store and the
#            coverage report);
#   night 2: changed sources (mcr-synth --night 2): the new allergy is visible in a
#            lookup; the new objection shows the withdrawn-consent message and no
#            health data; the withdrawn social care consent leaves the person
#            looking unknown to social care; the person who moved practice is on
#            the new practice's list (its clinician may look) and not the old one's
#            (denied); then the 14:00 out-of-hours run (--only-kind ooh) reloads
#            the OOH provider and carries the others over unchanged;
#   night 3: one practice's export corrupt: exit 3 (degraded), that practice stale
#            with its night-2 data (lookups say so and show it), the others current;
#   then verify-audit checks the audit log against each night's checkpoint line.
# Usage: test_nightly_three_nights.sh BIN_DIR
set -u
BIN=$(cd "${1:?usage: $0 BIN_DIR}" && pwd)
work=$(mktemp -d /tmp/mcr-three-nights.XXXXXX)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
region=$work/region
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
for p in mcr-synth mcr-extract-gp mcr-extract-lcs mcr-extract-ooh mcr-load mcr-lookup mcr-report mcr-nightly; do
  [ -x "$BIN/$p" ] || { echo "FAIL: $BIN/$p is missing"; exit 1; }
done

synth() { # synth NIGHT: the region's sources as of night NIGHT
  "$BIN/mcr-synth" --people 200 --seed 11 --out "$region" --night "$1" --flat >"$work/summary$1" ||
    { echo "FAIL: mcr-synth --night $1"; exit 1; }
}
val() { awk -v k="$2" '$1 == k { print $2; exit }' "$work/summary$1"; }
db() { sqlite3 -batch -noheader "$region/store/current" "$@"; }
night() { # night EXPECTED_EXIT NOW [args...]: one mcr-nightly run
  MCR_NOW=$2 "$BIN/mcr-nightly" --config "$region/mcr.yaml" "${@:3}" >"$work/night.out" 2>"$work/night.err"
  local got=$?
  if [ "$got" != "$1" ]; then
    fail "mcr-nightly at $2: exit $got, expected $1"
    sed 's/^/  stdout: /' "$work/night.out" | tail -n 40
    sed 's/^/  stderr: /' "$work/night.err" | tail -n 20
    grep -E 'stderr:|failed|end:' "$region/log/mcr.log" | tail -n 20 | sed 's/^/  log: /'
  fi
}
lookup() { # lookup NOW USER ORG ROLE NHS [args...]: output in $work/lookup.out, status in $looked
  local now=$1; shift
  MCR_NOW=$now "$BIN/mcr-lookup" --config "$region/mcr.yaml" --user "$1" --org "$2" --role "$3" \
    --nhs "$4" "${@:5}" >"$work/lookup.out" 2>"$work/lookup.err"
  looked=$?
}
change() { # change NIGHT KIND FIELD: FIELD of the first night change of KIND
  local i=0 c
  while c=$(val "$1" "night_changes.$i.change") && [ -n "$c" ]; do
    [ "$c" = "$2" ] && { val "$1" "night_changes.$i.$3"; return; }
    i=$((i + 1))
  done
}

# ---- Night 1: all good ----------------------------------------------------------
synth 1
now1=$(val 1 synth.extract_time)
night 0 "$now1"
orgs=$(awk '$1 ~ /^organisations\.[A-Z0-9]+\.kind$/ { split($1, a, "."); print a[2] }' "$work/summary1")
[ "$(echo "$orgs" | wc -w)" -eq 5 ] || fail "night 1: the synth summary does not list 5 organisations"
for o in $orgs; do
  [ "$(db "SELECT status || ' ' || extracted FROM source WHERE org = '$o'")" = "current $now1" ] ||
    fail "night 1: $o is not current as of $now1 in the store"
  grep 'step=report stdout:' "$region/log/mcr.log" | grep -q "$o" ||
    fail "night 1: the coverage report in the log does not list $o"
done
grep 'step=report stdout:' "$region/log/mcr.log" | grep -Eq 'STALE|FAILED|NEVER' &&
  fail "night 1: the coverage report shows a problem"
grep -q 'end: good, exit 0' "$region/log/mcr.log" || fail "night 1: no good end line in the log"
[ -s "$work/night.out" ] || [ -s "$work/night.err" ] && fail "night 1: a good night was not silent"

# ---- Night 2: changed sources ---------------------------------------------------
synth 2
now2=$(val 2 synth.extract_time)
night 0 "$now2"
gen1=$region/store/gen-000001.sqlite
[ -f "$gen1" ] || fail "night 2: generation 1 not kept"

# A new allergy, visible in a lookup by a clinician at the person's practice.
nhs=$(change 2 new-allergy nhs); org=$(change 2 new-allergy org)
if [ -z "$nhs" ]; then fail "night 2: the synth summary lists no new-allergy change"; else
  new=$(db "ATTACH '$gen1' AS g1; SELECT display FROM item WHERE nhs = '$nhs' AND section = 'allergies'
            EXCEPT SELECT display FROM g1.item WHERE nhs = '$nhs' AND section = 'allergies' LIMIT 1")
  [ -n "$new" ] || fail "night 2: no new allergy for $nhs in the store"
  lookup "$now2" dr.three "$org" clinician "$nhs" --section allergies
  [ "$looked" -eq 0 ] && grep -qF "$new" "$work/lookup.out" ||
    fail "night 2: the new allergy '$new' of $nhs is not in the lookup at $org (exit $looked)"
fi

# A new objection: the withdrawn-consent message and no health data.
nhs=$(change 2 objection-raised nhs); org=$(change 2 objection-raised org)
if [ -z "$nhs" ]; then fail "night 2: the synth summary lists no objection-raised change"; else
  lookup "$now2" dr.three "$org" clinician "$nhs"
  [ "$looked" -eq 0 ] || fail "night 2: lookup of objecting $nhs at $org exited $looked"
  grep -qi 'withdrawn consent to share' "$work/lookup.out" ||
    fail "night 2: no withdrawn-consent message for $nhs"
  [ "$(db "SELECT count(*) FROM item WHERE nhs = '$nhs' AND section <> 'social-care'")" = 0 ] ||
    fail "night 2: health items of objecting $nhs are in the store"
  sqlite3 -batch -noheader "$gen1" "SELECT DISTINCT display FROM item WHERE nhs = '$nhs'
      AND section <> 'social-care' AND display IS NOT NULL" >"$work/before"
  [ -s "$work/before" ] || fail "night 2: objecting $nhs had no health items on night 1 (nothing to hide)"
  while IFS= read -r d; do
    grep -qF -- "$d" "$work/lookup.out" && fail "night 2: objecting $nhs's '$d' is shown"
  done <"$work/before"
fi

# Social care consent withdrawn: the same view as a person unknown to social care.
nhs=$(change 2 consent-withdrawn nhs)
if [ -z "$nhs" ]; then fail "night 2: the synth summary lists no consent-withdrawn change"; else
  [ "$(sqlite3 -batch -noheader "$gen1" "SELECT count(*) FROM item WHERE nhs = '$nhs' AND section = 'social-care'")" -gt 0 ] ||
    fail "night 2: consent-withdrawn $nhs had no social care on night 1"
  [ "$(db "SELECT count(*) FROM item WHERE nhs = '$nhs' AND section = 'social-care'")" = 0 ] &&
  [ "$(db "SELECT count(*) FROM person WHERE nhs = '$nhs' AND org = 'LA919'")" = 0 ] ||
    fail "night 2: social care of consent-withdrawn $nhs is still in the store"
  gp=$(db "SELECT org FROM member WHERE nhs = '$nhs' AND org LIKE 'A8%' LIMIT 1")
  other=$(db "SELECT m.nhs FROM member m WHERE m.org = '$gp' AND m.nhs NOT IN
              (SELECT nhs FROM member WHERE org = 'LA919' UNION SELECT nhs FROM person WHERE org = 'LA919'
               UNION SELECT nhs FROM objection) LIMIT 1")
  if [ -z "$gp" ] || [ -z "$other" ]; then fail "night 2: no practice or comparison person for $nhs"; else
    # The social care section and every mention of the social care organisation.
    view() { awk '/^Social care$/ { on = 1 } on && /^$/ { on = 0 } on' "$work/lookup.out"; grep -c LA919 "$work/lookup.out"; }
    lookup "$now2" dr.three "$gp" clinician "$nhs"
    a=$looked; view >"$work/withdrawn.view"
    lookup "$now2" dr.three "$gp" clinician "$other"
    b=$looked; view >"$work/unknown.view"
    [ "$a" = 0 ] && [ "$b" = 0 ] && diff -q "$work/withdrawn.view" "$work/unknown.view" >/dev/null ||
      { fail "night 2: social care view of consent-withdrawn $nhs differs from unknown $other's ($a/$b)";
        diff "$work/withdrawn.view" "$work/unknown.view" | head -n 10; }
  fi
fi

# Moved practice: on the new practice's list, off the old one's.
nhs=$(change 2 moved-practice nhs); to=$(change 2 moved-practice org); from=$(change 2 moved-practice from)
if [ -z "$nhs" ]; then fail "night 2: the synth summary lists no moved-practice change"; else
  lookup "$now2" dr.new "$to" clinician "$nhs"
  [ "$looked" -eq 0 ] || fail "night 2: clinician at new practice $to cannot look up $nhs (exit $looked)"
  lookup "$now2" dr.old "$from" clinician "$nhs"
  [ "$looked" -eq 3 ] || fail "night 2: clinician at old practice $from was not denied $nhs (exit $looked)"
fi

# The out-of-hours run at 14:00: the OOH provider extracted and loaded again, the
# others carried over unchanged.
pm=${now2%T*}T14:00:00Z
night 0 "$pm" --only-kind ooh --no-report
for o in $orgs; do
  case $o in NLO11) want="current $pm" ;; *) want="unchanged $now2" ;; esac
  [ "$(db "SELECT status || ' ' || extracted FROM source WHERE org = '$o'")" = "$want" ] ||
    fail "OOH run: $o is not $want: $(db "SELECT status, extracted FROM source WHERE org = '$o'")"
done
[ "$(grep -c "step=extract" "$work/night.out" 2>/dev/null)" = 0 ] || fail "OOH run: step lines on stdout"

# ---- Night 3: one practice's export corrupt -----------------------------------
synth 3
now3=$(val 3 synth.extract_time)
bad=A81002
bundle=$(ls "$region/sources/gp/$bad"/bundle-* | head -n 1)
size=$(stat -c %s "$bundle")
head -c $((size / 2)) "$bundle" >"$work/half" && cat "$work/half" >"$bundle"
gen2=$region/store/$(readlink "$region/store/current")
night 3 "$now3"
grep -q "degraded (exit 3).* failed $bad" "$work/night.err" || fail "night 3: the stderr summary does not name $bad as failed"
grep -q "^mcr-nightly:   $bad FAILED: data as of $now2 " "$work/night.err" ||
  fail "night 3: the stderr summary does not show $bad FAILED with its last good data"
grep 'step=report stdout:' "$region/log/mcr.log" | grep "$bad" | grep -Eq 'STALE|FAILED' ||
  fail "night 3: the coverage report does not show $bad STALE or FAILED"
[ "$(db "SELECT status || ' ' || extracted FROM source WHERE org = '$bad'")" = "stale $now2" ] ||
  fail "night 3: $bad is not stale with its night-2 data: $(db "SELECT status, extracted FROM source WHERE org = '$bad'")"
for o in $orgs; do
  [ "$o" = "$bad" ] && continue
  [ "$(db "SELECT status || ' ' || extracted FROM source WHERE org = '$o'")" = "current $now3" ] ||
    fail "night 3: $o is not current as of $now3"
done
[ "$(db "ATTACH '$gen2' AS g2; SELECT (SELECT count(*) FROM item WHERE org = '$bad') =
         (SELECT count(*) FROM g2.item WHERE org = '$bad')")" = 1 ] ||
  fail "night 3: $bad's items differ from night 2's"
nhs=$(db "SELECT nhs FROM item WHERE org = '$bad' AND section = 'allergies' AND display IS NOT NULL
          AND nhs IN (SELECT nhs FROM member WHERE org = '$bad') LIMIT 1")
shown=$(db "SELECT display FROM item WHERE org = '$bad' AND nhs = '$nhs' AND section = 'allergies' LIMIT 1")
lookup "$now3" dr.three "$bad" clinician "$nhs" --section allergies
[ "$looked" -eq 0 ] && grep -qi stale "$work/lookup.out" && grep -qF "$shown" "$work/lookup.out" ||
  fail "night 3: lookup of $nhs at $bad lacks the stale banner or the night-2 allergy '$shown' (exit $looked)"
[ "$(ls "$region"/store/gen-*.sqlite | wc -l)" -le 3 ] || fail "night 3: more than 3 generations kept"
ls "$region"/staging/*/*/*.yaml >/dev/null 2>&1 && fail "night 3: loaded staged files left in staging"
ls "$region/archive/A81001/gp/"*.yaml >/dev/null 2>&1 || fail "night 3: nothing archived"

# ---- The audit log's checkpoints: every night's log line and every load's history row ----
entries=$(sqlite3 -batch -noheader "$region/audit/audit.sqlite" "SELECT count(*) FROM audit")
# Night 3 ran after every lookup but the last one.
grep -Eq "audit checkpoint $((entries - 1)):[0-9a-f]{64}$" "$region/log/mcr.log" ||
  fail "the log has no audit checkpoint of the $((entries - 1)) entries made by night 3"
from_log=$(grep -c "audit checkpoint " "$region/log/mcr.log")
"$BIN/mcr-report" --config "$region/mcr.yaml" --format csv verify-audit >"$work/verify.out" 2>&1 ||
  fail "verify-audit after three nights: $(cat "$work/verify.out")"
grep -Eq ",$entries,chain intact,$entries:[0-9a-f]{64},[0-9]+ matched: load history [0-9]+; log $from_log; given 0" "$work/verify.out" ||
  fail "verify-audit did not check the log's $from_log checkpoints: $(cat "$work/verify.out")"

[ "$fails" -eq 0 ] || { echo "$fails failure(s); work folder $work"; exit 1; }
echo "ok: test_nightly_three_nights"
