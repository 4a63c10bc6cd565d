#!/usr/bin/env bash
# mcr-load on PostgreSQL against a bare COPY of the same rows (the limit), beside the
# SQLite loader, on one mcr-synth region, in the same run (bench/README.md).
# Usage: bench/bench_load_pg.sh BIN_DIR [PEOPLE]   (default 100000; SEED, default 1)
#        REGION=DIR reuses a region whose staged files are made (mcr-synth --flat +
#        the extractors, as bench_load.sh does); its staging is only read.
#
# A throwaway PostgreSQL 15 (tests/scripts/pg_server.sh, fsync on: MCR_PG_FSYNC=on)
# on this machine, data under /tmp, deleted afterwards. Niced, each run:
#   sqlite     mcr-load, store.backend sqlite (the default), into a new store
#   postgresql mcr-load, store.backend postgresql, into the empty database: COPY on
#              one connection per table, item's key and index after, the checks,
#              ANALYZE, the flip of mcr.published
#   copy       the limit: the same rows (item, person, member, person_withheld,
#              objection, exported from the generation just built) copied with psql
#              \copy, table after table, into the same tables of a fresh schema made
#              from schema/pg/store.sql, then item's key and index
#              (schema/pg/store_index.sql); "copy_rows" is the \copy part alone
#   parse      bench_load_parse: the loader's parse of the same staged files alone
#              (one core), which bounds the loader too (bench_load.sh)
# Prints items, seconds (wall), items/s, the client's CPU seconds (user+sys), and
# postgresql / copy. Not a test: figures only.
set -eu
BIN=$(cd "$1" && pwd); shift
n=${1:-100000}
src=$(cd "$(dirname "$0")/.." && pwd)
. "$src/bench/lib.sh"
work=$(mktemp -d /tmp/bench_load_pg.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
export MCR_PG_FSYNC=on
. "$src/tests/scripts/pg_server.sh"
pg_server_start >/dev/null || { echo "no PostgreSQL server"; exit 1; }
echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

r=${REGION:-$work/region}
if [ -z "${REGION:-}" ]; then
  nice -n 10 "$BIN/mcr-synth" --people "$n" --seed "${SEED:-1}" --out "$r" --flat >"$work/summary"
  export MCR_NOW=$(awk '$1 == "synth.extract_time" { print $2 }' "$work/summary")
  for ods in $(awk -F'[. ]' '$1 == "organisations" && $3 == "kind" { print $2 }' "$work/summary"); do
    kind=$(awk -v k="organisations.$ods.kind" '$1 == k { print $2 }' "$work/summary")
    s=$(awk -v k="organisations.$ods.source" '$1 == k { print $2 }' "$work/summary")
    nice -n 10 "$BIN/mcr-extract-$kind" --config "$r/mcr.yaml" --org "$ods" --input "$r/$s" >/dev/null
  done
  rm -rf "$r/sources"
fi
# Two configurations beside the region's (paths relative to it), their stores here.
for b in sqlite pg; do
  sed -e "s|^  store: .*|  store: $work/store-$b|" -e "s|^  lock: .*|  lock: $work/$b.lock|" \
      -e "s|^  quarantine: .*|  quarantine: $work/quarantine-$b|" "$r/mcr.yaml" >"$r/bench-$b.yaml"
done
pg_server_config "$r/bench-pg.yaml"
sync

printf '%-11s %9s %8s %10s %6s\n' run items seconds items/s cpu_s
nice -n 10 /usr/bin/time -v -o "$work/t.sqlite" "$BIN/mcr-load" --config "$r/bench-sqlite.yaml" --quiet >"$work/out.sqlite"
items=$(sed -n 's/.* people, \([0-9]*\) items,.*/\1/p' "$work/out.sqlite")
t=$(secs "$work/t.sqlite")
printf '%-11s %9s %8s %10s %6s\n' sqlite "$items" "$t" "$(rate "$items" "$t")" "$(cpu "$work/t.sqlite")"

nice -n 10 /usr/bin/time -v -o "$work/t.pg" "$BIN/mcr-load" --config "$r/bench-pg.yaml" --quiet >"$work/out.pg"
tpg=$(secs "$work/t.pg")
printf '%-11s %9s %8s %10s %6s\n' postgresql "$items" "$tpg" "$(rate "$items" "$tpg")" "$(cpu "$work/t.pg")"

# The limit: the same rows, exported from the generation just built.
tables="item person member person_withheld objection"
for tb in $tables; do
  pg_server_psql -c "\\copy mcr_gen_000001.$tb TO '$work/$tb.tsv'"
done
{ echo "CREATE SCHEMA bare; SET search_path = bare;"; cat "$src/schema/pg/store.sql"; } |
  pg_server_psql >/dev/null
pg_server_psql -c CHECKPOINT
t0=$(now)
for tb in $tables; do
  nice -n 10 "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U "$PG_USER" \
    -d "$PG_DB" -c "\\copy bare.$tb FROM '$work/$tb.tsv'"
done
tcopy=$(since "$t0")
{ echo "SET search_path = bare;"; cat "$src/schema/pg/store_index.sql"; } | pg_server_psql >/dev/null
tbare=$(since "$t0")
printf '%-11s %9s %8s %10s %6s\n' copy_rows "$items" "$tcopy" "$(rate "$items" "$tcopy")" -
printf '%-11s %9s %8s %10s %6s\n' copy "$items" "$tbare" "$(rate "$items" "$tbare")" -
# The loader also parses and validates every staged file (one core): that alone, as
# bench_load.sh measures it, bounds it too.
nice -n 10 /usr/bin/time -v -o "$work/t.parse" "$BIN/bench_load_parse" --config "$r/mcr.yaml" >/dev/null
tparse=$(secs "$work/t.parse")
printf '%-11s %9s %8s %10s %6s\n' parse "$items" "$tparse" "$(rate "$items" "$tparse")" "$(cpu "$work/t.parse")"
awk -v a="$tbare" -v b="$tpg" -v p="$tparse" 'BEGIN {
  printf "postgresql / copy (rate): %.0f%%\n", 100 * a / b
  printf "postgresql / max(copy, parse) (rate): %.0f%%\n", 100 * (a > p ? a : p) / b }'
