/* The service's own pages: consent, break glass, refusals, IG (include/mcr/page.h). */
#include "mcr/page.h"
#include "mcr/error.h"
#include "mcr/html.h"

#include <string.h>

typedef struct out {
	mcr_buf *b;
	int rc;
} out;

static void raw(out *o, const char *s)
{
	if (!o->rc)
		o->rc = mcr_buf_puts(o->b, s);
}

static void text(out *o, const char *s)
{
	if (!o->rc)
		o->rc = mcr_html_escape(o->b, s);
}

/* A query value: letters, digits and - _ . as they are, anything else %XX. */
static void query_value(out *o, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p && !o->rc; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '_' || *p == '.') {
			o->rc = mcr_buf_putc(o->b, (char)*p);
		} else {
			char e[4] = { '%', hex[*p >> 4], hex[*p & 15], '\0' };
			o->rc = mcr_buf_puts(o->b, e);
		}
	}
}

static void csrf_field(out *o, const mcr_page_session *s)
{
	raw(o, "<input type=\"hidden\" name=\"csrf\" value=\"");
	text(o, s->csrf);
	raw(o, "\">\n");
}

/* Open the page: shell, top bar (service, who is signed in, end session). */
static void open_page(out *o, const mcr_page_session *s, const char *title, const char *kind,
                      const char *service)
{
	mcr_html_page p = { title, s->served, kind, 0, NULL };
	if (!o->rc)
		o->rc = mcr_html_page_begin(o->b, &p);
	raw(o, "<a class=\"skip\" href=\"#main\">Skip to the content</a>\n<header class=\"top\">\n"
	       "<p class=\"service\">");
	text(o, service);
	raw(o, "</p>\n");
	if (s->user) {
		raw(o, "<p class=\"viewer\">Signed in as ");
		text(o, s->user);
		raw(o, " (");
		text(o, s->role);
		raw(o, ", ");
		text(o, s->org);
		raw(o, ")</p>\n");
	}
	raw(o, "</header>\n<div class=\"wrap\">\n");
}

static void end_session(out *o, const char *csrf)
{
	raw(o, "<form class=\"end\" method=\"post\" action=\"/logout\">\n"
	       "<input type=\"hidden\" name=\"csrf\" value=\"");
	text(o, csrf);
	raw(o, "\">\n<button type=\"submit\">End session</button>\n</form>\n");
}

int mcr_page_end_session(mcr_buf *b, const char *csrf)
{
	out o = { b, 0 };
	end_session(&o, csrf);
	return o.rc ? MCR_ENOMEM : 0;
}

int mcr_page_launched(mcr_buf *b, const char *to)
{
	out o = { b, 0 };
	mcr_html_page p = { "Opening the shared care record", 1, "refusal", 0, to };
	if (!o.rc)
		o.rc = mcr_html_page_begin(b, &p);
	raw(&o, "<div class=\"wrap\">\n<main id=\"main\" class=\"refusal\">\n<h1>Opening the shared care "
	        "record</h1>\n<p><a href=\"");
	text(&o, to);
	raw(&o, "\">Continue to the record</a></p>\n</main>\n</div>\n");
	if (!o.rc)
		o.rc = mcr_html_page_end(b, &p);
	return o.rc ? MCR_ENOMEM : 0;
}

static void close_page(out *o, const mcr_page_session *s)
{
	mcr_html_page p = { NULL, s->served, NULL, 0, NULL };
	if (s->csrf)
		end_session(o, s->csrf);
	raw(o, "</div>\n");
	if (!o->rc)
		o->rc = mcr_html_page_end(o->b, &p);
}

int mcr_page_message(mcr_buf *b, const mcr_page_session *s, const char *title, const char *msg)
{
	out o = { b, 0 };
	mcr_page_session none = { NULL, NULL, NULL, NULL, s ? s->served : 1 };
	if (!s)
		s = &none;
	open_page(&o, s, title, "refusal", "Shared care record");
	raw(&o, "<main id=\"main\" class=\"refusal\">\n<h1>");
	text(&o, title);
	raw(&o, "</h1>\n<p>");
	text(&o, msg);
	raw(&o, "</p>\n</main>\n");
	close_page(&o, s);
	return o.rc ? MCR_ENOMEM : 0;
}

