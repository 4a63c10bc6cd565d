"""mcr-serve in a real browser (run by test_browser.sh): headless Chromium driven
through WebDriver (chromium-driver, python3-selenium).

What a practitioner and an IG officer do, with what they see checked: the launch
from the host system (a link on another site, as in real use) -> the view; consent
given; consent refused; break glass with a reason; self-access; every launch-token
refusal; a replay after a restart; CSRF (a forged token, a form posted from another
site); session time-out; changing the person by editing the URL or a form; the IG
pages and their CSV downloads; printing shows only "view only". Every page: no
horizontal overflow at 1280 px and at tablet width, warnings displayed inside the
first screen, screenshots saved (and the banners' elements checked) under
$WORK/screens.

No sleeps: the server's readiness is its "listening on" line read from a pipe;
WebDriver's explicit waits wait for page elements; time-outs use the server's test
clock (MCR_SERVE_TEST_CLOCK).

Usage: browser_scenario.py BIN_DIR WORK_DIR (WORK_DIR/r is a loaded region whose
mcr.yaml has a web section with launcher "lcs"; WORK_DIR holds lcs.key.pem and
other.key.pem).
"""
import base64
import http.client
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import traceback

from selenium import webdriver
from selenium.common.exceptions import (NoSuchElementException, StaleElementReferenceException,
                                        WebDriverException)
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

BIN, WORK = sys.argv[1], sys.argv[2]
REGION = os.path.join(WORK, "r")
CONFIG = os.path.join(REGION, "mcr.yaml")
STORE = os.path.join(REGION, "store", "current")
AUDIT = os.path.join(REGION, "audit", "audit.sqlite")
CLOCK = os.path.join(WORK, "clock")
KEY = os.path.join(WORK, "lcs.key.pem")
OTHER_KEY = os.path.join(WORK, "other.key.pem")
SCREENS = os.path.join(WORK, "screens")
TABLET = (768, 1024)
DESKTOP = (1280, 900)

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, flush=True)


def check(cond, msg):
    if not cond:
        fail(msg)
    return cond


# ---- the server (readiness from its first line; the test clock for sessions) ----

now = int(time.time())


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
        line = self.p.stdout.readline().decode().strip()
        m = re.match(r"listening on 127\.0\.0\.1:(\d+)$", line)
        if not m:
            self.p.kill()
            sys.exit("mcr-serve did not start: %r; stderr: %s" % (line, open(self.err.name).read()))
        # "localhost": a secure context for the browser, so the Secure cookie is kept.
        self.base = "http://localhost:%s" % m.group(1)

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        rc = self.p.wait(timeout=60)
        self.err.close()
        return rc

    def reload(self):
        self.p.send_signal(signal.SIGHUP)
        line = self.p.stdout.readline().decode().strip()
        check(line == "reloaded", "SIGHUP answered %r" % line)


# ---- tokens -------------------------------------------------------------------


def mint(user, org, role, nhs=None, iss="lcs", key=KEY, iat=None, ttl=120, nbf=None):
    args = [os.path.join(BIN, "mcr-launch"), "--key", key, "--iss", iss, "--user", user,
            "--org", org, "--role", role, "--iat", str(now if iat is None else iat), "--ttl", str(ttl)]
    args += ["--nhs", nhs] if nhs else ["--ig"]
    if nbf:
        args += ["--nbf", str(nbf)]
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout.strip()


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def audit_last():
    db = sqlite3.connect("file:%s?mode=ro" % AUDIT, uri=True)
    row = db.execute("SELECT outcome, basis, user, nhs, detail, reason FROM audit"
                     " ORDER BY seq DESC LIMIT 1").fetchone()
    n = db.execute("SELECT count(*) FROM audit").fetchone()[0]
    db.close()
    return row, n


# ---- the region's people ---------------------------------------------------------

store = sqlite3.connect("file:%s?mode=ro" % STORE, uri=True)


def one(sql):
    r = store.execute(sql).fetchone()
    if not r:
        sys.exit("region lacks: " + sql)
    return r


