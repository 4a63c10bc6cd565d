#!/usr/bin/env bash
# mcr-nightly runs independent extracts at once and the load after them all, with
# a log in the organisations' order whatever order they end in. Test doubles
# (tests/data/nightly/fakebin, through $MCR_BIN): A81001's extract waits on a FIFO
# that only A81002's extract writes, then for A81002 to have exited; so the night
# succeeds only when both run at once, and A81002 ends first.
# Usage: test_nightly_parallel.sh BIN_DIR
set -u
BIN=$(cd "${1:?usage: $0 BIN_DIR}" && pwd)
SRC=${MCR_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
work=$(mktemp -d /tmp/mcr-nightly-parallel.XXXXXX)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
export MCR_BIN=$SRC/tests/data/nightly/fakebin FAKE_REGION=$work
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

mkdir -p "$work/sources/a" "$work/sources/b" "$work/sources/c"
mkfifo "$work/fifo"
echo "$work/fifo" >"$work/sources/a/WAIT"
echo "$work/fifo" >"$work/sources/b/SIGNAL"
echo "$work/lock" >"$work/sources/a/LOCK"
echo "$work/lock" >"$work/sources/b/LOCK"
cat >"$work/mcr.yaml" <<'YAML'
region: Parallel test
paths:
  staging: staging
  store: store
  audit: audit/audit.sqlite
  archive: archive
  quarantine: quarantine
  log: log/mcr.log
organisations:
  - ods: A81001
    name: Waits for the other
    kind: gp
    source: sources/a
  - ods: A81002
    name: Signals
    kind: gp
    source: sources/b
  - ods: LCS01
    name: Social Care
    kind: lcs
    source: sources/c
policy:
  roles:
    clinician: [demographics, allergies]
YAML
log=$work/log/mcr.log
MCR_NOW=2026-11-21T06:00:00Z "$BIN/mcr-nightly" --config "$work/mcr.yaml" --jobs 2 >"$work/out" 2>"$work/err"
st=$?
[ $st -eq 0 ] || { fail "exit $st"; cat "$work/err"; tail -n 20 "$log"; }

# The log: each organisation's lines together, in the config's order, then the load.
order=$(grep -oE 'step=(extract org=[A-Z0-9]+|load) (start|end)' "$log" | tr '\n' ',')
want='step=extract org=A81001 start,step=extract org=A81001 end,step=extract org=A81002 start,step=extract org=A81002 end,step=extract org=LCS01 start,step=extract org=LCS01 end,step=load start,step=load end,'
[ "$order" = "$want" ] || fail "log order: $order"
grep -q 'step=extract 3 organisation(s), up to 2 at once' "$log" || fail "no scheduling line in the log"
for org in A81001 A81002 LCS01; do
  [ -n "$(find "$work/staging/$org" "$work/archive/$org" -name '*.yaml' 2>/dev/null)" ] || fail "$org not staged"
done

# The largest source starts first (the config's order among equals), so that it
# does not start last and hold the load back alone; the log keeps the config's order.
big=$work/big
mkdir -p "$big/sources/a" "$big/sources/b" "$big/sources/c"
head -c 200000 /dev/zero >"$big/sources/c/bundle.xml"
head -c 1000 /dev/zero >"$big/sources/b/bundle.xml"
sed 's/^region: .*/region: Largest first/' "$work/mcr.yaml" >"$big/mcr.yaml"
# With --jobs 2, A81001 (the smallest) starts only once an extract has ended:
# its start comes after an end in the fakes' event list (in the config's order it
# would start first, before any end). With --jobs 1, the config's order.
# A fake writes its start line when it runs, not when it is forked: on a loaded
# machine A81002's could come after LCS01 ended and A81001 started. So with
# --jobs 2, LCS01 waits (FIFO, then lock) for A81002 to run and exit: both starts
# come before any end, and A81001 is forked only after A81002's end line.
mkfifo "$big/fifo"
for jobs in 2 1; do
  rm -rf "$big/staging" "$big/archive" "$big/log" "$big/events"
  rm -f "$big/sources/c/WAIT" "$big/sources/b/SIGNAL" "$big/sources/c/LOCK" "$big/sources/b/LOCK"
  if [ $jobs = 2 ]; then
    echo "$big/fifo" >"$big/sources/c/WAIT"
    echo "$big/fifo" >"$big/sources/b/SIGNAL"
    echo "$big/lock" >"$big/sources/c/LOCK"
    echo "$big/lock" >"$big/sources/b/LOCK"
  fi
  FAKE_REGION=$big MCR_NOW=2026-11-21T06:00:00Z "$BIN/mcr-nightly" --config "$big/mcr.yaml" --jobs $jobs \
    >"$work/out" 2>"$work/err" || fail "largest first, --jobs $jobs: exit $?"
  events=$(tr '\n' ',' <"$big/events")
  if [ $jobs = 2 ]; then
    case $events in
      LCS01\ start,*A81002\ start,*end,*A81001\ start,* | A81002\ start,*LCS01\ start,*end,*A81001\ start,*) ;;
      *) fail "--jobs 2: not the largest first: $events" ;;
    esac
  else
    [ "$events" = "A81001 start,A81001 end,A81002 start,A81002 end,LCS01 start,LCS01 end," ] ||
      fail "--jobs 1: not the config's order: $events"
  fi
  order=$(grep -oE 'step=extract org=[A-Z0-9]+ start' "$big/log/mcr.log" | tr '\n' ',')
  [ "$order" = "step=extract org=A81001 start,step=extract org=A81002 start,step=extract org=LCS01 start," ] ||
    fail "--jobs $jobs: log order $order"
done

# --jobs is checked.
"$BIN/mcr-nightly" --config "$work/mcr.yaml" --jobs 0 >/dev/null 2>"$work/err"
[ $? -eq 2 ] || fail "--jobs 0 is not a usage error"
grep -q -- '--jobs' "$work/err" || fail "--jobs error does not name the option: $(cat "$work/err")"

[ $fails -eq 0 ] && echo "extracts ran at once, the largest first, the load after them, the log in the config's order"
exit $((fails > 0))
