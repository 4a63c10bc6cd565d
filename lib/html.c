/* HTML for people: escaper, page shell, stylesheet, NHS display formats. */
#include "mcr/html.h"
#include "mcr/error.h"
#include "mcr/fs.h"

#include <stdio.h>
#include <string.h>

int mcr_html_escape(mcr_buf *out, const char *s)
{
	if (!s)
		return 0;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		int rc;
		switch (c) {
		case '&': rc = mcr_buf_puts(out, "&amp;"); break;
		case '<': rc = mcr_buf_puts(out, "&lt;"); break;
		case '>': rc = mcr_buf_puts(out, "&gt;"); break;
		case '"': rc = mcr_buf_puts(out, "&quot;"); break;
		case '\'': rc = mcr_buf_puts(out, "&#39;"); break;
		default:
			if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f)
				rc = 0;
			else
				rc = mcr_buf_putc(out, (char)c);
		}
		if (rc)
			return MCR_ENOMEM;
	}
	return 0;
}

/*
 * One stylesheet for every page. NHS colours; text contrast at least 4.5:1 (the
 * lightest text, #4c6272 on white, is 6.2:1); a visible focus ring for keyboard
 * users; nothing wider than the window: long words wrap, wide tables scroll
 * inside their own box, the chart scales down.
 */
