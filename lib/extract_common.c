/* Shared pieces of the extractors: inputs, a map, the per-person spill, the run. */
#include "extract_common.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mcr/error.h"
#include "mcr/extract.h"
#include "mcr/fhirtime.h"
#include "mcr/fs.h"

/* ---- inputs --------------------------------------------------------------- */

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

typedef struct file_list {
	char **v;
	size_t n, cap;
} file_list;

static int list_push(file_list *l, const char *path)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		char **v = realloc(l->v, cap * sizeof *v);
		if (!v)
			return mcr_error_set(MCR_ENOMEM, "out of memory listing inputs");
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n] = strdup(path);
	if (!l->v[l->n])
		return mcr_error_set(MCR_ENOMEM, "out of memory listing inputs");
	l->n++;
	return 0;
}

/* 1 if name ends in one of suffixes (NULL-terminated). */
static int has_suffix(const char *name, const char *const *suffixes)
{
	for (; *suffixes; suffixes++)
		if (ends_with(name, *suffixes))
			return 1;
	return 0;
}

/* "a, b or c" of the suffixes, for messages. */
static void suffix_list(mcr_buf *b, const char *const *suffixes)
{
	for (size_t i = 0; suffixes[i]; i++)
		mcr_buf_printf(b, "%s%s", i == 0 ? "" : suffixes[i + 1] ? ", " : " or ", suffixes[i]);
}

static int not_read(const char *path, const char *const *suffixes)
{
	mcr_buf b = MCR_BUF_INIT;
	suffix_list(&b, suffixes);
	int rc = mcr_error_set(MCR_EFORMAT, "%s: not a file this extractor reads (%s); move it out of "
	                       "the input folder", path, mcr_buf_cstr(&b));
	mcr_buf_free(&b);
	return rc;
}

static int walk(file_list *l, const char *dir, int depth, const char *const *suffixes)
{
	if (depth > 16)
		return mcr_error_set(MCR_ELIMIT, "%s: folders nested too deep", dir);
	DIR *d = opendir(dir);
	if (!d)
		return mcr_error_set_errno(MCR_EIO, "cannot read folder %s", dir);
	int rc = 0;
	mcr_buf path = MCR_BUF_INIT;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if ((rc = mcr_fs_join(&path, dir, e->d_name)) != 0)
			break;
		struct stat st;
		if (stat(path.ptr, &st) != 0) {
			rc = mcr_error_set_errno(MCR_EIO, "cannot stat %s", path.ptr);
			break;
		}
		/* Every file is read or named: a stray file is never skipped silently. */
		if (S_ISDIR(st.st_mode))
			rc = walk(l, path.ptr, depth + 1, suffixes);
		else if (S_ISREG(st.st_mode) && has_suffix(e->d_name, suffixes))
			rc = list_push(l, path.ptr);
		else
			rc = not_read(path.ptr, suffixes);
		if (rc)
			break;
	}
	closedir(d);
	mcr_buf_free(&path);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int mcr_ex_list_xml_files(const char *input, char ***files, size_t *n)
{
	static const char *const xml[] = {".xml", ".xml.gz", NULL};
	return mcr_ex_list_files(input, xml, files, n);
}

int mcr_ex_only_files(const char *dir, const char *const *names)
{
	DIR *d = opendir(dir);
	if (!d)
		return mcr_error_set_errno(MCR_EIO, "cannot read folder %s", dir);
	int rc = 0;
	struct dirent *e;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		size_t i = 0;
		while (names[i] && strcmp(names[i], e->d_name) != 0)
			i++;
		if (!names[i]) {
			mcr_buf p = MCR_BUF_INIT;
			mcr_fs_join(&p, dir, e->d_name);
			rc = not_read(mcr_buf_cstr(&p), names);
			mcr_buf_free(&p);
		}
	}
	closedir(d);
	return rc;
}

