# A throwaway PostgreSQL 15 for the tests (not a test itself).
#
# Sourced by a shell test:
#     trap '...your cleanup...' EXIT           # set yours first: the server's stop chains to it
#     . "$here/pg_server.sh"
#     pg_server_start || exit $?               # 77 (ctest SKIP) when the binaries are missing
#     ... $PG_CONNINFO, $PG_PASSWORD_FILE, pg_server_psql -c 'SELECT 1' ...
# or run around any command (a python test, a benchmark):
#     bash tests/scripts/pg_server.sh run CMD ARGS...   # exit status is CMD's (77: skipped)
#
# initdb, pg_ctl and postgres come from $PG_BINDIR (default /usr/lib/postgresql/15/bin,
# Debian's postgresql-15). PostgreSQL refuses to run as root: as root (CI, the dev
# machines) they run as user postgres (else nobody) through runuser, in a temporary
# folder that user owns. The server listens on 127.0.0.1 on a free port and on a Unix
# socket in that folder; pg_ctl -w and pg_isready wait for it to accept connections
# (never a sleep). It is stopped and its folder removed at exit.
#
# Set after pg_server_start:
#   PG_HOST=127.0.0.1 PG_PORT PG_USER=mcr PG_DB=mcr PG_PASSWORD (random)
#   PG_PASSWORD_FILE  a file holding PG_PASSWORD (for postgresql.password_file)
#   PG_CONNINFO       "host=127.0.0.1 port=N dbname=mcr user=mcr" (no password)
#   PG_DIR PG_DATA PG_SOCKET_DIR PG_LOG
# pg_server_config FILE appends the keys that point a config at it.
# TCP connections need the password (scram-sha-256); the Unix socket is trusted
# (pg_server_psql, for the tests' own setup and checks).
# MCR_PG_FSYNC=on keeps fsync on (benchmarks); tests run with it off: a throwaway
# server needs no protection from a power cut, and crash/restart tests still see
# PostgreSQL's own recovery (the WAL reaches the OS either way).

PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
PG_DIR=""

# pg_server_as CMD...: run CMD as the server's user.
pg_server_as() {
  if [ -n "${PG_OWNER:-}" ]; then runuser -u "$PG_OWNER" -- "$@"; else "$@"; fi
}

# A free TCP port on loopback (bound and released; pg_server_start retries if taken meanwhile).
pg_server_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# pg_server_start: initdb, start, create the database; 0 ready, 77 skipped, 1 failed.
pg_server_start() {
  local b
  for b in initdb pg_ctl postgres pg_isready psql createdb; do
    if [ ! -x "$PG_BINDIR/$b" ]; then
      echo "SKIP: PostgreSQL 15 server binaries not found ($PG_BINDIR/$b missing; Debian package postgresql-15, installed by scripts/deps.sh)"
      return 77
    fi
  done
  PG_OWNER=""
  if [ "$(id -u)" -eq 0 ]; then
    PG_OWNER=postgres
    id -u postgres >/dev/null 2>&1 || PG_OWNER=nobody
    # /tmp, not $TMPDIR: the server's user must reach the folder.
    PG_DIR=$(mktemp -d /tmp/mcr-pg.XXXXXX) || return 1
    chown "$PG_OWNER:" "$PG_DIR" || return 1
  else
    PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/mcr-pg.XXXXXX") || return 1
  fi
  chmod 700 "$PG_DIR"
  local prev
  prev=$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT\$//" -e "s/'\\\\''/'/g")
  # shellcheck disable=SC2064
  trap "pg_server_stop; $prev" EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  PG_DATA="$PG_DIR/data"
  PG_SOCKET_DIR="$PG_DIR"
  PG_LOG="$PG_DIR/server.log"
  PG_HOST=127.0.0.1 PG_USER=mcr PG_DB=mcr
  PG_PASSWORD=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
  PG_PASSWORD_FILE="$PG_DIR/password"
  (umask 077 && printf '%s\n' "$PG_PASSWORD" >"$PG_PASSWORD_FILE") || return 1
  [ -z "$PG_OWNER" ] || chown "$PG_OWNER:" "$PG_PASSWORD_FILE"
  if ! pg_server_as "$PG_BINDIR/initdb" -D "$PG_DATA" -U "$PG_USER" --pwfile="$PG_PASSWORD_FILE" \
      --auth-host=scram-sha-256 --auth-local=trust -E UTF8 --no-locale --no-sync >"$PG_DIR/initdb.log" 2>&1; then
    echo "pg_server: initdb failed:"; cat "$PG_DIR/initdb.log"; return 1
  fi
  local try
  for try in 1 2 3 4 5; do
    PG_PORT=$(pg_server_free_port) || return 1
    if pg_server_up >"$PG_DIR/pg_ctl.log" 2>&1; then
      break
    fi
    if ! grep -q "could not bind\|Address already in use" "$PG_LOG" 2>/dev/null || [ "$try" = 5 ]; then
      echo "pg_server: the server did not start:"; cat "$PG_DIR/pg_ctl.log" "$PG_LOG" 2>/dev/null; return 1
    fi
  done
  "$PG_BINDIR/pg_isready" -q -h "$PG_HOST" -p "$PG_PORT" -t 60 ||
    { echo "pg_server: not accepting connections on $PG_HOST:$PG_PORT"; cat "$PG_LOG"; return 1; }
  "$PG_BINDIR/createdb" -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U "$PG_USER" "$PG_DB" ||
    { echo "pg_server: createdb $PG_DB failed"; return 1; }
  PG_CONNINFO="host=$PG_HOST port=$PG_PORT dbname=$PG_DB user=$PG_USER"
  export PG_HOST PG_PORT PG_USER PG_DB PG_PASSWORD PG_PASSWORD_FILE PG_CONNINFO PG_DIR PG_DATA \
    PG_SOCKET_DIR PG_LOG PG_BINDIR
  return 0
}

