/* The care view rendered as text or HTML (include/mcr/view.h, docs/LOOKUP.md). */
#include "mcr/view.h"
#include "mcr/error.h"
#include "mcr/fs.h"
#include "mcr/html.h"

#include <stdio.h>
#include <string.h>

/* Output with a sticky error: after the first failure every call does nothing. */
typedef struct out {
	mcr_buf *b;
	int html;
	int rc;
} out;

/* Content: HTML-escaped, or for a terminal with control characters (C0, DEL,
 * C1) as '?' so stored content can never drive the terminal. */
static void put_text(out *o, const char *s)
{
	if (o->rc || !s)
		return;
	if (o->html) {
		o->rc = mcr_html_escape(o->b, s);
		return;
	}
	const unsigned char *p = (const unsigned char *)s;
	while (*p && !o->rc) {
		if (*p < 0x20 || *p == 0x7f) {
			o->rc = mcr_buf_putc(o->b, '?');
			p++;
		} else if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			o->rc = mcr_buf_putc(o->b, '?');
			p += 2;
		} else {
			o->rc = mcr_buf_putc(o->b, (char)*p);
			p++;
		}
	}
}

/* Markup (HTML) or layout (text), written as it is. */
static void put_raw(out *o, const char *s)
{
	if (!o->rc)
		o->rc = mcr_buf_puts(o->b, s);
}

static void put_num(out *o, long n)
{
	if (!o->rc)
		o->rc = mcr_buf_printf(o->b, "%ld", n);
}

/* A time in the view's style: ISO 8601 as stored in text, the NHS style in HTML. */
static void put_when(out *o, const char *iso)
{
	char d[32];
	put_text(o, o->html ? mcr_html_date(iso, d) : iso);
}

/* A value that may hold several lines (an OOH report's narrative): each line is
 * written on its own, so line breaks survive without a control character. */
static void put_lines(out *o, const char *value, const char *br)
{
	mcr_buf line = MCR_BUF_INIT;
	const char *p = value ? value : "";
	for (int first = 1; !o->rc; first = 0) {
		size_t n = strcspn(p, "\n");
		mcr_buf_reset(&line);
		if ((o->rc = mcr_buf_put(&line, p, n > 0 && p[n - 1] == '\r' ? n - 1 : n)))
			break;
		if (!first)
			put_raw(o, br);
		put_text(o, mcr_buf_cstr(&line));
		if (!p[n])
			break;
		p += n + 1;
	}
	mcr_buf_free(&line);
}

static void put_name(out *o, const char *given, const char *family)
{
	if (given) {
		put_text(o, given);
		if (family)
			put_raw(o, " ");
	}
	if (family)
		put_text(o, family);
	if (!given && !family)
		put_raw(o, "(name not shared)");
}

/* A UTC instant "2026-11-21T02:00:00Z" starts at p. */
static int instant_at(const char *p)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
	for (size_t i = 0; shape[i]; i++) {
		if (shape[i] == 'd' ? (p[i] < '0' || p[i] > '9') : p[i] != shape[i])
			return 0;
	}
	return 1;
}

/* A detail that is a date or a UTC instant and nothing else ("recorded"). */
static int is_date(const char *v)
{
	if (!v)
		return 0;
	size_t n = strlen(v);
	if (n == 20)
		return instant_at(v);
	return n == 10 && v[4] == '-' && v[7] == '-' && v[0] >= '0' && v[0] <= '9' && v[5] >= '0' &&
	       v[5] <= '1' && v[8] >= '0' && v[8] <= '3';
}