static void break_glass_form(out *o, const mcr_page_session *s)
{
	raw(o, "<form method=\"post\" action=\"/break-glass\">\n<h2>Emergency access without consent "
	       "(break glass)</h2>\n<p>Only where the person's care needs it now and consent cannot be "
	       "asked. The reason is recorded and reported to the Caldicott Guardians of the "
	       "organisations whose data you see.</p>\n");
	csrf_field(o, s);
	raw(o, "<label class=\"block\" for=\"reason\">Reason for emergency access</label>\n"
	       "<p class=\"hint\" id=\"reason-hint\">For example: unconscious in the emergency department, "
	       "no history available.</p>\n"
	       "<textarea id=\"reason\" name=\"reason\" maxlength=\"499\" required "
	       "aria-describedby=\"reason-hint\"></textarea>\n"
	       "<button type=\"submit\" class=\"danger\">Break glass and view the record</button>\n</form>\n");
}

int mcr_page_consent(mcr_buf *b, const mcr_page_session *s, const char *nhs, int offer_break_glass)
{
	out o = { b, 0 };
	char n[16];
	open_page(&o, s, "Consent to view the shared care record", "form", "Shared care record");
	raw(&o, "<main id=\"main\" class=\"form\">\n<h1>Consent to view the shared care record</h1>\n");
	if (nhs) {
		raw(&o, "<p>NHS number <strong>");
		text(&o, mcr_html_nhs(nhs, n));
		raw(&o, "</strong>, the person open in your system.</p>\n");
	}
	raw(&o, "<form method=\"post\" action=\"/consent\">\n<fieldset>\n<legend>Has the person given "
	        "their consent for you to view their shared care record now?</legend>\n"
	        "<p class=\"hint\">Ask them. Their answer is recorded with your name.</p>\n");
	csrf_field(&o, s);
	raw(&o, "<button type=\"submit\" name=\"choice\" value=\"given\">Yes, consent given</button>\n"
	        "<button type=\"submit\" name=\"choice\" value=\"refused\" class=\"danger\">No, consent "
	        "refused</button>\n</fieldset>\n</form>\n");
	if (offer_break_glass) {
		raw(&o, "<div class=\"or\">\n");
		break_glass_form(&o, s);
		raw(&o, "</div>\n");
	}
	raw(&o, "</main>\n");
	close_page(&o, s);
	return o.rc ? MCR_ENOMEM : 0;
}

int mcr_page_break_glass(mcr_buf *b, const mcr_page_session *s, const char *why)
{
	out o = { b, 0 };
	open_page(&o, s, "Access denied", "form", "Shared care record");
	raw(&o, "<main id=\"main\" class=\"form\">\n<h1>Access denied</h1>\n<p>");
	text(&o, why);
	raw(&o, " This attempt is recorded.</p>\n<div class=\"or\">\n");
	break_glass_form(&o, s);
	raw(&o, "</div>\n</main>\n");
	close_page(&o, s);
	return o.rc ? MCR_ENOMEM : 0;
}

/* ---- IG ---------------------------------------------------------------------- */

static const struct {
	const char *label, *href, *csv;
} ig_pages[MCR_PAGE_IG_COUNT] = {
	[MCR_PAGE_IG_INDEX] = { "Reports", "/ig", NULL },
	[MCR_PAGE_IG_COVERAGE] = { "Coverage", "/ig/coverage", "/ig/coverage?format=csv" },
	[MCR_PAGE_IG_ACCESS] = { "Access by person or user", "/ig#access", NULL },
	[MCR_PAGE_IG_BREAK_GLASS] = { "Break-glass by data owner", "/ig/break-glass", "/ig/break-glass?format=csv" },
	[MCR_PAGE_IG_LOADS] = { "Loads", "/ig/loads", "/ig/loads?format=csv" },
	[MCR_PAGE_IG_VERIFY] = { "Audit verification", "/ig/verify-audit", "/ig/verify-audit?format=csv" },
};

static void input(out *o, const char *id, const char *label, const char *type, const char *value,
                  const char *extra)
{
	raw(o, "<div><label for=\"");
	raw(o, id);
	raw(o, "\">");
	raw(o, label);
	raw(o, "</label><input type=\"");
	raw(o, type);
	raw(o, "\" id=\"");
	raw(o, id);
	raw(o, "\" name=\"");
	raw(o, strchr(id, '-') ? strchr(id, '-') + 1 : id);
	raw(o, "\" value=\"");
	text(o, value ? value : "");
	raw(o, "\"");
	raw(o, extra);
	raw(o, "></div>\n");
}

