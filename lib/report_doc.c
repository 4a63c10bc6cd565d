/* Report documents: notes, tables and a chart, rendered as text, CSV or HTML. */
#include "mcr/report.h"
#include "mcr/error.h"
#include "mcr/html.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum block_kind { BLOCK_NOTE, BLOCK_TABLE, BLOCK_CHART };

typedef struct block {
	enum block_kind kind;
	char *text;           /* note text, or table/chart heading (may be NULL) */
	/* table */
	size_t ncols;
	char **columns;
	uint64_t numeric, status;
	unsigned flags;
	char **cells;         /* nrows * ncols */
	size_t nrows, rowcap;
	/* chart */
	size_t nlabels, nseries;
	char **labels, **series;
	long *values;
} block;

struct mcr_report_doc {
	char *title;
	char *footer;         /* last line in every format, or NULL */
	block *blocks;
	size_t nblocks, cap;
	int table;            /* index of the latest table, -1 when none */
};

static char *dup_str(const char *s)
{
	size_t n = strlen(s ? s : "");
	char *p = malloc(n + 1);
	if (p) {
		memcpy(p, s ? s : "", n);
		p[n] = '\0';
	}
	return p;
}

static void free_strv(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int dup_strv(char ***out, const char *const *v, size_t n)
{
	char **w = calloc(n ? n : 1, sizeof(*w));
	if (!w)
		return mcr_error_set(MCR_ENOMEM, "out of memory copying report cells");
	for (size_t i = 0; i < n; i++) {
		w[i] = dup_str(v[i]);
		if (!w[i]) {
			free_strv(w, i);
			return mcr_error_set(MCR_ENOMEM, "out of memory copying report cells");
		}
	}
	*out = w;
	return 0;
}

int mcr_report_doc_new(mcr_report_doc **out, const char *title)
{
	mcr_report_doc *d = calloc(1, sizeof(*d));
	if (!d || !(d->title = dup_str(title))) {
		free(d);
		return mcr_error_set(MCR_ENOMEM, "out of memory creating a report");
	}
	d->table = -1;
	*out = d;
	return 0;
}

void mcr_report_doc_free(mcr_report_doc *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->nblocks; i++) {
		block *b = &d->blocks[i];
		free(b->text);
		free_strv(b->columns, b->ncols);
		free_strv(b->cells, b->nrows * b->ncols);
		free_strv(b->labels, b->nlabels);
		free_strv(b->series, b->nseries);
		free(b->values);
	}
	free(d->blocks);
	free(d->title);
	free(d->footer);
	free(d);
}

static block *add_block(mcr_report_doc *d, enum block_kind kind)
{
	if (d->nblocks == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 8;
		block *nb = realloc(d->blocks, cap * sizeof(*nb));
		if (!nb)
			return NULL;
		d->blocks = nb;
		d->cap = cap;
	}
	block *b = &d->blocks[d->nblocks++];
	memset(b, 0, sizeof(*b));
	b->kind = kind;
	return b;
}

int mcr_report_doc_note(mcr_report_doc *d, const char *fmt, ...)
{
	mcr_buf text = MCR_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	int rc = mcr_buf_vprintf(&text, fmt, ap);
	va_end(ap);
	if (rc)
		return rc;
	block *b = add_block(d, BLOCK_NOTE);
	if (!b) {
		mcr_buf_free(&text);
		return mcr_error_set(MCR_ENOMEM, "out of memory adding a report note");
	}
	b->text = mcr_buf_detach(&text);
	if (!b->text) {
		d->nblocks--;
		return mcr_error_set(MCR_ENOMEM, "out of memory adding a report note");
	}
	return 0;
}

