/*
 * One HTTP request: limits, routing, authorisation, the security headers of
 * DESIGN.md on every response. Identity and person come from the session (the
 * launch token) alone: a query or form field that would name anyone else is a
 * bad request.
 */
#include "serve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mcr/error.h"
#include "mcr/fs.h"
#include "mcr/html.h"
#include "mcr/lookup.h"
#include "mcr/page.h"
#include "mcr/nhs.h"
#include "mcr/report.h"
#include "mcr/store.h"
#include "mcr/vocab.h"

/* The form fields a POST may carry; present has bit F_<name> for each given. */
enum { F_CSRF = 1, F_CHOICE = 2, F_REASON = 4, F_NHS = 8, F_USER = 16, F_FROM = 32, F_TO = 64, F_FORMAT = 128 };
typedef struct form {
	unsigned present;
	char csrf[MCR_SESSION_ID_LEN + 2];
	char choice[16];
	char reason[512];
	char nhs[16], user[129], from[32], to[32], format[8];
	int unknown;   /* a field not listed here */
	int too_long;  /* a value over its field's size */
} form;

typedef struct request {
	struct MHD_PostProcessor *pp;
	size_t body;   /* bytes received */
	size_t headers; /* bytes of header names and values */
	int too_big;
	form f;
} request;

/* ---- responses ---------------------------------------------------------------- */

static void security_headers(serve_state *st, struct MHD_Response *r)
{
	mcr_buf csp = MCR_BUF_INIT;
	const mcr_codes *fa = &st->cfg->web.frame_ancestors;
	int rc = mcr_buf_puts(&csp, "default-src 'none'; style-src 'self'; img-src 'self'; "
	                            "form-action 'self'; base-uri 'none'; frame-ancestors");
	for (size_t i = 0; i < fa->count && !rc; i++)
		rc = mcr_buf_printf(&csp, " %s", fa->codes[i]);
	if (!rc && fa->count == 0)
		rc = mcr_buf_puts(&csp, " 'none'");
	MHD_add_response_header(r, "Content-Security-Policy",
	                        rc ? "default-src 'none'; frame-ancestors 'none'" : csp.ptr);
	if (fa->count == 0)
		MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "Pragma", "no-cache");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "Cross-Origin-Opener-Policy", "same-origin");
	MHD_add_response_header(r, "Cross-Origin-Resource-Policy", "same-origin");
	MHD_add_response_header(r, "Permissions-Policy", "camera=(), microphone=(), geolocation=()");
	mcr_buf_free(&csp);
}

static enum MHD_Result respond(serve_state *st, struct MHD_Connection *conn, unsigned status,
                            const char *type, const mcr_buf *body, const char *location,
                            const char *cookie)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
		body ? body->len : 0, body && body->ptr ? body->ptr : (void *)"", MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	security_headers(st, r);
	if (type)
		MHD_add_response_header(r, "Content-Type", type);
	if (location)
		MHD_add_response_header(r, "Location", location);
	if (cookie)
		MHD_add_response_header(r, "Set-Cookie", cookie);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, "Allow", "GET, HEAD, POST");
	enum MHD_Result ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* A plain page: title and one line, never personal data. */
static enum MHD_Result message(serve_state *st, struct MHD_Connection *conn, unsigned status,
                               const char *title, const char *text)
{
	mcr_buf b = MCR_BUF_INIT;
	enum MHD_Result ret;
	if (mcr_page_message(&b, NULL, title, text))
		ret = respond(st, conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8", NULL, NULL, NULL);
	else
		ret = respond(st, conn, status, "text/html; charset=utf-8", &b, NULL, NULL);
	mcr_buf_free(&b);
	return ret;
}

static enum MHD_Result html(serve_state *st, struct MHD_Connection *conn, unsigned status,
                            int rc, const mcr_buf *b)
{
	if (rc)
		return message(st, conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "Error", "The page could not be built.");
	return respond(st, conn, status, "text/html; charset=utf-8", b, NULL, NULL);
}

static enum MHD_Result redirect(serve_state *st, struct MHD_Connection *conn, const char *to,
                                const char *cookie)
{
	return respond(st, conn, MHD_HTTP_SEE_OTHER, "text/plain; charset=utf-8", NULL, to, cookie);
}

static enum MHD_Result audit_failed(serve_state *st, struct MHD_Connection *conn)
{
	serve_log(st, LOG_ERR, "audit log cannot be written: %s; answered 503, nothing shown",
	          mcr_error_message());
	return message(st, conn, MHD_HTTP_SERVICE_UNAVAILABLE, "Service unavailable",
	               "The audit log cannot be written, so nothing can be shown. Try again later.");
}

/* ---- audit ------------------------------------------------------------------------ */

/* The audit handle is shared by every thread: concurrent appends are
 * group-committed (one fsync for all waiting), each back once durable. */
static int audit_append(serve_state *st, mcr_audit_entry *e)
{
	return mcr_audit_append(st->audit, e);
}

static int audit_lookup(serve_state *st, mcr_lookup *lk, mcr_lookup_result *res)
{
	return mcr_lookup_audit(lk, st->audit, res);
}

/* ---- query and form fields ------------------------------------------------------------ */

typedef struct args {
	const char *const *allowed;
	int bad;
} args;

static enum MHD_Result check_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	args *a = cls;
	(void)kind;
	(void)value;
	for (const char *const *p = a->allowed; *p; p++)
		if (strcmp(*p, key) == 0)
			return MHD_YES;
	a->bad = 1;
	return MHD_NO;
}

