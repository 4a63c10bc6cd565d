/* lib/html.c and lib/view.c: the escaper, NHS display formats, folding repeats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "mcr/fs.h"
#include "mcr/html.h"
#include "mcr/page.h"
#include "mcr/view.h"

static time_t at(const char *iso)
{
	time_t t = 0;
	assert_int_equal(mcr_time_parse(iso, &t), 0);
	return t;
}

static void escaper(void **state)
{
	(void)state;
	mcr_buf b = MCR_BUF_INIT;
	assert_int_equal(mcr_html_escape(&b, "<a href='x'>&\"\x1b[1m\x7f\tok\n"), 0);
	assert_string_equal(mcr_buf_cstr(&b), "&lt;a href=&#39;x&#39;&gt;&amp;&quot;[1m\tok\n");
	assert_int_equal(mcr_html_escape(&b, NULL), 0);
	mcr_buf_free(&b);
}

static void nhs_dates(void **state)
{
	(void)state;
	char d[32];
	assert_string_equal(mcr_html_date("1945-11-28", d), "28-Nov-1945");
	assert_string_equal(mcr_html_date("2010-05", d), "May-2010");
	assert_string_equal(mcr_html_date("2010", d), "2010");
	/* Instants in UK time: GMT in winter, BST (UTC+1) in summer. */
	assert_string_equal(mcr_html_date("2026-11-21T02:00:00Z", d), "21-Nov-2026 02:00");
	assert_string_equal(mcr_html_date("2025-07-01T23:30:00Z", d), "02-Jul-2025 00:30");
	assert_string_equal(mcr_html_date("2025-07-01T23:30:00+02:00", d), "01-Jul-2025 22:30");
	/* BST 2026: 29 March 01:00 UTC to 25 October 01:00 UTC. */
	assert_string_equal(mcr_html_date("2026-03-29T00:59:00Z", d), "29-Mar-2026 00:59");
	assert_string_equal(mcr_html_date("2026-03-29T01:00:00Z", d), "29-Mar-2026 02:00");
	assert_string_equal(mcr_html_date("2026-10-25T00:59:00Z", d), "25-Oct-2026 01:59");
	assert_string_equal(mcr_html_date("2026-10-25T01:00:00Z", d), "25-Oct-2026 01:00");
	/* Not a date: shown as given, never invented. */
	assert_string_equal(mcr_html_date("2023-02-30", d), "2023-02-30");
	assert_string_equal(mcr_html_date("soon", d), "soon");
	assert_string_equal(mcr_html_date(NULL, d), "");
}

static void ages_and_numbers(void **state)
{
	(void)state;
	char a[16], n[16];
	assert_string_equal(mcr_html_age("1945-11-28", at("2026-11-28T00:00:00Z"), a), "81y");
	assert_string_equal(mcr_html_age("1945-11-28", at("2026-11-27T23:59:59Z"), a), "80y");
	assert_string_equal(mcr_html_age("2025-09-15", at("2026-11-28T09:00:00Z"), a), "14m");
	assert_string_equal(mcr_html_age("2026-11-20", at("2026-11-28T09:00:00Z"), a), "8d");
	assert_string_equal(mcr_html_age("2027-01-01", at("2026-11-28T09:00:00Z"), a), "");
	assert_string_equal(mcr_html_age("1945", at("2026-11-28T09:00:00Z"), a), "");
	assert_string_equal(mcr_html_nhs("9990000018", n), "999 000 0018");
	assert_string_equal(mcr_html_nhs("12345", n), "12345");
}

static void identical_entries_fold(void **state)
{
	(void)state;
	mcr_view_detail d1[] = { { "reaction", "Rash" } }, d2[] = { { "reaction", "Rash" } };
	mcr_view_detail d3[] = { { "reaction", "Hives" } };
	mcr_view_item it[] = {
		{ .date = "2021-03-04", .display = "Amoxicillin allergy", .details = d1, .ndetails = 1, .source_org = "A81001" },
		{ .date = "2021-03-04", .display = "Amoxicillin allergy", .details = d3, .ndetails = 1, .source_org = "A81001" },
		{ .date = "2021-03-04", .display = "Amoxicillin allergy", .details = d2, .ndetails = 1, .source_org = "A81001" },
		{ .date = "2021-03-04", .display = "Amoxicillin allergy", .details = d2, .ndetails = 1, .source_org = "A81002" },
		{ .date = "2019-01-01", .display = "Amoxicillin allergy", .details = d1, .ndetails = 1, .source_org = "A81001" },
		{ .date = "2021-03-04", .display = "Amoxicillin allergy", .details = d1, .ndetails = 1, .source_org = "A81001" },
	};
	size_t n = sizeof(it) / sizeof(it[0]);
	mcr_view_fold(it, &n);
	/* Different details, another source, another date: kept. The last one is
	 * out of date order, so it is not folded across the 2019 entry. */
	assert_int_equal(n, 5);
	assert_int_equal(it[0].repeats, 1);
	assert_ptr_equal(it[1].details, d3);
	assert_string_equal(it[2].source_org, "A81002");
	assert_string_equal(it[3].date, "2019-01-01");
}

