/* The service's own small pages. No scripts, no third-party content; the
 * security headers come with every response (routes.c). */
#include "serve.h"

#include "mcr/error.h"

static const char head[] =
	"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	"<meta name=\"robots\" content=\"noindex, nofollow\">\n<title>";
static const char style[] =
	" - Shared care record</title>\n<style>\n"
	"body { font-family: sans-serif; margin: 1.5em; color: #111; max-width: 48em; }\n"
	"form { margin: 1em 0; padding: 0.8em; border: 1px solid #999; }\n"
	"button { font-size: 1em; margin: 0.3em 0.5em 0.3em 0; }\n"
	"textarea { width: 100%; }\n"
	"@media print { body * { display: none !important; } }\n"
	"</style>\n</head>\n<body>\n<main>\n";
static const char tail[] = "</main>\n</body>\n</html>\n";

int page_escape(mcr_buf *out, const char *s)
{
	int rc = 0;
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p && !rc; p++) {
		switch (*p) {
		case '&': rc = mcr_buf_puts(out, "&amp;"); break;
		case '<': rc = mcr_buf_puts(out, "&lt;"); break;
		case '>': rc = mcr_buf_puts(out, "&gt;"); break;
		case '"': rc = mcr_buf_puts(out, "&quot;"); break;
		case '\'': rc = mcr_buf_puts(out, "&#39;"); break;
		default: rc = mcr_buf_putc(out, *p < 0x20 || *p == 0x7f ? ' ' : (char)*p); break;
		}
	}
	return rc;
}

static int open_page(mcr_buf *out, const char *title)
{
	int rc = mcr_buf_puts(out, head);
	if (!rc)
		rc = page_escape(out, title);
	if (!rc)
		rc = mcr_buf_puts(out, style);
	if (!rc)
		rc = mcr_buf_puts(out, "<h1>");
	if (!rc)
		rc = page_escape(out, title);
	return rc ? rc : mcr_buf_puts(out, "</h1>\n");
}

static int csrf_field(mcr_buf *out, const char *csrf)
{
	int rc = mcr_buf_puts(out, "<input type=\"hidden\" name=\"csrf\" value=\"");
	if (!rc)
		rc = page_escape(out, csrf);
	return rc ? rc : mcr_buf_puts(out, "\">\n");
}

int page_message(mcr_buf *out, const char *title, const char *text)
{
	int rc = open_page(out, title);
	if (!rc)
		rc = mcr_buf_puts(out, "<p>");
	if (!rc)
		rc = page_escape(out, text);
	if (!rc)
		rc = mcr_buf_puts(out, "</p>\n");
	return rc ? rc : mcr_buf_puts(out, tail);
}

static int break_glass_form(mcr_buf *out, const char *csrf)
{
	int rc = mcr_buf_puts(out,
		"<form method=\"post\" action=\"/break-glass\">\n"
		"<p><strong>Emergency access without consent (break glass)</strong>: the reason is\n"
		"recorded and reported to the Caldicott Guardians of the organisations whose data\n"
		"you see.</p>\n");
	if (!rc)
		rc = csrf_field(out, csrf);
	return rc ? rc : mcr_buf_puts(out,
		"<p><label for=\"reason\">Reason</label><br>\n"
		"<textarea id=\"reason\" name=\"reason\" rows=\"3\" maxlength=\"499\" required></textarea></p>\n"
		"<button type=\"submit\">Break glass and view the record</button>\n</form>\n");
}

int page_consent(mcr_buf *out, const char *csrf, int offer_break_glass)
{
	int rc = open_page(out, "Consent to view the shared care record");
	if (!rc)
		rc = mcr_buf_puts(out,
			"<form method=\"post\" action=\"/consent\">\n"
			"<p>Has the person given their consent for you to view their shared care record now?</p>\n");
	if (!rc)
		rc = csrf_field(out, csrf);
	if (!rc)
		rc = mcr_buf_puts(out,
			"<button type=\"submit\" name=\"choice\" value=\"given\">Yes, consent given</button>\n"
			"<button type=\"submit\" name=\"choice\" value=\"refused\">No, consent refused</button>\n"
			"</form>\n");
	if (!rc && offer_break_glass)
		rc = break_glass_form(out, csrf);
	return rc ? rc : mcr_buf_puts(out, tail);
}

int page_break_glass(mcr_buf *out, const char *csrf, const char *why)
{
	int rc = open_page(out, "Access denied");
	if (!rc)
		rc = mcr_buf_puts(out, "<p>");
	if (!rc)
		rc = page_escape(out, why);
	if (!rc)
		rc = mcr_buf_puts(out, " This attempt is recorded.</p>\n");
	if (!rc)
		rc = break_glass_form(out, csrf);
	return rc ? rc : mcr_buf_puts(out, tail);
}

int page_ig_index(mcr_buf *out, const char *csrf)
{
	int rc = open_page(out, "Information governance");
	if (!rc)
		rc = mcr_buf_puts(out,
			"<ul>\n"
			"<li><a href=\"/ig/coverage\">Coverage</a> (<a href=\"/ig/coverage?format=csv\">CSV</a>)</li>\n"
			"<li><a href=\"/ig/break-glass\">Break-glass by data owner</a> (<a href=\"/ig/break-glass?format=csv\">CSV</a>)</li>\n"
			"<li><a href=\"/ig/loads\">Loads</a> (<a href=\"/ig/loads?format=csv\">CSV</a>)</li>\n"
			"<li><a href=\"/ig/verify-audit\">Audit verification</a> (<a href=\"/ig/verify-audit?format=csv\">CSV</a>)</li>\n"
			"</ul>\n"
			"<form method=\"post\" action=\"/ig/access\">\n<p><strong>Access by person or by user</strong></p>\n");
	if (!rc)
		rc = csrf_field(out, csrf);
	return rc ? rc : mcr_buf_printf(out, "%s%s",
		"<p><label>NHS number <input name=\"nhs\" autocomplete=\"off\"></label>\n"
		"or <label>user <input name=\"user\" autocomplete=\"off\"></label></p>\n"
		"<p><label>From <input name=\"from\" type=\"date\"></label>\n"
		"<label>to <input name=\"to\" type=\"date\"></label></p>\n"
		"<button type=\"submit\" name=\"format\" value=\"html\">Show</button>\n"
		"<button type=\"submit\" name=\"format\" value=\"csv\">Download CSV</button>\n</form>\n",
		tail);
}