staff = dict(re.findall(r'- user: (\S+)\n\s+nhs: "(\d+)"', open(CONFIG).read()))
not_staff = "m.nhs NOT IN (%s)" % ",".join("'%s'" % n for n in staff.values())
on_list, family = one("""SELECT m.nhs, p.family FROM member m JOIN person p ON p.nhs = m.nhs AND p.org = m.org
  WHERE m.org = 'A81001' AND %s AND p.family IS NOT NULL
  AND EXISTS (SELECT 1 FROM item i WHERE i.nhs = m.nhs AND i.section = 'allergies')
  AND NOT EXISTS (SELECT 1 FROM objection o WHERE o.nhs = m.nhs) ORDER BY m.nhs LIMIT 1""" % not_staff)
elsewhere, elsewhere_family = one("""SELECT m.nhs, p.family FROM member m JOIN person p ON p.nhs = m.nhs
  AND p.org = m.org WHERE m.org = 'A81002' AND p.family IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM member x WHERE x.nhs = m.nhs AND x.org = 'A81001')
  AND NOT EXISTS (SELECT 1 FROM objection o WHERE o.nhs = m.nhs) ORDER BY m.nhs LIMIT 1""")
objector = one("""SELECT m.nhs FROM member m JOIN objection o ON o.nhs = m.nhs
  WHERE m.org = 'A81001' AND %s ORDER BY m.nhs LIMIT 1""" % not_staff)[0]
me = staff["dr.patel"]
spaced = lambda n: "%s %s %s" % (n[:3], n[3:6], n[6:])

# ---- the browser ------------------------------------------------------------------


def browser():
    o = Options()
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--user-data-dir=" + os.path.join(WORK, "profile")):
        o.add_argument(flag)
    o.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    o.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    # Selenium picks chromedriver's port by binding port 0 and closing it; any
    # process on the machine may take that port before chromedriver binds it, and
    # chromedriver then exits ("IPv4 port not available"). Only that case is
    # retried, each time on a port picked afresh; no launch has happened yet.
    log = os.path.join(WORK, "chromedriver.log")
    for attempt in range(1, 6):
        open(log, "w").close()
        try:
            d = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver",
                                                 log_path=log), options=o)
            break
        except WebDriverException:
            said = open(log, errors="replace").read()
            if ("port not available" not in said and "Address already in use" not in said) or attempt == 5:
                print("chromedriver did not start (attempt %d); its log:\n%s" % (attempt, said[-2000:]), flush=True)
                raise
            print("chromedriver's port was taken before it bound it; retrying on another", flush=True)
    d.set_page_load_timeout(60)
    d.set_window_size(*DESKTOP)
    return d


def statuses(d):
    """HTTP statuses of the documents loaded since the last call, in order."""
    out = []
    for entry in d.get_log("performance"):
        m = json.loads(entry["message"])["message"]
        if m.get("method") == "Network.responseReceived" and m["params"].get("type") == "Document":
            out.append((m["params"]["response"]["url"], m["params"]["response"]["status"]))
    return out


def status(d):
    s = statuses(d)
    return s[-1][1] if s else None


OPENING = "Opening the shared care record"


def replaced(e):
    """A page replaced while chromedriver was reading one of its elements: it says
    this rather than raising a stale-element error."""
    return "does not belong to the document" in str(e)


def gone(old):
    """A wait condition: the element old belongs to a page no longer shown."""
    def check(_):
        try:
            old.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as e:
            if replaced(e):
                return True
            raise
        return False
    return check


def h1(d):
    """The heading of the page now shown, once the launch's hop has moved on."""
    def settled(x):
        try:
            t = x.find_element(By.TAG_NAME, "h1").text
        except WebDriverException as e:
            # The hop's refresh can replace the page between finding the h1 and
            # reading it.
            if replaced(e):
                return False
            raise
        return t if t and t != OPENING else False
    return WebDriverWait(d, 30, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)
                         ).until(settled)


def go(d, action):
    """Do what loads a new page (a click, a submit), wait for it, and its h1."""
    old = d.find_element(By.TAG_NAME, "html")
    action()
    WebDriverWait(d, 30).until(gone(old))
    return h1(d)


def text(d):
    return d.find_element(By.TAG_NAME, "body").text


