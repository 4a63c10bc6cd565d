"""mcr-serve end to end (run by test_serve.sh): launch, consent, break glass,
every launch-token refusal, CSRF, session time-outs, the person fixed by the
launch, security headers on every response, bad requests, IG pages, /healthz,
SIGHUP reload, SIGTERM, 503 when the audit log cannot be written.

No sleeps: the server's readiness is its "listening on" line read from a pipe;
time-outs are driven by the server's test clock (MCR_SERVE_TEST_CLOCK, a file
holding seconds since the epoch, used for tokens and sessions only: never for
the audit time); the audit failure is a lock held by this script.

Usage: serve_scenario.py BIN_DIR WORK_DIR (WORK_DIR/r is a loaded region with
mcr.yaml, WORK_DIR holds lcs.key.pem, lcs.pub.pem and other.key.pem).
"""
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

BIN, WORK = sys.argv[1], sys.argv[2]
REGION = os.path.join(WORK, "r")
CONFIG = os.path.join(REGION, "mcr.yaml")
STORE = os.path.join(REGION, "store", "current")
AUDIT = os.path.join(REGION, "audit", "audit.sqlite")
LOG = os.path.join(REGION, "log", "mcr.log")
CLOCK = os.path.join(WORK, "clock")
KEY = os.path.join(WORK, "lcs.key.pem")
OTHER_KEY = os.path.join(WORK, "other.key.pem")
PUB = os.path.join(WORK, "lcs.pub.pem")

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, flush=True)


def check(cond, msg):
    if not cond:
        fail(msg)
    return cond


# ---- the server -------------------------------------------------------------

T0 = int(time.time())
now = T0


def set_clock(t):
    global now
    now = t
    with open(CLOCK + ".tmp", "w") as f:
        f.write("%d\n" % t)
    os.replace(CLOCK + ".tmp", CLOCK)


class Server:
    def __init__(self):
        env = dict(os.environ, MCR_SERVE_TEST_CLOCK=CLOCK)
        env.pop("MCR_NOW", None)
        self.err = open(os.path.join(WORK, "serve.err"), "ab")
        self.p = subprocess.Popen([os.path.join(BIN, "mcr-serve"), "--config", CONFIG],
                                  stdout=subprocess.PIPE, stderr=self.err, env=env)
        line = self.p.stdout.readline().decode()
        m = re.match(r"listening on 127\.0\.0\.1:(\d+)$", line.strip())
        if not m:
            self.p.kill()
            sys.exit("mcr-serve did not start: %r; stderr: %s" % (line, open(self.err.name).read()))
        self.port = int(m.group(1))

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        rc = self.p.wait(timeout=60)
        self.err.close()
        return rc


