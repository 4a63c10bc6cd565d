#!/usr/bin/env bash
# mcr-serve in a real browser: headless Chromium through WebDriver drives the
# care and IG pages as their users do (browser_scenario.py says what is checked).
# Screenshots stay in $MCR_SCREENSHOTS when set (else they go with the temporary
# folder). $1 = bin dir. Needs chromium, chromium-driver, python3-selenium,
# openssl (scripts/deps.sh).
set -u
BIN=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
r="$work/r"

# The Debian python3 has python3-selenium; another python3 first on PATH may not.
py=
for p in python3 /usr/bin/python3; do
  command -v "$p" >/dev/null && "$p" -c "import selenium" 2>/dev/null && { py=$p; break; }
done
[ -n "$py" ] || { echo "FAIL: no python3 with selenium (python3-selenium, scripts/deps.sh)"; exit 1; }
for tool in chromium chromedriver openssl; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed (scripts/deps.sh)"; exit 1; }
done

MCR_NOW=2026-11-21T06:00:00Z "$BIN/mcr-synth" --people 300 --seed 5 --out "$r" >"$work/synth.out" 2>&1 ||
  { echo "mcr-synth failed"; cat "$work/synth.out"; exit 1; }
MCR_NOW=2026-11-21T06:00:00Z "$BIN/mcr-nightly" --config "$r/mcr.yaml" >"$work/night.out" 2>&1
st=$?
[ $st -eq 0 ] || [ $st -eq 3 ] || { echo "mcr-nightly exited $st"; tail -20 "$work/night.out"; exit 1; }

openssl ecparam -name prime256v1 -genkey -noout -out "$work/lcs.key.pem" 2>/dev/null &&
  openssl ec -in "$work/lcs.key.pem" -pubout -out "$work/lcs.pub.pem" 2>/dev/null &&
  openssl ecparam -name prime256v1 -genkey -noout -out "$work/other.key.pem" 2>/dev/null ||
  { echo "openssl could not make keys"; exit 1; }
cat >>"$r/mcr.yaml" <<YAML
web:
  listen: 127.0.0.1:0
  threads: 4
  session_idle: 60
  session_max: 300
  frame_ancestors: [https://lcs.example.org]
  ig_roles: [ig]
  launchers:
    - id: lcs
      public_key: $work/lcs.pub.pem
      organisations: [A81001, A81002, LA919, Q99IG]
YAML
"$py" "$here/browser_scenario.py" "$BIN" "$work"
rc=$?
if [ -n "${MCR_SCREENSHOTS:-}" ] && [ -d "$work/screens" ]; then
  mkdir -p "$MCR_SCREENSHOTS" && cp "$work"/screens/*.png "$MCR_SCREENSHOTS"/
fi
exit $rc
