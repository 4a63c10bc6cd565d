# Synchronisation for the scenario scripts (sourced, not a test): a test waits
# for an event (a FIFO opened, a line logged), never for a length of time.
# Needs $work (the script's temporary folder).

# gate_make NAME: a gate $work/NAME with FIFOs "started" and "go". A test double
# (or wrapper) given the gate's folder G passes it with
#     echo $$ >"$G/started"; read -r _ <"$G/go"
# (each blocks until the test's side opens the FIFO); the test waits for it with
# gate_wait_started and lets it go on with gate_open.
gate_make() {
  mkdir -p "$work/$1" && mkfifo "$work/$1/started" "$work/$1/go"
}
# gate_wait_started NAME: block until the double has reached the gate; its pid in $gate_pid.
gate_wait_started() {
  read -r gate_pid <"$work/$1/started"
}
# gate_open NAME: let the double waiting at the gate go on.
gate_open() {
  echo go >"$work/$1/go"
}

# wait_line FILE REGEX [LIMIT_SECONDS]: block until FILE (which may not exist yet)
# has a line matching REGEX (grep -E), following it as it grows (tail -F, woken
# by inotify). Returns 1 if no such line came within LIMIT_SECONDS (default 300):
# a bound for a broken program, never the synchronisation itself.
wait_line() {
  local fd tailpid st
  exec {fd}< <(exec tail -n +1 -F "$1" 2>/dev/null)
  tailpid=$!
  timeout "${3:-300}" grep -q -m1 -E -- "$2" <&"$fd"
  st=$?
  kill "$tailpid" 2>/dev/null
  exec {fd}<&-
  return $st
}
