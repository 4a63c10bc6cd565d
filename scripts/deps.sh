#!/usr/bin/env bash
# Installs the Debian 12 packages the project builds, tests and runs with, when any
# is missing. Run as root (or with sudo available); without either it names the
# missing packages and exits 1. README.md says why each one is needed.
set -eu
build=(build-essential cmake pkg-config
       libxml2-dev libyaml-dev zlib1g-dev libdeflate-dev libsqlite3-dev libssl-dev libcsv-dev libcmocka-dev libyajl-dev
       libjwt-dev libmicrohttpd-dev libpq-dev clang libclang-rt-14-dev)
tools=(sqlite3 libxml2-utils valgrind chromium chromium-driver python3-selenium poppler-utils procps time
       python3 openssl wrk help2man dpkg-dev systemd logrotate postgresql-15)
missing=()
for p in "${build[@]}" "${tools[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing missing Debian packages: ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
  echo "deps: run as root: apt-get install -y ${missing[*]}" >&2; exit 1; fi
export DEBIAN_FRONTEND=noninteractive
# postgresql-15 is here for its server binaries only (the tests start their own
# throwaway server). Its maintainer scripts would create and start a "main"
# cluster: on a container without systemd, as root, starting it can fail the
# install. A policy-rc.d that says "no service starts" (exit 101, the Debian way
# for chroots and containers) for the length of the install prevents that; one
# that was already there is left alone.
policy=/usr/sbin/policy-rc.d
ours=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod 755 "$policy"
  ours=1
fi
trap '[ -z "$ours" ] || $sudo rm -f "$policy"' EXIT
$sudo apt-get update -qq >&2 || true
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