int mcr_report_doc_table(mcr_report_doc *d, const char *heading, size_t ncols,
                         const char *const *columns, uint64_t numeric, uint64_t status,
                         unsigned flags)
{
	if (ncols == 0 || ncols > 64)
		return mcr_error_set(MCR_ERROR, "report table with %zu columns", ncols);
	block *b = add_block(d, BLOCK_TABLE);
	if (!b)
		return mcr_error_set(MCR_ENOMEM, "out of memory adding a report table");
	b->ncols = ncols;
	b->numeric = numeric;
	b->status = status;
	b->flags = flags;
	if ((heading && !(b->text = dup_str(heading))) || dup_strv(&b->columns, columns, ncols)) {
		free(b->text);
		d->nblocks--;
		return mcr_error_set(MCR_ENOMEM, "out of memory adding a report table");
	}
	d->table = (int)(d->nblocks - 1);
	return 0;
}

int mcr_report_doc_row(mcr_report_doc *d, const char *const *cells)
{
	if (d->table < 0)
		return mcr_error_set(MCR_ERROR, "report row without a table");
	block *b = &d->blocks[d->table];
	if (b->nrows == b->rowcap) {
		size_t cap = b->rowcap ? b->rowcap * 2 : 16;
		char **nc = realloc(b->cells, cap * b->ncols * sizeof(*nc));
		if (!nc)
			return mcr_error_set(MCR_ENOMEM, "out of memory adding a report row");
		b->cells = nc;
		b->rowcap = cap;
	}
	char **row = b->cells + b->nrows * b->ncols;
	for (size_t i = 0; i < b->ncols; i++) {
		row[i] = dup_str(cells[i]);
		if (!row[i]) {
			for (size_t j = 0; j < i; j++)
				free(row[j]);
			return mcr_error_set(MCR_ENOMEM, "out of memory adding a report row");
		}
	}
	b->nrows++;
	return 0;
}

int mcr_report_doc_chart(mcr_report_doc *d, const char *heading, size_t nlabels,
                         const char *const *labels, size_t nseries,
                         const char *const *series, const long *values)
{
	block *b = add_block(d, BLOCK_CHART);
	if (!b)
		return mcr_error_set(MCR_ENOMEM, "out of memory adding a chart");
	b->nlabels = nlabels;
	b->nseries = nseries;
	size_t nv = nlabels * nseries;
	b->values = malloc((nv ? nv : 1) * sizeof(long));
	if (!b->values || (heading && !(b->text = dup_str(heading))) ||
	    dup_strv(&b->labels, labels, nlabels)) {
		free(b->values);
		free(b->text);
		d->nblocks--;
		return mcr_error_set(MCR_ENOMEM, "out of memory adding a chart");
	}
	if (dup_strv(&b->series, series, nseries)) {
		free(b->values);
		free(b->text);
		free_strv(b->labels, nlabels);
		d->nblocks--;
		return MCR_ENOMEM;
	}
	if (nv)
		memcpy(b->values, values, nv * sizeof(long));
	return 0;
}

/* ---- text ------------------------------------------------------------------ */

/* Characters on screen: UTF-8 continuation bytes take no column. */
static size_t text_width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			w++;
	return w;
}

/* Cells may hold what a user typed (a break-glass reason): control characters
 * would break the columns or drive the terminal, so they become spaces or '?'. */
static int put_text_safe(mcr_buf *out, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char o = (char)c;
		if (c == '\t' || c == '\n' || c == '\r')
			o = ' ';
		else if (c < 0x20 || c == 0x7f)
			o = '?';
		if (mcr_buf_putc(out, o))
			return MCR_ENOMEM;
	}
	return 0;
}

static int put_pad(mcr_buf *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (mcr_buf_putc(out, ' '))
			return MCR_ENOMEM;
	return 0;
}

