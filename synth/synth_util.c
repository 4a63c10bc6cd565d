/* mcr-synth helpers: random streams, dates, NHS numbers, output files, summary. */
#define _XOPEN_SOURCE 700 /* nftw */
#include "mcr/nhs.h"
#include "synth.h"

#include <errno.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "mcr/error.h"

/* ---- random streams ------------------------------------------------------- */

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void synth_rng_init(synth_rng *r, uint64_t seed, uint64_t index, uint64_t stream)
{
	r->s = mix64(mix64(seed + 0x9e3779b97f4a7c15ULL) ^ mix64(index * 0x100000001b3ULL + stream * 0x632be59bd9b4e019ULL + 1));
}

uint64_t synth_next(synth_rng *r)
{
	r->s += 0x9e3779b97f4a7c15ULL;
	return mix64(r->s);
}

uint32_t synth_below(synth_rng *r, uint32_t n)
{
	return (uint32_t)(((synth_next(r) >> 32) * (uint64_t)n) >> 32);
}

int synth_bp(synth_rng *r, uint32_t bp)
{
	return synth_below(r, 10000) < bp;
}

int32_t synth_range(synth_rng *r, int32_t lo, int32_t hi)
{
	if (hi <= lo)
		return lo;
	return lo + (int32_t)synth_below(r, (uint32_t)(hi - lo + 1));
}

void synth_uuid(synth_rng *r, char out[37])
{
	uint64_t a = synth_next(r), b = synth_next(r);
	a = (a & ~0xf000ULL) | 0x4000ULL;                           /* version 4 */
	b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;    /* variant 10 */
	snprintf(out, 37, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(a >> 32),
	         (unsigned)((a >> 16) & 0xffff), (unsigned)(a & 0xffff),
	         (unsigned)(b >> 48), (unsigned long long)(b & 0xffffffffffffULL));
}

/* ---- dates (civil calendar, H. Hinnant's algorithms) ---------------------- */

int32_t synth_days(int y, int m, int d)
{
	y -= m <= 2;
	int era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (unsigned)((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1);
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int32_t)doe - 719468;
}

void synth_ymd(int32_t z, int *y, int *m, int *d)
{
	z += 719468;
	int era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int yy = (int)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yy + (*m <= 2);
}

void synth_date(int32_t days, char out[11])
{
	int y, m, d;
	synth_ymd(days, &y, &m, &d);
	snprintf(out, 11, "%04u-%02u-%02u", (unsigned)y % 10000u, (unsigned)m % 100u, (unsigned)d % 100u);
}

int synth_parse_date(const char *s, int32_t *days)
{
	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return -1;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return -1;
	int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
	if (y < 1900 || m < 1 || m > 12 || d < 1 || d > 31)
		return -1;
	int32_t z = synth_days(y, m, d);
	int yy, mm, dd;
	synth_ymd(z, &yy, &mm, &dd);
	if (yy != y || mm != m || dd != d)
		return -1;
	*days = z;
	return 0;
}

/* ---- NHS numbers ------------------------------------------------------------ */

int synth_nhs_prefix_check(uint32_t head, uint32_t p)
{
	char nine[10];
	snprintf(nine, sizeof(nine), "%03u%06u", head % 1000, p % 1000000);
	return mcr_nhs_check_digit(nine);
}