/* Prose (a warning's sentence): in HTML its instants take the view's date style. */
static void put_prose(out *o, const char *s)
{
	if (!o->html) {
		put_text(o, s);
		return;
	}
	mcr_buf chunk = MCR_BUF_INIT;
	const char *start = s;
	for (const char *p = s; !o->rc; p++) {
		if (*p && !instant_at(p))
			continue;
		mcr_buf_reset(&chunk);
		if ((o->rc = mcr_buf_put(&chunk, start, (size_t)(p - start))))
			break;
		put_text(o, mcr_buf_cstr(&chunk));
		if (!*p)
			break;
		char iso[21];
		memcpy(iso, p, 20);
		iso[20] = '\0';
		put_when(o, iso);
		p += 19;
		start = p + 1;
	}
	mcr_buf_free(&chunk);
}

/* The sentence of a warning (without the "! " or the box around it). */
static void warning_sentence(out *o, const mcr_view_warning *w)
{
	if (w->text) {
		put_prose(o, w->text);
		return;
	}
	switch (w->kind) {
	case MCR_VIEW_WARN_OBJECTION:
		put_raw(o, "This person has withdrawn consent to share their health record");
		if (w->when && *w->when) {
			put_raw(o, " (since ");
			put_when(o, w->when);
			put_raw(o, ")");
		}
		put_raw(o, ". No health information is shown.");
		return;
	case MCR_VIEW_WARN_NEVER:
		put_text(o, w->source_name);
		put_raw(o, " has not shared any data yet: its information is missing");
		return;
	case MCR_VIEW_WARN_REJECTED:
		put_text(o, w->source_name);
		put_raw(o, " data is stale: as of ");
		break;
	case MCR_VIEW_WARN_HELD:
	case MCR_VIEW_WARN_OLD:
	case MCR_VIEW_WARN_COUNT:
		put_text(o, w->source_name);
		put_raw(o, " data may be out of date: as of ");
		break;
	}
	if (w->when)
		put_when(o, w->when);
	else
		put_raw(o, "unknown");
	if (w->kind == MCR_VIEW_WARN_REJECTED)
		put_raw(o, "; latest extract rejected");
	else if (w->kind == MCR_VIEW_WARN_HELD)
		put_raw(o, "; its latest file is held for checking");
	else
		put_raw(o, ", older than its schedule allows");
}

static void basis_line(out *o, const mcr_view *v)
{
	put_text(o, v->basis);
}

static void sources_line(out *o, const mcr_view *v)
{
	for (size_t i = 0; i < v->nsources; i++) {
		const mcr_view_source *s = &v->sources[i];
		if (i)
			put_raw(o, "; ");
		put_text(o, s->name ? s->name : s->org);
		put_raw(o, " (");
		put_text(o, s->org);
		put_raw(o, ") as of ");
		if (s->as_of)
			put_when(o, s->as_of);
		else
			put_raw(o, "unknown");
	}
	if (!v->nsources)
		put_raw(o, "none");
}

static void source_of(out *o, const mcr_view_item *it)
{
	put_text(o, it->source_name ? it->source_name : it->source_org);
	put_raw(o, " (");
	put_text(o, it->source_org);
	put_raw(o, "), as of ");
	if (it->as_of)
		put_when(o, it->as_of);
	else
		put_raw(o, "unknown");
}

/* "SNOMED CT 91936005" and the status, each between its own markup. */
static void code_and_status(out *o, const mcr_view_item *it, const char *code_open,
                            const char *code_close, const char *status_open, const char *status_close)
{
	if (it->code) {
		put_raw(o, code_open);
		if (it->system) {
			put_text(o, it->system);
			put_raw(o, " ");
		}
		put_text(o, it->code);
		put_raw(o, code_close);
	}
	if (it->status) {
		put_raw(o, status_open);
		put_text(o, it->status);
		put_raw(o, status_close);
	}
}

/* ---- text ------------------------------------------------------------------ */

static const char complete_note[] =
	"Shows what partner organisations share; it may not be the complete record.";

static void text_detail(out *o, const char *name, const char *value)
{
	put_raw(o, "      ");
	put_text(o, name);
	put_raw(o, ": ");
	put_lines(o, value, "\n        ");
	put_raw(o, "\n");
}