static int text_row(mcr_buf *out, const block *b, char *const *row, const size_t *width)
{
	/* Trailing empty cells print nothing, so lines carry no trailing blanks. */
	size_t last = b->ncols;
	while (last > 1 && row[last - 1][0] == '\0')
		last--;
	for (size_t i = 0; i < last; i++) {
		size_t w = text_width(row[i]);
		size_t pad = width[i] > w ? width[i] - w : 0;
		int right = (b->numeric >> i) & 1;
		if (i > 0 && put_pad(out, 2))
			return MCR_ENOMEM;
		if (right && put_pad(out, pad))
			return MCR_ENOMEM;
		if (put_text_safe(out, row[i]))
			return MCR_ENOMEM;
		if (!right && i + 1 < last && put_pad(out, pad))
			return MCR_ENOMEM;
	}
	return mcr_buf_putc(out, '\n');
}

static int render_text_table(const block *b, mcr_buf *out)
{
	size_t width[64];
	for (size_t i = 0; i < b->ncols; i++)
		width[i] = text_width(b->columns[i]);
	for (size_t r = 0; r < b->nrows; r++)
		for (size_t i = 0; i < b->ncols; i++) {
			size_t w = text_width(b->cells[r * b->ncols + i]);
			if (w > width[i])
				width[i] = w;
		}
	if (mcr_buf_putc(out, '\n'))
		return MCR_ENOMEM;
	if (b->text) {
		if (put_text_safe(out, b->text) || mcr_buf_putc(out, '\n'))
			return MCR_ENOMEM;
	}
	if (text_row(out, b, b->columns, width))
		return MCR_ENOMEM;
	for (size_t r = 0; r < b->nrows; r++)
		if (text_row(out, b, b->cells + r * b->ncols, width))
			return MCR_ENOMEM;
	if (b->nrows == 0 && mcr_buf_puts(out, "(none)\n"))
		return MCR_ENOMEM;
	return 0;
}

static int render_text(const mcr_report_doc *d, mcr_buf *out)
{
	if (put_text_safe(out, d->title) || mcr_buf_putc(out, '\n'))
		return MCR_ENOMEM;
	int after_table = 0;
	for (size_t i = 0; i < d->nblocks; i++) {
		const block *b = &d->blocks[i];
		if (b->kind == BLOCK_NOTE) {
			/* A note after a table is a summary: set apart by a blank line. */
			if (after_table && mcr_buf_putc(out, '\n'))
				return MCR_ENOMEM;
			if (put_text_safe(out, b->text) || mcr_buf_putc(out, '\n'))
				return MCR_ENOMEM;
			after_table = 0;
		} else if (b->kind == BLOCK_TABLE && !(b->flags & MCR_REPORT_CSV_ONLY)) {
			if (render_text_table(b, out))
				return MCR_ENOMEM;
			after_table = 1;
		}
	}
	return 0;
}

/* ---- CSV ------------------------------------------------------------------- */

/* RFC 4180: quote a field holding a comma, quote, CR or LF, doubling quotes.
 * A field a spreadsheet would run as a formula (starting = + - @ or a tab/CR)
 * gets a leading apostrophe, so a typed break-glass reason cannot execute. */
static int csv_field(mcr_buf *out, const char *s)
{
	int formula = s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' ||
	              s[0] == '\t' || s[0] == '\r';
	int quote = strpbrk(s, ",\"\r\n") != NULL;
	if (quote && mcr_buf_putc(out, '"'))
		return MCR_ENOMEM;
	if (formula && mcr_buf_putc(out, '\''))
		return MCR_ENOMEM;
	for (; *s; s++) {
		if (*s == '"' && mcr_buf_putc(out, '"'))
			return MCR_ENOMEM;
		if (mcr_buf_putc(out, *s))
			return MCR_ENOMEM;
	}
	if (quote && mcr_buf_putc(out, '"'))
		return MCR_ENOMEM;
	return 0;
}

static int csv_record(mcr_buf *out, char *const *row, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && mcr_buf_putc(out, ','))
			return MCR_ENOMEM;
		if (csv_field(out, row[i]))
			return MCR_ENOMEM;
	}
	return mcr_buf_puts(out, "\r\n");
}

