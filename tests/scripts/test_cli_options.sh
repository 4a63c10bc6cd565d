#!/usr/bin/env bash
# Every program (each mcr-* and bench_* in BIN_DIR): -h is --help (usage on stdout,
# exit 0), -V is --version; a wrong option, a bad number or a stray argument is ONE
# line on stderr naming the program (not the path it was run by), the option and
# what is wrong, exit 2, nothing on stdout.
# Usage: test_cli_options.sh BIN_DIR
set -u
BIN=$(cd "${1:?usage: $0 BIN_DIR}" && pwd)
work=$(mktemp -d /tmp/mcr-cli-options.XXXXXX)
trap 'rm -rf "$work"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
progs=$(cd "$BIN" && ls mcr-* 2>/dev/null)
[ "$(echo "$progs" | wc -w)" -ge 8 ] || { echo "FAIL: fewer than 8 programs in $BIN: $progs"; exit 1; }
benches=$(cd "$BIN" && ls bench_* 2>/dev/null)
[ "$(echo "$benches" | wc -w)" -ge 6 ] || { echo "FAIL: fewer than 6 bench_* programs in $BIN: $benches"; exit 1; }
progs="$progs $benches"

# expect_usage PROG WANT_STDERR ARGS...: exit 2, one stderr line equal to WANT_STDERR.
expect_usage() {
  local p=$1 want=$2; shift 2
  "$BIN/$p" "$@" >"$work/out" 2>"$work/err"
  local st=$?
  [ "$st" -eq 2 ] || fail "$p $*: exit $st, expected 2"
  [ -s "$work/out" ] && fail "$p $*: wrote on stdout"
  [ "$(wc -l <"$work/err")" -eq 1 ] || fail "$p $*: $(wc -l <"$work/err") lines on stderr, expected 1: $(cat "$work/err")"
  grep -qF "$BIN" "$work/err" && fail "$p $*: stderr names the build path: $(cat "$work/err")"
  [ "$(cat "$work/err")" = "$want" ] || fail "$p $*: stderr is '$(cat "$work/err")', expected '$want'"
}

for p in $progs; do
  for h in -h --help; do
    "$BIN/$p" $h >"$work/out" 2>"$work/err"
    st=$?
    [ "$st" -eq 0 ] || fail "$p $h: exit $st"
    head -n 1 "$work/out" | grep -q "^Usage: $p" || fail "$p $h: no usage line on stdout"
    [ -s "$work/err" ] && fail "$p $h: wrote on stderr: $(head -1 "$work/err")"
  done
  for v in -V --version; do
    "$BIN/$p" $v >"$work/out" 2>&1 && grep -qx "$p (mcr) [0-9][0-9.]*" "$work/out" ||
      fail "$p $v: not one version line: $(head -2 "$work/out")"
  done
  try="(try '$p --help')"
  expect_usage "$p" "$p: unknown option '--no-such-option' $try" --no-such-option
  expect_usage "$p" "$p: unknown option '-x' $try" -x
  expect_usage "$p" "$p: option takes no value '--help=yes' $try" --help=yes
  expect_usage "$p" "$p: unknown option '--no-such=1' $try" --no-such=1
done
# An option missing its value, and an ambiguous abbreviation.
expect_usage mcr-load "mcr-load: option '--config' needs a value (try 'mcr-load --help')" --config
expect_usage mcr-nightly "mcr-nightly: ambiguous option '--o' (try 'mcr-nightly --help')" --o ooh
# The benchmarks' own arguments: numbers checked, required ones named, nothing stray.
expect_usage bench_staged "bench_staged: bad --items '10x': a whole number from 1 to 1000000000 (try 'bench_staged --help')" --items 10x
expect_usage bench_staged "bench_staged: unexpected argument '1000' (try 'bench_staged --help')" 1000
expect_usage bench_audit "bench_audit: bad --entries '10': a whole number from 64 to 100000000 (try 'bench_audit --help')" --entries 10
expect_usage bench_lookup "bench_lookup: bad --people '909092': a whole number from 1 to 909091 (try 'bench_lookup --help')" --people 909092
expect_usage bench_lookup "bench_lookup: option '--lookups' needs a value (try 'bench_lookup --help')" --lookups
expect_usage bench_report "bench_report: --dir is required (try 'bench_report --help')" --people 1000
expect_usage bench_report "bench_report: $work exists; give a new folder (try 'bench_report --help')" --dir "$work"
expect_usage bench_gp_parse "bench_gp_parse: no FILE given (try 'bench_gp_parse --help')" --model
expect_usage bench_load_parse "bench_load_parse: unexpected argument 'mcr.yaml' (try 'bench_load_parse --help')" mcr.yaml

[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "ok: test_cli_options ($(echo "$progs" | wc -w) programs, benchmarks included)"
