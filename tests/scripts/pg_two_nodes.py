"""Two mcr-serve nodes on one PostgreSQL (run by test_pg_two_nodes.sh).

1. Concurrent lookups: nodes A and B, four threads each, every thread launching
   and viewing people on its node at once (a barrier starts them together). Every
   view is answered 200 and audited exactly once (each launch has its own user id);
   the audit log has no gap, its head is the last entry, verify-audit passes; a
   token used on one node is refused as a replay on the other (one jti store).
2. kill -9 of a node mid-lookup: node A restarted with the pq_gate shim, which
   stops it at the COMMIT of its first audit append (the entry sent, not
   committed, the chain head locked). A lookup on node B started meanwhile waits
   for that lock. Node A is killed with SIGKILL: its lookup gets no page, its entry
   is nowhere (no partial entry), node B's lookup goes through, the chain has no
   gap and verifies.

No sleeps: a server's readiness is its "listening on" line, the gate is a FIFO,
the threads start at a barrier.
Usage: pg_two_nodes.py BIN_DIR WORK_DIR SHIM (WORK_DIR/r: a region loaded into
PostgreSQL, WORK_DIR/lcs.key.pem; PG_* from tests/scripts/pg_server.sh).
"""
import http.client
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time

BIN, WORK, SHIM = sys.argv[1], sys.argv[2], sys.argv[3]
CONFIG = os.path.join(WORK, "r", "mcr.yaml")
KEY = os.path.join(WORK, "lcs.key.pem")
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, flush=True)


def check(cond, msg):
    if not cond:
        fail(msg)
    return cond


def psql(sql):
    e = os.environ
    out = subprocess.run([os.path.join(e["PG_BINDIR"], "psql"), "-X", "-At", "-v", "ON_ERROR_STOP=1",
                          "-h", e["PG_SOCKET_DIR"], "-p", e["PG_PORT"], "-U", e["PG_USER"],
                          "-d", e["PG_DB"], "-c", sql], check=True, capture_output=True, text=True)
    return out.stdout.strip()


class Server:
    def __init__(self, name, env_extra=None):
        env = dict(os.environ, **(env_extra or {}))
        env.pop("MCR_NOW", None)
        self.name = name
        self.err = open(os.path.join(WORK, "serve-%s.err" % name), "ab")
        self.p = subprocess.Popen([os.path.join(BIN, "mcr-serve"), "--config", CONFIG],
                                  stdout=subprocess.PIPE, stderr=self.err, env=env)
        line = self.p.stdout.readline().decode()
        m = re.match(r"listening on 127\.0\.0\.1:(\d+)$", line.strip())
        if not m:
            self.p.kill()
            sys.exit("mcr-serve %s did not start: %r; stderr: %s"
                     % (name, line, open(self.err.name).read()))
        self.port = int(m.group(1))

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        rc = self.p.wait(timeout=120)
        self.err.close()
        return rc


def request(srv, path, cookie=None):
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=120)
    h = {"Cookie": "mcr_session=" + cookie} if cookie else {}
    c.request("GET", path, headers=h)
    r = c.getresponse()
    body = r.read().decode("utf-8", "replace")
    sc = r.getheader("Set-Cookie") or ""
    c.close()
    m = re.match(r"mcr_session=([A-Za-z0-9_-]+);", sc)
    return r.status, body, m.group(1) if m else None


def mint(user, nhs):
    return subprocess.run([os.path.join(BIN, "mcr-launch"), "--key", KEY, "--iss", "lcs",
                           "--user", user, "--org", "A81001", "--role", "clinician", "--nhs", nhs,
                           "--iat", str(int(time.time())), "--ttl", "300"],
                          check=True, capture_output=True, text=True).stdout.strip()


def view(srv, token):
    """Launch and view the record on srv: (launch status, view status, page)."""
    st, body, cookie = request(srv, "/launch?token=" + token)
    if st != 200 or not cookie:
        return st, None, body
    st2, page, _ = request(srv, "/record", cookie)
    return st, st2, page


def chain_ok(where):
    n, lo, hi = psql("SELECT count(*) || ' ' || coalesce(min(seq), 0) || ' ' || coalesce(max(seq), 0)"
                     " FROM mcr.audit").split()
    head = psql("SELECT last_seq FROM mcr.audit_head")
    check(lo in ("0", "1") and n == hi and head == hi,
          "%s: audit entries %s, seq %s..%s, head %s (a gap, or a head not at the last entry)"
          % (where, n, lo, hi, head))
    v = subprocess.run([os.path.join(BIN, "mcr-report"), "--config", CONFIG, "verify-audit"],
                       capture_output=True, text=True)
    check(v.returncode == 0, "%s: verify-audit exited %d: %s" % (where, v.returncode, v.stderr.strip()))


schema = psql("SELECT schema_name FROM mcr.published")
generation = psql("SELECT generation FROM mcr.published")
people = psql("""SELECT m.nhs FROM %s.member m WHERE m.org = 'A81001'
  AND NOT EXISTS (SELECT 1 FROM %s.objection o WHERE o.nhs = m.nhs)
  AND EXISTS (SELECT 1 FROM %s.item i WHERE i.nhs = m.nhs AND i.org = 'A81001')
  ORDER BY m.nhs LIMIT 20""" % (schema, schema, schema)).split()
if len(people) < 5:
    sys.exit("the region has too few Riverside patients with items: %r" % people)

# ---- 1. concurrent lookups on two nodes -------------------------------------------------

nodes = [Server("a"), Server("b")]
THREADS, EACH = 4, 5
jobs = {}
for n in range(2):
    for t in range(THREADS):
        jobs[(n, t)] = [("n%dt%dk%d" % (n, t, k), people[(n * 7 + t * 3 + k) % len(people)])
                        for k in range(EACH)]