/* No script, nothing loaded but the service's own stylesheet, every form with
 * the session's CSRF token (escaped), posting to the service itself. */
static void served_page_rules(const char *h, int forms)
{
	assert_null(strstr(h, "<script"));
	assert_null(strstr(h, "http:"));
	assert_null(strstr(h, "https:"));
	assert_null(strstr(h, "style="));
	assert_non_null(strstr(h, "<link rel=\"stylesheet\" href=\"/static/mcr.css\">"));
	assert_null(strstr(h, "<style>"));
	int n = 0;
	for (const char *f = strstr(h, "<form"); f; f = strstr(f + 1, "<form")) {
		const char *end = strstr(f, "</form>");
		assert_non_null(end);
		const char *post = strstr(f, "method=\"post\"");
		if (post && post < strchr(f, '>')) {
			const char *t = strstr(f, "name=\"csrf\" value=\"t&lt;1&gt;\"");
			assert_true(t && t < end);
		}
		n++;
	}
	assert_int_equal(n, forms);
}

static void service_pages(void **state)
{
	(void)state;
	mcr_buf b = MCR_BUF_INIT;
	mcr_page_session s = { "asmith", "clinician", "A81001", "t<1>", 1 };
	assert_int_equal(mcr_page_consent(&b, &s, "9990000018", 1), 0);
	const char *h = mcr_buf_cstr(&b);
	served_page_rules(h, 3); /* consent, break glass, end session */
	assert_non_null(strstr(h, "<form method=\"post\" action=\"/consent\">"));
	assert_non_null(strstr(h, "name=\"choice\" value=\"given\""));
	assert_non_null(strstr(h, "name=\"choice\" value=\"refused\""));
	assert_non_null(strstr(h, "<form method=\"post\" action=\"/break-glass\">"));
	assert_non_null(strstr(h, "<label class=\"block\" for=\"reason\">"));
	assert_non_null(strstr(h, "NHS number <strong>999 000 0018</strong>"));
	assert_non_null(strstr(h, "Signed in as asmith (clinician, A81001)"));

	mcr_buf_reset(&b);
	mcr_page_session none = { NULL, NULL, NULL, NULL, 1 };
	assert_int_equal(mcr_page_message(&b, &none, "Launch refused", "The token <has> expired."), 0);
	h = mcr_buf_cstr(&b);
	served_page_rules(h, 0);
	assert_non_null(strstr(h, "<h1>Launch refused</h1>\n<p>The token &lt;has&gt; expired.</p>"));
	assert_null(strstr(h, "Signed in"));

	mcr_buf_reset(&b);
	mcr_page_session ig = { "dpo", "ig-officer", "A81001", "t<1>", 1 };
	mcr_page_ig p = { MCR_PAGE_IG_BREAK_GLASS, "<p class=\"doc-title\">Break-glass</p>", NULL, NULL,
	                  "2026-11-01", "2026-11-30", "A81 001&x" };
	assert_int_equal(mcr_page_ig_render(&b, &ig, &p), 0);
	h = mcr_buf_cstr(&b);
	served_page_rules(h, 2); /* the GET filter, end session */
	assert_non_null(strstr(h, "<a href=\"/ig/break-glass\" aria-current=\"page\">"));
	assert_non_null(strstr(h, "href=\"/ig/break-glass?format=csv&amp;org=A81%20001%26x&amp;from=2026-11-01&amp;to=2026-11-30\""));
	assert_non_null(strstr(h, "<p class=\"doc-title\">Break-glass</p>"));

	mcr_buf_reset(&b);
	mcr_page_ig idx = { MCR_PAGE_IG_INDEX, NULL, "999 000 0018", NULL, NULL, NULL, NULL };
	assert_int_equal(mcr_page_ig_render(&b, &ig, &idx), 0);
	h = mcr_buf_cstr(&b);
	served_page_rules(h, 2); /* access, end session */
	assert_non_null(strstr(h, "<form class=\"period\" method=\"post\" action=\"/ig/access\">"));
	assert_non_null(strstr(h, "href=\"/ig/coverage?format=csv\""));
	assert_non_null(strstr(h, "name=\"nhs\" value=\"999 000 0018\""));
	mcr_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(escaper),
		cmocka_unit_test(nhs_dates),
		cmocka_unit_test(ages_and_numbers),
		cmocka_unit_test(identical_entries_fold),
		cmocka_unit_test(service_pages),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
