#!/usr/bin/env bash
# The database restarted during a load (store.backend: postgresql, a throwaway
# PostgreSQL 15 from tests/scripts/pg_server.sh): night 1 publishes generation 1;
# night 2's mcr-nightly is stopped by the pq_gate shim (tests/preload/pq_gate.c) at
# its first COPY data, the server is stopped as by a crash (pg_ctl -m immediate)
# and started again, and the load goes on against a connection that is gone.
# Checks: the night fails loudly (exit 1, the reason on stderr and in the log);
# generation 1 is still the published one with the same content and still serves
# lookups; the history claims no generation for the failed run; the next load
# succeeds and publishes a newer generation. $1 = bin dir.
set -u
BIN=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
shim=$(cd "$BIN/../lib" && pwd)/libmcr_test_pq_gate.so
work=$(mktemp -d); chmod 755 "$work"
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
[ -z "${KEEP:-}" ] || echo "work: $work"
. "$here/sync.sh"
. "$here/pg_server.sh"
pg_server_start || exit $?
[ -f "$shim" ] || { echo "FAIL: $shim is missing"; exit 1; }
fail=0
bad() { echo "FAIL: $*"; fail=1; }
q() { pg_server_psql -At -c "$1"; }

"$BIN/mcr-synth" --people 200 --seed 9 --out "$work/r" --flat >"$work/summary" || { echo "FAIL: mcr-synth"; exit 1; }
night1=$(awk '$1 == "synth.extract_time" { print $2 }' "$work/summary")
night2=$(date -u -d "${night1%Z} UTC + 24 hours" +%Y-%m-%dT%H:%M:%SZ)
cfg=$work/r/mcr.yaml
pg_server_config "$cfg"
export MCR_CONFIG=$cfg

MCR_NOW=$night1 "$BIN/mcr-nightly" --config "$cfg" >"$work/night1.out" 2>&1 ||
  { echo "FAIL: night 1 exited $?"; cat "$work/night1.out"; exit 1; }
[ "$(q "SELECT generation FROM mcr.published")" = 1 ] || { echo "FAIL: night 1 published no generation 1"; exit 1; }
# The published generation's content, to compare after the failed night.
digest() {
  q "SELECT (SELECT count(*) FROM mcr_gen_000001.item) || ' ' || (SELECT count(*) FROM mcr_gen_000001.person)
     || ' ' || (SELECT md5(string_agg(nhs || org || coalesce(display, ''), ',' ORDER BY nhs, id))
     FROM mcr_gen_000001.item)"
}
before=$(digest)
read -r nhs org < <(q "SELECT m.nhs, m.org FROM mcr_gen_000001.member m WHERE m.org LIKE 'A8%'
  AND NOT EXISTS (SELECT 1 FROM mcr_gen_000001.objection o WHERE o.nhs = m.nhs)
  AND EXISTS (SELECT 1 FROM mcr_gen_000001.item i WHERE i.nhs = m.nhs AND i.org = m.org)
  ORDER BY m.nhs LIMIT 1" | tr '|' ' ')
lookup() {
  MCR_NOW=$night2 "$BIN/mcr-lookup" --user dr.test --org "$org" --role clinician --nhs "$nhs" >"$work/view" 2>"$work/view.err"
}
lookup || { echo "FAIL: lookup before night 2: $(cat "$work/view.err")"; exit 1; }
# The view less its "Viewed by ... at" (the system clock's time).
grep -v '^Viewed by:' "$work/view" >"$work/view.before"

# Night 2, stopped at its first COPY data.
gate_make gate
MCR_NOW=$night2 LD_PRELOAD=$shim MCR_TEST_PQ_GATE=$work/gate MCR_TEST_PQ_GATE_AT=copy \
  ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
  "$BIN/mcr-nightly" --config "$cfg" >"$work/night2.out" 2>&1 &
night_pid=$!
# The night reaches the gate, or ends without reaching it (then the test fails).
exec {started}<>"$work/gate/started"
while ! read -r -t 5 gate_pid <&"$started"; do
  kill -0 "$night_pid" 2>/dev/null || { echo "FAIL: night 2 ended before its first COPY"; cat "$work/night2.out"; exit 1; }
done
pg_server_restart immediate || { echo "FAIL: the server did not come back"; exit 1; }
exec {go}<>"$work/gate/go"
echo go >&"$go"
wait "$night_pid"
st=$?
[ "$st" = 1 ] || bad "night 2 with the database restarted under it exited $st, expected 1 (failed)"
grep -qiE "PostgreSQL|server closed|terminat|connection" "$work/night2.out" ||
  bad "night 2's failure does not name the database: $(cat "$work/night2.out")"

[ "$(q "SELECT generation FROM mcr.published")" = 1 ] || bad "the published generation moved: $(q "SELECT * FROM mcr.published")"
[ "$(digest)" = "$before" ] || bad "generation 1's content changed"
lookup || bad "lookup after the failed night: $(cat "$work/view.err")"
grep -v '^Viewed by:' "$work/view" | cmp -s - "$work/view.before" || bad "the view changed after the failed night"
grep -q "data is stale" "$work/view.before" || bad "the view at night 2's time has no stale warning"
claimed=$(q "SELECT count(*) FROM mcr.load WHERE generation IS NOT NULL AND generation <> 1")
[ "$claimed" = 0 ] || bad "the history claims a generation for the failed run: $(q "SELECT * FROM mcr.load")"

# The next load: the staged files of night 2 are still there.
MCR_NOW=$night2 "$BIN/mcr-load" --config "$cfg" >"$work/load3.out" 2>&1 ||
  bad "the load after the restart exited $?: $(cat "$work/load3.out")"
gen=$(q "SELECT generation FROM mcr.published")
[ -n "$gen" ] && [ "$gen" -gt 1 ] || bad "the load after the restart published no newer generation ($gen)"
lookup || bad "lookup on the new generation: $(cat "$work/view.err")"
[ "$(q "SELECT outcome FROM mcr.load WHERE generation = $gen")" = ok ] || bad "the history of the good load: $(q "SELECT * FROM mcr.load")"
[ "$(q "SELECT count(*) FROM mcr.load WHERE outcome = 'running'")" = 0 ] ||
  bad "the failed run is still 'running' in the history after the next load: $(q "SELECT * FROM mcr.load")"
[ $fail -eq 0 ] && echo "ok: test_pg_restart_load (night 2 failed cleanly, generation $gen published after)"
exit $fail
