# Shared by the bench/*.sh scripts (sourced): readers of /usr/bin/time -v output and
# the wrk script that views /record through a list of sessions.

# secs|cpu|peak_mib FILE: wall seconds, user+sys seconds, peak RSS (MiB) from time -v's FILE.
secs() { awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s }' "$1"; }
cpu() { awk -F': ' '/User time/ { u = $2 } /System time/ { s = $2 } END { printf "%.1f", u + s }' "$1"; }
peak_mib() { awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$1"; }
# rate N SECONDS: N per second, rounded.
rate() { awk -v i="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? i / s : 0) }'; }

# view_lua COOKIES: on stdout, a wrk script in which each thread walks the session
# cookies (one a line in COOKIES) from its own offset, one cookie a request.
view_lua() {
  echo "local cookies = {"
  sed 's/.*/"&",/' "$1"
  cat <<'LUA'
}
local n = 0
local offset = 0
local threads = 0
function setup(thread)
  thread:set("offset", threads * 997)
  threads = threads + 1
end
function request()
  n = n + 1
  local c = cookies[((offset + n) % #cookies) + 1]
  return wrk.format("GET", "/record", { ["Cookie"] = "mcr_session=" .. c })
end
LUA
}