static void text_item(out *o, const mcr_view_section *s, const mcr_view_item *it)
{
	put_raw(o, "  ");
	if (s->section != MCR_SECTION_DEMOGRAPHICS) {
		put_text(o, it->date ? it->date : "undated");
		put_raw(o, "  ");
		put_text(o, it->display ? it->display : "(no description)");
		code_and_status(o, it, "  (", ")", "  ", "");
	} else {
		put_text(o, it->display ? it->display : "(name not shared)");
	}
	put_raw(o, "\n");
	for (size_t k = 0; k < it->ndetails; k++)
		text_detail(o, it->details[k].name ? it->details[k].name : "detail", it->details[k].value);
	if (it->details_bad)
		text_detail(o, "details", "could not be read");
	put_raw(o, "      source: ");
	source_of(o, it);
	put_raw(o, "\n");
	if (it->repeats > 0) {
		put_raw(o, "      (recorded ");
		put_num(o, it->repeats + 1);
		put_raw(o, " times identically by this source; shown once)\n");
	}
}

static void text_section(out *o, const mcr_view_section *s)
{
	put_raw(o, "\n");
	put_text(o, mcr_section_title(s->section));
	put_raw(o, "\n  ");
	put_raw(o, complete_note);
	put_raw(o, "\n");
	if (s->not_shown) {
		put_raw(o, "  ");
		put_text(o, s->not_shown);
		put_raw(o, "\n");
		return;
	}
	for (size_t i = 0; i < s->nitems; i++)
		text_item(o, s, &s->items[i]);
	if (!s->nitems)
		put_raw(o, "  No items shared.\n");
	long n = s->withheld;
	if (n > 0) {
		put_raw(o, "  ");
		put_num(o, n);
		put_raw(o, n == 1 ? " item not shared by policy\n" : " items not shared by policy\n");
	}
}

int mcr_view_render_text(const mcr_view *v, mcr_buf *b)
{
	out o = { b, 0, 0 };
	char nhs[16];
	put_raw(&o, "Shared care record (view only)\n\nName:        ");
	if (v->person_shown && (v->given || v->family))
		put_name(&o, v->given, v->family);
	else
		put_raw(&o, "(not shown)");
	put_raw(&o, "\nBorn:        ");
	put_text(&o, v->person_shown && v->birth_date ? v->birth_date : "(not shown)");
	put_raw(&o, "\nNHS number:  ");
	put_raw(&o, mcr_html_nhs(v->nhs, nhs));
	put_raw(&o, "\nSources:     ");
	sources_line(&o, v);
	put_raw(&o, "\nViewed by:   ");
	put_text(&o, v->user);
	put_raw(&o, " (");
	put_text(&o, v->role);
	put_raw(&o, ", ");
	put_text(&o, v->org);
	put_raw(&o, ") at ");
	put_text(&o, v->at);
	put_raw(&o, "\nBasis:       ");
	basis_line(&o, v);
	put_raw(&o, "\n\n");
	for (size_t i = 0; i < v->nwarnings; i++) {
		put_raw(&o, "! ");
		warning_sentence(&o, &v->warnings[i]);
		put_raw(&o, "\n");
	}
	for (size_t i = 0; i < v->nsections; i++)
		text_section(&o, &v->sections[i]);
	return o.rc;
}

/* ---- HTML ------------------------------------------------------------------ */

/* Allergy details shown as a badge beside the allergy rather than in the list. */
static int is_severity(const mcr_view_detail *d)
{
	return d->name && d->value && *d->value &&
	       (strcmp(d->name, "severity") == 0 || strcmp(d->name, "criticality") == 0);
}

static int severity_high(const char *value)
{
	return strcmp(value, "severe") == 0 || strcmp(value, "high") == 0 ||
	       strcmp(value, "Severe") == 0 || strcmp(value, "High") == 0;
}

