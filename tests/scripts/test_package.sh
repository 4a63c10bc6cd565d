#!/usr/bin/env bash
# The Debian package (cpack -G DEB from this build, cmake/install.cmake) installed
# on this machine with dpkg -i, checked, then purged:
# - the mcr system user (no login shell, home /var/lib/mcr) and the folders with
#   their modes: /etc/mcr root:mcr 0750, /var/lib/mcr and /var/log/mcr mcr:mcr 0750;
# - every program runs from /usr/bin (--help), mcr-nightly as the mcr user too;
# - the systemd units (OnFailure= alert included) pass systemd-analyze verify;
#   the logrotate file is a conffile and passes logrotate -d;
# - the package carries the man pages, the example config and crontab;
# - purge removes the programs (nothing left to shadow the build's); the user and
#   folders this test made are removed again.
# Needs root (skipped otherwise: exit 77). Runs under a machine-wide lock, as
# dpkg and the mcr user are the machine's.
# Usage: test_package.sh BIN_DIR
set -u
BIN=$(cd "${1:?usage: $0 BIN_DIR}" && pwd)
BUILD=$(cd "$BIN/.." && pwd)
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: test_package needs root (it installs the package with dpkg -i and purges it)"
  exit 77
fi
for t in dpkg dpkg-deb cpack; do
  command -v "$t" >/dev/null || { echo "FAIL: $t is missing (scripts/deps.sh)"; exit 1; }
done
exec 9>/var/lock/mcr-test-package.lock
flock 9
work=$(mktemp -d /tmp/mcr-package.XXXXXX)
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

had_user=0; getent passwd mcr >/dev/null && had_user=1
had_group=0; getent group mcr >/dev/null && had_group=1
made_dirs=()
for d in /etc/mcr /var/lib/mcr /var/log/mcr; do [ -e "$d" ] || made_dirs+=("$d"); done
cleanup() {
  dpkg --purge mcr >/dev/null 2>&1
  for d in "${made_dirs[@]}"; do rmdir "$d" 2>/dev/null; done
  [ "$had_user" -eq 1 ] || userdel mcr 2>/dev/null
  [ "$had_group" -eq 1 ] || groupdel mcr 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

(cd "$BUILD" && cpack -G DEB -B "$work" >"$work/cpack.log" 2>&1) ||
  { echo "FAIL: cpack"; tail -20 "$work/cpack.log"; exit 1; }
deb=$(ls "$work"/mcr_*.deb 2>/dev/null | head -1)
[ -n "$deb" ] || { echo "FAIL: no package made"; tail -20 "$work/cpack.log"; exit 1; }
dpkg-deb -c "$deb" | awk '{ print $6 }' >"$work/contents"
for f in ./usr/bin/mcr-nightly ./usr/lib/mcr/mcr-alert ./usr/lib/systemd/system/mcr-nightly.service \
         ./usr/lib/systemd/system/mcr-alert@.service ./usr/share/man/man1/mcr-nightly.1 \
         ./usr/share/doc/mcr/examples/mcr.yaml ./usr/share/doc/mcr/examples/crontab ./etc/logrotate.d/mcr; do
  grep -qx -- "$f" "$work/contents" || fail "the package lacks $f"
done

dpkg -i "$deb" >"$work/dpkg.log" 2>&1 || { echo "FAIL: dpkg -i"; cat "$work/dpkg.log"; exit 1; }

# The user and the folders.
IFS=: read -r _ _ uid _ _ home shell < <(getent passwd mcr)
[ -n "${uid:-}" ] || fail "no mcr user"
[ "${uid:-0}" -lt 1000 ] || fail "mcr is not a system user (uid $uid)"
[ "${home:-}" = /var/lib/mcr ] || fail "mcr's home is ${home:-}, expected /var/lib/mcr"
[ "${shell:-}" = /usr/sbin/nologin ] || fail "mcr's shell is ${shell:-}, expected /usr/sbin/nologin"
check_dir() { # check_dir DIR OWNER:GROUP MODE
  local got
  got=$(stat -c '%U:%G %a' "$1" 2>/dev/null)
  [ "$got" = "$2 $3" ] || fail "$1 is '${got:-missing}', expected '$2 $3'"
}
check_dir /etc/mcr root:mcr 750
check_dir /var/lib/mcr mcr:mcr 750
check_dir /var/log/mcr mcr:mcr 750

# The programs, from their installed path.
for p in $(cd "$BIN" && ls mcr-*); do
  out=$("/usr/bin/$p" --help 2>&1) && [[ $out == "Usage: $p"* ]] || fail "/usr/bin/$p --help: $(echo "$out" | head -2)"
done
out=$(runuser -u mcr -- /usr/bin/mcr-nightly --help 2>&1) && [[ $out == "Usage: mcr-nightly"* ]] ||
  fail "mcr-nightly --help as mcr: $(echo "$out" | head -2)"
grep -q '^ExecStart=/usr/bin/mcr-nightly ' /usr/lib/systemd/system/mcr-nightly.service ||
  fail "mcr-nightly.service does not run /usr/bin/mcr-nightly"
grep -q '^OnFailure=mcr-alert@%n.service' /usr/lib/systemd/system/mcr-nightly.service ||
  fail "mcr-nightly.service has no OnFailure= alert"

# The units and the logrotate file.
if command -v systemd-analyze >/dev/null; then
  units=$(ls /usr/lib/systemd/system/mcr-*.service /usr/lib/systemd/system/mcr-*.timer)
  # (the alert template is verified as an instance)
  units=${units//mcr-alert@.service/mcr-alert@mcr-nightly.service.service}
  (cd /usr/lib/systemd/system && systemd-analyze verify $units) >"$work/verify" 2>&1 ||
    fail "systemd-analyze verify: $(cat "$work/verify")"
  grep -E 'mcr-' "$work/verify" && fail "systemd-analyze verify warns about the units"
else
  echo "note: no systemd-analyze here: units not verified (scripts/deps.sh installs systemd)"
fi
dpkg-query -W -f='${Conffiles}\n' mcr | grep -q ' /etc/logrotate.d/mcr ' || fail "/etc/logrotate.d/mcr is not a conffile"
if command -v logrotate >/dev/null; then
  logrotate -d /etc/logrotate.d/mcr >"$work/logrotate" 2>&1 || fail "logrotate -d: $(cat "$work/logrotate")"
  grep -qi 'error' "$work/logrotate" && fail "logrotate -d: $(grep -i error "$work/logrotate")"
fi

# Purged: the programs are gone, so nothing shadows the build's.
dpkg --purge mcr >"$work/purge.log" 2>&1 || fail "dpkg --purge: $(cat "$work/purge.log")"
[ -e /usr/bin/mcr-nightly ] && fail "/usr/bin/mcr-nightly left after purge"
[ -e /etc/logrotate.d/mcr ] && fail "/etc/logrotate.d/mcr left after purge"

[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "ok: test_package ($(basename "$deb"): installed, checked, purged)"