def host_page(links, form=None):
    """The host system's page (another site: a file): launch links, or a form."""
    path = os.path.join(WORK, "host.html")
    with open(path, "w") as f:
        f.write("<!DOCTYPE html><title>Host system</title>\n")
        for i, href in enumerate(links):
            f.write('<p><a id="l%d" href="%s">Open shared care record</a></p>\n' % (i, href))
        if form:
            f.write(form)
    return "file://" + path


def launch_from_host(d, token):
    """As in real use: the host system's page sends the browser to /launch."""
    d.get(host_page([srv.base + "/launch?token=" + token]))
    statuses(d)
    return go(d, d.find_element(By.ID, "l0").click)


def layout(d, name, warnings_expected=False):
    """At 1280 px and tablet width: nothing wider than the window, the warnings
    displayed within the first screen; a screenshot of each."""
    for w, h in (DESKTOP, TABLET):
        d.set_window_size(w, h)
        inner = d.execute_script("return window.innerWidth")
        scroll = d.execute_script("return document.documentElement.scrollWidth")
        check(scroll <= inner, "%s at %d px: page %d px wide, window %d" % (name, w, scroll, inner))
        wide = d.execute_script("""return [...document.querySelectorAll('body *')].filter(e =>
            !e.closest('.table-wrap') && e.getBoundingClientRect().right > window.innerWidth + 1)
            .map(e => e.tagName + '.' + e.className).slice(0, 3)""")
        check(not wide, "%s at %d px: elements off-screen: %s" % (name, w, wide))
        if warnings_expected:
            ws = d.find_elements(By.CSS_SELECTOR, ".warning")
            check(ws and ws[0].is_displayed(), "%s at %d px: no warning shown" % (name, w))
            if ws:
                top = ws[0].rect["y"]
                check(0 <= top < h, "%s at %d px: the first warning is not on the first screen (y %d)"
                      % (name, w, top))
        shot = os.path.join(SCREENS, "%s-%d.png" % (name, w))
        d.save_screenshot(shot)
        check(os.path.getsize(shot) > 5000, "%s: screenshot %s is empty" % (name, shot))
    d.set_window_size(*DESKTOP)


def no_person(d, what, *people):
    src = d.page_source
    for p in people:
        check(p not in src and spaced(p) not in src, "%s: the page names %s" % (what, p))


# ============================================================================