static const char css[] =
	"*{box-sizing:border-box}\n"
	"body{margin:0;font-family:Arial,'Helvetica Neue',Helvetica,sans-serif;font-size:1rem;"
	"line-height:1.45;color:#212b32;background:#f0f4f5}\n"
	"a{color:#005eb8}a:visited{color:#330072}a:hover{color:#7c2855}\n"
	"a:focus,button:focus,input:focus,textarea:focus,.table-wrap:focus{outline:4px solid #ffeb3b;"
	"outline-offset:0;box-shadow:0 0 0 2px #212b32}\n"
	".skip{position:absolute;left:-999rem}.skip:focus{position:static;display:block;background:#ffeb3b;"
	"color:#212b32;padding:.5rem 1rem}\n"
	".top{background:#005eb8;color:#fff;padding:.5rem 1rem;display:flex;flex-wrap:wrap;"
	"justify-content:space-between;align-items:center;gap:.25rem 1.5rem}\n"
	".top p{margin:0}.service{font-weight:bold;font-size:1.15rem}\n"
	".tag{display:inline-block;border:2px solid #fff;padding:0 .4em;margin-left:.6em;font-size:.8rem;"
	"letter-spacing:.05em;text-transform:uppercase;vertical-align:middle}\n"
	".wrap{max-width:75rem;margin:0 auto;padding:0 1rem 2rem}\n"
	".patient{background:#fff;border-bottom:4px solid #005eb8;padding:.6rem 1rem}\n"
	".patient h1{font-size:1.6rem;margin:0 0 .2rem;overflow-wrap:anywhere}\n"
	".patient dl{display:flex;flex-wrap:wrap;gap:.2rem 2rem;margin:0}\n"
	".patient dl div{display:flex;gap:.4em}.patient dt{color:#4c6272}"
	".patient dd{margin:0;font-weight:bold;white-space:nowrap}\n"
	".meta{margin:.75rem 0;font-size:.9rem;color:#4c6272}.meta p{margin:.15rem 0;overflow-wrap:anywhere}\n"
	".warnings{margin:1rem 0}\n"
	".warning{background:#fff9c4;border-left:10px solid #ffb81c;padding:.6rem 1rem;margin:.5rem 0;"
	"overflow-wrap:anywhere}\n"
	".warning.objection{background:#fde2e1;border-left-color:#d5281b}\n"
	".warning .label{font-weight:bold;margin:0 .4em 0 0}.warning ul{margin:.3rem 0 0;padding-left:1.3rem}\n"
	".top form.end{margin:0}.top button{margin:0;box-shadow:none;border:2px solid #fff;background:#003087}\n"
	"nav.sections{margin:1rem 0}nav.sections h2{font-size:1rem;margin:0 0 .3rem}\n"
	"nav.sections ul,nav.ig ul{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:.4rem}\n"
	"nav.sections a,nav.ig a{display:inline-block;padding:.35rem .7rem;background:#fff;"
	"border:1px solid #768692;text-decoration:none}\n"
	"nav.ig{background:#fff;padding:.5rem 1rem;border-bottom:1px solid #d8dde0}\n"
	"nav.ig a[aria-current]{background:#005eb8;color:#fff;border-color:#005eb8}\n"
	"section.rs{background:#fff;margin:1rem 0;border:1px solid #d8dde0}\n"
	"section.rs>h2{background:#005eb8;color:#fff;margin:0;padding:.45rem 1rem;font-size:1.2rem}\n"
	"section.rs.allergies>h2{background:#d5281b}\n"
	".section-note{margin:.4rem 1rem;color:#4c6272;font-size:.9rem}\n"
	"ol.items{list-style:none;margin:0;padding:0}\n"
	"li.item{display:grid;grid-template-columns:9.5rem minmax(0,1fr);gap:0 1rem;padding:.55rem 1rem;"
	"border-top:1px solid #e8edee}\n"
	"@media (max-width:40rem){li.item{grid-template-columns:minmax(0,1fr)}}\n"
	".item .date{font-weight:bold;white-space:nowrap}.item .what{min-width:0;overflow-wrap:anywhere}\n"
	".item p.main{margin:0}.display{font-weight:bold;font-size:1.05rem}.code,.status{color:#4c6272;font-size:.9rem;margin-left:.5em}\n"
	".severity{display:inline-block;margin-left:.6em;padding:0 .45em;font-weight:bold;"
	"border:2px solid #212b32;text-transform:uppercase;font-size:.85rem}\n"
	".severity.high{background:#d5281b;border-color:#d5281b;color:#fff}\n"
	"dl.details{margin:.25rem 0;display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.05rem .8rem}\n"
	"dl.details dt{color:#4c6272}dl.details dd{margin:0;overflow-wrap:anywhere}\n"
	".src{color:#4c6272;font-size:.875rem;margin:.2rem 0 0}\n"
	".folded{font-size:.875rem;margin:.2rem 0 0}\n"
	".none{margin:0;padding:.55rem 1rem;font-style:italic;border-top:1px solid #e8edee}\n"
	".withheld{margin:0;padding:.5rem 1rem;background:#f0f4f5;border-top:1px solid #d8dde0}\n"
	".print-notice{display:none}\n"
	"main.ig,main.form,main.refusal{background:#fff;padding:1rem 1.25rem;margin-top:1rem;border:1px solid #d8dde0}\n"
	"main h1{font-size:1.6rem;margin:.2rem 0 .6rem}main h2{font-size:1.2rem;margin:1.4rem 0 .4rem}\n"
	".table-wrap{max-width:100%;overflow-x:auto;margin:.5rem 0}\n"
	"table{border-collapse:collapse;font-size:.9rem}\n"
	"th,td{border:1px solid #d8dde0;padding:.3rem .6rem;text-align:left;vertical-align:top;"
	"white-space:nowrap}\n"
	"td.prose{white-space:normal;min-width:14rem;max-width:30rem;overflow-wrap:anywhere}\n"
	"th{background:#f0f4f5}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\n"
	"td.none{color:#4c6272;font-style:italic}\n"
	".st-ok,.st-shown,.st-chainintact{background:#e6f4ea}\n"
	".st-stale,.st-rejected,.st-denied,.st-held{background:#fff4d6}\n"
	".st-failed,.st-never,.st-selfaccess{background:#fde2e1}\n"
	"p.note{margin:.2rem 0}p.doc-title{font-weight:bold;font-size:1.1rem;margin:.8rem 0 .3rem}\n"
	"form.end{margin:1.5rem 0 0}\n"
	"svg{max-width:100%;height:auto}svg text{font-family:Arial,sans-serif;font-size:12px}\n"
	".downloads{margin:1rem 0}\n"
	"form.period{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:flex-end;margin:.5rem 0}\n"
	"form.period label{display:block;font-weight:bold}\n"
	"fieldset{border:0;padding:0;margin:0 0 1rem}legend{font-weight:bold;font-size:1.2rem;margin-bottom:.4rem}\n"
	".radio{margin:.3rem 0}.radio label{margin-left:.4em}\n"
	"input[type=text],input[type=date],textarea{font:inherit;border:2px solid #4c6272;padding:.3rem;"
	"max-width:100%}\n"
	"textarea{width:40rem;height:5rem;display:block}\n"
	"label.block{display:block;font-weight:bold;margin:.5rem 0 .2rem}\n"
	".hint{color:#4c6272;margin:.1rem 0 .4rem}\n"
	"button{font:inherit;font-weight:bold;background:#007f3b;color:#fff;border:0;padding:.55rem 1.1rem;"
	"box-shadow:0 4px 0 #00401e;cursor:pointer;margin:.3rem 0 .6rem}\n"
	"button.danger{background:#d5281b;box-shadow:0 4px 0 #6b140e}\n"
	".or{border-top:1px solid #d8dde0;margin-top:1.5rem;padding-top:1rem}\n"
	"@media print{.screen{display:none!important}.print-notice{display:block!important;"
	"font-size:1.3rem;padding:2rem}}\n";

const char *mcr_html_css(void)
{
	return css;
}

/* A class name: letters, digits and '-' only, so a caller's word cannot break out. */
static int put_class(mcr_buf *out, const char *s)
{
	for (; s && *s; s++) {
		char c = *s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-')
			if (mcr_buf_putc(out, c))
				return MCR_ENOMEM;
	}
	return 0;
}

