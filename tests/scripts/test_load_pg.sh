#!/usr/bin/env bash
# mcr-load with store.backend: postgresql, against a throwaway PostgreSQL 15
# (tests/scripts/pg_server.sh; skipped, exit 77, only when its binaries are missing):
#   - the same staged files give the same generation as on SQLite, table by table
#     (one code path for the rules: consent, counts, reconciliation);
#   - a second run carries every organisation over (server-side) with the same content;
#   - mcr.published names the generation and the history records it;
#   - killed (SIGKILL) at each MCR_LOAD_CRASH_AT phase: mcr.published and the
#     published schema's content unchanged until the flip, the history never claims
#     a generation that is not published, the next run succeeds and drops the leftovers;
#   - the advisory lock holds across nodes: a run with its own lock file (another
#     node) while another session holds the load lock exits 75;
#   - retention keeps retention.generations schemas;
#   - the database restarted during a load: it fails cleanly (exit 1), the published
#     generation intact, the next load succeeds;
#   - the night-on-night guard: a fall to one patient held, then --accept loads it.
# Usage: test_load_pg.sh BIN_DIR [PEOPLE]
set -u
BIN=$(cd "$1" && pwd)
PEOPLE=${2:-400}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
. "$here/pg_server.sh"
pg_server_start || exit $?
fail=0
err() { echo "FAIL: $*"; fail=1; }

. "$here/region.sh"
region_make "$PEOPLE" 7
cfg=$work/region/mcr.yaml
extract_all() { region_extract "$cfg"; }
extract_all
# The SQLite twin: the same staged files, the default backend.
cp -a "$work/region" "$work/sqlite"
pg_server_config "$cfg"

psqlq() { pg_server_psql -At -F '|' "$@"; }
published() { psqlq -c "SELECT coalesce(generation::text, '-') || ' ' || coalesce(schema_name, '-') FROM mcr.published"; }
# Every table of a generation in one text form (NULL as empty), in a fixed order.
tables="meta:key source:org source_held:org source_section:org,section withheld:org,reason
member:nhs,org person:nhs,org objection:nhs,org item:id person_withheld:nhs,org,section,reason
load_source:org"
dump_pg() { # schema
  for t in $tables; do
    echo "== ${t%%:*}"
    psqlq -c "SELECT * FROM $1.${t%%:*} ORDER BY ${t#*:}" | grep -v '^generation|\|^built_at|'
  done
}
dump_sqlite() { # file
  for t in $tables; do
    echo "== ${t%%:*}"
    sqlite3 -readonly -separator '|' "$1" "SELECT * FROM ${t%%:*} ORDER BY ${t#*:}" |
      grep -v '^generation|\|^built_at|'
  done
}
load() { "$BIN/mcr-load" --config "$1" >"$work/out" 2>&1; }

# 1. First load on both backends: the same content.
load "$work/sqlite/mcr.yaml" || err "SQLite load failed: $(cat "$work/out")"
load "$cfg" || err "PostgreSQL load failed: $(cat "$work/out")"
grep -q "generation 1 published: .* 0 file(s) rejected" "$work/out" || err "first load: $(cat "$work/out")"
[ "$(published)" = "1 mcr_gen_000001" ] || err "mcr.published is '$(published)', expected generation 1"
dump_sqlite "$work/sqlite/store/current" | sed "s|$work/sqlite/|DIR/|g" >"$work/sqlite.dump"
dump_pg mcr_gen_000001 | sed "s|$work/region/|DIR/|g" >"$work/pg.dump"
diff "$work/sqlite.dump" "$work/pg.dump" >"$work/diff" || err "generation 1 differs between SQLite and PostgreSQL: $(head -20 "$work/diff")"
[ "$(wc -l <"$work/pg.dump")" -gt 100 ] || err "the generation dump is too small: $(wc -l <"$work/pg.dump") lines"

# 2. Nothing new: every organisation carried over, content unchanged.
load "$cfg" || err "second load failed: $(cat "$work/out")"
grep -q "generation 2 published: .*(0 loaded, [0-9]* unchanged" "$work/out" || err "second load: $(cat "$work/out")"
dump_pg mcr_gen_000002 | sed "s|$work/region/|DIR/|g" | sed 's/|unchanged|/|current|/' >"$work/pg2.dump"
diff "$work/pg.dump" "$work/pg2.dump" >"$work/diff" || err "carried-over generation differs: $(head -20 "$work/diff")"
# Both runs start at the same $MCR_NOW: the newest is the one with the higher run
# counter (run_id's last part), not the higher text (its middle part is the pid).
[ "$(psqlq -c "SELECT outcome || ' ' || generation FROM mcr.load ORDER BY started, split_part(run_id, '-', 3)::bigint" | tail -n 1)" = "ok 2" ] ||
  err "history: $(psqlq -c 'SELECT * FROM mcr.load')"