int mcr_ex_list_files(const char *input, const char *const *suffixes, char ***files, size_t *n)
{
	file_list l = {0};
	struct stat st;
	int rc;
	*files = NULL;
	*n = 0;
	if (stat(input, &st) != 0)
		return mcr_error_set_errno(MCR_EIO, "cannot open input %s", input);
	if (S_ISDIR(st.st_mode))
		rc = walk(&l, input, 0, suffixes);
	else
		rc = list_push(&l, input);
	if (rc) {
		mcr_ex_files_free(l.v, l.n);
		return rc;
	}
	qsort(l.v, l.n, sizeof *l.v, cmp_str);
	*files = l.v;
	*n = l.n;
	return 0;
}

void mcr_ex_files_free(char **files, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(files[i]);
	free(files);
}

int mcr_ex_is_date(const char *s)
{
	mcr_fhirtime t;
	return mcr_fhirtime_parse(s, &t) == 0 && t.precision == MCR_FHIRTIME_DAY && t.year >= 1800;
}

static _Thread_local mcr_extract_notice_fn notice_fn;
static _Thread_local void *notice_ctx;

void mcr_extract_set_notice(mcr_extract_notice_fn fn, void *ctx)
{
	notice_fn = fn;
	notice_ctx = ctx;
}

void mcr_ex_notice(const char *fmt, ...)
{
	if (!notice_fn)
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	notice_fn(notice_ctx, msg);
}

void mcr_ex_squeeze(char *s)
{
	char *w = s;
	int space = 0;
	for (const char *r = s; *r; r++) {
		if (*r == ' ' || *r == '\t' || *r == '\n' || *r == '\r') {
			space = w != s;
			continue;
		}
		if (space)
			*w++ = ' ';
		space = 0;
		*w++ = *r;
	}
	*w = '\0';
}

int mcr_ex_stage_folder(mcr_buf *out, const char *staging_dir, const mcr_org *org)
{
	mcr_buf_reset(out);
	if (mcr_buf_printf(out, "%s/%s/%s", staging_dir, org->ods, mcr_org_dataset(org->kind)) != 0)
		return MCR_ENOMEM;
	return mcr_fs_mkdirs(out->ptr);
}

/* ---- map: open addressing, keys in one arena ------------------------------ */

typedef struct mcr_ex_slot {
	size_t off;   /* key offset in the arena + 1; 0 = empty */
	uint32_t len;
	uint32_t hash;
	long value;
} mcr_ex_slot;

struct mcr_ex_map {
	mcr_ex_slot *slots;
	size_t cap, count;
	mcr_buf keys;
};

static uint32_t hash_bytes(const char *s, size_t n)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

int mcr_ex_map_new(mcr_ex_map **out)
{
	mcr_ex_map *m = calloc(1, sizeof *m);
	if (m)
		m->slots = calloc(1024, sizeof *m->slots);
	if (!m || !m->slots) {
		free(m);
		return mcr_error_set(MCR_ENOMEM, "out of memory");
	}
	m->cap = 1024;
	*out = m;
	return 0;
}

void mcr_ex_map_free(mcr_ex_map *m)
{
	if (!m)
		return;
	free(m->slots);
	mcr_buf_free(&m->keys);
	free(m);
}

size_t mcr_ex_map_count(const mcr_ex_map *m)
{
	return m->count;
}

static mcr_ex_slot *find_slot(mcr_ex_slot *slots, size_t cap, const char *keys, const char *key,
                          size_t len, uint32_t h)
{
	size_t i = h & (cap - 1);
	for (;;) {
		mcr_ex_slot *s = &slots[i];
		if (!s->off)
			return s;
		if (s->hash == h && s->len == len && memcmp(keys + s->off - 1, key, len) == 0)
			return s;
		i = (i + 1) & (cap - 1);
	}
}

int mcr_ex_map_get(const mcr_ex_map *m, const char *key, size_t len, long *value)
{
	mcr_ex_slot *s = find_slot(m->slots, m->cap, m->keys.ptr, key, len, hash_bytes(key, len));
	if (!s->off)
		return 0;
	*value = s->value;
	return 1;
}

