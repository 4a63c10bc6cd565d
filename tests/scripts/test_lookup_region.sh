#!/usr/bin/env bash
# mcr-lookup over the real pipeline: mcr-synth writes a region, mcr-nightly
# extracts and loads it, then lookups by the region's own users follow the rules
# (relationship, break-glass, objection, social care without consent, self-access)
# and the audit log verifies. $1 = bin dir. Needs the sqlite3 shell.
set -u
BIN=$(cd "$1" && pwd)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }
r="$work/r"
export MCR_NOW=2026-11-21T06:00:00Z

"$BIN/mcr-synth" --people 400 --seed 5 --out "$r" >"$work/synth.out" 2>&1 || { echo "mcr-synth failed"; cat "$work/synth.out"; exit 1; }
export MCR_CONFIG="$r/mcr.yaml" MCR_BIN="$BIN"
"$BIN/mcr-nightly" --config "$r/mcr.yaml" >"$work/night.out" 2>&1
st=$?
[ $st -eq 0 ] || [ $st -eq 3 ] || { echo "mcr-nightly exited $st"; tail -20 "$work/night.out"; exit 1; }
db="$r/store/current"
[ -e "$db" ] || { echo "no store generation published"; exit 1; }
q() { sqlite3 "$db" "$1"; }
staff_nhs() { grep -A1 "user: $1\$" "$r/mcr.yaml" | sed -n 's/.*nhs: *"\{0,1\}\([0-9]*\)"\{0,1\}.*/\1/p'; }

look() {
  want=$1; shift
  "$BIN/mcr-lookup" "$@" >"$work/out" 2>"$work/err"
  got=$?
  [ "$got" = "$want" ] || bad "mcr-lookup $* exited $got, expected $want: $(head -c 300 "$work/err")"
}
audit_last() { sqlite3 "$r/audit/audit.sqlite" "SELECT $1 FROM audit ORDER BY seq DESC LIMIT 1"; }
me=$(staff_nhs dr.patel)

# Registered at Riverside, with items, no objection, not a member of staff.
a=$(q "SELECT m.nhs FROM member m WHERE m.org = 'A81001' AND m.nhs <> '$me'
       AND EXISTS (SELECT 1 FROM item i WHERE i.nhs = m.nhs AND i.org = 'A81001')
       AND NOT EXISTS (SELECT 1 FROM objection o WHERE o.nhs = m.nhs) ORDER BY m.nhs LIMIT 1")
[ -n "$a" ] || { echo "FAIL: region has no Riverside patient with items"; exit 1; }
term=$(q "SELECT display FROM item WHERE nhs = '$a' AND org = 'A81001' ORDER BY id LIMIT 1")
look 0 --user dr.patel --org A81001 --role clinician --nhs "$a"
grep -qF -- "$term" "$work/out" || bad "Riverside patient $a: item '$term' not shown"
grep -q "source: Riverside Surgery (A81001), as of" "$work/out" || bad "Riverside patient $a: source line missing"
[ "$(audit_last "outcome || ' ' || basis || ' ' || nhs")" = "shown implied $a" ] || bad "audit entry of the allowed lookup"

# Registered elsewhere only: denied at Riverside, shown with break-glass.
b=$(q "SELECT nhs FROM member WHERE org = 'A81002' AND nhs NOT IN (SELECT nhs FROM member WHERE org = 'A81001')
       AND nhs IN (SELECT nhs FROM item) AND nhs NOT IN (SELECT nhs FROM objection) ORDER BY nhs LIMIT 1")
[ -n "$b" ] || { echo "FAIL: region has no Parkway-only patient"; exit 1; }
look 3 --user dr.patel --org A81001 --role clinician --nhs "$b"
[ -s "$work/out" ] && bad "denied lookup printed a record"
look 0 --user dr.patel --org A81001 --role clinician --nhs "$b" --break-glass "collapsed in surgery car park"
[ "$(audit_last "basis || '|' || reason || '|' || outcome")" = "break-glass|collapsed in surgery car park|shown" ] ||
  bad "audit entry of the break-glass lookup"

# Objection in force: the message and no GP data.
o=$(q "SELECT o.nhs, m.org FROM objection o JOIN member m ON m.nhs = o.nhs AND m.org LIKE 'A8%' ORDER BY o.nhs LIMIT 1")
if [ -n "$o" ]; then
  onhs=${o%|*}; oorg=${o#*|}
  look 0 --user gp.user --org "$oorg" --role clinician --nhs "$onhs"
  grep -q "withdrawn consent to share their health record" "$work/out" || bad "objection $onhs: no message"
  grep -q "source: .*(A8" "$work/out" && bad "objection $onhs: GP data shown"
else
  bad "region has no objection in force"
fi

# Social care caseload without consent: the social worker has a relationship, and
# the view shows no social care (the same as for someone unknown to social care).
s=$(q "SELECT m.nhs FROM member m WHERE m.org = 'LA919'
       AND NOT EXISTS (SELECT 1 FROM person p WHERE p.nhs = m.nhs AND p.org = 'LA919')
       AND EXISTS (SELECT 1 FROM person p WHERE p.nhs = m.nhs AND p.org LIKE 'A8%')
       AND NOT EXISTS (SELECT 1 FROM objection x WHERE x.nhs = m.nhs) ORDER BY m.nhs LIMIT 1")
if [ -n "$s" ]; then
  look 0 --user sw.hughes --org LA919 --role social-worker --nhs "$s"
  grep -Eq "source: .*\(LA919\)|^Sources:.*LA919" "$work/out" && bad "social care without consent: social care organisation shown for $s"
  awk '/^Social care$/{f=1;next} /^[A-Z]/{f=0} f' "$work/out" | grep -q "No items shared" ||
    bad "social care without consent: social care section not empty for $s"
else
  bad "region has no social care client without consent"
fi

# Self-access: denied and reported, break-glass or not.
if [ -n "$me" ] && [ "$(q "SELECT count(*) FROM member WHERE nhs = '$me'")" != 0 ]; then
  look 3 --user dr.patel --org A81001 --role clinician --nhs "$me" --break-glass "my own results"
  [ "$(audit_last outcome)" = "self-access" ] || bad "self-access not recorded"
fi

if [ -x "$BIN/mcr-report" ]; then
  "$BIN/mcr-report" verify-audit >"$work/verify" 2>&1 || bad "verify-audit: $(cat "$work/verify")"
fi
[ $fail -eq 0 ] && echo "lookup region: all checks passed"
exit $fail