# 3. Killed at each phase: nothing changes for readers until the flip.
export MCR_NOW=$(date -u -d "${MCR_NOW%Z} UTC + 1 hour" +%Y-%m-%dT%H:%M:%SZ)
extract_all
before=$(published)
dump_pg mcr_gen_000002 >"$work/before"
for phase in parsed inserted indexed checked linked; do
  status=$( { MCR_LOAD_CRASH_AT=$phase "$BIN/mcr-load" --config "$cfg" >/dev/null 2>&1; echo $?; } 2>/dev/null )
  [ "$status" -eq 137 ] || err "crash at $phase: exit $status, expected death by SIGKILL (137)"
  [ "$(published)" = "$before" ] || err "crash at $phase: mcr.published is '$(published)', expected '$before'"
  dump_pg mcr_gen_000002 >"$work/after"
  cmp -s "$work/before" "$work/after" || err "crash at $phase: the published generation changed"
  claimed=$(psqlq -c "SELECT count(*) FROM mcr.load WHERE generation > 2")
  [ "$claimed" = 0 ] || err "crash at $phase: the history claims an unpublished generation"
done
status=$( { MCR_LOAD_CRASH_AT=published "$BIN/mcr-load" --config "$cfg" >/dev/null 2>&1; echo $?; } 2>/dev/null )
[ "$status" -eq 137 ] || err "crash at published: exit $status"
now=$(published)
[ "$now" != "$before" ] || err "crash at published: nothing was published"
n=${now%% *}
[ "$(psqlq -c "SELECT outcome FROM mcr.load WHERE generation = $n")" = ok ] ||
  err "killed after the flip: the history does not record generation $n as ok"
load "$cfg" || err "run after the crashes failed: $(cat "$work/out")"
[ "$(psqlq -c "SELECT count(*) FROM mcr.load WHERE outcome = 'running'")" = 0 ] || err "runs left 'running'"
[ "$(psqlq -c "SELECT count(*) FROM mcr.load WHERE message LIKE 'interrupted%'")" -ge 5 ] ||
  err "the killed runs are not recorded as interrupted: $(psqlq -c 'SELECT outcome, message FROM mcr.load')"
last=$(published)
newest=$(psqlq -c "SELECT max(nspname) FROM pg_namespace WHERE nspname LIKE 'mcr\_gen\_%'")
[ "$newest" = "${last#* }" ] || err "leftover schema $newest newer than the published ${last#* }"

# 4. Retention: the last 3 generations (retention.generations in mcr-synth's config).
kept=$(psqlq -c "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'mcr\_gen\_%'")
[ "$kept" = 3 ] || err "retention: $kept generation schemas kept, expected 3"

# 5. The load lock across nodes: another node (its own lock file) while a session
#    holds the advisory lock exits 75 and says so.
sed 's|^  lock: .*|  lock: run/other-node.lock|' "$cfg" >"$work/region/node2.yaml"
mkfifo "$work/to_psql" "$work/from_psql"
pg_server_psql -At <"$work/to_psql" >"$work/from_psql" 2>&1 &
psql_pid=$!
exec 7>"$work/to_psql" 8<"$work/from_psql"
echo "SELECT pg_advisory_lock(7885906935484475801); SELECT 'locked';" >&7
while read -r line <&8; do [ "$line" = locked ] && break; done
"$BIN/mcr-load" --config "$work/region/node2.yaml" >"$work/locked.out" 2>"$work/locked.err"
st=$?
[ $st -eq 75 ] || err "locked by another node: exit $st, expected 75 ($(cat "$work/locked.err"))"
grep -q "another run holds the lock" "$work/locked.err" || err "locked: stderr $(cat "$work/locked.err")"
exec 7>&-
wait "$psql_pid"
exec 8<&-
load "$work/region/node2.yaml" || err "run after the lock was released failed: $(cat "$work/out")"

# 6. The database restarted during a load (stopped after its first organisation is
#    in, MCR_LOAD_STOP_AT; the server restarted as after a crash; let go on): the
#    load fails cleanly, the published generation is intact, the next load succeeds.
export MCR_NOW=$(date -u -d "${MCR_NOW%Z} UTC + 1 hour" +%Y-%m-%dT%H:%M:%SZ)
extract_all
before=$(published)
dump_pg "${before#* }" >"$work/before"
mkfifo "$work/to_w" "$work/from_w"
MCR_LOAD_STOP_AT=parsed python3 -c '
import os, signal, subprocess, sys
p = subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=open(sys.argv[1], "w"))
_, st = os.waitpid(p.pid, os.WUNTRACED)
if os.WIFSTOPPED(st):
    print("stopped", flush=True)
    sys.stdin.readline()
    os.kill(p.pid, signal.SIGCONT)
    _, st = os.waitpid(p.pid, 0)