/* 1 when every query argument is one of allowed (NULL-terminated). */
static int only_args(struct MHD_Connection *conn, const char *const *allowed)
{
	args a = {allowed, 0};
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, check_arg, &a);
	return !a.bad;
}

static const char *arg(struct MHD_Connection *conn, const char *name)
{
	const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
	return v && *v ? v : NULL;
}

static int field_put(form *f, const char *key, const char *data, uint64_t off, size_t size)
{
	static const struct {
		const char *name;
		size_t offset, size;
	} fields[] = {
		{"csrf", offsetof(form, csrf), sizeof(((form *)0)->csrf)},
		{"choice", offsetof(form, choice), sizeof(((form *)0)->choice)},
		{"reason", offsetof(form, reason), sizeof(((form *)0)->reason)},
		{"nhs", offsetof(form, nhs), sizeof(((form *)0)->nhs)},
		{"user", offsetof(form, user), sizeof(((form *)0)->user)},
		{"from", offsetof(form, from), sizeof(((form *)0)->from)},
		{"to", offsetof(form, to), sizeof(((form *)0)->to)},
		{"format", offsetof(form, format), sizeof(((form *)0)->format)},
	};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (strcmp(fields[i].name, key) != 0)
			continue;
		char *dst = (char *)f + fields[i].offset;
		f->present |= 1u << i;
		if (off + size >= fields[i].size) {
			f->too_long = 1;
			return 0;
		}
		memcpy(dst + off, data, size);
		dst[off + size] = '\0';
		return 1;
	}
	f->unknown = 1;
	return 0;
}

static enum MHD_Result post_iter(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *filename, const char *content_type,
                                 const char *transfer_encoding, const char *data, uint64_t off,
                                 size_t size)
{
	request *rq = cls;
	(void)kind;
	(void)filename;
	(void)content_type;
	(void)transfer_encoding;
	return field_put(&rq->f, key, data ? data : "", off, size) ? MHD_YES : MHD_NO;
}

/* ---- sessions ---------------------------------------------------------------------- */

/* The top bar and forms of a page of session s. */
static mcr_page_session page_of(const mcr_session *s)
{
	mcr_page_session p = {s->who.sub, s->who.role, s->who.org, s->csrf, 1};
	return p;
}

static const char *basis_name(mcr_session_basis b)
{
	return b == MCR_BASIS_CONSENT ? "consent-given" : b == MCR_BASIS_BREAK_GLASS ? "break-glass" : "implied";
}

/* The session of this request, or a response saying why there is none. */
static int need_session(serve_state *st, struct MHD_Connection *conn, mcr_launch_purpose purpose,
                        mcr_session *s, enum MHD_Result *ret)
{
	const char *cookie = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, SERVE_COOKIE);
	int rc = mcr_session_get(st->sessions, cookie, serve_now(st), s);
	if (rc == MCR_EDENIED) {
		*ret = message(st, conn, MHD_HTTP_UNAUTHORIZED, "Session ended",
		               "Your session has ended (time-out). Open the record again from your system.");
		return -1;
	}
	if (rc) {
		*ret = message(st, conn, MHD_HTTP_UNAUTHORIZED, "No session",
		               "There is no session. Open the record from your system.");
		return -1;
	}
	if (s->who.purpose != purpose) {
		*ret = message(st, conn, MHD_HTTP_FORBIDDEN, "Not allowed",
		               "This page is not part of the work you launched.");
		return -1;
	}
	return 0;
}