static void html_item(out *o, const mcr_view_section *s, const mcr_view_item *it)
{
	int allergy = s->section == MCR_SECTION_ALLERGIES;
	int person = s->section == MCR_SECTION_DEMOGRAPHICS;
	put_raw(o, "<li class=\"item\">");
	if (!person) {
		put_raw(o, "<span class=\"date\">");
		if (it->date)
			put_when(o, it->date);
		else
			put_raw(o, "Undated");
		put_raw(o, "</span>");
	} else {
		put_raw(o, "<span class=\"date\">From ");
		put_text(o, it->source_name ? it->source_name : it->source_org);
		put_raw(o, "</span>");
	}
	put_raw(o, "<div class=\"what\"><p class=\"main\"><span class=\"display\">");
	put_text(o, it->display ? it->display : person ? "(name not shared)" : "(no description)");
	put_raw(o, "</span>");
	if (allergy)
		for (size_t k = 0; k < it->ndetails; k++) {
			const mcr_view_detail *d = &it->details[k];
			if (!is_severity(d))
				continue;
			put_raw(o, severity_high(d->value) ? "<strong class=\"severity high\">"
			                                   : "<strong class=\"severity\">");
			put_text(o, d->name);
			put_raw(o, ": ");
			put_text(o, d->value);
			put_raw(o, "</strong>");
		}
	code_and_status(o, it, "<span class=\"code\">", "</span>", "<span class=\"status\">", "</span>");
	put_raw(o, "</p>\n");
	int any = it->details_bad;
	for (size_t k = 0; k < it->ndetails; k++)
		any |= !(allergy && is_severity(&it->details[k]));
	if (any) {
		put_raw(o, "<dl class=\"details\">");
		for (size_t k = 0; k < it->ndetails; k++) {
			const mcr_view_detail *d = &it->details[k];
			if (allergy && is_severity(d))
				continue;
			put_raw(o, "<dt>");
			put_text(o, d->name ? d->name : "detail");
			put_raw(o, "</dt><dd>");
			if (is_date(d->value))
				put_when(o, d->value);
			else
				put_lines(o, d->value, "<br>");
			put_raw(o, "</dd>");
		}
		if (it->details_bad)
			put_raw(o, "<dt>details</dt><dd>could not be read</dd>");
		put_raw(o, "</dl>\n");
	}
	put_raw(o, "<p class=\"src\">Source: ");
	source_of(o, it);
	put_raw(o, "</p>\n");
	if (it->repeats > 0) {
		put_raw(o, "<p class=\"folded\">Recorded ");
		put_num(o, it->repeats + 1);
		put_raw(o, " times identically by this source; shown once.</p>\n");
	}
	put_raw(o, "</div></li>\n");
}

static void html_section(out *o, const mcr_view_section *s)
{
	const char *name = mcr_section_name(s->section);
	put_raw(o, "<section class=\"rs ");
	put_raw(o, name);
	put_raw(o, "\" id=\"");
	put_raw(o, name);
	put_raw(o, "\" aria-labelledby=\"h-");
	put_raw(o, name);
	put_raw(o, "\">\n<h2 id=\"h-");
	put_raw(o, name);
	put_raw(o, "\">");
	put_text(o, mcr_section_title(s->section));
	put_raw(o, "</h2>\n<p class=\"section-note\">");
	put_raw(o, complete_note);
	put_raw(o, "</p>\n");
	if (s->not_shown) {
		put_raw(o, "<p class=\"none\">");
		put_text(o, s->not_shown);
		put_raw(o, "</p>\n</section>\n");
		return;
	}
	if (s->nitems) {
		put_raw(o, "<ol class=\"items\">\n");
		for (size_t i = 0; i < s->nitems; i++)
			html_item(o, s, &s->items[i]);
		put_raw(o, "</ol>\n");
	} else {
		put_raw(o, "<p class=\"none\">No items shared.</p>\n");
	}
	long n = s->withheld;
	if (n > 0) {
		put_raw(o, "<p class=\"withheld\">");
		put_num(o, n);
		put_raw(o, n == 1 ? " item not shared by policy" : " items not shared by policy");
		put_raw(o, ": excluded due to confidentiality, the person's preferences or the "
		           "organisation's sharing start date.</p>\n");
	}
	put_raw(o, "</section>\n");
}