int mcr_ex_map_put(mcr_ex_map *m, const char *key, size_t len, long value, long *existing)
{
	uint32_t h = hash_bytes(key, len);
	mcr_ex_slot *s = find_slot(m->slots, m->cap, m->keys.ptr, key, len, h);
	if (s->off) {
		if (existing)
			*existing = s->value;
		return 0;
	}
	if ((m->count + 1) * 2 > m->cap) {
		size_t cap = m->cap * 2;
		mcr_ex_slot *ns = calloc(cap, sizeof *ns);
		if (!ns)
			return mcr_error_set(MCR_ENOMEM, "out of memory");
		for (size_t i = 0; i < m->cap; i++)
			if (m->slots[i].off)
				*find_slot(ns, cap, m->keys.ptr, m->keys.ptr + m->slots[i].off - 1,
				           m->slots[i].len, m->slots[i].hash) = m->slots[i];
		free(m->slots);
		m->slots = ns;
		m->cap = cap;
		s = find_slot(m->slots, m->cap, m->keys.ptr, key, len, h);
	}
	size_t off = m->keys.len + 1;
	if (mcr_buf_put(&m->keys, key, len) != 0 || mcr_buf_putc(&m->keys, '\0') != 0)
		return MCR_ENOMEM;
	s->off = off;
	s->len = (uint32_t)len;
	s->hash = h;
	s->value = value;
	m->count++;
	return 1;
}

/* ---- spill ------------------------------------------------------------------
 * Record: u32 length of what follows, 10 digits of NHS number, u8 kind, then
 * kind-specific fields; strings as u32 length (UINT32_MAX: NULL) and bytes.
 */

enum { REC_PERSON = 0, REC_ITEM = 1, REC_WITHHELD = 2 };

#define SPILL_DEFAULT_LIMIT ((size_t)32 << 20)
#define SPILL_MAX_BUCKETS 256

static size_t spill_limit = SPILL_DEFAULT_LIMIT;

void mcr_extract_set_spill_limit(size_t bytes)
{
	spill_limit = bytes ? bytes : SPILL_DEFAULT_LIMIT;
}

struct mcr_ex_spill {
	char *dir;
	char *path;
	FILE *f;
	uint64_t size;
	mcr_buf rec;
	char **bucket_paths;
	size_t nbuckets;
};

static atomic_uint spill_seq; /* unique spill names within the process, whatever the thread */

static int temp_path(mcr_buf *b, const char *dir, const char *what)
{
	mcr_buf_reset(b);
	if (mcr_buf_printf(b, "%s/.%s-%ld-%u", dir, what, (long)getpid(), atomic_fetch_add(&spill_seq, 1)) != 0)
		return MCR_ENOMEM;
	return 0;
}