/* A POST of this session: its CSRF token and only the fields allowed (F_*). */
static int need_form(serve_state *st, struct MHD_Connection *conn, const request *rq,
                     const mcr_session *s, unsigned allowed, enum MHD_Result *ret)
{
	if (rq->f.unknown || rq->f.too_long || (rq->f.present & ~(allowed | F_CSRF))) {
		*ret = message(st, conn, MHD_HTTP_BAD_REQUEST, "Bad request",
		               "The form holds a field this service does not take.");
		return -1;
	}
	if (!mcr_session_csrf_ok(s, rq->f.csrf)) {
		serve_log(st, LOG_WARNING, "form refused: missing or wrong CSRF token");
		*ret = message(st, conn, MHD_HTTP_FORBIDDEN, "Form refused",
		               "The form could not be checked. Go back to the record and try again.");
		return -1;
	}
	return 0;
}

/* ---- /launch ------------------------------------------------------------------------ */

static enum MHD_Result launch(serve_state *st, struct MHD_Connection *conn)
{
	mcr_launch_claims c;
	mcr_launch_reason why;
	static const char *const allowed[] = {"token", NULL};
	const char *token = only_args(conn, allowed) ? arg(conn, "token") : NULL;
	int rc = mcr_launch_verify(st->cfg, st->keys, st->jti, token, serve_now(st), &c, &why);
	if (rc && why == MCR_LAUNCH_OK) {
		serve_log(st, LOG_ERR, "launch store failed: %s", mcr_error_message());
		return message(st, conn, MHD_HTTP_SERVICE_UNAVAILABLE, "Service unavailable",
		               "The launch could not be checked. Try again later.");
	}
	if (why != MCR_LAUNCH_OK) {
		/* Audited with what is known: the person only from a verified token. */
		mcr_audit_entry e;
		char detail[160];
		memset(&e, 0, sizeof(e));
		snprintf(detail, sizeof(detail), "launch refused: %s; launcher %s", mcr_launch_reason_code(why),
		         c.iss[0] ? c.iss : "unknown");
		e.user = c.verified ? c.sub : "";
		e.org = c.verified ? c.org : "";
		e.role = c.verified ? c.role : "";
		e.nhs = c.verified ? c.nhs : "";
		e.sections = "";
		e.basis = "launch";
		e.outcome = "launch-refused";
		e.detail = detail;
		if (audit_append(st, &e))
			return audit_failed(st, conn);
		serve_log(st, LOG_NOTICE, "launch refused: %s (launcher %s), audit entry %ld",
		          mcr_launch_reason_code(why), c.iss[0] ? c.iss : "unknown", e.seq);
		return message(st, conn, MHD_HTTP_UNAUTHORIZED, "Launch refused", mcr_launch_reason_text(why));
	}
	/* One person per session: a launch in a browser that has a session ends it. */
	mcr_session_end(st->sessions, MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, SERVE_COOKIE));
	mcr_session s;
	if (mcr_session_start(st->sessions, &c, serve_now(st), &s)) {
		serve_log(st, LOG_ERR, "session refused: %s", mcr_error_message());
		return message(st, conn, MHD_HTTP_SERVICE_UNAVAILABLE, "Service unavailable",
		               "Too many sessions. Try again later.");
	}
	char cookie[160];
	snprintf(cookie, sizeof(cookie), "%s=%s; Path=/; HttpOnly; Secure; SameSite=Strict", SERVE_COOKIE, s.id);
	serve_log(st, LOG_INFO, "launch accepted (launcher %s, purpose %s)", c.iss,
	          c.purpose == MCR_PURPOSE_IG ? "ig" : "care");
	/* A page that moves on by itself, not a 303: a redirect ending a navigation
	 * begun on the host system's site is cross-site, and the browser would keep
	 * the new SameSite=Strict cookie from it (include/mcr/page.h). */
	mcr_buf b = MCR_BUF_INIT;
	enum MHD_Result ret;
	if (mcr_page_launched(&b, c.purpose == MCR_PURPOSE_IG ? "/ig" : "/record"))
		ret = message(st, conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "Error", "The page could not be built.");
	else
		ret = respond(st, conn, MHD_HTTP_OK, "text/html; charset=utf-8", &b, NULL, cookie);
	mcr_buf_free(&b);
	return ret;
}

/* ---- care pages ------------------------------------------------------------------------- */

/* "a,b" -> section bits; -1 for an unknown name. */
static int section_bits(const char *list, unsigned *bits)
{
	char name[32];
	*bits = 0;
	while (list && *list) {
		size_t n = strcspn(list, ",");
		mcr_section s;
		if (n == 0 || n >= sizeof(name))
			return -1;
		memcpy(name, list, n);
		name[n] = '\0';
		if (mcr_section_parse(name, &s) != 0)
			return -1;
		*bits |= 1u << s;
		list += n + (list[n] == ',');
	}
	return 0;
}