/* HTML order: allergies first (safety), demographics' per-source details last
 * (the banner already shows who this is), the rest in vocabulary order. */
static int html_rank(mcr_section s)
{
	if (s == MCR_SECTION_ALLERGIES)
		return -1;
	if (s == MCR_SECTION_DEMOGRAPHICS)
		return MCR_SECTION_COUNT;
	return (int)s;
}

static void html_nav(out *o, const mcr_view *v)
{
	put_raw(o, "<nav class=\"sections\" aria-labelledby=\"nav-h\">\n<h2 id=\"nav-h\">Sections</h2>\n<ul>\n");
	for (int r = -1; r <= MCR_SECTION_COUNT; r++)
		for (size_t i = 0; i < v->nsections; i++) {
			const mcr_view_section *s = &v->sections[i];
			if (html_rank(s->section) != r)
				continue;
			put_raw(o, "<li><a href=\"#");
			put_raw(o, mcr_section_name(s->section));
			put_raw(o, "\">");
			put_text(o, mcr_section_title(s->section));
			if (!s->not_shown) {
				put_raw(o, " (");
				put_num(o, (long)s->nitems);
				put_raw(o, ")");
			}
			put_raw(o, "</a></li>\n");
		}
	put_raw(o, "</ul>\n</nav>\n");
}

static void html_banner(out *o, const mcr_view *v)
{
	char nhs[16], born[32], age[16];
	time_t now = 0;
	put_raw(o, "<div class=\"patient\" role=\"region\" aria-label=\"Patient\">\n<h1>");
	if (v->person_shown && (v->given || v->family)) {
		put_name(o, v->given, v->family);
	} else {
		put_raw(o, "Name not shown");
	}
	put_raw(o, "</h1>\n<dl>\n<div><dt>Born</dt><dd>");
	if (v->person_shown && v->birth_date) {
		put_text(o, mcr_html_date(v->birth_date, born));
		if (!v->at || mcr_time_parse(v->at, &now) != 0)
			now = mcr_time_now();
		if (*mcr_html_age(v->birth_date, now, age)) {
			put_raw(o, " (");
			put_raw(o, age);
			put_raw(o, ")");
		}
	} else {
		put_raw(o, "Not shown");
	}
	put_raw(o, "</dd></div>\n<div><dt>Gender</dt><dd>");
	if (v->person_shown && v->gender && *v->gender) {
		char g[2] = { v->gender[0], '\0' };
		if (g[0] >= 'a' && g[0] <= 'z')
			g[0] = (char)(g[0] - 'a' + 'A');
		put_text(o, g);
		put_text(o, v->gender + 1);
	} else {
		put_raw(o, "Not shown");
	}
	put_raw(o, "</dd></div>\n<div><dt>NHS number</dt><dd>");
	put_raw(o, mcr_html_nhs(v->nhs, nhs));
	put_raw(o, "</dd></div>\n</dl>\n</div>\n");
}

/* Warnings before anything else: an objection in its own red box, then the
 * sources' warnings in one box as a list (kind order), so a region with several
 * late sources does not push the record off the first screen. */
static void html_warnings(out *o, const mcr_view *v)
{
	size_t nsources = 0;
	put_raw(o, "<div class=\"warnings\" role=\"alert\">\n");
	for (size_t i = 0; i < v->nwarnings; i++) {
		const mcr_view_warning *w = &v->warnings[i];
		if (w->kind != MCR_VIEW_WARN_OBJECTION) {
			nsources++;
			continue;
		}
		put_raw(o, "<p class=\"warning objection\"><span class=\"label\">Warning:</span>");
		warning_sentence(o, w);
		put_raw(o, "</p>\n");
	}
	if (nsources) {
		put_raw(o, "<div class=\"warning\"><p class=\"label\">Warning: information from ");
		put_raw(o, nsources == 1 ? "this source" : "these sources");
		put_raw(o, " may be out of date or missing</p>\n<ul>\n");
		for (int k = MCR_VIEW_WARN_OBJECTION + 1; k < MCR_VIEW_WARN_COUNT; k++)
			for (size_t i = 0; i < v->nwarnings; i++) {
				if ((int)v->warnings[i].kind != k)
					continue;
				put_raw(o, "<li>");
				warning_sentence(o, &v->warnings[i]);
				put_raw(o, "</li>\n");
			}
		put_raw(o, "</ul>\n</div>\n");
	}
	put_raw(o, "</div>\n");
}

