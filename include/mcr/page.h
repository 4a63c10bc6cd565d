/*
 * The Health link service's own pages (mcr-serve): consent at the point of care,
 * break glass, plain refusals, and the information governance pages around the
 * reports. Same shell and stylesheet as the care view (mcr/html.h); no script;
 * every form posts to the service itself and carries the hidden field "csrf"
 * with the value the caller gives (the session's token). Text is escaped here;
 * nothing a caller passes is markup unless the field says so.
 *
 * Routes and field names (the service answers them):
 *   POST /consent      csrf, choice=given|refused
 *   POST /break-glass  csrf, reason (1-499 characters)
 *   POST /logout       csrf
 *   GET  /record[?section=a,b]  the care view (mcr_lookup_render_html)
 *   POST /ig/access    csrf, nhs | user, from, to (YYYY-MM-DD), format=html|csv
 *   GET  /ig/<report>[?format=csv]  coverage, break-glass, loads, verify-audit
 * Pure functions; each appends one whole page to out: 0 or MCR_ENOMEM.
 */
#ifndef MCR_PAGE_H
#define MCR_PAGE_H

#include "mcr/buf.h"

/* Who is signed in (shown in the top bar) and the session's CSRF token. */
typedef struct mcr_page_session {
	const char *user, *role, *org; /* NULL user: nobody (a refusal before any session) */
	const char *csrf;              /* NULL: no forms (no end-session button) */
	int served;                    /* 1: stylesheet linked (mcr-serve); 0: self-contained */
} mcr_page_session;

/* A plain page: title and one paragraph (refusals 401/403/404/503, errors).
 * Say nothing about the person. */
int mcr_page_message(mcr_buf *out, const mcr_page_session *s, const char *title, const char *text);

/* Has the person consented to this view now (yes / no)? With offer_break_glass,
 * the emergency access form below it. nhs: the launch's person as 10 digits, to
 * confirm who is meant (it came from the user's own system), or NULL. */
int mcr_page_consent(mcr_buf *out, const mcr_page_session *s, const char *nhs, int offer_break_glass);

/* Access refused with why (no record data), and the break-glass form. */
int mcr_page_break_glass(mcr_buf *out, const mcr_page_session *s, const char *why);

/*
 * The answer to a good launch: the session cookie comes with it, and the page
 * moves on to `to` ("/record" or "/ig") by itself (a meta refresh; a link for
 * the rare browser that does not). Not a 303: a redirect that ends a navigation
 * begun on the host system's site is cross-site, so the browser would withhold
 * the new SameSite=Strict cookie from it; the refresh starts on this site.
 */
int mcr_page_launched(mcr_buf *out, const char *to);

/* The end-session form (POST /logout with the CSRF token) as markup, for the care
 * view's top bar (mcr_view_html.nav_html). */
int mcr_page_end_session(mcr_buf *out, const char *csrf);

/* The IG reports a page links to, in the order shown. */
typedef enum mcr_page_ig_report {
	MCR_PAGE_IG_INDEX,        /* /ig: the list, and the access form */
	MCR_PAGE_IG_COVERAGE,     /* /ig/coverage */
	MCR_PAGE_IG_ACCESS,       /* POST /ig/access */
	MCR_PAGE_IG_BREAK_GLASS,  /* /ig/break-glass */
	MCR_PAGE_IG_LOADS,        /* /ig/loads */
	MCR_PAGE_IG_VERIFY,       /* /ig/verify-audit */
	MCR_PAGE_IG_COUNT
} mcr_page_ig_report;

typedef struct mcr_page_ig {
	mcr_page_ig_report report; /* the page shown (highlighted in the navigation) */
	const char *body_html;     /* trusted: the report's content (mcr_report_doc in
	                            * MCR_REPORT_HTML_BODY); NULL on the index */
	/* The access form's values as last submitted (escaped), or NULL. */
	const char *nhs, *user, *from, *to;
	/* break-glass: query of the report shown, kept on its CSV link (escaped). */
	const char *org;
} mcr_page_ig;

/* An IG page: top bar, report navigation, the report with its CSV download,
 * and the access-by-person-or-user form with a date range. */
int mcr_page_ig_render(mcr_buf *out, const mcr_page_session *s, const mcr_page_ig *ig);

#endif