/* The care view's top-bar form that ends the session. */
static int end_session_form(mcr_buf *out, const char *csrf)
{
	int rc = mcr_buf_puts(out, "<form class=\"end\" method=\"post\" action=\"/logout\">\n"
	                           "<input type=\"hidden\" name=\"csrf\" value=\"");
	if (!rc)
		rc = mcr_html_escape(out, csrf);
	return rc ? rc : mcr_buf_puts(out, "\">\n<button type=\"submit\">End session</button>\n</form>\n");
}

/* Decide, audit, then show: the one library path of mcr-lookup. */
static enum MHD_Result view(serve_state *st, struct MHD_Connection *conn, const mcr_session *s,
                            unsigned sections, const char *consent)
{
	mcr_lookup_request req = {0};
	mcr_lookup *lk = NULL;
	mcr_lookup_result res;
	mcr_buf b = MCR_BUF_INIT;
	mcr_page_session ps = page_of(s);
	enum MHD_Result ret;
	req.user = s->who.sub;
	req.org = s->who.org;
	req.role = s->who.role;
	req.nhs = s->who.nhs;
	req.sections = sections;
	req.format = MCR_LOOKUP_HTML;
	req.consent = consent ? consent : s->basis == MCR_BASIS_CONSENT ? "given" : NULL;
	req.break_glass = !consent && s->basis == MCR_BASIS_BREAK_GLASS ? s->reason : NULL;
	int rc = mcr_lookup_decide(st->cfg, &req, &lk);
	if (rc == MCR_EUSAGE) {
		ret = message(st, conn, MHD_HTTP_BAD_REQUEST, "Bad request", "The request could not be used.");
		goto out;
	}
	if (rc) {
		ret = message(st, conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "Error", "The record could not be read.");
		goto out;
	}
	if (audit_lookup(st, lk, &res)) {
		ret = audit_failed(st, conn);
		goto out;
	}
	const char *outcome = mcr_lookup_outcome(lk);
	serve_log(st, LOG_INFO, "view: %s, basis %s, audit entry %ld", outcome, basis_name(s->basis), res.audit_seq);
	if (strcmp(outcome, "shown") == 0) {
		mcr_buf nav = MCR_BUF_INIT;
		mcr_view_html how = {1, NULL};
		int r = end_session_form(&nav, s->csrf);
		how.nav_html = nav.ptr;
		if (!r)
			r = mcr_lookup_render_html(lk, &how, &b);
		mcr_buf_free(&nav);
		ret = html(st, conn, MHD_HTTP_OK, r, &b);
	} else if (strcmp(outcome, "failed") == 0) {
		ret = message(st, conn, MHD_HTTP_SERVICE_UNAVAILABLE, "Service unavailable",
		              "The shared care record cannot be read just now. Try again later.");
	} else if (strcmp(outcome, "no-record") == 0) {
		ret = message(st, conn, MHD_HTTP_NOT_FOUND, "No record",
		              "There is no shared care record for this person that your role can see.");
	} else if (strcmp(outcome, "self-access") == 0) {
		ret = message(st, conn, MHD_HTTP_FORBIDDEN, "Access denied",
		              "Looking up your own record is not allowed. This attempt is recorded.");
	} else if (consent && strcmp(consent, "refused") == 0) {
		mcr_session_end(st->sessions, s->id);
		ret = message(st, conn, MHD_HTTP_FORBIDDEN, "Consent refused",
		              "The person refused consent: nothing is shown. This is recorded.");
	} else if (mcr_lookup_flags(lk) & MCR_LOOKUP_NOT_ON_LIST) {
		ret = html(st, conn, MHD_HTTP_FORBIDDEN,
		           mcr_page_break_glass(&b, &ps, "This person is not on your organisation's list."), &b);
	} else if (mcr_lookup_flags(lk) & MCR_LOOKUP_CONSENT_NEEDED) {
		ret = html(st, conn, MHD_HTTP_OK, mcr_page_consent(&b, &ps, s->who.nhs, 1), &b);
	} else {
		ret = message(st, conn, MHD_HTTP_FORBIDDEN, "Access denied",
		              "Your role may not see this. This attempt is recorded.");
	}
out:
	mcr_lookup_free(lk);
	mcr_buf_free(&b);
	return ret;
}