SECURITY = {
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


def request(method, path, cookie=None, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
    h = dict(headers or {})
    if cookie:
        h["Cookie"] = "mcr_session=" + cookie
    if body is not None:
        body = body.encode() if isinstance(body, str) else body
        h.setdefault("Content-Type", "application/x-www-form-urlencoded")
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read().decode("utf-8", "replace")
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    where = "%s %s -> %d" % (method, path[:40], r.status)
    for k, v in SECURITY.items():
        check(hdrs.get(k) == v, "%s: header %s is %r" % (where, k, hdrs.get(k)))
    csp = hdrs.get("content-security-policy", "")
    check("default-src 'none'" in csp and "frame-ancestors https://lcs.example.org" in csp,
          "%s: CSP %r" % (where, csp))
    check("<script" not in data.lower(), "%s: a script in the page" % where)
    return r.status, hdrs, data


def form(**fields):
    from urllib.parse import urlencode
    return urlencode(fields)


# ---- tokens -------------------------------------------------------------------


def mint(user, org, role, nhs=None, iss="lcs", key=KEY, iat=None, ttl=120, nbf=None, jti=None):
    args = [os.path.join(BIN, "mcr-launch"), "--key", key, "--iss", iss, "--user", user,
            "--org", org, "--role", role, "--iat", str(now if iat is None else iat), "--ttl", str(ttl)]
    args += ["--nhs", nhs] if nhs else ["--ig"]
    if nbf:
        args += ["--nbf", str(nbf)]
    if jti:
        args += ["--jti", jti]
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout.strip()


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def forged(alg, claims, secret=b""):
    head = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    if alg == "none":
        return head + "." + body + "."
    sig = hmac.new(secret, (head + "." + body).encode(), hashlib.sha256).digest()
    return head + "." + body + "." + b64(sig)


def audit_last(cols="outcome, basis, user, nhs, detail, reason"):
    db = sqlite3.connect("file:%s?mode=ro" % AUDIT, uri=True)
    row = db.execute("SELECT %s FROM audit ORDER BY seq DESC LIMIT 1" % cols).fetchone()
    n = db.execute("SELECT count(*) FROM audit").fetchone()[0]
    db.close()
    return row, n


def audit_count():
    return audit_last()[1] if os.path.exists(AUDIT) else 0


def launch(token):
    """GET /launch; the session cookie (None when refused) and the response."""
    status, h, body = request("GET", "/launch?token=" + token)
    cookie = None
    sc = h.get("set-cookie", "")
    m = re.match(r"mcr_session=([A-Za-z0-9_-]+);", sc)
    if m:
        cookie = m.group(1)
    return cookie, status, h, body


def csrf_of(page):
    m = re.search(r'name="csrf" value="([^"]+)"', page)
    return m.group(1) if m else None


# ---- the region's people ---------------------------------------------------------

store = sqlite3.connect("file:%s?mode=ro" % STORE, uri=True)


def one(sql):
    r = store.execute(sql).fetchone()
    if not r:
        sys.exit("region lacks: " + sql)
    return r[0]


staff = dict(re.findall(r'- user: (\S+)\n\s+nhs: "(\d+)"', open(CONFIG).read()))
me = staff["dr.patel"]
on_list = one("""SELECT m.nhs FROM member m WHERE m.org = 'A81001' AND m.nhs NOT IN (%s)
  AND EXISTS (SELECT 1 FROM item i WHERE i.nhs = m.nhs AND i.org = 'A81001' AND i.display IS NOT NULL)
  AND NOT EXISTS (SELECT 1 FROM objection o WHERE o.nhs = m.nhs) ORDER BY m.nhs LIMIT 1"""
              % ",".join("'%s'" % n for n in staff.values()))
item = one("SELECT display FROM item WHERE nhs = '%s' AND org = 'A81001' AND display IS NOT NULL"
           " ORDER BY id LIMIT 1" % on_list)
elsewhere = one("""SELECT m.nhs FROM member m WHERE m.org = 'A81002'
  AND NOT EXISTS (SELECT 1 FROM member x WHERE x.nhs = m.nhs AND x.org = 'A81001')
  AND EXISTS (SELECT 1 FROM item i WHERE i.nhs = m.nhs AND i.org = 'A81002')
  AND NOT EXISTS (SELECT 1 FROM objection o WHERE o.nhs = m.nhs) ORDER BY m.nhs LIMIT 1""")
people = [on_list, elsewhere, me]

set_clock(T0)
srv = Server()

# ---- a good launch, the view ------------------------------------------------------

cookie, st, h, body = launch(mint("dr.jones", "A81001", "clinician", on_list))
# A page that moves on by a meta refresh (a 303 would lose the SameSite=Strict
# cookie after a cross-site start: test_browser.sh shows it in Chromium).
check(st == 200 and '<meta http-equiv="refresh" content="0; url=/record">' in body,
      "good launch: %d %s" % (st, body[:200]))
sc = h.get("set-cookie", "")
for flag in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/"):
    check(flag in sc, "session cookie lacks %s: %s" % (flag, sc))
st, h, body = request("GET", "/record", cookie)
check(st == 200 and item in body, "record of %s: %d, item %r shown: %s" % (on_list, st, item, item in body))
row, n = audit_last()
check(row[:4] == ("shown", "implied", "dr.jones", on_list), "audit of the view: %r" % (row,))
st, h, body = request("GET", "/record?section=allergies", cookie)
check(st == 200 and "Allergies" in body, "one section: %d" % st)
st, h, body = request("HEAD", "/record", cookie)
check(st == 200, "HEAD /record: %d" % st)
st, h, body = request("GET", "/static/mcr.css")
check(st == 200 and h.get("content-type", "").startswith("text/css") and "{" in body, "stylesheet: %d" % st)

# The person (or anyone) cannot be changed by editing the URL or a form.
before = audit_count()
for path in ("/record?nhs=" + elsewhere, "/record?user=dr.other", "/record?section=allergies&org=A81002"):
    st, h, body = request("GET", path, cookie)
    check(st == 400 and elsewhere not in body, "%s: %d" % (path, st))
st, h, body = request("GET", "/record?section=gossip", cookie)
check(st == 400, "unknown section: %d" % st)
check(audit_count() == before, "bad requests were audited as views")

# ---- every launch-token refusal: 401, plain, audited, nothing of the person ------------

claims = {"iss": "lcs", "sub": "dr.jones", "org": "A81001", "role": "clinician", "nhs": on_list,
          "purpose": "care", "iat": now, "exp": now + 60, "jti": "forged-1"}
good = mint("dr.jones", "A81001", "clinician", on_list)
h64, p64, s64 = good.split(".")
refusals = [
    ("bad-signature", mint("dr.jones", "A81001", "clinician", on_list, key=OTHER_KEY), False),
    ("bad-signature", h64 + "." + b64(json.dumps(dict(claims, nhs=elsewhere)).encode()) + "." + s64, False),
    ("algorithm", forged("none", claims), False),
    ("algorithm", forged("HS256", claims, open(PUB, "rb").read()), False),
    ("expired", mint("dr.jones", "A81001", "clinician", on_list, iat=now - 400, ttl=100), True),
    ("not-yet-valid", mint("dr.jones", "A81001", "clinician", on_list, iat=now + 120), True),
    ("not-yet-valid", mint("dr.jones", "A81001", "clinician", on_list, nbf=now + 120), True),
    ("lifetime", mint("dr.jones", "A81001", "clinician", on_list, ttl=301), True),
    ("unknown-launcher", mint("dr.jones", "A81001", "clinician", on_list, iss="gp-system"), False),
    ("organisation", mint("dr.jones", "A81003", "clinician", on_list), True),
    ("role", mint("dr.jones", "A81001", "receptionist", on_list), True),
    ("malformed", "not-a-token", False),
]
for code, token, verified in refusals:
    before = audit_count()
    c, st, h, body = launch(token)
    check(st == 401 and c is None, "%s: status %d, cookie %s" % (code, st, c))
    check(on_list not in body and elsewhere not in body, "%s: the person in the page" % code)
    row, n = audit_last()
    check(n == before + 1 and row[0] == "launch-refused" and ("launch refused: " + code) in (row[4] or ""),
          "%s: audit %r (entries %d -> %d)" % (code, row, before, n))
    check(row[3] == (on_list if verified else "") and (row[2] == "dr.jones") == verified,
          "%s: audit names user %r, person %r" % (code, row[2], row[3]))

# Replay: the same token again, then again after a restart.
replayed = mint("dr.jones", "A81001", "clinician", on_list)
c, st, h, body = launch(replayed)
check(st == 200 and c, "first use: %d" % st)
c, st, h, body = launch(replayed)
check(st == 401 and "already been used" in body, "replay: %d" % st)
check(audit_last()[0][4].startswith("launch refused: replayed"), "replay audited")
rc = srv.stop()
check(rc == 0, "SIGTERM: exit %d" % rc)
check("stopped" in open(LOG).read().splitlines()[-1], "the log's last line is not 'stopped'")
srv = Server()
c, st, h, body = launch(replayed)
check(st == 401 and "already been used" in body, "replay after a restart: %d" % st)
st, h, body = request("GET", "/record", cookie)
check(st == 401, "a session survived the restart: %d" % st)

# ---- bad requests: plain 4xx, and the server keeps serving --------------------------------

cookie, st, h, body = launch(mint("dr.jones", "A81001", "clinician", on_list))
for method, path, want in (("GET", "/nowhere", 404), ("GET", "/", 404), ("DELETE", "/record", 405),
                           ("PUT", "/launch", 405), ("POST", "/record", 405), ("GET", "/consent", 405),
                           ("GET", "/record/../etc/passwd", 404)):
    st, h, body = request(method, path, cookie, body="" if method in ("PUT", "POST") else None)
    check(st == want, "%s %s: %d, expected %d" % (method, path, st, want))
for bad in ("%%%", "x" * 43, "", "A" * 200, "mcr_session=1; mcr_session=2"):
    st, h, body = request("GET", "/record", bad)
    check(st == 401, "malformed cookie %r: %d" % (bad[:12], st))
st, h, body = request("GET", "/record", cookie, headers={"X-Big": "a" * 40000})
check(st == 431, "oversized header: %d" % st)
# Beyond libmicrohttpd's own per-connection memory its bare 431 answers
# (docs/WEB.md: nginx in front adds the headers to every response).
c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
c.request("GET", "/record", headers={"X-Huge": "a" * 200000})
st = c.getresponse().status
c.close()
check(st == 431, "huge header: %d" % st)
st, h, body = request("POST", "/consent", cookie, body="csrf=" + "a" * 20000)
check(st == 413, "oversized body: %d" % st)
st, h, body = request("POST", "/consent", cookie, body=b"\xff\xfe", headers={"Content-Type": "application/json"})
check(st == 400, "a body that is not a form: %d" % st)
st, h, body = request("GET", "/record", cookie)
check(st == 200 and item in body, "still serving after bad requests: %d" % st)
st, h, body = request("GET", "/healthz")
check(st == 200 and "status ok" in body and "audit writable" in body, "/healthz: %d %r" % (st, body))
check(not any(p in body for p in people), "/healthz names a person")

# ---- not on the list: denied with break glass offered (implied consent) -------------------

cookie, st, h, body = launch(mint("dr.jones", "A81001", "clinician", elsewhere))
st, h, body = request("GET", "/record", cookie)
check(st == 403 and 'action="/break-glass"' in body, "not on the list: %d" % st)
check(audit_last()[0][:2] == ("denied", "implied"), "denial audited")
tok = csrf_of(body)
st, h, body = request("POST", "/break-glass", cookie, form(reason="x"))
check(st == 403, "break glass without CSRF: %d" % st)
st, h, body = request("POST", "/break-glass", cookie, form(csrf=tok, reason="   "))
check(st == 400, "break glass without a reason: %d" % st)
st, h, body = request("POST", "/break-glass", cookie, form(csrf=tok, reason="Unconscious in A&E", nhs=on_list))
check(st == 400, "break glass with a person in the form: %d" % st)
st, h, body = request("POST", "/break-glass", cookie, form(csrf=tok, reason="Unconscious in A&E"))
check(st == 303, "break glass: %d" % st)
st, h, body = request("GET", "/record", cookie)
row = audit_last()[0]
check(st == 200 and row[:2] == ("shown", "break-glass") and row[5] == "Unconscious in A&E" and row[3] == elsewhere,
      "break-glass view: %d %r" % (st, row))

# Self-access: denied, even with break glass.
cookie, st, h, body = launch(mint("dr.patel", "A81001", "clinician", me))
st, h, body = request("GET", "/record", cookie)
check(st == 403 and audit_last()[0][0] == "self-access", "self-access: %d" % st)

# ---- SIGHUP: consent at the point of care becomes required -------------------------------

# Each SIGHUP is answered on the server's stdout, "reloaded" or "reload refused:
# why", read before the config changes again (signals do not queue).
def write_config(t):
    with open(CONFIG + ".tmp", "w") as f:
        f.write(t)
    os.replace(CONFIG + ".tmp", CONFIG)
text = open(CONFIG).read()
write_config(text.replace("consent_at_point_of_care: implied", "consent_at_point_of_care: sometimes"))
srv.p.send_signal(signal.SIGHUP)
cookie, st, h, body = launch(mint("dr.jones", "A81001", "clinician", on_list))  # served while reloading
line = srv.p.stdout.readline().decode()
check(line.startswith("reload refused:") and "consent_at_point_of_care 'sometimes'" in line,
      "a bad config's reload: %r" % line)
st, h, body = request("GET", "/record", cookie)
check(st == 200 and item in body, "a bad config must not be swapped in: %d" % st)
write_config(text.replace("consent_at_point_of_care: implied", "consent_at_point_of_care: required"))
srv.p.send_signal(signal.SIGHUP)
line = srv.p.stdout.readline().decode()
check(line.strip() == "reloaded", "a good config's reload: %r" % line)
check("reload refused" in open(LOG).read(), "the log lacks the refused reload")

cookie, st, h, body = launch(mint("dr.jones", "A81001", "clinician", on_list))
st, h, body = request("GET", "/record", cookie)
check(st == 200 and 'action="/consent"' in body and item not in body, "consent asked first: %d" % st)
tok = csrf_of(body)
before = audit_count()
st, h, body = request("POST", "/consent", cookie, form(choice="given"))
check(st == 403, "consent without CSRF: %d" % st)
st, h, body = request("POST", "/consent", cookie, form(choice="given", csrf="A" * 43))
check(st == 403, "consent with a wrong CSRF token: %d" % st)
st, h, body = request("POST", "/consent", cookie, form(choice="given", csrf=tok, nhs=elsewhere))
check(st == 400, "consent naming another person: %d" % st)
check(audit_count() == before, "refused forms were audited as views")
st, h, body = request("POST", "/consent", cookie, form(choice="given", csrf=tok))
check(st == 303, "consent given: %d" % st)
st, h, body = request("GET", "/record", cookie)
row = audit_last()[0]
check(st == 200 and item in body and row[:2] == ("shown", "consent-given"), "view with consent: %d %r" % (st, row))

cookie, st, h, body = launch(mint("dr.jones", "A81001", "clinician", on_list))
st, h, body = request("GET", "/record", cookie)
st, h, body = request("POST", "/consent", cookie, form(choice="refused", csrf=csrf_of(body)))
row = audit_last()[0]
check(st == 403 and item not in body and row[:2] == ("denied", "consent-refused"), "consent refused: %d %r" % (st, row))
st, h, body = request("GET", "/record", cookie)
check(st == 401, "the session outlived a refusal: %d" % st)

# ---- session time-outs on the test clock (idle 60 s, absolute 300 s) ------------------------

cookie, st, h, body = launch(mint("dr.jones", "A81001", "clinician", on_list))
set_clock(now + 59)
st, h, body = request("GET", "/record", cookie)
check(st == 200, "59 s idle: %d" % st)
set_clock(now + 60)
st, h, body = request("GET", "/record", cookie)
check(st == 401 and "ended" in body, "60 s idle: %d" % st)
cookie, st, h, body = launch(mint("dr.jones", "A81001", "clinician", on_list))
started = now
for step in range(5):
    set_clock(now + 55)
    st, h, body = request("GET", "/record", cookie)
    check(st == 200 if now - started < 300 else st == 401, "absolute time-out at +%d s: %d" % (now - started, st))
set_clock(started + 300)
st, h, body = request("GET", "/record", cookie)
check(st == 401, "absolute time-out at +300 s: %d" % st)

# ---- IG pages ---------------------------------------------------------------------------

ig, st, h, body = launch(mint("ig.lead", "Q99IG", "ig"))
check(st == 200 and 'content="0; url=/ig"' in body, "IG launch: %d" % st)
st, h, body = request("GET", "/ig", ig)
check(st == 200 and "/ig/coverage" in body, "IG index: %d" % st)
tok = csrf_of(body)
for page in ("coverage", "break-glass", "loads", "verify-audit"):
    st, h, body = request("GET", "/ig/" + page, ig)
    check(st == 200 and "text/html" in h.get("content-type", ""), "/ig/%s: %d" % (page, st))
    check(audit_last()[0][:3] == ("shown", "ig", "ig.lead"), "/ig/%s audited" % page)
    st, h, body = request("GET", "/ig/%s?format=csv" % page, ig)
    check(st == 200 and h.get("content-type", "").startswith("text/csv") and "attachment" in h.get("content-disposition", ""),
          "/ig/%s CSV: %d %s" % (page, st, h.get("content-type")))
st, h, body = request("GET", "/ig/break-glass?format=csv", ig)
check("Unconscious in A&E" in body, "the break-glass report lacks the reason")
st, h, body = request("POST", "/ig/access", ig, form(csrf=tok, nhs=elsewhere, format="csv"))
check(st == 200 and "dr.jones" in body and "break-glass" in body, "access by person: %d" % st)
check(audit_last()[0][3] == elsewhere, "access-by-person report audited with its person")
st, h, body = request("POST", "/ig/access", ig, form(csrf=tok, user="dr.jones", format="html", **{"from": "2000-01-01"}))
check(st == 200, "access by user: %d" % st)
st, h, body = request("POST", "/ig/access", ig, form(nhs=elsewhere, format="csv"))
check(st == 403, "IG form without CSRF: %d" % st)
st, h, body = request("GET", "/ig/access?nhs=" + elsewhere, ig)
check(st == 405, "access by person in a URL: %d" % st)
st, h, body = request("GET", "/ig/coverage?nhs=" + elsewhere, ig)
check(st == 400, "unexpected IG parameter: %d" % st)
st, h, body = request("GET", "/record", ig)
check(st == 403, "an IG session reading a record: %d" % st)
care, st, h, body = launch(mint("dr.jones", "A81001", "clinician", on_list))
st, h, body = request("GET", "/ig/coverage", care)
check(st == 403, "a care session reading IG pages: %d" % st)
c, st, h, body = launch(mint("ig.lead", "Q99IG", "clinician"))
check(st == 401, "IG launch with a care role: %d" % st)

# ---- property: random malformed requests get a 4xx (or a closed connection; 505 from
# libmicrohttpd for a request line without a known HTTP version), never another 5xx or
# a crash, and the server keeps serving (seeded, so a failure repeats) -------------------

import random
import socket
rnd = random.Random(20261128)
pieces = ["GET", "POST", "PUT", "BREW", "G\x00T", "", "/record", "/launch?token=", "/ig/../record",
          "/%00", "/%ZZ", "/" + "a" * 3000, "?section=" + "x" * 500, " HTTP/1.1", " HTTP/9.9", " HTTP/1.0",
          "\r\n", "\n", "Host: x", "Cookie: mcr_session=" + cookie, "Cookie: =;;=", "Cookie: mcr_session=%%%",
          "Content-Length: 5", "Content-Length: -1", "Content-Length: 99999999999999999999",
          "Transfer-Encoding: chunked", "Content-Type: application/x-www-form-urlencoded",
          "\r\n\r\ncsrf=&choice=given", "0\r\n\r\n", "\xff\xfe", ": novalue", "X: " + "b" * 1000]
for i in range(300):
    raw = "".join(rnd.choice(pieces) for _ in range(rnd.randint(1, 12)))
    if rnd.random() < 0.5:
        raw = rnd.choice(["GET", "POST", "HEAD"]) + " " + raw
    raw += "\r\n\r\n" if rnd.random() < 0.7 else ""
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=60)
    s.sendall(raw.encode("latin-1"))
    s.shutdown(socket.SHUT_WR)
    reply = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        reply += chunk
    s.close()
    m = re.match(rb"HTTP/1\.[01] (\d{3})", reply)
    if m and not check(int(m.group(1)) < 500 or int(m.group(1)) == 505, "raw request %d %r: %s" % (i, raw[:80], m.group(1).decode())):
        break
    check(srv.p.poll() is None, "the server died on raw request %d %r" % (i, raw[:80]))
st, h, body = request("GET", "/healthz")
check(st == 200, "/healthz after the random requests: %d" % st)

# ---- concurrent views: every one audited once, before its answer (group commit) --------

import threading
def health():
    st, h, body = request("GET", "/healthz")
    return dict(l.split(" ", 1) for l in body.splitlines())
sessions = []
for i in range(8):
    c, st, h, body = launch(mint("dr.jones", "A81001", "clinician", on_list))
    st, h, body = request("GET", "/record", c)
    request("POST", "/consent", c, form(choice="given", csrf=csrf_of(body)))
    sessions.append(c)
before, hb = audit_count(), health()
results = []
def views(c):
    for _ in range(5):
        results.append(request("GET", "/record", c)[0])
threads = [threading.Thread(target=views, args=(c,)) for c in sessions]
for t in threads:
    t.start()
for t in threads:
    t.join()
ha = health()
entries = int(ha["audit_entries"]) - int(hb["audit_entries"])
commits = int(ha["audit_commits"]) - int(hb["audit_commits"])
check(results == [200] * 40 and audit_count() == before + 40 and entries == 40,
      "40 concurrent views: %r, %d entries" % (sorted(set(results)), audit_count() - before))
print("40 concurrent views: %d audit commits (fsyncs)" % commits)

# ---- the audit log cannot be written: 503, nothing shown ----------------------------------

cookie, st, h, body = launch(mint("dr.jones", "A81001", "clinician", on_list))
st, h, body = request("GET", "/record", cookie)
request("POST", "/consent", cookie, form(choice="given", csrf=csrf_of(body)))
lock = sqlite3.connect(AUDIT, timeout=1, isolation_level=None)
lock.execute("BEGIN EXCLUSIVE")
st, h, body = request("GET", "/record", cookie)
check(st == 503 and item not in body, "view while the audit is locked: %d" % st)
c, st, h, body = launch("not-a-token")
check(st == 503, "refusal while the audit is locked: %d" % st)
lock.execute("ROLLBACK")
lock.close()
st, h, body = request("GET", "/record", cookie)
check(st == 200 and item in body, "after the audit recovers: %d" % st)

# ---- clean stop; nothing personal in the log; the chain verifies ------------------------------

rc = srv.stop()
check(rc == 0, "SIGTERM: exit %d" % rc)
log = open(LOG).read()
for p in people:
    check(p not in log, "the log names person %s" % p)
check("Unconscious" not in log, "the log holds a break-glass reason")
check(re.search(r"mcr-serve\[\d+\] audit checkpoint \d+:[0-9a-f]{64}", log), "no audit checkpoint in the log")
r = subprocess.run([os.path.join(BIN, "mcr-report"), "--config", CONFIG, "verify-audit"], capture_output=True, text=True)
check(r.returncode == 0, "verify-audit after the scenario: %d %s" % (r.returncode, r.stderr))

if failures:
    print("%d failure(s)" % len(failures))
    sys.exit(1)
print("ok: serve scenario")