static uint64_t gcd64(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

/* A seeded permutation i -> (mul * i + add) mod n of 0..n-1. */
static void permutation(synth_rng *r, uint64_t n, uint64_t *mul, uint64_t *add)
{
	*mul = 1 + synth_next(r) % (n - 1);
	while (gcd64(*mul, n) != 1)
		(*mul)++;
	*add = synth_next(r) % n;
}

int synth_nhs_table_init(synth_nhs_table *t, uint64_t seed, int second)
{
	memset(t, 0, sizeof(*t));
	t->prefix = malloc((second ? 2 : 1) * 1000000 * sizeof(uint32_t));
	if (!t->prefix)
		return mcr_error_set(MCR_ENOMEM, "out of memory (NHS number table)");
	for (uint32_t p = 0; p < 1000000; p++)
		if (synth_nhs_prefix_check(SYNTH_NHS_TEST_HEAD, p) != 10)
			t->prefix[t->count++] = p;
	t->count1 = t->count;
	for (uint32_t p = 0; second && p < 1000000; p++)
		if (synth_nhs_prefix_check(SYNTH_NHS_SECOND_HEAD, p) != 10)
			t->prefix[t->count++] = p;
	synth_rng r;
	synth_rng_init(&r, seed, 0, 0x4e4853);
	permutation(&r, t->count1, &t->mul, &t->add);
	if (second)
		permutation(&r, t->count - t->count1, &t->mul2, &t->add2);
	return 0;
}

void synth_nhs_table_free(synth_nhs_table *t)
{
	free(t->prefix);
	t->prefix = NULL;
}

void synth_nhs_number(const synth_nhs_table *t, uint32_t i, char out[11])
{
	uint32_t head = SYNTH_NHS_TEST_HEAD, k;
	if (i < t->count1) {
		k = (uint32_t)((t->mul * (uint64_t)i + t->add) % t->count1);
	} else {
		uint32_t n2 = t->count - t->count1;
		k = t->count1 + (uint32_t)((t->mul2 * (uint64_t)(i - t->count1) + t->add2) % n2);
		head = SYNTH_NHS_SECOND_HEAD;
	}
	char nine[10];
	snprintf(nine, sizeof(nine), "%03u%06u", head, t->prefix[k]);
	memcpy(out, nine, 9);
	out[9] = (char)('0' + mcr_nhs_check_digit(nine));
	out[10] = '\0';
}

/* ---- output files ----------------------------------------------------------- */

int synth_file_open(synth_file *sf, const char *path, int gzip)
{
	memset(sf, 0, sizeof(*sf));
	sf->path = strdup(path);
	if (!sf->path)
		return mcr_error_set(MCR_ENOMEM, "out of memory");
	if (gzip) {
		/* gzopen writes a header with mtime 0: the same bytes every run. Level 1:
		 * generation speed matters more than size here. */
		sf->gz = gzopen(path, "wb1");
		if (!sf->gz) {
			int rc = mcr_error_set_errno(MCR_EIO, "cannot create %s", path);
			free(sf->path);
			sf->path = NULL;
			return rc;
		}
		gzbuffer(sf->gz, 128 * 1024);
	} else {
		sf->f = fopen(path, "wb");
		if (!sf->f) {
			int rc = mcr_error_set_errno(MCR_EIO, "cannot create %s", path);
			free(sf->path);
			sf->path = NULL;
			return rc;
		}
	}
	return 0;
}

static int flush_buf(synth_file *sf)
{
	if (sf->buf.len == 0)
		return 0;
	if (sf->gz) {
		if (gzwrite(sf->gz, sf->buf.ptr, (unsigned)sf->buf.len) != (int)sf->buf.len)
			return mcr_error_set(MCR_EIO, "cannot write %s", sf->path);
	} else if (fwrite(sf->buf.ptr, 1, sf->buf.len, sf->f) != sf->buf.len) {
		return mcr_error_set_errno(MCR_EIO, "cannot write %s", sf->path);
	}
	mcr_buf_reset(&sf->buf);
	return 0;
}

int synth_file_maybe_flush(synth_file *sf)
{
	return sf->buf.len >= 256 * 1024 ? flush_buf(sf) : 0;
}

int synth_file_write(synth_file *sf, const void *data, size_t len)
{
	if (mcr_buf_put(&sf->buf, data, len))
		return mcr_error_set(MCR_ENOMEM, "out of memory");
	return synth_file_maybe_flush(sf);
}

int synth_file_puts(synth_file *sf, const char *s)
{
	return synth_file_write(sf, s, strlen(s));
}

int synth_file_close(synth_file *sf)
{
	int rc = 0;
	if (sf->f || sf->gz)
		rc = flush_buf(sf);
	if (sf->gz) {
		if (gzclose(sf->gz) != Z_OK && rc == 0)
			rc = mcr_error_set(MCR_EIO, "cannot write %s", sf->path);
	} else if (sf->f) {
		if (fclose(sf->f) != 0 && rc == 0)
			rc = mcr_error_set_errno(MCR_EIO, "cannot write %s", sf->path);
	}
	sf->f = NULL;
	sf->gz = NULL;
	mcr_buf_free(&sf->buf);
	free(sf->path);
	sf->path = NULL;
	return rc;
}

int synth_xml_esc(mcr_buf *b, const char *s)
{
	const char *run = s;
	for (; *s; s++) {
		const char *rep = NULL;
		switch (*s) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&apos;"; break;
		default: break;
		}
		if (rep) {
			if (mcr_buf_put(b, run, (size_t)(s - run)) || mcr_buf_puts(b, rep))
				return MCR_ENOMEM;
			run = s + 1;
		}
	}
	return mcr_buf_put(b, run, (size_t)(s - run));
}