tokens = {user: mint(user, nhs) for js in jobs.values() for user, nhs in js}
results = {}
barrier = threading.Barrier(2 * THREADS)


def worker(n, t):
    barrier.wait()
    for user, nhs in jobs[(n, t)]:
        try:
            results[user] = view(nodes[n], tokens[user]) + (nhs,)
        except OSError as e:
            results[user] = (None, None, str(e), nhs)


threads = [threading.Thread(target=worker, args=key) for key in jobs]
for th in threads:
    th.start()
for th in threads:
    th.join(timeout=600)
for user, (st, st2, page, nhs) in sorted(results.items()):
    spaced = "%s %s %s" % (nhs[:3], nhs[3:6], nhs[6:])
    check(st == 200 and st2 == 200 and spaced in page,
          "%s: launch %s, view %s, person %s shown: %s" % (user, st, st2, spaced, spaced in (page or "")))
check(len(results) == 2 * THREADS * EACH, "only %d of %d lookups ran" % (len(results), 2 * THREADS * EACH))
rows = psql("""SELECT "user" || ' ' || nhs || ' ' || outcome || ' ' || generation FROM mcr.audit
  WHERE "user" ~ '^n[01]t[0-9]k[0-9]$' ORDER BY "user" """).splitlines()
want = sorted("%s %s shown %s" % (user, nhs, generation) for js in jobs.values() for user, nhs in js)
check(rows == want, "audit entries of the concurrent lookups: %d, expected %d (one each), first differences %r"
      % (len(rows), len(want), [r for r in rows if r not in want][:3] + [w for w in want if w not in rows][:3]))
chain_ok("after the concurrent lookups")

# One jti store: a token used on node A is a replay on node B.
token = mint("replay.user", people[0])
st, _, _ = request(nodes[0], "/launch?token=" + token)
check(st == 200, "first use of a token on node A: %d" % st)
st, body, cookie = request(nodes[1], "/launch?token=" + token)
check(st == 401 and "already been used" in body and not cookie, "the same token on node B: %d" % st)
check(psql("""SELECT count(*) FROM mcr.audit WHERE "user" = 'replay.user'
  AND outcome = 'launch-refused' AND detail LIKE 'launch refused: replayed%'""") == "1",
      "the replay on node B is not audited once")

# ---- 2. kill -9 of a node mid-lookup ------------------------------------------------------

check(nodes[0].stop() == 0, "node A did not stop cleanly")
gate = os.path.join(WORK, "gate")
os.mkdir(gate)
os.mkfifo(os.path.join(gate, "started"))
os.mkfifo(os.path.join(gate, "go"))
# The shim and ASan's runtime both want to be first: let ASan accept the order.
asan = os.environ.get("ASAN_OPTIONS", "")
node_a = Server("a-gated", {"LD_PRELOAD": SHIM, "MCR_TEST_PQ_GATE": gate,
                            "MCR_TEST_PQ_GATE_AT": "audit-commit",
                            "ASAN_OPTIONS": (asan + ":" if asan else "") + "verify_asan_link_order=0"})
before = int(psql("SELECT count(*) FROM mcr.audit"))
killed = {}


def doomed():
    try:
        killed["result"] = view(node_a, mint("killed.user", people[1]))
    except (OSError, http.client.HTTPException) as e:
        killed["result"] = ("no answer", str(e))


t_a = threading.Thread(target=doomed)
t_a.start()
fd = os.open(os.path.join(gate, "started"), os.O_RDONLY | os.O_NONBLOCK)
ready, _, _ = select.select([fd], [], [], 300)
line = os.read(fd, 64).decode() if ready else ""
os.close(fd)
if not check(line.strip() == str(node_a.p.pid), "node A never reached its audit commit: %r" % line):
    node_a.p.kill()
    sys.exit(1)
# Node A is inside the append: its entry sent, not committed, the head locked.
check(psql("""SELECT count(*) FROM mcr.audit WHERE "user" = 'killed.user'""") == "0",
      "an uncommitted audit entry is visible")
after = {}


def survivor():
    after["result"] = view(nodes[1], mint("after.kill", people[2]))


t_b = threading.Thread(target=survivor)
t_b.start()
os.kill(node_a.p.pid, signal.SIGKILL)
node_a.p.wait(timeout=120)
node_a.err.close()
t_a.join(timeout=300)
t_b.join(timeout=300)
res = killed.get("result")
check(res is not None and (res[0] == "no answer" or res[1] != 200),
      "the killed node answered the lookup: %r" % (res[:2] if res else res,))
check(psql("""SELECT count(*) FROM mcr.audit WHERE "user" = 'killed.user'""") == "0",
      "the killed node's lookup left an audit entry")
res = after.get("result")
check(res is not None and res[1] == 200, "node B's lookup after the kill: %r" % (res[:2] if res else res,))
check(psql("""SELECT count(*) FROM mcr.audit WHERE "user" = 'after.kill' AND outcome = 'shown'""") == "1",
      "node B's lookup is not audited once")
check(int(psql("SELECT count(*) FROM mcr.audit")) == before + 1,
      "entries after the kill: %s, expected %d" % (psql("SELECT count(*) FROM mcr.audit"), before + 1))
chain_ok("after the kill")
check(nodes[1].stop() == 0, "node B did not stop cleanly")

if failures:
    print("%d check(s) failed" % len(failures))
    sys.exit(1)
print("ok: two nodes (%d concurrent lookups audited once each; kill -9 mid-lookup left no entry)"
      % len(results))