static int render_csv(const mcr_report_doc *d, mcr_buf *out)
{
	int header = 0;
	for (size_t i = 0; i < d->nblocks; i++) {
		const block *b = &d->blocks[i];
		if (b->kind != BLOCK_TABLE || !(b->flags & MCR_REPORT_IN_CSV))
			continue;
		if (!header) {
			if (csv_record(out, b->columns, b->ncols))
				return MCR_ENOMEM;
			header = 1;
		}
		for (size_t r = 0; r < b->nrows; r++)
			if (csv_record(out, b->cells + r * b->ncols, b->ncols))
				return MCR_ENOMEM;
	}
	return 0;
}

/* ---- HTML ------------------------------------------------------------------ */

/* A CSS class name from a status word: letters and digits only. */
static int status_class(mcr_buf *out, const char *s)
{
	if (mcr_buf_puts(out, " class=\"st-"))
		return MCR_ENOMEM;
	for (; *s; s++) {
		char c = *s;
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			if (mcr_buf_putc(out, c))
				return MCR_ENOMEM;
	}
	return mcr_buf_putc(out, '"');
}

static int render_html_table(const block *b, mcr_buf *out)
{
	if (b->text) {
		if (mcr_buf_puts(out, "<h2>") || mcr_html_escape(out, b->text) ||
		    mcr_buf_puts(out, "</h2>\n"))
			return MCR_ENOMEM;
	}
	/* A wide table scrolls inside its own box (keyboard-focusable), so nothing
	 * pushes the page wider than the window. */
	if (mcr_buf_puts(out, "<div class=\"table-wrap\" tabindex=\"0\" role=\"region\" aria-label=\"") ||
	    mcr_html_escape(out, b->text ? b->text : "table") || mcr_buf_puts(out, "\">\n<table>\n<thead><tr>"))
		return MCR_ENOMEM;
	for (size_t i = 0; i < b->ncols; i++)
		if (mcr_buf_puts(out, "<th scope=\"col\">") || mcr_html_escape(out, b->columns[i]) ||
		    mcr_buf_puts(out, "</th>"))
			return MCR_ENOMEM;
	if (mcr_buf_puts(out, "</tr></thead>\n<tbody>\n"))
		return MCR_ENOMEM;
	for (size_t r = 0; r < b->nrows; r++) {
		if (mcr_buf_puts(out, "<tr>"))
			return MCR_ENOMEM;
		for (size_t i = 0; i < b->ncols; i++) {
			const char *cell = b->cells[r * b->ncols + i];
			if (mcr_buf_puts(out, "<td"))
				return MCR_ENOMEM;
			if (((b->numeric >> i) & 1) && mcr_buf_puts(out, " class=\"num\""))
				return MCR_ENOMEM;
			if (((b->status >> i) & 1) && cell[0] && status_class(out, cell))
				return MCR_ENOMEM;
			/* Short cells (codes, times, counts) stay on one line; prose wraps. */
			if (!((b->numeric | b->status) >> i & 1) &&
			    mcr_buf_puts(out, text_width(cell) > 32 ? " class=\"prose\"" : ""))
				return MCR_ENOMEM;
			if (mcr_buf_putc(out, '>') || mcr_html_escape(out, cell) || mcr_buf_puts(out, "</td>"))
				return MCR_ENOMEM;
		}
		if (mcr_buf_puts(out, "</tr>\n"))
			return MCR_ENOMEM;
	}
	if (b->nrows == 0 &&
	    mcr_buf_printf(out, "<tr><td class=\"none\" colspan=\"%zu\">none</td></tr>\n", b->ncols))
		return MCR_ENOMEM;
	return mcr_buf_puts(out, "</tbody>\n</table>\n</div>\n");
}

/* Colours of the chart's series (colour-blind-safe palette, repeated). */
static const char *const chart_colours[] = {
	"#005eb8", "#e69f00", "#009e73", "#cc79a7", "#56b4e9",
	"#d55e00", "#0072b2", "#f0e442", "#7c2855", "#425563",
};

