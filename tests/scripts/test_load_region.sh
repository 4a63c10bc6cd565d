#!/usr/bin/env bash
# mcr-load on mcr-synth's multi-organisation sample region: synth -> the three
# extractors -> mcr-load. Checks per organisation that the store's counts equal
# the manifests' (people, members, items, objections, items by section,
# withheld by reason; for the out-of-hours provider, what the GP objections
# removed is counted as 'objection'); a re-run gives identical content; one
# organisation's corrupt file leaves it stale with its previous data (exit 3,
# quarantined with a reason) while the others load.
# Usage: test_load_region.sh BIN_DIR [PEOPLE] [SEED]
set -u
BIN=$(cd "$1" && pwd)
PEOPLE=${2:-400}
SEED=${3:-11}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
err() { echo "$*"; fail=1; }

. "$(dirname "$0")/region.sh"
region_make "$PEOPLE" "$SEED"
cfg=$work/region/mcr.yaml
store=$work/region/store

orgs=$(region_orgs)
extract() { # ods -> manifest path on stdout
  local ods=$1 kind src
  kind=$(summary_value "organisations.$ods.kind")
  src=$(summary_value "organisations.$ods.source")
  "$BIN/mcr-extract-$kind" --config "$cfg" --org "$ods" --input "$work/region/$src" \
    2>"$work/err.$ods" | tail -n 1
}
for ods in $orgs; do
  m=$(extract "$ods")
  [ -f "$m" ] || { echo "$ods: extract failed: $(cat "$work/err.$ods")"; exit 1; }
  flatten "$m" >"$work/manifest.$ods"
done

"$BIN/mcr-load" --config "$cfg" >"$work/out1" 2>"$work/err1"
status=$?
[ $status -eq 0 ] || err "first load: exit $status: $(cat "$work/err1")"
grep -q '^mcr-load: generation 1 published: 5 organisation(s) (5 loaded' "$work/out1" ||
  err "first load summary: $(cat "$work/out1")"
[ "$(wc -l <"$work/out1")" -eq 1 ] || err "summary is not one line"
[ -s "$work/err1" ] && err "stderr not quiet under a non-terminal: $(cat "$work/err1")"

db=$store/current
q() { sqlite3 -readonly "$db" "$1"; }
[ "$(q 'PRAGMA integrity_check')" = ok ] || err "integrity_check failed"
mf() { awk -v k="$2" '$1 == k { print $2 }' "$work/manifest.$1"; }
for ods in $orgs; do
  kind=$(awk -v k="organisations.$ods.kind" '$1 == k { print $2 }' "$work/summary")
  [ "$(q "SELECT status FROM source WHERE org = '$ods'")" = current ] || err "$ods: not current"
  for c in members objections; do
    got=$(q "SELECT $c FROM source WHERE org = '$ods'")
    [ "$got" = "$(mf "$ods" "counts.$c")" ] || err "$ods: $c $got, manifest $(mf "$ods" "counts.$c")"
  done
  # Rows really in the store, against the source row.
  [ "$(q "SELECT count(*) FROM member WHERE org = '$ods'")" = "$(q "SELECT members FROM source WHERE org = '$ods'")" ] ||
    err "$ods: member rows differ from source.members"
  [ "$(q "SELECT count(*) FROM item WHERE org = '$ods'")" = "$(q "SELECT items FROM source WHERE org = '$ods'")" ] ||
    err "$ods: item rows differ from source.items"
  [ "$(q "SELECT count(*) FROM objection WHERE org = '$ods'")" = "$(mf "$ods" counts.objections)" ] ||
    err "$ods: objection rows differ from the manifest"
  # What the cross-organisation objection rule removed (0 for GP and LCS).
  removed=$(( $(q "SELECT coalesce(sum(count), 0) FROM withheld WHERE org = '$ods' AND reason = 'objection'") - $(mf "$ods" withheld.objection) ))
  if [ "$kind" != ooh ]; then
    [ "$removed" -eq 0 ] || err "$ods: $removed items removed by objections elsewhere"
    got=$(q "SELECT people FROM source WHERE org = '$ods'")
    [ "$got" = "$(mf "$ods" counts.people)" ] || err "$ods: people $got, manifest $(mf "$ods" counts.people)"
  fi
  got=$(q "SELECT items FROM source WHERE org = '$ods'")
  [ $((got + removed)) -eq "$(mf "$ods" counts.items)" ] ||
    err "$ods: items $got + $removed removed, manifest $(mf "$ods" counts.items)"
  for s in allergies medications problems immunisations results encounters social-care misc-reports; do
    got=$(q "SELECT coalesce(sum(items), 0) FROM source_section WHERE org = '$ods' AND section = '$s'")
    want=$(mf "$ods" "counts.sections.$s")
    if [ "$kind" = ooh ]; then
      [ "$got" -le "$want" ] || err "$ods: $s $got > manifest $want"
    else
      [ "$got" = "$want" ] || err "$ods: section $s $got, manifest $want"
    fi
  done
  for r in no-consent sensitive confidential entered-in-error before-shares-from invalid-nhs-number unmatched no-clinical-contact; do
    got=$(q "SELECT coalesce(sum(count), 0) FROM withheld WHERE org = '$ods' AND reason = '$r'")
    [ "$got" = "$(mf "$ods" "withheld.$r")" ] || err "$ods: withheld $r $got, manifest $(mf "$ods" "withheld.$r")"
  done
