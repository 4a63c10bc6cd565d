/*
 * HTML for people: the one escaper, the page shell every page shares (the care
 * view, the IG reports, the service's forms and refusals), its stylesheet, and
 * the NHS display style of dates, ages and NHS numbers.
 *
 * Pages hold no script, load nothing from elsewhere and work without
 * JavaScript. A page is either self-contained (a file written by mcr-lookup or
 * mcr-report: the stylesheet inline, a meta Content-Security-Policy allowing only
 * that) or served (mcr-serve: the stylesheet linked from MCR_HTML_CSS_PATH, which
 * the server serves from mcr_html_css(), so its CSP needs only style-src 'self').
 * Everything here is pure and thread-safe; out buffers are the caller's.
 */
#ifndef MCR_HTML_H
#define MCR_HTML_H

#include <stddef.h>
#include <time.h>

#include "mcr/buf.h"

/* Where a served page links its stylesheet (mcr-serve answers it with mcr_html_css()). */
#define MCR_HTML_CSS_PATH "/static/mcr.css"

/* Append s with & < > " ' escaped; control characters other than tab and newline
 * are dropped. NULL appends nothing. 0 or MCR_ENOMEM. */
int mcr_html_escape(mcr_buf *out, const char *s);

/* The stylesheet of every page (static text, NUL-terminated). */
const char *mcr_html_css(void);

typedef struct mcr_html_page {
	const char *title;    /* <title>; escaped */
	int served;           /* 0: self-contained (inline style); 1: links MCR_HTML_CSS_PATH */
	const char *kind;     /* body class, letters and '-' only ("care", "ig", "form", "refusal") */
	int view_only;        /* 1: printing shows only the "view only" notice (care record) */
	const char *refresh;  /* a path on this site to move on to at once (meta refresh), or NULL */
} mcr_html_page;

/* Append the document head and open <body> (and, with view_only, the print
 * notice and the wrapper printing hides). 0 or MCR_ENOMEM. */
int mcr_html_page_begin(mcr_buf *out, const mcr_html_page *p);

/* Close what mcr_html_page_begin opened. 0 or MCR_ENOMEM. */
int mcr_html_page_end(mcr_buf *out, const mcr_html_page *p);

/*
 * A date or time as the NHS shows it: "2019" -> "2019", "2019-06" -> "Jun-2019",
 * "2019-06-01" -> "01-Jun-2019", an instant -> "01-Jun-2019 10:30" in UK time
 * (GMT/BST). Anything else is copied as it is (truncated to fit). out >= 32
 * bytes. Returns out.
 */
const char *mcr_html_date(const char *iso, char out[32]);

/* Age on the day of now of a person born on birth ("YYYY-MM-DD"): "76y", "14m"
 * (under two years) or "9d" (under a month). "" when birth is not a full date
 * or is after now. out >= 16 bytes. Returns out. */
const char *mcr_html_age(const char *birth, time_t now, char out[16]);

/* Ten digits as "999 000 0018" (out >= 13 bytes); anything else copied. Returns out. */
const char *mcr_html_nhs(const char *digits, char out[16]);

#endif