# pg_server_psql ARGS...: psql on the trusted socket, as the superuser, into $PG_DB
# (or the database named by -d in ARGS); stops at the first error.
pg_server_psql() {
  "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U "$PG_USER" \
    -d "$PG_DB" "$@"
}

# pg_server_config FILE: append to the config FILE the keys that put its store,
# history, audit log and jti store in this server (store.backend: postgresql).
pg_server_config() {
  printf 'store:\n  backend: postgresql\npostgresql:\n  conninfo: %s\n  password_file: %s\n' \
    "$PG_CONNINFO" "$PG_PASSWORD_FILE" >>"$1"
}

# pg_server_createdb NAME: another empty database on the same server (one per case).
pg_server_createdb() {
  "$PG_BINDIR/createdb" -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U "$PG_USER" "$1"
}

# pg_server_down [fast|immediate]: stop the server (immediate: as a crash; recovery
# runs at the next start), keeping its data. Returns once it is down.
pg_server_down() {
  pg_server_as "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -m "${1:-fast}" -w stop >>"$PG_DIR/pg_ctl.log" 2>&1
}

# pg_server_up: start it (again) on $PG_PORT; returns once it accepts connections.
pg_server_up() {
  pg_server_as "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 120 -o \
    "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_SOCKET_DIR -c fsync=${MCR_PG_FSYNC:-off}" \
    start && "$PG_BINDIR/pg_isready" -q -h "$PG_HOST" -p "$PG_PORT" -t 60
}

# pg_server_restart [fast|immediate]: down, then up.
pg_server_restart() {
  pg_server_down "${1:-fast}" && pg_server_up >>"$PG_DIR/pg_ctl.log" 2>&1
}

# pg_server_stop: stop the server and remove its folder; safe to call twice.
pg_server_stop() {
  [ -n "$PG_DIR" ] && [ -d "$PG_DIR" ] || return 0
  if [ -f "$PG_DATA/postmaster.pid" ]; then
    pg_server_as "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null 2>&1 ||
      pg_server_as "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -m immediate -w stop >/dev/null 2>&1
  fi
  rm -rf "$PG_DIR"
  PG_DIR=""
}

# Executed rather than sourced: run a command with a server around it.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  if [ "${1:-}" != run ] || [ $# -lt 2 ]; then
    echo "usage: pg_server.sh run CMD [ARGS...]" >&2
    exit 2
  fi
  shift
  pg_server_start || exit $?
  "$@"
  exit $?
fi