static int render_html_chart(const block *b, mcr_buf *out)
{
	const int bar_w = 520, bar_h = 22, gap = 8, top = 10;
	size_t ncolours = sizeof(chart_colours) / sizeof(chart_colours[0]);
	/* Room for the longest label at about 7 px a character (12 px text). */
	size_t longest = 10;
	for (size_t l = 0; l < b->nlabels; l++)
		if (text_width(b->labels[l]) > longest)
			longest = text_width(b->labels[l]);
	int label_w = (int)(longest > 60 ? 60 : longest) * 7 + 20;
	long max = 0;
	for (size_t l = 0; l < b->nlabels; l++) {
		long sum = 0;
		for (size_t s = 0; s < b->nseries; s++)
			sum += b->values[l * b->nseries + s] > 0 ? b->values[l * b->nseries + s] : 0;
		if (sum > max)
			max = sum;
	}
	/* Legend: only series that have a value somewhere. */
	size_t shown = 0;
	for (size_t s = 0; s < b->nseries; s++)
		for (size_t l = 0; l < b->nlabels; l++)
			if (b->values[l * b->nseries + s] > 0) {
				shown++;
				break;
			}
	int legend_y = top + (int)b->nlabels * (bar_h + gap) + 10;
	int height = legend_y + (int)((shown + 2) / 3) * 20 + 10;
	int width = label_w + bar_w + 90;

	if (b->text && (mcr_buf_puts(out, "<h2>") || mcr_html_escape(out, b->text) ||
	                mcr_buf_puts(out, "</h2>\n")))
		return MCR_ENOMEM;
	if (mcr_buf_printf(out, "<svg role=\"img\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
	                   "aria-label=\"", width, height, width, height) ||
	    mcr_html_escape(out, b->text ? b->text : "chart") || mcr_buf_puts(out, "\">\n"))
		return MCR_ENOMEM;
	for (size_t l = 0; l < b->nlabels; l++) {
		int y = top + (int)l * (bar_h + gap);
		long sum = 0;
		if (mcr_buf_printf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", label_w - 8,
		                   y + bar_h / 2 + 4) ||
		    mcr_html_escape(out, b->labels[l]) || mcr_buf_puts(out, "</text>\n"))
			return MCR_ENOMEM;
		double x = label_w;
		for (size_t s = 0; s < b->nseries; s++) {
			long v = b->values[l * b->nseries + s];
			if (v <= 0)
				continue;
			sum += v;
			double w = max > 0 ? (double)v * bar_w / (double)max : 0;
			if (mcr_buf_printf(out, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" "
			                   "fill=\"%s\"><title>", x, y, w, bar_h,
			                   chart_colours[s % ncolours]) ||
			    mcr_html_escape(out, b->labels[l]) || mcr_buf_puts(out, ", ") ||
			    mcr_html_escape(out, b->series[s]) || mcr_buf_printf(out, ": %ld</title></rect>\n", v))
				return MCR_ENOMEM;
			x += w;
		}
		if (mcr_buf_printf(out, "<text x=\"%.1f\" y=\"%d\">%ld</text>\n", x + 6,
		                   y + bar_h / 2 + 4, sum))
			return MCR_ENOMEM;
	}
	size_t k = 0;
	for (size_t s = 0; s < b->nseries; s++) {
		int any = 0;
		for (size_t l = 0; l < b->nlabels; l++)
			any |= b->values[l * b->nseries + s] > 0;
		if (!any)
			continue;
		int x = 10 + (int)(k % 3) * 250, y = legend_y + (int)(k / 3) * 20;
		if (mcr_buf_printf(out, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"%s\"/>"
		                   "<text x=\"%d\" y=\"%d\">", x, y, chart_colours[s % ncolours],
		                   x + 18, y + 10) ||
		    mcr_html_escape(out, b->series[s]) || mcr_buf_puts(out, "</text>\n"))
			return MCR_ENOMEM;
		k++;
	}
	return mcr_buf_puts(out, "</svg>\n");
}