int synth_csv_field(mcr_buf *b, const char *s)
{
	if (!strpbrk(s, ",\"\r\n"))
		return mcr_buf_puts(b, s);
	if (mcr_buf_putc(b, '"'))
		return MCR_ENOMEM;
	for (; *s; s++) {
		if (*s == '"' && mcr_buf_putc(b, '"'))
			return MCR_ENOMEM;
		if (mcr_buf_putc(b, *s))
			return MCR_ENOMEM;
	}
	return mcr_buf_putc(b, '"');
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	int r = (flag == FTW_DP) ? rmdir(path) : unlink(path);
	return r == 0 || errno == ENOENT ? 0 : -1;
}

int synth_remove_tree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : mcr_error_set_errno(MCR_EIO, "cannot read %s", path);
	if (nftw(path, remove_one, 32, FTW_DEPTH | FTW_PHYS) != 0)
		return mcr_error_set_errno(MCR_EIO, "cannot remove %s", path);
	return 0;
}

/* ---- summary printer -------------------------------------------------------- */

static void flat_prefix(synth_sum *s)
{
	for (int i = 0; i < s->depth; i++)
		fprintf(s->out, "%s.", s->path[i]);
}

static void yaml_key(synth_sum *s, const char *key)
{
	int indent = 2 * s->depth;
	if (s->item_first) {
		fprintf(s->out, "%*s- %s:", indent - 2, "", key);
		s->item_first = 0;
	} else {
		fprintf(s->out, "%*s%s:", indent, "", key);
	}
}

static void push(synth_sum *s, const char *key, int list)
{
	snprintf(s->path[s->depth], sizeof(s->path[0]), "%s", key);
	s->in_list[s->depth] = list;
	s->list_index[s->depth] = -1;
	s->depth++;
}

void synth_sum_map(synth_sum *s, const char *key)
{
	if (!s->flat) {
		yaml_key(s, key);
		fputc('\n', s->out);
	}
	push(s, key, 0);
}

void synth_sum_list(synth_sum *s, const char *key, long count)
{
	if (!s->flat) {
		yaml_key(s, key);
		fputs(count ? "\n" : " []\n", s->out);
	}
	push(s, key, 1);
}

void synth_sum_item(synth_sum *s)
{
	if (s->depth > 0 && s->in_list[s->depth - 1] == 2)
		s->depth--; /* leave the previous element */
	int top = s->depth - 1;
	s->list_index[top]++;
	char idx[16];
	snprintf(idx, sizeof(idx), "%d", s->list_index[top]);
	push(s, idx, 2);
	s->item_first = 1;
}

void synth_sum_end(synth_sum *s)
{
	if (s->depth > 0 && s->in_list[s->depth - 1] == 2)
		s->depth--; /* leave the last element */
	if (s->depth > 0)
		s->depth--;
	s->item_first = 0;
}

void synth_sum_int(synth_sum *s, const char *key, long v)
{
	if (s->flat) {
		flat_prefix(s);
		fprintf(s->out, "%s %ld\n", key, v);
	} else {
		yaml_key(s, key);
		fprintf(s->out, " %ld\n", v);
	}
}

void synth_sum_str(synth_sum *s, const char *key, const char *v, int quote)
{
	if (s->flat) {
		flat_prefix(s);
		fprintf(s->out, "%s %s\n", key, v);
	} else {
		yaml_key(s, key);
		fprintf(s->out, quote ? " \"%s\"\n" : " %s\n", v);
	}
}