int mcr_html_page_begin(mcr_buf *out, const mcr_html_page *p)
{
	int rc = mcr_buf_puts(out, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
	if (!rc && !p->served)
		rc = mcr_buf_puts(out, "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src "
		                       "'none'; style-src 'unsafe-inline'\">\n");
	if (!rc)
		rc = mcr_buf_puts(out, "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
		                       "<meta name=\"robots\" content=\"noindex, nofollow\">\n<title>");
	if (!rc)
		rc = mcr_html_escape(out, p->title);
	if (!rc)
		rc = mcr_buf_puts(out, "</title>\n");
	if (!rc && p->refresh) {
		rc = mcr_buf_puts(out, "<meta http-equiv=\"refresh\" content=\"0; url=");
		if (!rc)
			rc = mcr_html_escape(out, p->refresh);
		if (!rc)
			rc = mcr_buf_puts(out, "\">\n");
	}
	if (!rc && p->served)
		rc = mcr_buf_puts(out, "<link rel=\"stylesheet\" href=\"" MCR_HTML_CSS_PATH "\">\n");
	else if (!rc)
		rc = mcr_buf_printf(out, "<style>\n%s</style>\n", css);
	if (!rc)
		rc = mcr_buf_puts(out, "</head>\n<body class=\"");
	if (!rc)
		rc = put_class(out, p->kind);
	if (!rc)
		rc = mcr_buf_puts(out, "\">\n");
	if (!rc && p->view_only)
		rc = mcr_buf_puts(out, "<p class=\"print-notice\">Printing is disabled: the shared care record "
		                       "is view only.</p>\n<div class=\"screen\">\n");
	return rc ? MCR_ENOMEM : 0;
}

int mcr_html_page_end(mcr_buf *out, const mcr_html_page *p)
{
	if (p->view_only && mcr_buf_puts(out, "</div>\n"))
		return MCR_ENOMEM;
	return mcr_buf_puts(out, "</body>\n</html>\n") ? MCR_ENOMEM : 0;
}

/* ---- display formats ------------------------------------------------------- */

static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

static int all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* The instant British Summer Time starts (month 3) or ends (month 10) in year y:
 * 01:00 UTC on the last Sunday of the month. */
static time_t bst_edge(int y, int month)
{
	struct tm tm = { 0 };
	tm.tm_year = y - 1900;
	tm.tm_mon = month - 1;
	tm.tm_mday = 31;
	tm.tm_hour = 1;
	time_t t = timegm(&tm);
	struct tm back;
	gmtime_r(&t, &back);
	return t - (time_t)back.tm_wday * 86400;
}

const char *mcr_html_date(const char *iso, char out[32])
{
	size_t n = iso ? strlen(iso) : 0;
	out[0] = '\0';
	if (!iso)
		return out;
	if (n == 4 && all_digits(iso, 4)) {
		snprintf(out, 32, "%s", iso);
		return out;
	}
	int y = 0, m = 0;
	if (n >= 7 && all_digits(iso, 4) && iso[4] == '-' && all_digits(iso + 5, 2)) {
		y = (iso[0] - '0') * 1000 + (iso[1] - '0') * 100 + (iso[2] - '0') * 10 + (iso[3] - '0');
		m = (iso[5] - '0') * 10 + (iso[6] - '0');
	}
	if (m >= 1 && m <= 12 && n == 7) {
		snprintf(out, 32, "%s-%04d", months[m - 1], y);
		return out;
	}
	time_t t;
	if (m >= 1 && m <= 12 && n >= 10 && mcr_time_parse(iso, &t) == 0) {
		struct tm tm;
		if (n == 10) {
			gmtime_r(&t, &tm);
			snprintf(out, 32, "%02d-%s-%04d", tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900);
			return out;
		}
		gmtime_r(&t, &tm);
		int y0 = tm.tm_year + 1900;
		if (t >= bst_edge(y0, 3) && t < bst_edge(y0, 10))
			t += 3600;
		gmtime_r(&t, &tm);
		snprintf(out, 32, "%02d-%s-%04d %02d:%02d", tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
		         tm.tm_hour, tm.tm_min);
		return out;
	}
	snprintf(out, 32, "%s", iso);
	return out;
}

const char *mcr_html_age(const char *birth, time_t now, char out[16])
{
	time_t b;
	out[0] = '\0';
	if (!birth || strlen(birth) != 10 || mcr_time_parse(birth, &b) != 0 || b > now)
		return out;
	struct tm bt, nt;
	gmtime_r(&b, &bt);
	gmtime_r(&now, &nt);
	int months_old = (nt.tm_year - bt.tm_year) * 12 + (nt.tm_mon - bt.tm_mon);
	if (nt.tm_mday < bt.tm_mday)
		months_old--;
	if (months_old >= 24)
		snprintf(out, 16, "%dy", months_old / 12);
	else if (months_old >= 1)
		snprintf(out, 16, "%dm", months_old);
	else
		snprintf(out, 16, "%dd", (int)((now - b) / 86400 % 100));
	return out;
}

const char *mcr_html_nhs(const char *digits, char out[16])
{
	if (digits && strlen(digits) == 10 && all_digits(digits, 10))
		snprintf(out, 16, "%.3s %.3s %.4s", digits, digits + 3, digits + 6);
	else
		snprintf(out, 16, "%s", digits ? digits : "");
	return out;
}