int mcr_view_render_html(const mcr_view *v, const mcr_view_html *how, mcr_buf *b)
{
	out o = { b, 1, 0 };
	mcr_html_page page = { "Shared care record (view only)", how && how->served, "care", 1, NULL };
	o.rc = mcr_html_page_begin(b, &page);
	put_raw(&o, "<a class=\"skip\" href=\"#record\">Skip to the record</a>\n"
	            "<header class=\"top\">\n<p class=\"service\">Shared care record"
	            "<span class=\"tag\">View only</span></p>\n<p class=\"viewer\">Viewed by ");
	put_text(&o, v->user);
	put_raw(&o, " (");
	put_text(&o, v->role);
	put_raw(&o, ", ");
	put_text(&o, v->org);
	put_raw(&o, ") at ");
	put_when(&o, v->at);
	put_raw(&o, "</p>\n");
	if (how && how->served && how->nav_html)
		put_raw(&o, how->nav_html);
	put_raw(&o, "</header>\n");
	html_banner(&o, v);
	put_raw(&o, "<div class=\"wrap\">\n");
	if (v->nwarnings)
		html_warnings(&o, v);
	put_raw(&o, "<div class=\"meta\">\n<p><strong>Basis:</strong> ");
	basis_line(&o, v);
	put_raw(&o, "</p>\n<p><strong>Sources:</strong> ");
	sources_line(&o, v);
	put_raw(&o, "</p>\n</div>\n");
	html_nav(&o, v);
	put_raw(&o, "<main id=\"record\">\n");
	for (int r = -1; r <= MCR_SECTION_COUNT; r++)
		for (size_t i = 0; i < v->nsections; i++)
			if (html_rank(v->sections[i].section) == r)
				html_section(&o, &v->sections[i]);
	put_raw(&o, "</main>\n</div>\n");
	if (!o.rc)
		o.rc = mcr_html_page_end(b, &page);
	return o.rc;
}

/* ---- folding identical entries ---------------------------------------------- */

static int same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int same_item(const mcr_view_item *a, const mcr_view_item *b)
{
	if (!same(a->source_org, b->source_org) || !same(a->date, b->date) ||
	    !same(a->display, b->display) || !same(a->system, b->system) || !same(a->code, b->code) ||
	    !same(a->status, b->status) || a->ndetails != b->ndetails || a->details_bad != b->details_bad)
		return 0;
	for (size_t k = 0; k < a->ndetails; k++)
		if (!same(a->details[k].name, b->details[k].name) || !same(a->details[k].value, b->details[k].value))
			return 0;
	return 1;
}

void mcr_view_fold(mcr_view_item *items, size_t *n)
{
	size_t kept = 0;
	for (size_t i = 0; i < *n; i++) {
		size_t j = 0;
		/* Items come sorted by date: an identical one is among the kept ones of
		 * the same date, so the scan stays short. */
		for (j = kept; j > 0; j--) {
			if (!same(items[j - 1].date, items[i].date))
				break;
			if (same_item(&items[j - 1], &items[i]))
				break;
		}
		if (j > 0 && same_item(&items[j - 1], &items[i])) {
			items[j - 1].repeats += 1 + items[i].repeats;
			continue;
		}
		items[kept++] = items[i];
	}
	*n = kept;
}