static enum MHD_Result record(serve_state *st, struct MHD_Connection *conn)
{
	mcr_session s;
	enum MHD_Result ret;
	unsigned sections = 0;
	static const char *const allowed[] = {"section", NULL};
	if (need_session(st, conn, MCR_PURPOSE_CARE, &s, &ret))
		return ret;
	if (!only_args(conn, allowed) || section_bits(arg(conn, "section"), &sections))
		return message(st, conn, MHD_HTTP_BAD_REQUEST, "Bad request",
		               "Only a section may be chosen here; a different person needs a new launch from your system.");
	mcr_buf b = MCR_BUF_INIT;
	if (st->cfg->consent_required && s.basis == MCR_BASIS_NONE) {
		mcr_page_session ps = page_of(&s);
		ret = html(st, conn, MHD_HTTP_OK, mcr_page_consent(&b, &ps, s.who.nhs, 1), &b);
		mcr_buf_free(&b);
		return ret;
	}
	return view(st, conn, &s, sections, NULL);
}

static enum MHD_Result consent(serve_state *st, struct MHD_Connection *conn, const request *rq)
{
	mcr_session s;
	enum MHD_Result ret;
	if (need_session(st, conn, MCR_PURPOSE_CARE, &s, &ret) || need_form(st, conn, rq, &s, F_CHOICE, &ret))
		return ret;
	if (strcmp(rq->f.choice, "given") == 0) {
		mcr_session_set_basis(st->sessions, s.id, MCR_BASIS_CONSENT, NULL);
		return redirect(st, conn, "/record", NULL);
	}
	if (strcmp(rq->f.choice, "refused") == 0)
		return view(st, conn, &s, 0, "refused");
	return message(st, conn, MHD_HTTP_BAD_REQUEST, "Bad request", "Answer yes or no.");
}

static enum MHD_Result break_glass(serve_state *st, struct MHD_Connection *conn, const request *rq)
{
	mcr_session s;
	enum MHD_Result ret;
	if (need_session(st, conn, MCR_PURPOSE_CARE, &s, &ret) || need_form(st, conn, rq, &s, F_REASON, &ret))
		return ret;
	int blank = 1;
	for (const unsigned char *p = (const unsigned char *)rq->f.reason; *p; p++) {
		if (*p > ' ')
			blank = 0;
		if (*p < 0x20 && *p != '\r' && *p != '\n' && *p != '\t')
			return message(st, conn, MHD_HTTP_BAD_REQUEST, "Bad request", "The reason holds a control character.");
	}
	if (blank)
		return message(st, conn, MHD_HTTP_BAD_REQUEST, "Reason needed",
		               "Emergency access needs a reason. Go back and give one.");
	/* One line in the audit log: line breaks become spaces. */
	char reason[sizeof(rq->f.reason)];
	size_t i;
	for (i = 0; rq->f.reason[i]; i++)
		reason[i] = rq->f.reason[i] == '\r' || rq->f.reason[i] == '\n' || rq->f.reason[i] == '\t' ? ' ' : rq->f.reason[i];
	reason[i] = '\0';
	mcr_session_set_basis(st->sessions, s.id, MCR_BASIS_BREAK_GLASS, reason);
	return redirect(st, conn, "/record", NULL);
}

static enum MHD_Result logout(serve_state *st, struct MHD_Connection *conn, const request *rq)
{
	mcr_session s;
	enum MHD_Result ret;
	const char *cookie = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, SERVE_COOKIE);
	if (mcr_session_get(st->sessions, cookie, serve_now(st), &s) == 0) {
		if (need_form(st, conn, rq, &s, 0, &ret))
			return ret;
		mcr_session_end(st->sessions, s.id);
	}
	mcr_buf b = MCR_BUF_INIT;
	int rc = mcr_page_message(&b, NULL, "Session ended",
	                          "Your session has ended. Open the record again from your system.");
	ret = rc ? message(st, conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "Error", "The page could not be built.")
	         : respond(st, conn, MHD_HTTP_OK, "text/html; charset=utf-8", &b, NULL,
	                   SERVE_COOKIE "=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0");
	mcr_buf_free(&b);
	return ret;
}

/* ---- IG pages --------------------------------------------------------------------------- */

/* Every IG report shown is audited: who read which report (and about whom). */
static int audit_report(serve_state *st, const mcr_session *s, const char *report, const char *nhs)
{
	mcr_audit_entry e;
	char sections[64];
	memset(&e, 0, sizeof(e));
	snprintf(sections, sizeof(sections), "report:%s", report);
	e.user = s->who.sub;
	e.org = s->who.org;
	e.role = s->who.role;
	e.nhs = nhs ? nhs : "";
	e.sections = sections;
	e.basis = "ig";
	e.outcome = "shown";
	return audit_append(st, &e);
}