os.makedirs(SCREENS, exist_ok=True)
set_clock(now)
srv = Server()
d = browser()
try:
    # ---- launch from the host system -> the view ---------------------------------
    title = launch_from_host(d, mint("dr.jones", "A81001", "clinician", on_list))
    check(d.current_url == srv.base + "/record", "launch lands on %s" % d.current_url)
    check(family in title, "view: h1 %r lacks the family name %r" % (title, family))
    banner = d.find_element(By.CSS_SELECTOR, ".patient").text
    check(spaced(on_list) in banner, "banner lacks NHS number %s: %r" % (spaced(on_list), banner))
    check(re.search(r"Born\s+\d\d-[A-Z][a-z]{2}-\d{4} \(\d+(y|m|d)\)", banner), "banner born: %r" % banner)
    check("Gender" in banner, "banner lacks gender: %r" % banner)
    row, n = audit_last()
    check(row[:4] == ("shown", "implied", "dr.jones", on_list), "view audited: %r" % (row,))
    # The region's data was extracted days before this run: every source is named stale.
    layout(d, "view", warnings_expected=True)
    # Allergies come first, each item with its source and as-of.
    secs = [s.get_attribute("id") for s in d.find_elements(By.CSS_SELECTOR, "section.rs")]
    check(secs and secs[0] == "allergies", "first section: %r" % secs[:3])
    items = d.find_elements(By.CSS_SELECTOR, "#allergies li.item")
    check(items and all(re.search(r"Source: .+ \(\w+\), as of \d\d-\w{3}-\d{4} \d\d:\d\d", i.text)
                        for i in items), "allergy without source and as-of")
    # Section navigation is links within the page: no script needed.
    link = d.find_element(By.CSS_SELECTOR, "nav.sections a[href='#results']")
    link.click()
    check(d.current_url.endswith("#results"), "section link went to %s" % d.current_url)
    y = d.find_element(By.ID, "results").rect["y"] - d.execute_script("return window.scrollY")
    check(-2 <= y < DESKTOP[1] / 2, "the Results section is not at the top after its link (y %d)" % y)
    # Keyboard: the first Tab reaches the skip link, which is then visible.
    d.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    focused = d.switch_to.active_element
    check(focused.get_attribute("class") == "skip" and focused.is_displayed(),
          "first Tab: %r" % focused.get_attribute("outerHTML")[:80])
    # Printing shows only "view only".
    d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    check(d.find_element(By.CSS_SELECTOR, ".print-notice").is_displayed(), "print: no notice")
    check(not d.find_element(By.CSS_SELECTOR, ".screen").is_displayed(), "print: the record prints")
    check("view only" in d.find_element(By.TAG_NAME, "body").text, "print: 'view only' missing")
    d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    # One section by URL works; another person by URL does not.
    d.get(srv.base + "/record?section=allergies")
    check(status(d) == 200 and d.find_elements(By.ID, "allergies") and not d.find_elements(By.ID, "results"),
          "one section by URL")
    before = audit_last()[1]
    for path in ("/record?nhs=" + elsewhere, "/record?section=allergies&nhs=" + elsewhere,
                 "/record?user=dr.patel", "/record?org=A81002"):
        d.get(srv.base + path)
        check(status(d) == 400, "%s: status not 400" % path)
        no_person(d, path, elsewhere)
    check(audit_last()[1] == before, "edited URLs were audited as views")

    # ---- an objection in force: the red warning first, no health data ----------------
    launch_from_host(d, mint("dr.jones", "A81001", "clinician", objector))
    ws = d.find_elements(By.CSS_SELECTOR, ".warning")
    check(ws and "objection" in ws[0].get_attribute("class") and "withdrawn consent" in ws[0].text,
          "objection: first warning %r" % (ws[0].text if ws else None))
    layout(d, "objection", warnings_expected=True)

    # ---- not on the list: refused, then break glass with a reason ---------------------
    launch_from_host(d, mint("dr.jones", "A81001", "clinician", elsewhere))
    check(status(d) == 403 and h1(d) == "Access denied", "not on the list: %s" % h1(d))
    no_person(d, "break-glass offer", elsewhere)
    check(audit_last()[0][:2] == ("denied", "implied"), "denial audited")
    layout(d, "break-glass-offer")
    # An empty reason cannot be sent (the field is required: the browser says so).
    before = audit_last()[1]
    d.find_element(By.CSS_SELECTOR, "form[action='/break-glass'] button").click()
    check(d.current_url.endswith("/record") and h1(d) == "Access denied"
          and d.execute_script("return !document.getElementById('reason').validity.valid"),
          "empty reason was sent")
    check(audit_last()[1] == before, "empty reason audited")
    reason = d.find_element(By.ID, "reason")
    check(d.find_element(By.CSS_SELECTOR, "label[for='reason']").is_displayed(), "reason has no label")
    reason.send_keys("Unconscious in A&E, no history")
    title = go(d, reason.submit)
    check(elsewhere_family in title, "break glass: h1 %r" % title)
    check("break-glass: Unconscious in A&E, no history" in d.find_element(By.CSS_SELECTOR, ".meta").text,
          "break glass: basis not shown")
    row = audit_last()[0]
    check(row[:2] == ("shown", "break-glass") and row[5] == "Unconscious in A&E, no history"
          and row[3] == elsewhere, "break-glass audited: %r" % (row,))

    # ---- self-access: refused, even by a member of staff's own launch ------------------
    launch_from_host(d, mint("dr.patel", "A81001", "clinician", me))
    check(status(d) == 403, "self-access: status")
    no_person(d, "self-access", me)
    check(audit_last()[0][0] == "self-access", "self-access audited")

    # ---- every launch-token refusal: 401, plain, nothing of the person -------------------
    good = mint("dr.jones", "A81001", "clinician", on_list)
    h64, p64, s64 = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(p64 + "=" * (-len(p64) % 4)))
    refusals = [
        ("bad signature", mint("dr.jones", "A81001", "clinician", on_list, key=OTHER_KEY)),
        ("changed person", h64 + "." + b64(json.dumps(dict(claims, nhs=elsewhere)).encode()) + "." + s64),
        ("alg none", b64(b'{"alg":"none","typ":"JWT"}') + "." + p64 + "."),
        ("HS256", b64(b'{"alg":"HS256","typ":"JWT"}') + "." + p64 + "." + s64),
        ("expired", mint("dr.jones", "A81001", "clinician", on_list, iat=now - 400, ttl=100)),
        ("early", mint("dr.jones", "A81001", "clinician", on_list, iat=now + 120)),
        ("not before", mint("dr.jones", "A81001", "clinician", on_list, nbf=now + 120)),
        ("lifetime", mint("dr.jones", "A81001", "clinician", on_list, ttl=301)),
        ("unknown launcher", mint("dr.jones", "A81001", "clinician", on_list, iss="gp-system")),
        ("organisation", mint("dr.jones", "A81003", "clinician", on_list)),
        ("role", mint("dr.jones", "A81001", "receptionist", on_list)),
        ("malformed", "not-a-token"),
    ]
    for what, token in refusals:
        before = audit_last()[1]
        d.delete_all_cookies()
        title = launch_from_host(d, token)
        check(status(d) == 401 and title == "Launch refused", "%s: %s" % (what, title))
        no_person(d, what, on_list, elsewhere)
        check(not d.get_cookies(), "%s: a cookie was set" % what)
        check(audit_last()[1] == before + 1 and audit_last()[0][0] == "launch-refused", "%s: not audited" % what)
    layout(d, "launch-refused")

    # ---- replay, and replay after a restart ------------------------------------------------
    replayed = mint("dr.jones", "A81001", "clinician", on_list)
    check(family in launch_from_host(d, replayed), "first use of a token")
    d.delete_all_cookies()
    check(launch_from_host(d, replayed) == "Launch refused" and status(d) == 401, "replay")
    check(srv.stop() == 0, "SIGTERM")
    srv = Server()
    check(launch_from_host(d, replayed) == "Launch refused" and status(d) == 401, "replay after a restart")

    # ---- CSRF: a forged token, and a form posted from another site -----------------------
    config_text = open(CONFIG).read()
    open(CONFIG, "w").write(config_text.replace("consent_at_point_of_care: implied", "consent_at_point_of_care: required"))
    srv.reload()
    launch_from_host(d, mint("dr.jones", "A81001", "clinician", on_list))
    check(h1(d) == "Consent to view the shared care record", "consent asked: %s" % h1(d))
    check(family not in d.page_source, "the consent page shows the person's name before consent")
    layout(d, "consent")
    before = audit_last()[1]
    d.execute_script("document.querySelector('form[action=\"/consent\"] input[name=csrf]').value = 'forged'")
    title = go(d, d.find_element(By.CSS_SELECTOR, "button[value='given']").click)
    check(status(d) == 403 and title == "Form refused", "forged CSRF token: %s" % title)
    d.back()
    d.get(srv.base + "/record")
    d.execute_script("""const f = document.querySelector('form[action="/consent"]');
        const i = document.createElement('input'); i.type = 'hidden'; i.name = 'nhs';
        i.value = arguments[0]; f.appendChild(i);""", elsewhere)
    title = go(d, d.find_element(By.CSS_SELECTOR, "button[value='given']").click)
    check(status(d) == 400, "a person added to the form: %s" % title)
    no_person(d, "form with another person", elsewhere)
    d.get(host_page([], '<form id="f" method="post" action="%s/consent"><input name="choice" value="given">'
                        '</form>' % srv.base))
    title = go(d, d.find_element(By.ID, "f").submit)
    check(status(d) in (401, 403), "a form from another site was accepted: %s" % title)
    check(audit_last()[1] == before, "refused forms were audited as views")

    # ---- consent given, then consent refused --------------------------------------------
    d.get(srv.base + "/record")
    title = go(d, d.find_element(By.CSS_SELECTOR, "button[value='given']").click)
    check(family in title, "consent given: h1 %r" % title)
    check(audit_last()[0][:2] == ("shown", "consent-given"), "consent-given audited")
    launch_from_host(d, mint("dr.jones", "A81001", "clinician", on_list))
    title = go(d, d.find_element(By.CSS_SELECTOR, "button[value='refused']").click)
    check(status(d) == 403 and title == "Consent refused", "consent refused: %s" % title)
    no_person(d, "consent refused", on_list)
    check(family not in d.page_source, "consent refused: the name is shown")
    check(audit_last()[0][:2] == ("denied", "consent-refused"), "consent-refused audited")
    d.get(srv.base + "/record")
    check(status(d) == 401, "the session outlived a refusal")
    open(CONFIG, "w").write(config_text)
    srv.reload()

    # ---- session time-out (idle limit from the config, on the test clock) ---------------
    idle = int(re.search(r"session_idle: (\d+)", config_text).group(1))
    launch_from_host(d, mint("dr.jones", "A81001", "clinician", on_list))
    set_clock(now + idle)
    title = go(d, d.refresh)
    check(status(d) == 401 and title == "Session ended", "idle time-out: %s" % title)
    no_person(d, "session ended", on_list)

    # ---- IG pages -------------------------------------------------------------------------
    launch_from_host(d, mint("ig.lead", "Q99IG", "ig"))
    check(d.current_url == srv.base + "/ig", "IG launch lands on %s" % d.current_url)
    layout(d, "ig-index")
    cookie = {c["name"]: c["value"] for c in d.get_cookies()}
    for label, page, want in (("Coverage", "coverage", "freshness"),
                              ("Break-glass by data owner", "break-glass", "Unconscious in A&E, no history"),
                              ("Loads", "loads", "generation"), ("Audit verification", "verify-audit", "intact")):
        title = go(d, d.find_element(By.LINK_TEXT, label).click)
        check(status(d) == 200 and title == label, "%s: %s" % (page, title))
        check(want in text(d), "%s lacks %r" % (page, want))
        layout(d, "ig-" + page)
        # The CSV download: the link's own URL with this browser's session.
        href = d.find_element(By.PARTIAL_LINK_TEXT, "CSV").get_attribute("href")
        c = http.client.HTTPConnection(srv.base.split("//")[1], timeout=60)
        c.request("GET", href[len(srv.base):], headers={"Cookie": "; ".join("%s=%s" % kv for kv in cookie.items())})
        r = c.getresponse()
        body = r.read().decode()
        check(r.status == 200 and r.getheader("Content-Type", "").startswith("text/csv")
              and "attachment" in r.getheader("Content-Disposition", "") and body.count("\n") >= 2,
              "%s CSV: %d %s" % (page, r.status, r.getheader("Content-Type")))
        c.close()
    # Access by person, with a date range, shown in the page.
    d.get(srv.base + "/ig")
    d.find_element(By.ID, "a-nhs").send_keys(elsewhere)
    d.find_element(By.ID, "a-from").send_keys("01012000")
    title = go(d, d.find_element(By.CSS_SELECTOR, "#access button[value='html']").click)
    check(status(d) == 200 and "dr.jones" in text(d) and "break-glass" in text(d),
          "access by person: %s" % title)
    layout(d, "ig-access")
    d.find_element(By.ID, "a-nhs").clear()
    d.find_element(By.ID, "a-user").send_keys("dr.jones")
    title = go(d, d.find_element(By.CSS_SELECTOR, "#access button[value='html']").click)
    check(status(d) == 200 and on_list in text(d), "access by user: %s" % title)
    # A care session cannot open IG pages, nor an IG session the record.
    d.get(srv.base + "/record")
    check(status(d) == 403, "IG session opened the record")
except WebDriverException as e:
    # The scenario's own line, not Selenium's.
    frames = traceback.extract_tb(e.__traceback__)
    where = ([f for f in frames if f.filename == __file__] or frames)[-1]
    fail("browser, line %d (%s): %s" % (where.lineno, where.line, str(e).splitlines()[0]))
finally:
    d.quit()
    srv.stop()

if failures:
    print("%d check(s) failed" % len(failures))
    sys.exit(1)
print("browser: all checks passed; screenshots in %s" % SCREENS)