static void access_form(out *o, const mcr_page_session *s, const mcr_page_ig *ig)
{
	raw(o, "<section id=\"access\" aria-labelledby=\"access-h\">\n<h2 id=\"access-h\">Access by person "
	       "or by user</h2>\n<p class=\"hint\">Every view of a record, allowed or not. Give an NHS "
	       "number or a user ID, and optionally a date range.</p>\n"
	       "<form class=\"period\" method=\"post\" action=\"/ig/access\">\n");
	csrf_field(o, s);
	input(o, "a-nhs", "NHS number", "text", ig->nhs, " autocomplete=\"off\" inputmode=\"numeric\" size=\"14\"");
	input(o, "a-user", "or user ID", "text", ig->user, " autocomplete=\"off\" size=\"14\"");
	input(o, "a-from", "From", "date", ig->from, "");
	input(o, "a-to", "To", "date", ig->to, "");
	raw(o, "<div><button type=\"submit\" name=\"format\" value=\"html\">Show</button>\n"
	       "<button type=\"submit\" name=\"format\" value=\"csv\">Download CSV</button></div>\n"
	       "</form>\n</section>\n");
}

/* The break-glass report's filter: data owner and dates (a GET: no personal data). */
static void break_glass_filter(out *o, const mcr_page_ig *ig)
{
	raw(o, "<form class=\"period\" method=\"get\" action=\"/ig/break-glass\">\n");
	input(o, "bg-org", "Data owner (ODS code)", "text", ig->org, " size=\"10\"");
	input(o, "bg-from", "From", "date", ig->from, "");
	input(o, "bg-to", "To", "date", ig->to, "");
	raw(o, "<div><button type=\"submit\">Show</button></div>\n</form>\n");
}

static void csv_link(out *o, const mcr_page_ig *ig)
{
	const char *csv = ig_pages[ig->report].csv;
	if (!csv)
		return;
	raw(o, "<p class=\"downloads\"><a href=\"");
	raw(o, csv);
	if (ig->report == MCR_PAGE_IG_BREAK_GLASS) {
		const char *names[] = { "org", "from", "to" };
		const char *values[] = { ig->org, ig->from, ig->to };
		for (int i = 0; i < 3; i++)
			if (values[i] && *values[i]) {
				raw(o, "&amp;");
				raw(o, names[i]);
				raw(o, "=");
				query_value(o, values[i]);
			}
	}
	raw(o, "\" download>Download this report as CSV</a></p>\n");
}

int mcr_page_ig_render(mcr_buf *b, const mcr_page_session *s, const mcr_page_ig *ig)
{
	out o = { b, 0 };
	int r = ig->report >= 0 && ig->report < MCR_PAGE_IG_COUNT ? (int)ig->report : MCR_PAGE_IG_INDEX;
	const char *title = r == MCR_PAGE_IG_INDEX ? "Information governance" : ig_pages[r].label;
	open_page(&o, s, title, "ig", "Shared care record: information governance");
	raw(&o, "<nav class=\"ig\" aria-label=\"Reports\">\n<ul>\n");
	for (int i = 0; i < MCR_PAGE_IG_COUNT; i++) {
		raw(&o, "<li><a href=\"");
		raw(&o, ig_pages[i].href);
		raw(&o, i == r ? "\" aria-current=\"page\">" : "\">");
		raw(&o, ig_pages[i].label);
		raw(&o, "</a></li>\n");
	}
	raw(&o, "</ul>\n</nav>\n<main id=\"main\" class=\"ig\">\n");
	if (r == MCR_PAGE_IG_INDEX) {
		raw(&o, "<h1>Information governance</h1>\n<p>Reports on what each organisation shares and "
		        "who looked at whose record. Each can be downloaded as CSV.</p>\n<ul>\n");
		for (int i = MCR_PAGE_IG_COVERAGE; i < MCR_PAGE_IG_COUNT; i++) {
			if (i == MCR_PAGE_IG_ACCESS)
				continue;
			raw(&o, "<li><a href=\"");
			raw(&o, ig_pages[i].href);
			raw(&o, "\">");
			raw(&o, ig_pages[i].label);
			raw(&o, "</a> (<a href=\"");
			raw(&o, ig_pages[i].csv);
			raw(&o, "\" download>CSV</a>)</li>\n");
		}
		raw(&o, "</ul>\n");
		access_form(&o, s, ig);
	} else {
		raw(&o, "<h1>");
		raw(&o, ig_pages[r].label);
		raw(&o, "</h1>\n");
		if (r == MCR_PAGE_IG_BREAK_GLASS)
			break_glass_filter(&o, ig);
		csv_link(&o, ig);
		raw(&o, ig->body_html ? ig->body_html : "");
		if (r == MCR_PAGE_IG_ACCESS)
			access_form(&o, s, ig);
	}
	raw(&o, "</main>\n");
	close_page(&o, s);
	return o.rc ? MCR_ENOMEM : 0;
}