/* What an IG page shows: the report, and the access form's last values. */
typedef struct ig_page {
	const char *name;          /* for the audit and the CSV file name */
	mcr_page_ig_report report;
	const char *nhs;           /* the person of an access-by-person report (10 digits) */
	const form *f;             /* the access form, or NULL */
	const char *org;           /* break-glass filter */
} ig_page;

static enum MHD_Result report_out(serve_state *st, struct MHD_Connection *conn, const mcr_session *s,
                                  const ig_page *pg, mcr_report_format f, int rc, mcr_buf *b)
{
	mcr_buf page = MCR_BUF_INIT;
	enum MHD_Result ret;
	if (rc == MCR_EUSAGE) /* names the bad argument (a date, an organisation): no record data */
		return message(st, conn, MHD_HTTP_BAD_REQUEST, "Bad request", mcr_error_message());
	if (rc && !(rc == MCR_EFORMAT && pg->report == MCR_PAGE_IG_VERIFY)) {
		serve_log(st, LOG_ERR, "report %s failed: %s", pg->name, mcr_error_message());
		return message(st, conn, MHD_HTTP_SERVICE_UNAVAILABLE, "Service unavailable",
		               "The report could not be made. Try again later.");
	}
	if (rc) {
		/* A broken chain is the verification's answer, not a server failure. */
		mcr_buf_reset(b);
		f = MCR_REPORT_HTML_BODY;
		if (mcr_buf_puts(b, "<h1>Audit verification failed</h1>\n<p class=\"warning\">") ||
		    mcr_html_escape(b, mcr_error_message()) || mcr_buf_puts(b, "</p>\n"))
			return message(st, conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "Error", "The page could not be built.");
	}
	if (audit_report(st, s, pg->name, pg->nhs))
		return audit_failed(st, conn);
	serve_log(st, LOG_INFO, "ig report %s shown", pg->name);
	if (f == MCR_REPORT_CSV) {
		char disp[96];
		struct MHD_Response *r = MHD_create_response_from_buffer(b->len, b->ptr ? b->ptr : (void *)"",
		                                                         MHD_RESPMEM_MUST_COPY);
		if (!r)
			return MHD_NO;
		security_headers(st, r);
		snprintf(disp, sizeof(disp), "attachment; filename=\"%s.csv\"", pg->name);
		MHD_add_response_header(r, "Content-Type", "text/csv; charset=utf-8");
		MHD_add_response_header(r, "Content-Disposition", disp);
		ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
		MHD_destroy_response(r);
		return ret;
	}
	mcr_page_session ps = page_of(s);
	mcr_page_ig ig = {pg->report, b->ptr ? b->ptr : "", NULL, NULL, NULL, NULL, pg->org};
	if (pg->f) {
		ig.nhs = pg->f->nhs[0] ? pg->f->nhs : NULL;
		ig.user = pg->f->user[0] ? pg->f->user : NULL;
		ig.from = pg->f->from[0] ? pg->f->from : NULL;
		ig.to = pg->f->to[0] ? pg->f->to : NULL;
	}
	ret = html(st, conn, MHD_HTTP_OK, mcr_page_ig_render(&page, &ps, &ig), &page);
	mcr_buf_free(&page);
	return ret;
}

static int format_of(const char *v, mcr_report_format *f)
{
	*f = MCR_REPORT_HTML_BODY;
	if (!v || strcmp(v, "html") == 0)
		return 0;
	if (strcmp(v, "csv") == 0) {
		*f = MCR_REPORT_CSV;
		return 0;
	}
	return -1;
}