done
# No health data for anyone with a GP objection, from any organisation.
n=$(q "SELECT count(*) FROM item i JOIN objection o ON o.nhs = i.nhs JOIN source s ON s.org = o.org AND s.kind = 'gp' WHERE i.section <> 'social-care'")
[ "$n" = 0 ] || err "$n health items of objecting people in the store"

dump() {
  sqlite3 -readonly "$store/current" "
    SELECT org, dataset, kind, name, extracted, loaded, shares_from, manifest, people, members, items, objections FROM source ORDER BY org;
    SELECT * FROM source_section ORDER BY 1, 2; SELECT * FROM withheld ORDER BY 1, 2;
    SELECT * FROM member ORDER BY 1, 2; SELECT * FROM person ORDER BY 1, 2;
    SELECT * FROM objection ORDER BY 1, 2; SELECT * FROM item ORDER BY id;
    SELECT * FROM person_withheld ORDER BY 1, 2, 3, 4;"
}
dump >"$work/dump1"

# The same staged files again: identical content.
# This run builds the index after the insert (by a sort), the path large regions
# take; the first built it during the insert. The content must not differ.
MCR_LOAD_EARLY_INDEX_ITEMS=0 "$BIN/mcr-load" --config "$cfg" >"$work/out2" 2>&1 || err "second load failed: $(cat "$work/out2")"
grep -q 'generation 2 published: 5 organisation(s) (0 loaded, 5 unchanged' "$work/out2" ||
  err "second load summary: $(cat "$work/out2")"
dump >"$work/dump2"
cmp -s "$work/dump1" "$work/dump2" || err "re-run content differs: $(diff "$work/dump1" "$work/dump2" | head -5)"

# The next night: every GP re-extracts; one file is corrupted in transit.
MCR_NOW=$(date -u -d "${MCR_NOW%Z} UTC + 1 day" +%Y-%m-%dT%H:%M:%SZ)
export MCR_NOW
for ods in A81001 A81002; do
  m=$(extract "$ods")
  [ -f "$m" ] || { echo "$ods: second extract failed: $(cat "$work/err.$ods")"; exit 1; }
done
payload=${m%.yaml}.xml.gz
size=$(stat -c %s "$payload")
printf '\x00\x01\x02\x03' | dd of="$payload" bs=1 seek=$((size / 2)) conv=notrunc status=none
"$BIN/mcr-load" --config "$cfg" >"$work/out3" 2>"$work/err3"
status=$?
[ $status -eq 3 ] || err "corrupt file: exit $status, expected 3: $(cat "$work/out3" "$work/err3")"
grep -q 'generation 3 published: .*(1 loaded, 3 unchanged, 1 stale, 0 never).* 1 file(s) rejected' "$work/out3" ||
  err "third load summary: $(cat "$work/out3")"
[ "$(q "SELECT status FROM source WHERE org = 'A81002'")" = stale ] || err "A81002 not stale"
[ "$(q "SELECT status FROM source WHERE org = 'A81001'")" = current ] || err "A81001 not current"
[ "$(q "SELECT extracted FROM source WHERE org = 'A81002'")" = "$(awk '$1 == "synth.extract_time" { print $2 }' "$work/summary")" ] ||
  err "A81002 does not keep the time its data is as of"
a=$(grep -c '|A81002|' "$work/dump1")
b=$(dump | grep -c '|A81002|')
[ "$a" = "$b" ] || err "A81002's previous data not carried over ($a rows before, $b after)"
stamp=$(basename "${m%.yaml}")
for f in "$stamp.xml.gz" "$stamp.yaml" "$stamp.reason"; do
  [ -f "$work/region/quarantine/A81002/gp/$f" ] || err "quarantine lacks $f"
done
[ -f "$m" ] && err "rejected manifest still in staging"
[ "$(q 'PRAGMA integrity_check')" = ok ] || err "integrity_check failed after the rejection"
hist=$(sqlite3 -readonly "$store/history.sqlite" "SELECT group_concat(outcome, ',') FROM (SELECT outcome FROM load ORDER BY rowid)")
[ "$hist" = "ok,ok,rejected" ] || err "load history outcomes: $hist"

[ $fail -eq 0 ] && echo "mcr-load region: counts equal the manifests for $(echo $orgs), re-run identical, corrupt file quarantined and stale"
exit $fail
