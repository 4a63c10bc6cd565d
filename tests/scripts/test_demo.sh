#!/usr/bin/env bash
# The README's main command as a user runs it (scripts/demo.sh), on a small region:
#   MCR_DEMO_NO_SERVE=1: the night's coverage report, then the example lookup, exit 0;
#   serving: the clinician's printed launch link opens the record (session cookie,
#   then /record names the patient), the IG link opens the IG pages, a link works
#   once, and Ctrl-C (SIGTERM here) stops the server.
# Usage: test_demo.sh BIN_DIR
set -u
BIN=$(cd "${1:?usage: $0 BIN_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
demo=$here/../../scripts/demo.sh
work=$(mktemp -d /tmp/mcr-demo.XXXXXX)
demo_pid=""
cleanup() {
  [ -z "$demo_pid" ] || kill -TERM "$demo_pid" 2>/dev/null
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
. "$here/sync.sh"
export DEMO_PEOPLE=200

MCR_DEMO_NO_SERVE=1 bash "$demo" "$BIN" "$work/region" >"$work/out" 2>"$work/err"
rc=$?
[ $rc -eq 0 ] || fail "demo (no serve) exited $rc: $(tail -5 "$work/err")"
grep -q '^Sources and freshness' "$work/out" || fail "the demo printed no coverage report"
grep -q '^Shared care record (view only)' "$work/out" || fail "the demo printed no example lookup"

bash "$demo" "$BIN" "$work/region" >"$work/serve.out" 2>"$work/serve.err" &
demo_pid=$!
if ! wait_line "$work/serve.out" '^Press Ctrl-C' 120; then
  fail "the demo printed no launch links: $(tail -5 "$work/serve.err")"
else
  clin=$(grep -A1 'clinician dr.demo' "$work/serve.out" | tail -1 | tr -d ' ')
  ig=$(grep -A1 'information governance lead' "$work/serve.out" | tail -1 | tr -d ' ')
  out=$(python3 - "$clin" "$ig" <<'EOF' 2>&1
import http.client, sys, urllib.parse
def get(url, cookie=None):
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    c.request("GET", u.path + ("?" + u.query if u.query else ""),
              headers={"Cookie": cookie} if cookie else {})
    r = c.getresponse()
    body = r.read().decode("utf-8", "replace")
    return r.status, r.getheader("Set-Cookie"), body
def launch(url, page, want):
    st, ck, _ = get(url)
    if st != 200 or not ck:
        print("launch answered %d, cookie %r" % (st, ck)); return
    base = url.split("/launch")[0]
    st, _, body = get(base + page, ck.split(";")[0])
    if st != 200 or want not in body:
        print("%s answered %d without %r" % (page, st, want))
    st, _, _ = get(url)
    if st != 401:
        print("the link worked twice (second answer %d)" % st)
launch(sys.argv[1], "/record", "NHS number")
launch(sys.argv[2], "/ig", "Information governance")
EOF
)
  [ -z "$out" ] || fail "the printed links: $out"
  kill -TERM "$demo_pid"
  wait "$demo_pid"
  rc=$?
  demo_pid=""
  [ $rc -eq 0 ] || fail "the demo stopped by SIGTERM exited $rc"
fi

[ $fails -eq 0 ] && echo "ok: demo" || exit 1