static enum MHD_Result ig(serve_state *st, struct MHD_Connection *conn, const char *url,
                          const char *method, const request *rq)
{
	mcr_session s;
	enum MHD_Result ret;
	mcr_buf b = MCR_BUF_INIT;
	mcr_report_format f;
	int rc;
	if (need_session(st, conn, MCR_PURPOSE_IG, &s, &ret))
		return ret;
	int post = strcmp(method, "POST") == 0;
	if (strcmp(url, "/ig/access") == 0) {
		if (!post)
			return message(st, conn, MHD_HTTP_METHOD_NOT_ALLOWED, "Method not allowed", "Use the form.");
		if (need_form(st, conn, rq, &s, F_NHS | F_USER | F_FROM | F_TO | F_FORMAT, &ret))
			return ret;
		if (format_of(rq->f.format[0] ? rq->f.format : NULL, &f) || !rq->f.nhs[0] == !rq->f.user[0])
			return message(st, conn, MHD_HTTP_BAD_REQUEST, "Bad request",
			               "Give either an NHS number or a user, and a format.");
		mcr_report_period p = {rq->f.from[0] ? rq->f.from : NULL, rq->f.to[0] ? rq->f.to : NULL};
		char nhs[11] = "";
		if (rq->f.nhs[0] && mcr_nhs_validate(rq->f.nhs, nhs))
			return message(st, conn, MHD_HTTP_BAD_REQUEST, "Bad request", "That is not a valid NHS number.");
		const char *user = rq->f.user;
		rc = rq->f.nhs[0] ? mcr_report_access(st->cfg, nhs, NULL, 0, &p, f, &b)
		                  : mcr_report_access(st->cfg, NULL, &user, 1, &p, f, &b);
		ig_page pg = {rq->f.nhs[0] ? "access-by-person" : "access-by-user", MCR_PAGE_IG_ACCESS,
		              nhs[0] ? nhs : NULL, &rq->f, NULL};
		ret = report_out(st, conn, &s, &pg, f, rc, &b);
		mcr_buf_free(&b);
		return ret;
	}
	if (post)
		return message(st, conn, MHD_HTTP_METHOD_NOT_ALLOWED, "Method not allowed", "Not a form.");
	if (strcmp(url, "/ig") == 0) {
		mcr_page_session ps = page_of(&s);
		mcr_page_ig index = {MCR_PAGE_IG_INDEX, NULL, NULL, NULL, NULL, NULL, NULL};
		if (!only_args(conn, (const char *const[]){NULL}))
			return message(st, conn, MHD_HTTP_BAD_REQUEST, "Bad request", "Unexpected parameters.");
		ret = html(st, conn, MHD_HTTP_OK, mcr_page_ig_render(&b, &ps, &index), &b);
		mcr_buf_free(&b);
		return ret;
	}
	static const char *const plain[] = {"format", NULL};
	static const char *const bg[] = {"format", "org", "from", "to", NULL};
	ig_page pg = {url + 4, MCR_PAGE_IG_COVERAGE, NULL, NULL, NULL};
	int is_bg = strcmp(pg.name, "break-glass") == 0;
	if (!only_args(conn, is_bg ? bg : plain) || format_of(arg(conn, "format"), &f))
		return message(st, conn, MHD_HTTP_BAD_REQUEST, "Bad request", "Unexpected parameters.");
	if (strcmp(pg.name, "coverage") == 0) {
		rc = mcr_report_coverage(st->cfg, mcr_time_now(), f, &b);
	} else if (strcmp(pg.name, "loads") == 0) {
		pg.report = MCR_PAGE_IG_LOADS;
		rc = mcr_report_loads(st->cfg, 0, f, &b);
	} else if (strcmp(pg.name, "verify-audit") == 0) {
		pg.report = MCR_PAGE_IG_VERIFY;
		rc = mcr_report_verify_audit(st->cfg, f, &b);
	} else if (is_bg) {
		mcr_report_period p = {arg(conn, "from"), arg(conn, "to")};
		pg.report = MCR_PAGE_IG_BREAK_GLASS;
		pg.org = arg(conn, "org");
		rc = mcr_report_break_glass(st->cfg, pg.org, &p, f, &b);
	} else {
		return message(st, conn, MHD_HTTP_NOT_FOUND, "Not found", "There is no such page.");
	}
	ret = report_out(st, conn, &s, &pg, f, rc, &b);
	mcr_buf_free(&b);
	return ret;
}

/* ---- /static/mcr.css ---------------------------------------------------------------- */

static enum MHD_Result stylesheet(serve_state *st, struct MHD_Connection *conn)
{
	mcr_buf b = MCR_BUF_INIT;
	enum MHD_Result ret = MHD_NO;
	if (!mcr_buf_puts(&b, mcr_html_css()))
		ret = respond(st, conn, MHD_HTTP_OK, "text/css; charset=utf-8", &b, NULL, NULL);
	mcr_buf_free(&b);
	return ret;
}

/* ---- /healthz --------------------------------------------------------------------------- */

static enum MHD_Result healthz(serve_state *st, struct MHD_Connection *conn)
{
	mcr_buf b = MCR_BUF_INIT;
	long gen = 0;
	long long age = -1;
	int store_ok = mcr_store_status(st->cfg, &gen, &age) == 0;
	/* Writable: the log's file, or the database answering with INSERT allowed. */
	int audit_ok = mcr_audit_probe_config(st->cfg) == 0;
	int ok = store_ok && audit_ok;
	mcr_audit_stats as;
	mcr_audit_get_stats(st->audit, &as);
	int rc = mcr_buf_printf(&b, "status %s\nstore_generation %ld\nstore_age_seconds %lld\naudit %s\n"
	                            "audit_entries %ld\naudit_commits %ld\nsessions %zu\n",
	                        ok ? "ok" : "degraded", gen, age, audit_ok ? "writable" : "not-writable",
	                        as.entries, as.commits, mcr_sessions_count(st->sessions));
	enum MHD_Result ret = rc ? MHD_NO
	                         : respond(st, conn, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
	                                "text/plain; charset=utf-8", &b, NULL, NULL);
	mcr_buf_free(&b);
	return ret;
}