int mcr_ex_spill_open(mcr_ex_spill **out, const char *dir)
{
	mcr_ex_spill *s = calloc(1, sizeof *s);
	mcr_buf p = MCR_BUF_INIT;
	if (!s || !(s->dir = strdup(dir))) {
		free(s);
		return mcr_error_set(MCR_ENOMEM, "out of memory");
	}
	int rc = temp_path(&p, dir, "spill");
	if (rc) {
		mcr_ex_spill_close(s);
		return rc;
	}
	/* Names, addresses and phone numbers: mode 0600, and unlinked at once, so a
	 * killed run leaves nothing behind (the path stays for messages). */
	s->path = mcr_buf_detach(&p);
	if ((rc = mcr_fs_temp_anonymous(s->path, &s->f))) {
		mcr_ex_spill_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

void mcr_ex_spill_close(mcr_ex_spill *s)
{
	if (!s)
		return;
	if (s->f)
		fclose(s->f);
	free(s->path);
	for (size_t i = 0; i < s->nbuckets; i++)
		free(s->bucket_paths[i]);
	free(s->bucket_paths);
	mcr_buf_free(&s->rec);
	free(s->dir);
	free(s);
}

static int put_u32(mcr_buf *b, uint32_t v)
{
	return mcr_buf_put(b, &v, sizeof v);
}

static int put_str(mcr_buf *b, const char *str)
{
	if (!str)
		return put_u32(b, UINT32_MAX);
	size_t n = strlen(str);
	if (put_u32(b, (uint32_t)n) != 0)
		return MCR_ENOMEM;
	return mcr_buf_put(b, str, n);
}

static int rec_start(mcr_ex_spill *s, const char *nhs, int kind)
{
	mcr_buf_reset(&s->rec);
	if (put_u32(&s->rec, 0) != 0 || mcr_buf_put(&s->rec, nhs, 10) != 0 ||
	    mcr_buf_putc(&s->rec, (char)kind) != 0)
		return MCR_ENOMEM;
	return 0;
}

static int rec_write(mcr_ex_spill *s)
{
	uint32_t len = (uint32_t)(s->rec.len - 4);
	memcpy(s->rec.ptr, &len, 4);
	if (fwrite(s->rec.ptr, 1, s->rec.len, s->f) != s->rec.len)
		return mcr_error_set_errno(MCR_EIO, "cannot write %s", s->path);
	s->size += s->rec.len;
	return 0;
}

int mcr_ex_spill_person(mcr_ex_spill *s, const mcr_staged_person *p)
{
	int rc = rec_start(s, p->nhs, REC_PERSON);
	if (rc)
		return rc;
	const char *f[] = {p->family, p->given, p->birth_date, p->gender, p->address,
	                   p->postcode, p->phone, p->objection, p->consent};
	for (size_t i = 0; i < sizeof f / sizeof *f; i++)
		if (put_str(&s->rec, f[i]) != 0)
			return mcr_error_set(MCR_ENOMEM, "out of memory");
	return rec_write(s);
}

int mcr_ex_spill_item(mcr_ex_spill *s, const char *nhs, const mcr_staged_item *it)
{
	int rc = rec_start(s, nhs, REC_ITEM);
	if (rc)
		return rc;
	mcr_buf *b = &s->rec;
	int e = mcr_buf_putc(b, (char)it->section) | put_str(b, it->id) | put_str(b, it->date) |
	        put_str(b, it->system) | put_str(b, it->code) | put_str(b, it->display) |
	        put_str(b, it->status) | put_str(b, it->confidentiality) |
	        put_u32(b, (uint32_t)it->ndetails);
	for (size_t i = 0; !e && i < it->ndetails; i++)
		e = put_str(b, it->details[i].name) | put_str(b, it->details[i].value);
	if (e)
		return mcr_error_set(MCR_ENOMEM, "out of memory");
	return rec_write(s);
}

int mcr_ex_spill_withheld(mcr_ex_spill *s, const char *nhs, mcr_section sec, mcr_reason r)
{
	int rc = rec_start(s, nhs, REC_WITHHELD);
	if (rc)
		return rc;
	if (mcr_buf_putc(&s->rec, (char)sec) != 0 || mcr_buf_putc(&s->rec, (char)r) != 0)
		return MCR_ENOMEM;
	return rec_write(s);
}

/* Reading records back from memory. */
typedef struct rd {
	const char *p, *end;
	int bad;
} rd;

static uint32_t get_u32(rd *r)
{
	uint32_t v = 0;
	if (r->end - r->p < 4) {
		r->bad = 1;
		return 0;
	}
	memcpy(&v, r->p, 4);
	r->p += 4;
	return v;
}

/* Strings are copied into scratch as NUL-terminated; returns an offset + 1 or 0 for NULL. */
static size_t get_str(rd *r, mcr_buf *scratch)
{
	uint32_t n = get_u32(r);
	if (r->bad || n == UINT32_MAX)
		return 0;
	if ((size_t)(r->end - r->p) < n) {
		r->bad = 1;
		return 0;
	}
	size_t off = scratch->len + 1;
	if (mcr_buf_put(scratch, r->p, n) != 0 || mcr_buf_putc(scratch, '\0') != 0) {
		r->bad = 1;
		return 0;
	}
	r->p += n;
	return off;
}

static const char *str_at(const mcr_buf *scratch, size_t off)
{
	return off ? scratch->ptr + off - 1 : NULL;
}

typedef struct rec_ref {
	const char *p; /* start of the record (its length field) */
	uint32_t len;
} rec_ref;

/*
 * Sort records by NHS number, then kind, then the order spilled: a stable LSD
 * radix sort on a 48-bit key (10 digits of 4 bits, the kind byte), three passes
 * of 16 bits; qsort with a comparison call per step cost about a tenth of an
 * extract. 0 or MCR_ENOMEM.
 */
typedef struct keyed_ref {
	uint64_t key;
	rec_ref r;
} keyed_ref;

static int sort_recs(rec_ref *v, size_t n)
{
	keyed_ref *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
	uint32_t *count = malloc(65536 * sizeof *count);
	if (!a || !b || !count) {
		free(a);
		free(b);
		free(count);
		return mcr_error_set(MCR_ENOMEM, "out of memory sorting the spill");
	}
	for (size_t i = 0; i < n; i++) {
		const unsigned char *p = (const unsigned char *)v[i].p + 4;
		uint64_t k = 0;
		for (int d = 0; d < 10; d++)
			k = (k << 4) | ((unsigned)(p[d] - '0') & 0xF);
		a[i].key = (k << 8) | p[10];
		a[i].r = v[i];
	}
	for (int shift = 0; shift < 48; shift += 16) {
		memset(count, 0, 65536 * sizeof *count);
		for (size_t i = 0; i < n; i++)
			count[(a[i].key >> shift) & 0xFFFF]++;
		uint32_t sum = 0;
		for (size_t d = 0; d < 65536; d++) {
			uint32_t c = count[d];
			count[d] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			b[count[(a[i].key >> shift) & 0xFFFF]++] = a[i];
		keyed_ref *t = a;
		a = b;
		b = t;
	}
	for (size_t i = 0; i < n; i++)
		v[i] = a[i].r;
	free(a);
	free(b);
	free(count);
	return 0;
}

static int emit_person(mcr_staged_writer *w, const rec_ref *v, size_t n, mcr_buf *scratch)
{
	char nhs[11];
	memcpy(nhs, v[0].p + 4, 10);
	nhs[10] = '\0';
	mcr_staged_person p = {0};
	p.nhs = nhs;
	size_t i = 0;
	mcr_buf_reset(scratch);
	if (v[0].p[14] == REC_PERSON) {
		rd r = {v[0].p + 15, v[0].p + 4 + v[0].len, 0};
		size_t off[9];
		for (int k = 0; k < 9; k++)
			off[k] = get_str(&r, scratch);
		if (r.bad)
			return mcr_error_set(MCR_EFORMAT, "spill record corrupt");
		p.family = str_at(scratch, off[0]);
		p.given = str_at(scratch, off[1]);
		p.birth_date = str_at(scratch, off[2]);
		p.gender = str_at(scratch, off[3]);
		p.address = str_at(scratch, off[4]);
		p.postcode = str_at(scratch, off[5]);
		p.phone = str_at(scratch, off[6]);
		p.objection = str_at(scratch, off[7]);
		p.consent = str_at(scratch, off[8]);
	}
	int has_person = i < n && v[0].p[14] == REC_PERSON;
	while (i < n && v[i].p[14] == REC_PERSON)
		i++;
	if (!has_person && (i == n || v[i].p[14] != REC_ITEM)) {
		/* Only withheld items and nothing shared: not a person of this extract;
		 * the counts still go to the totals. */
		for (; i < n; i++) {
			const char *q = v[i].p + 15;
			if (v[i].len < 13 || (unsigned char)q[1] >= MCR_REASON_COUNT)
				return mcr_error_set(MCR_EFORMAT, "spill record corrupt");
			mcr_staged_count_withheld(w, (mcr_reason)(unsigned char)q[1], 1);
		}
		return 0;
	}
	int rc = mcr_staged_person_begin(w, &p);
	if (rc)
		return rc;
	mcr_buf item_scratch = MCR_BUF_INIT;
	mcr_staged_detail *details = NULL;
	size_t details_cap = 0;
	long withheld[MCR_SECTION_COUNT][MCR_REASON_COUNT];
	memset(withheld, 0, sizeof withheld);
	for (; i < n && rc == 0; i++) {
		rd r = {v[i].p + 15, v[i].p + 4 + v[i].len, 0};
		if (v[i].p[14] == REC_WITHHELD) {
			if (r.end - r.p < 2 || (unsigned char)r.p[0] >= MCR_SECTION_COUNT ||
			    (unsigned char)r.p[1] >= MCR_REASON_COUNT) {
				rc = mcr_error_set(MCR_EFORMAT, "spill record corrupt");
				break;
			}
			withheld[(unsigned char)r.p[0]][(unsigned char)r.p[1]]++;
			continue;
		}
		mcr_buf_reset(&item_scratch);
		if (r.end - r.p < 1) {
			rc = mcr_error_set(MCR_EFORMAT, "spill record corrupt");
			break;
		}
		mcr_staged_item it = {0};
		it.section = (mcr_section)(unsigned char)*r.p++;
		size_t off[7];
		for (int k = 0; k < 7; k++)
			off[k] = get_str(&r, &item_scratch);
		uint32_t nd = get_u32(&r);
		if (!r.bad && nd > details_cap) {
			mcr_staged_detail *d = realloc(details, nd * sizeof *d);
			if (!d) {
				rc = mcr_error_set(MCR_ENOMEM, "out of memory");
				break;
			}
			details = d;
			details_cap = nd;
		}
		size_t *doff = NULL;
		if (!r.bad && nd) {
			doff = malloc(2 * nd * sizeof *doff);
			if (!doff) {
				rc = mcr_error_set(MCR_ENOMEM, "out of memory");
				break;
			}
			for (uint32_t k = 0; k < 2 * nd; k++)
				doff[k] = get_str(&r, &item_scratch);
		}
		if (r.bad) {
			free(doff);
			rc = mcr_error_set(MCR_EFORMAT, "spill record corrupt");
			break;
		}
		/* The scratch buffer may have moved while growing: resolve offsets now. */
		it.id = str_at(&item_scratch, off[0]);
		it.date = str_at(&item_scratch, off[1]);
		it.system = str_at(&item_scratch, off[2]);
		it.code = str_at(&item_scratch, off[3]);
		it.display = str_at(&item_scratch, off[4]);
		it.status = str_at(&item_scratch, off[5]);
		it.confidentiality = str_at(&item_scratch, off[6]);
		for (uint32_t k = 0; k < nd; k++) {
			details[k].name = str_at(&item_scratch, doff[2 * k]);
			details[k].value = str_at(&item_scratch, doff[2 * k + 1]);
		}
		free(doff);
		it.details = details;
		it.ndetails = nd;
		rc = mcr_staged_write_item(w, &it);
	}
	for (int sct = 0; rc == 0 && sct < MCR_SECTION_COUNT; sct++)
		for (int rs = 0; rc == 0 && rs < MCR_REASON_COUNT; rs++)
			if (withheld[sct][rs])
				rc = mcr_staged_write_withheld(w, (mcr_section)sct, (mcr_reason)rs,
				                               withheld[sct][rs]);
	free(details);
	mcr_buf_free(&item_scratch);
	if (rc == 0)
		rc = mcr_staged_person_end(w);
	return rc;
}

/* Sort the records of one file (read whole) and write its persons. */
static int emit_file(FILE *f, const char *path, uint64_t size, mcr_staged_writer *w)
{
	if (size == 0)
		return 0;
	if (size > SIZE_MAX / 2)
		return mcr_error_set(MCR_ELIMIT, "%s: spill too large", path);
	char *data = malloc((size_t)size);
	if (!data)
		return mcr_error_set(MCR_ENOMEM, "out of memory reading %s", path);
	rewind(f);
	if (fread(data, 1, (size_t)size, f) != (size_t)size) {
		free(data);
		return mcr_error_set_errno(MCR_EIO, "cannot read %s", path);
	}
	size_t n = 0, cap = 1024;
	rec_ref *v = malloc(cap * sizeof *v);
	int rc = v ? 0 : mcr_error_set(MCR_ENOMEM, "out of memory");
	for (const char *p = data; rc == 0 && p < data + size;) {
		uint32_t len;
		if (data + size - p < 4) {
			rc = mcr_error_set(MCR_EFORMAT, "%s: spill truncated", path);
			break;
		}
		memcpy(&len, p, 4);
		if (len < 11 || (uint64_t)(data + size - p - 4) < len) {
			rc = mcr_error_set(MCR_EFORMAT, "%s: spill truncated", path);
			break;
		}
		if (n == cap) {
			rec_ref *nv = realloc(v, cap * 2 * sizeof *v);
			if (!nv) {
				rc = mcr_error_set(MCR_ENOMEM, "out of memory");
				break;
			}
			v = nv;
			cap *= 2;
		}
		v[n].p = p;
		v[n].len = len;
		n++;
		p += 4 + len;
	}
	if (rc == 0)
		rc = sort_recs(v, n);
	mcr_buf scratch = MCR_BUF_INIT;
	for (size_t i = 0; rc == 0 && i < n;) {
		size_t j = i + 1;
		while (j < n && memcmp(v[j].p + 4, v[i].p + 4, 10) == 0)
			j++;
		rc = emit_person(w, v + i, j - i, &scratch);
		i = j;
	}
	mcr_buf_free(&scratch);
	free(v);
	free(data);
	return rc;
}

/* Split the spill into buckets by a hash of the NHS number so each fits in memory. */
static int split_emit(mcr_ex_spill *s, size_t k, mcr_staged_writer *w)
{
	FILE **out = calloc(k, sizeof *out);
	uint64_t *sizes = calloc(k, sizeof *sizes);
	s->bucket_paths = calloc(k, sizeof *s->bucket_paths);
	int rc = 0;
	if (!out || !sizes || !s->bucket_paths) {
		free(out);
		free(sizes);
		return mcr_error_set(MCR_ENOMEM, "out of memory");
	}
	s->nbuckets = k;
	mcr_buf p = MCR_BUF_INIT, rec = MCR_BUF_INIT;
	for (size_t i = 0; rc == 0 && i < k; i++) {
		if ((rc = temp_path(&p, s->dir, "bucket")) != 0)
			break;
		s->bucket_paths[i] = mcr_buf_detach(&p);
		rc = mcr_fs_temp_anonymous(s->bucket_paths[i], &out[i]);
	}
	rewind(s->f);
	while (rc == 0) {
		uint32_t len;
		size_t got = fread(&len, 1, 4, s->f);
		if (got == 0)
			break;
		mcr_buf_reset(&rec);
		if (got != 4 || len < 11 || mcr_buf_grow(&rec, len + 4) != 0) {
			rc = mcr_error_set(MCR_EFORMAT, "%s: spill truncated", s->path);
			break;
		}
		memcpy(rec.ptr, &len, 4);
		if (fread(rec.ptr + 4, 1, len, s->f) != len) {
			rc = mcr_error_set(MCR_EFORMAT, "%s: spill truncated", s->path);
			break;
		}
		size_t b = hash_bytes(rec.ptr + 4, 10) % k;
		if (fwrite(rec.ptr, 1, (size_t)len + 4, out[b]) != (size_t)len + 4)
			rc = mcr_error_set_errno(MCR_EIO, "cannot write %s", s->bucket_paths[b]);
		sizes[b] += (uint64_t)len + 4;
	}
	/* The spill is no longer needed: free its disk space before the buckets are read. */
	fclose(s->f);
	s->f = NULL;
	for (size_t i = 0; i < k; i++) {
		if (!out[i])
			continue;
		if (rc == 0 && fflush(out[i]) != 0)
			rc = mcr_error_set_errno(MCR_EIO, "cannot write %s", s->bucket_paths[i]);
	}
	for (size_t i = 0; rc == 0 && i < k; i++) {
		rc = emit_file(out[i], s->bucket_paths[i], sizes[i], w);
		fclose(out[i]);
		out[i] = NULL;
	}
	mcr_buf_free(&p);
	mcr_buf_free(&rec);
	free(sizes);
	for (size_t i = 0; i < k; i++)
		if (out[i])
			fclose(out[i]);
	free(out);
	return rc;
}

int mcr_ex_spill_emit(mcr_ex_spill *s, mcr_staged_writer *w)
{
	if (fflush(s->f) != 0)
		return mcr_error_set_errno(MCR_EIO, "cannot write %s", s->path);
	if (s->size <= spill_limit)
		return emit_file(s->f, s->path, s->size, w);
	size_t k = (size_t)(s->size / spill_limit) * 2 + 1;
	if (k > SPILL_MAX_BUCKETS)
		k = SPILL_MAX_BUCKETS;
	return split_emit(s, k, w);
}