/* The document's content: its title (the page's heading, or under the caller's
 * heading in a served page), then notes, tables and charts. */
static int render_html_body(const mcr_report_doc *d, int whole_page, mcr_buf *out)
{
	if (mcr_buf_puts(out, whole_page ? "<h1>" : "<p class=\"doc-title\">") ||
	    mcr_html_escape(out, d->title) || mcr_buf_puts(out, whole_page ? "</h1>\n" : "</p>\n"))
		return MCR_ENOMEM;
	for (size_t i = 0; i < d->nblocks; i++) {
		const block *b = &d->blocks[i];
		int rc = 0;
		if (b->kind == BLOCK_NOTE)
			rc = mcr_buf_puts(out, "<p class=\"note\">") || mcr_html_escape(out, b->text) ||
			     mcr_buf_puts(out, "</p>\n");
		else if (b->kind == BLOCK_TABLE && !(b->flags & MCR_REPORT_CSV_ONLY))
			rc = render_html_table(b, out);
		else if (b->kind == BLOCK_CHART)
			rc = render_html_chart(b, out);
		if (rc)
			return MCR_ENOMEM;
	}
	if (d->footer && (mcr_buf_puts(out, "<p class=\"note footer\">") || mcr_html_escape(out, d->footer) ||
	                  mcr_buf_puts(out, "</p>\n")))
		return MCR_ENOMEM;
	return 0;
}

/* A self-contained page (inline style, nothing fetched) for a file. */
static int render_html(const mcr_report_doc *d, mcr_buf *out)
{
	mcr_html_page page = { d->title, 0, "ig", 0, NULL };
	if (mcr_html_page_begin(out, &page) || mcr_buf_puts(out, "<div class=\"wrap\">\n<main class=\"ig\">\n") ||
	    render_html_body(d, 1, out) || mcr_buf_puts(out, "</main>\n</div>\n"))
		return MCR_ENOMEM;
	return mcr_html_page_end(out, &page);
}

int mcr_report_doc_footer(mcr_report_doc *d, const char *text)
{
	char *t = dup_str(text);
	if (!t)
		return mcr_error_set(MCR_ENOMEM, "out of memory adding a report footer");
	free(d->footer);
	d->footer = t;
	return 0;
}

int mcr_report_doc_render(const mcr_report_doc *d, mcr_report_format f, mcr_buf *out)
{
	switch (f) {
	case MCR_REPORT_TEXT:
		if (render_text(d, out) ||
		    (d->footer && mcr_buf_printf(out, "\n%s\n", d->footer)))
			return MCR_ENOMEM;
		return 0;
	case MCR_REPORT_CSV:
		/* After the rows, as a comment line: spreadsheets show it as one cell. */
		if (render_csv(d, out) ||
		    (d->footer && mcr_buf_printf(out, "# %s\r\n", d->footer)))
			return MCR_ENOMEM;
		return 0;
	case MCR_REPORT_HTML: return render_html(d, out);
	case MCR_REPORT_HTML_BODY: return render_html_body(d, 0, out);
	}
	return mcr_error_set(MCR_EUSAGE, "unknown report format %d", (int)f);
}

int mcr_report_format_parse(const char *name, mcr_report_format *out)
{
	if (strcmp(name, "text") == 0)
		*out = MCR_REPORT_TEXT;
	else if (strcmp(name, "csv") == 0)
		*out = MCR_REPORT_CSV;
	else if (strcmp(name, "html") == 0)
		*out = MCR_REPORT_HTML;
	else
		return mcr_error_set(MCR_EUSAGE, "unknown format '%s' (text, csv or html)", name);
	return 0;
}