/* ---- dispatch --------------------------------------------------------------------------- */

static enum MHD_Result route(serve_state *st, struct MHD_Connection *conn, const char *url,
                             const char *method, const request *rq)
{
	int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	int post = strcmp(method, "POST") == 0;
	if (!get && !post)
		return message(st, conn, MHD_HTTP_METHOD_NOT_ALLOWED, "Method not allowed", "Method not allowed.");
	if (rq && rq->headers > SERVE_MAX_HEADERS)
		return message(st, conn, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE, "Too large",
		               "The request's headers are too large.");
	if (rq && rq->too_big)
		return message(st, conn, MHD_HTTP_CONTENT_TOO_LARGE, "Too large", "The request body is too large.");
	if (strcmp(url, "/healthz") == 0 && get)
		return healthz(st, conn);
	if (strcmp(url, MCR_HTML_CSS_PATH) == 0 && get)
		return stylesheet(st, conn);
	if (strcmp(url, "/launch") == 0 && get)
		return launch(st, conn);
	if (strcmp(url, "/record") == 0 && get)
		return record(st, conn);
	if (strcmp(url, "/consent") == 0 && post)
		return consent(st, conn, rq);
	if (strcmp(url, "/break-glass") == 0 && post)
		return break_glass(st, conn, rq);
	if (strcmp(url, "/logout") == 0 && post)
		return logout(st, conn, rq);
	if (strcmp(url, "/ig") == 0 || strncmp(url, "/ig/", 4) == 0)
		return ig(st, conn, url, method, rq);
	static const char *const known[] = {"/healthz", MCR_HTML_CSS_PATH, "/launch", "/record", "/consent", "/break-glass", "/logout"};
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(url, known[i]) == 0)
			return message(st, conn, MHD_HTTP_METHOD_NOT_ALLOWED, "Method not allowed", "Method not allowed.");
	return message(st, conn, MHD_HTTP_NOT_FOUND, "Not found", "There is no such page.");
}

static enum MHD_Result header_size(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	request *rq = cls;
	(void)kind;
	rq->headers += strlen(key) + (value ? strlen(value) : 0);
	return MHD_YES;
}

enum MHD_Result serve_handle(void *cls, struct MHD_Connection *conn, const char *url,
                             const char *method, const char *version, const char *upload,
                             size_t *upload_size, void **con_cls)
{
	serve_state *st = cls;
	request *rq = *con_cls;
	(void)version;
	if (!rq) {
		/* First call: headers only. A POST gets a form parser; others no body. */
		if (!(rq = calloc(1, sizeof(*rq))))
			return MHD_NO;
		*con_cls = rq;
		MHD_get_connection_values(conn, MHD_HEADER_KIND, header_size, rq);
		if (strcmp(method, "POST") == 0) {
			rq->pp = MHD_create_post_processor(conn, 4096, post_iter, rq);
			if (!rq->pp)
				rq->f.unknown = 1; /* not a urlencoded form: refused as a bad form */
		}
		return MHD_YES;
	}
	if (*upload_size) {
		rq->body += *upload_size;
		if (rq->body > SERVE_MAX_BODY)
			rq->too_big = 1;
		else if (rq->pp && MHD_post_process(rq->pp, upload, *upload_size) != MHD_YES && !rq->f.too_long)
			rq->f.unknown = 1;
		*upload_size = 0;
		return MHD_YES;
	}
	pthread_rwlock_rdlock(&st->lock);
	enum MHD_Result ret = route(st, conn, url, method, rq);
	pthread_rwlock_unlock(&st->lock);
	return ret;
}

void serve_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                     enum MHD_RequestTerminationCode toe)
{
	request *rq = *con_cls;
	(void)cls;
	(void)conn;
	(void)toe;
	if (!rq)
		return;
	if (rq->pp)
		MHD_destroy_post_processor(rq->pp);
	/* Form values (a break-glass reason, an NHS number) are wiped. */
	memset(&rq->f, 0, sizeof(rq->f));
	free(rq);
	*con_cls = NULL;
}
