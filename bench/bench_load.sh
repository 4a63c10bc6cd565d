#!/usr/bin/env bash
# mcr-load against this machine's limit for the same rows, on mcr-synth regions.
# Usage: bench/bench_load.sh BIN_DIR [PEOPLE...]   (default: 10000 100000 900000;
#        mcr-synth's 999 range holds about 909,000 people, so 900000 stands for 1M;
#        SEED in the environment, default 1)
#
# For each size, in the same run, niced, data in a temporary folder under /tmp
# (deleted afterwards):
#   loader     mcr-load of the region's staged files into a new store
#   parse      bench_load_parse: decompress + parse (streaming validation) of the
#              same staged files, one thread, callbacks that only count
#   import     sqlite3 shell .import of the same rows (item, person, member tables,
#              exported from the built store as CSV) into the same schema with the
#              same pragmas, index built after
#   limit      items / max(parse, import) seconds: the loader parses on one core and
#              inserts on the other, so its bound is the slower of the two halves
# Prints items, seconds (wall), items/s, CPU seconds (user+sys), peak RSS (MiB, from
# /usr/bin/time -v) for each, and loader rate / limit rate. Not a test: figures only.
set -eu
BIN=$(cd "$1" && pwd); shift
. "$(dirname "$0")/lib.sh"
sizes=${*:-10000 100000 900000}
work=$(mktemp -d /tmp/bench_load.XXXXXX)
trap 'rm -rf "$work"' EXIT
df -h "$work" | tail -n 1 | awk '{ print "# /tmp free: " $4 }'
echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores"


printf '%-7s %-7s %9s %8s %10s %8s %8s\n' people run items seconds items/s cpu_s peak_MiB
for n in $sizes; do
  r=$work/r$n
  nice -n 10 "$BIN/mcr-synth" --people "$n" --seed "${SEED:-1}" --out "$r" --flat >"$work/summary"
  export MCR_NOW=$(awk '$1 == "synth.extract_time" { print $2 }' "$work/summary")
  for ods in $(awk -F'[. ]' '$1 == "organisations" && $3 == "kind" { print $2 }' "$work/summary"); do
    kind=$(awk -v k="organisations.$ods.kind" '$1 == k { print $2 }' "$work/summary")
    src=$(awk -v k="organisations.$ods.source" '$1 == k { print $2 }' "$work/summary")
    nice -n 10 "$BIN/mcr-extract-$kind" --config "$r/mcr.yaml" --org "$ods" --input "$r/$src" \
      >/dev/null 2>"$work/err" || echo "# $ods: extract failed, left out: $(cat "$work/err")"
  done
  rm -rf "$r/sources"
  sync

  # Limit (a): parse the same staged files.
  nice -n 10 /usr/bin/time -v -o "$work/t.parse" "$BIN/bench_load_parse" --config "$r/mcr.yaml" >"$work/parse"
  items=$(awk '{ print $2 }' "$work/parse")
  ps=$(secs "$work/t.parse")
  printf '%-7s %-7s %9s %8s %10s %8s %8s\n' "$n" parse "$items" "$ps" "$(rate "$items" "$ps")" "$(cpu "$work/t.parse")" "$(peak_mib "$work/t.parse")"

  # The loader.
  nice -n 10 /usr/bin/time -v -o "$work/t.load" "$BIN/mcr-load" --config "$r/mcr.yaml" --quiet >"$work/load"
  ls=$(secs "$work/t.load")
  printf '%-7s %-7s %9s %8s %10s %8s %8s\n' "$n" loader "$items" "$ls" "$(rate "$items" "$ls")" "$(cpu "$work/t.load")" "$(peak_mib "$work/t.load")"

  # Limit (b): the same rows through the sqlite3 shell's .import, index after.
  db=$r/store/current
  for t in item person member; do
    sqlite3 -readonly -csv "$db" "SELECT * FROM $t" >"$work/$t.csv"
  done
  rows=$(( $(wc -l <"$work/item.csv") + $(wc -l <"$work/person.csv") + $(wc -l <"$work/member.csv") ))
  schema=$(sqlite3 -readonly "$db" "SELECT group_concat(sql, ';' || char(10)) FROM sqlite_schema WHERE name IN ('item', 'person', 'member')")
  index=$(sqlite3 -readonly "$db" "SELECT group_concat(sql, ';') FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL")
  cat >"$work/import.sql" <<EOF
PRAGMA page_size = 65536;
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
PRAGMA cache_size = -65536;
$schema;
BEGIN;
.mode csv
.import $work/item.csv item
.import $work/person.csv person
.import $work/member.csv member
$index;
COMMIT;
EOF
  rm -f "$work/import.sqlite"
  nice -n 10 /usr/bin/time -v -o "$work/t.import" sqlite3 "$work/import.sqlite" <"$work/import.sql" >/dev/null
  is=$(secs "$work/t.import")
  printf '%-7s %-7s %9s %8s %10s %8s %8s\n' "$n" import "$items" "$is" "$(rate "$items" "$is")" "$(cpu "$work/t.import")" "$(peak_mib "$work/t.import")"
  rm -f "$work"/*.csv "$work/import.sqlite"

  limit=$(awk -v a="$ps" -v b="$is" 'BEGIN { print (a > b ? a : b) }')
  awk -v n="$n" -v i="$items" -v l="$limit" -v s="$ls" -v rows="$rows" 'BEGIN {
    printf "%-7s limit   %9s %8s %10.0f   loader/limit %.0f%% (rows imported: %d)\n", n, i, l, i / l, 100 * l / s, rows }'
  rm -rf "$r"
done