print(os.waitstatus_to_exitcode(st), flush=True)
' "$work/restart.err" "$BIN/mcr-load" --config "$cfg" <"$work/to_w" >"$work/from_w" &
wrapper=$!
exec 7>"$work/to_w" 8<"$work/from_w"
read -r line <&8
[ "$line" = stopped ] || err "restart: the load did not stop at its first organisation: $line"
pg_server_restart immediate || err "the server did not restart"
echo go >&7
read -r st <&8
exec 7>&- 8<&-
wait "$wrapper"
[ "$st" = 1 ] || err "load across a database restart: exit $st, expected 1 ($(cat "$work/restart.err"))"
grep -qi "postgresql\|server\|connection" "$work/restart.err" || err "restart: stderr does not say what failed: $(cat "$work/restart.err")"
[ "$(published)" = "$before" ] || err "restart: mcr.published is '$(published)', expected '$before'"
dump_pg "${before#* }" >"$work/after"
cmp -s "$work/before" "$work/after" || err "restart: the published generation changed"
load "$cfg" || err "load after the restart failed: $(cat "$work/out")"
grep -q "published: .*([1-9][0-9]* loaded" "$work/out" || err "load after the restart: $(cat "$work/out")"
newest=$(psqlq -c "SELECT max(nspname) FROM pg_namespace WHERE nspname LIKE 'mcr\_gen\_%'")
[ "$newest" = "$(published | cut -d' ' -f2)" ] || err "after the restart: leftover schema $newest"

# 7. The night-on-night guard on PostgreSQL (its history read from mcr.load_file):
#    Riverside's export falls to one patient: held (exit 3), its data kept, source_held
#    in the generation; mcr-load --accept A81001 then loads it, recorded as accepted.
export MCR_NOW=$(date -u -d "${MCR_NOW%Z} UTC + 1 hour" +%Y-%m-%dT%H:%M:%SZ)
src=$work/region/$(summary_value organisations.A81001.source)
rm -rf "$src" && mkdir -p "$src"
cat >"$src/bundle.xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<Bundle xmlns="http://hl7.org/fhir">
  <type value="collection"/>
  <entry><resource><Patient>
    <id value="p1"/>
    <identifier><system value="https://fhir.nhs.uk/Id/nhs-number"/><value value="9990000018"/></identifier>
    <name><family value="Guard"/><given value="Only"/></name>
    <birthDate value="1970-01-01"/>
  </Patient></resource></entry>
</Bundle>
EOF
"$BIN/mcr-extract-gp" --config "$cfg" --org A81001 --input "$src" >/dev/null 2>"$work/err" ||
  err "the one-patient extract failed: $(cat "$work/err")"
"$BIN/mcr-load" --config "$cfg" >"$work/out" 2>"$work/held.err"
st=$?
[ $st -eq 3 ] || err "guard: exit $st, expected 3 (held): $(cat "$work/out" "$work/held.err")"
grep -q ", 1 held (accept with mcr-load --accept ODS)" "$work/out" || err "guard: summary $(cat "$work/out")"
gen=$(published | cut -d' ' -f2)
[ "$(psqlq -c "SELECT status FROM $gen.source WHERE org = 'A81001'")" = held ] || err "guard: A81001 not held in $gen"
[ "$(psqlq -c "SELECT people FROM $gen.source_held WHERE org = 'A81001'")" = 1 ] || err "guard: no source_held row in $gen"
[ "$(psqlq -c "SELECT count(*) FROM mcr.load_file WHERE org = 'A81001' AND outcome = 'held'")" = 1 ] ||
  err "guard: the history has no held file"
"$BIN/mcr-load" --config "$cfg" --accept A81001 >"$work/out" 2>&1 || err "--accept: $(cat "$work/out")"
gen=$(published | cut -d' ' -f2)
[ "$(psqlq -c "SELECT status || ' ' || people FROM $gen.source WHERE org = 'A81001'")" = "current 1" ] ||
  err "--accept: A81001 is '$(psqlq -c "SELECT status, people FROM $gen.source WHERE org = 'A81001'")'"
psqlq -c "SELECT reason FROM mcr.load_file WHERE org = 'A81001' AND outcome = 'accepted'" |
  grep -q "accepted by the operator (mcr-load --accept A81001)" || err "--accept: not recorded as accepted"

[ $fail -eq 0 ] && echo "ok: mcr-load on PostgreSQL: same generation as SQLite, carried over, 6 crash phases, retention, the lock across nodes, a database restart mid-load, the guard held and accepted"
exit $fail
