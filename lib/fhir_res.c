/* The per-resource model the GP format readers share (fhir_res.h). */
#include "fhir_res.h"

#include <stdlib.h>
#include <string.h>

#include "mcr/error.h"
#include "mcr/xml.h"
#include "seal.h"

int mcr_fhir_res_push(fres *r, const char *path, size_t plen, uint32_t hash, const char *value,
                      size_t value_len, const char *raw_end, int depth, const int *anc)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		fpair *p = realloc(r->pairs, cap * sizeof *p);
		if (!p)
			return mcr_error_set(MCR_ENOMEM, "out of memory");
		r->pairs = p;
		r->cap = cap;
	}
	if (r->arena.len > MCR_FHIR_MAX_RESOURCE_BYTES)
		return mcr_error_set(MCR_ELIMIT, "%s:%d: %s resource larger than %zu bytes",
		                     r->file ? r->file : "", r->line, r->type, MCR_FHIR_MAX_RESOURCE_BYTES);
	r->idx_ok = 0;
	r->idx_misses = 0;
	fpair *p = &r->pairs[r->n];
	p->path = r->arena.len;
	p->hash = hash;
	if (mcr_buf_put(&r->arena, path, plen) != 0 || mcr_buf_putc(&r->arena, '\0') != 0)
		return MCR_ENOMEM;
	p->value = r->arena.len;
	int rc = raw_end ? mcr_xml_sax_value(&r->arena, (const xmlChar *)value, (const xmlChar *)raw_end)
	                 : mcr_buf_put(&r->arena, value, value_len);
	if (rc != 0 || (rc = mcr_buf_putc(&r->arena, '\0')) != 0)
		return rc;
	p->depth = depth;
	memcpy(p->anc, anc, sizeof p->anc);
	r->n++;
	return 0;
}

void mcr_fhir_res_set_type(fres *r, const char *type, size_t n)
{
	if (n >= sizeof r->type)
		n = sizeof r->type - 1;
	memcpy(r->type, type, n);
	r->type[n] = '\0';
}

void mcr_fhir_res_begin(fres *r, const char *type, size_t type_len, int line, int root)
{
	mcr_fhir_res_set_type(r, type ? type : "", type ? type_len : 0);
	r->line = line;
	r->root = root;
	r->full_url = NULL;
	r->n = 0;
	r->idx_ok = 0;
	r->idx_misses = 0;
	mcr_buf_reset(&r->arena);
}

int mcr_fhir_res_index(fres *r)
{
	size_t nb = 16; /* buckets in use: at least twice the pairs */
	while (nb < 2 * r->n)
		nb *= 2;
	if (nb > r->idx_alloc) {
		uint32_t *h = realloc(r->idx_head, nb * sizeof *h);
		if (!h)
			return mcr_error_set(MCR_ENOMEM, "out of memory");
		r->idx_head = h;
		r->idx_alloc = nb;
	}
	if (r->n > r->idx_cap) {
		uint32_t *x = realloc(r->idx_next, r->n * sizeof *x);
		if (!x)
			return mcr_error_set(MCR_ENOMEM, "out of memory");
		r->idx_next = x;
		r->idx_cap = r->n;
	}
	memset(r->idx_head, 0xff, nb * sizeof *r->idx_head);
	r->idx_buckets = nb;
	/* Last pair first, so each chain is in pair order. */
	for (size_t i = r->n; i-- > 0;) {
		size_t b = r->pairs[i].hash & (nb - 1);
		r->idx_next[i] = r->idx_head[b];
		r->idx_head[b] = (uint32_t)i;
	}
	r->idx_ok = 1;
	return 0;
}

/*
 * A record: rec_head, the type, the fullUrl, then per pair, as varints (7 bits
 * a byte, low first): the path id shifted left once, its low bit set when the
 * path is new to the scratch file (then followed by the path's length and
 * bytes; a path is written once per file and named by its id after that); the
 * value's length; the depth; how many leading ancestors (anc) equal the
 * previous pair's, then the other ancestors; then the value's bytes. Pairs of
 * one element share their ancestors, so a pair's head is a few bytes instead
 * of 32, and the record, sealed and written and read back, about half as large.
 */
typedef struct rec_head {
	uint32_t magic, file;
	int32_t line, root;
	uint32_t type_len, url_len; /* url_len UINT32_MAX: no fullUrl */
	uint64_t n, body_len;
} rec_head;

#define REC_MAGIC 0x52485046u /* "FPHR" */
#define MAX_PATHS 65536
#define MIN_PAIR_BYTES 4 /* path id, value length, depth, shared ancestors */

/* Write v at p (room for 5 bytes); returns the end. */
static unsigned char *put_varint(unsigned char *p, uint32_t v)
{
	while (v >= 0x80) {
		*p++ = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	*p++ = (unsigned char)v;
	return p;
}

/* 0, or -1 when the bytes end first or the number is longer than 32 bits. */
static inline int get_varint(const char **pp, const char *end, uint32_t *out)
{
	const unsigned char *p = (const unsigned char *)*pp;
	uint32_t v = 0;
	for (int shift = 0; shift < 35; shift += 7) {
		if ((const char *)p >= end)
			return -1;
		unsigned c = *p++;
		if (shift == 28 && c > 0x0F)
			return -1;
		v |= (uint32_t)(c & 0x7F) << shift;
		if (!(c & 0x80)) {
			*pp = (const char *)p;
			*out = v;
			return 0;
		}
	}
	return -1;
}

struct mcr_fhir_replay {
	mcr_seal *s; /* the scratch file, encrypted: it holds withheld content too */
	mcr_buf body;
	/* paths: id -> text and hash; an open-addressing table hash -> id + 1 */
	char **paths;
	uint32_t *hashes;
	size_t npaths;
	uint32_t table[2 * MAX_PATHS];
};

int mcr_fhir_replay_open(mcr_fhir_replay **out, int fd)
{
	*out = NULL;
	mcr_fhir_replay *rp = calloc(1, sizeof *rp);
	if (rp) {
		rp->paths = calloc(MAX_PATHS, sizeof *rp->paths);
		rp->hashes = calloc(MAX_PATHS, sizeof *rp->hashes);
	}
	if (!rp || !rp->paths || !rp->hashes) {
		mcr_fhir_replay_close(rp);
		return mcr_error_set(MCR_ENOMEM, "out of memory");
	}
	int rc = mcr_seal_open(&rp->s, fd);
	if (rc) {
		mcr_fhir_replay_close(rp);
		return rc;
	}
	*out = rp;
	return 0;
}

int mcr_fhir_replay_rewind(mcr_fhir_replay *rp)
{
	return mcr_seal_rewind(rp->s);
}

void mcr_fhir_replay_close(mcr_fhir_replay *rp)
{
	if (!rp)
		return;
	for (size_t i = 0; rp->paths && i < rp->npaths; i++)
		free(rp->paths[i]);
	free(rp->paths);
	free(rp->hashes);
	mcr_buf_free(&rp->body);
	mcr_seal_close(rp->s);
	free(rp);
}

/* The id of path (hash h), and whether it is new (1). Negative: too many. */
static long path_id(mcr_fhir_replay *rp, const char *path, uint32_t h, int *is_new)
{
	size_t mask = 2 * MAX_PATHS - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		uint32_t e = rp->table[i];
		if (e == 0)
			break;
		if (rp->hashes[e - 1] == h && strcmp(rp->paths[e - 1], path) == 0) {
			*is_new = 0;
			return (long)(e - 1);
		}
	}
	if (rp->npaths == MAX_PATHS)
		return mcr_error_set(MCR_ELIMIT, "more than %d distinct element paths", MAX_PATHS);
	char *copy = strdup(path);
	if (!copy)
		return mcr_error_set(MCR_ENOMEM, "out of memory");
	size_t id = rp->npaths++;
	rp->paths[id] = copy;
	rp->hashes[id] = h;
	size_t i = h & mask;
	while (rp->table[i])
		i = (i + 1) & mask;
	rp->table[i] = (uint32_t)id + 1;
	*is_new = 1;
	return (long)id;
}

int mcr_fhir_replay_save(mcr_fhir_replay *rp, const fres *r, size_t file)
{
	mcr_buf *b = &rp->body;
	mcr_buf_reset(b);
	int rc = 0;
	int prev[NANC] = {0};
	for (size_t i = 0; i < r->n && rc == 0; i++) {
		const fpair *q = &r->pairs[i];
		const char *path = r->arena.ptr + q->path, *value = r->arena.ptr + q->value;
		int is_new = 0;
		long id = path_id(rp, path, q->hash, &is_new);
		if (id < 0)
			return (int)id;
		uint32_t vlen = (uint32_t)strlen(value), plen = is_new ? (uint32_t)strlen(path) : 0;
		/* At most 10 varints of 5 bytes, the path when new, the value. */
		if ((rc = mcr_buf_grow(b, 50 + (size_t)plen + vlen)) != 0)
			return rc;
		unsigned char *o = (unsigned char *)b->ptr + b->len;
		o = put_varint(o, (uint32_t)id << 1 | (uint32_t)is_new);
		if (is_new) {
			o = put_varint(o, plen);
			memcpy(o, path, plen);
			o += plen;
		}
		o = put_varint(o, vlen);
		o = put_varint(o, (uint32_t)q->depth);
		int same = 0;
		while (same < NANC && q->anc[same] == prev[same])
			same++;
		o = put_varint(o, (uint32_t)same);
		for (int k = same; k < NANC; k++)
			o = put_varint(o, (uint32_t)q->anc[k]);
		memcpy(prev, q->anc, sizeof prev);
		memcpy(o, value, vlen);
		o += vlen;
		b->len = (size_t)((char *)o - b->ptr);
		b->ptr[b->len] = '\0';
	}
	if (rc)
		return rc;
	rec_head h = {REC_MAGIC, (uint32_t)file, r->line, r->root, (uint32_t)strlen(r->type),
	              r->full_url ? (uint32_t)strlen(r->full_url) : UINT32_MAX, r->n, b->len};
	if ((rc = mcr_seal_write(rp->s, &h, sizeof h)) != 0 ||
	    (rc = mcr_seal_write(rp->s, r->type, h.type_len)) != 0 ||
	    (r->full_url && (rc = mcr_seal_write(rp->s, r->full_url, h.url_len)) != 0))
		return rc;
	return mcr_seal_write(rp->s, b->ptr, b->len);
}

static int damaged(void)
{
	return mcr_error_set(MCR_EFORMAT, "the resource scratch file is damaged");
}

int mcr_fhir_replay_load(mcr_fhir_replay *rp, fres *r, size_t *file, char *const *files,
                         size_t nfiles)
{
	rec_head h;
	long got = mcr_seal_read(rp->s, &h, sizeof h);
	if (got <= 0)
		return (int)got; /* 0: the end */
	if ((size_t)got != sizeof h || h.magic != REC_MAGIC || h.file >= nfiles ||
	    h.type_len >= sizeof r->type || h.body_len > 4 * MCR_FHIR_MAX_RESOURCE_BYTES ||
	    (h.url_len != UINT32_MAX && h.url_len > MCR_FHIR_MAX_RESOURCE_BYTES) ||
	    h.n > h.body_len / MIN_PAIR_BYTES)
		return damaged();
	mcr_buf *b = &rp->body;
	mcr_buf_reset(b);
	mcr_buf_reset(&r->arena);
	size_t url = h.url_len == UINT32_MAX ? 0 : h.url_len;
	if (mcr_buf_grow(b, h.body_len + url + 1) != 0)
		return MCR_ENOMEM;
	if (h.n > r->cap) {
		fpair *p = realloc(r->pairs, h.n * sizeof *p);
		if (!p)
			return mcr_error_set(MCR_ENOMEM, "out of memory");
		r->pairs = p;
		r->cap = h.n;
	}
	long rc;
	if ((rc = mcr_seal_read(rp->s, r->type, h.type_len)) != (long)h.type_len ||
	    (rc = mcr_seal_read(rp->s, b->ptr, url + h.body_len)) != (long)(url + h.body_len))
		return rc < 0 ? (int)rc : damaged();
	r->type[h.type_len] = '\0';
	const char *p = b->ptr + url, *end = p + h.body_len;
	int prev[NANC] = {0};
	for (size_t i = 0; i < h.n; i++) {
		uint32_t code, id, vlen, depth, same;
		if (get_varint(&p, end, &code) != 0)
			return damaged();
		id = code >> 1;
		if (code & 1) {
			uint32_t len;
			if (get_varint(&p, end, &len) != 0 || id > rp->npaths || id >= MAX_PATHS ||
			    (size_t)(end - p) < len)
				return damaged();
			/* The same process wrote it: the table may know it already. */
			if (id == rp->npaths) {
				if (!(rp->paths[id] = strndup(p, len)))
					return mcr_error_set(MCR_ENOMEM, "out of memory");
				rp->hashes[id] = path_hash(p, len);
				rp->npaths++;
			}
			p += len;
		} else if (id >= rp->npaths) {
			return damaged();
		}
		if (get_varint(&p, end, &vlen) != 0 || get_varint(&p, end, &depth) != 0 ||
		    get_varint(&p, end, &same) != 0 || depth > MCR_FHIR_MAX_DEPTH || same > NANC)
			return damaged();
		for (uint32_t k = same; k < NANC; k++) {
			uint32_t a;
			if (get_varint(&p, end, &a) != 0 || a > INT32_MAX)
				return damaged();
			prev[k] = (int)a;
		}
		if ((size_t)(end - p) < vlen)
			return damaged();
		fpair *q = &r->pairs[i];
		q->path = r->arena.len;
		q->hash = rp->hashes[id];
		q->depth = (int)depth;
		memcpy(q->anc, prev, sizeof q->anc);
		if (mcr_buf_put(&r->arena, rp->paths[id], strlen(rp->paths[id]) + 1) != 0)
			return MCR_ENOMEM;
		q->value = r->arena.len;
		if (mcr_buf_put(&r->arena, p, vlen) != 0 || mcr_buf_putc(&r->arena, '\0') != 0)
			return MCR_ENOMEM;
		p += vlen;
	}
	/* The fullUrl after the pairs, once the arena no longer moves. */
	size_t url_off = r->arena.len;
	if (url && (mcr_buf_put(&r->arena, b->ptr, url) != 0 || mcr_buf_putc(&r->arena, '\0') != 0))
		return MCR_ENOMEM;
	r->full_url = url ? r->arena.ptr + url_off : NULL;
	r->n = h.n;
	r->idx_ok = 0;
	r->idx_misses = 0;
	r->line = h.line;
	r->root = h.root;
	r->file = files[h.file];
	*file = h.file;
	return 1;
}

void mcr_fhir_res_free(fres *r)
{
	free(r->pairs);
	r->pairs = NULL;
	r->n = r->cap = 0;
	free(r->idx_head);
	free(r->idx_next);
	r->idx_head = r->idx_next = NULL;
	r->idx_buckets = r->idx_alloc = r->idx_cap = 0;
	r->idx_ok = 0;
	mcr_buf_free(&r->arena);
}

void mcr_fhir_path_reset(fhir_path *p)
{
	p->hash = PATH_HASH_INIT;
	p->len = 0;
	p->s[0] = '\0';
	memset(p->anc, 0, sizeof p->anc);
	p->next_id = 1;
}

int mcr_fhir_path_enter(fhir_path *p, const fres *r, int rel, const char *name, size_t n)
{
	if (rel < 1 || rel > MCR_FHIR_MAX_DEPTH)
		return mcr_error_set(MCR_ELIMIT, "%s:%d: elements nested deeper than %d in %s",
		                     r->file ? r->file : "", r->line, MCR_FHIR_MAX_DEPTH, r->type);
	size_t len = p->len;
	p->len_at[rel] = len;
	p->hash_at[rel] = p->hash;
	if (len + n + 2 >= sizeof p->s)
		return mcr_error_set(MCR_ELIMIT, "%s:%d: element path too long in %s",
		                     r->file ? r->file : "", r->line, r->type);
	if (len) {
		p->s[len++] = '/';
		p->hash = hash_more(p->hash, "/", 1);
	}
	memcpy(p->s + len, name, n);
	len += n;
	p->s[len] = '\0';
	p->len = len;
	p->hash = hash_more(p->hash, name, n);
	int id = p->next_id++;
	if (rel <= NANC) {
		p->anc[rel - 1] = id;
		for (int k = rel; k < NANC; k++)
			p->anc[k] = 0;
	}
	return 0;
}

void mcr_fhir_path_leave(fhir_path *p, int rel)
{
	if (rel >= 1 && rel <= MCR_FHIR_MAX_DEPTH) {
		p->len = p->len_at[rel];
		p->hash = p->hash_at[rel];
	}
	p->s[p->len] = '\0';
}

int mcr_fhir_path_push(fhir_path *p, fres *r, int rel, const char *value, size_t value_len,
                       const char *raw_end)
{
	return mcr_fhir_res_push(r, p->s, p->len, p->hash, value, value_len, raw_end, rel, p->anc);
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

mcr_fhir_format mcr_fhir_format_of(const char *path)
{
	if (ends_with(path, ".ndjson") || ends_with(path, ".ndjson.gz"))
		return MCR_FHIR_NDJSON;
	if (ends_with(path, ".json") || ends_with(path, ".json.gz"))
		return MCR_FHIR_JSON;
	return MCR_FHIR_XML;
}

void mcr_fhir_reader_free(mcr_fhir_reader *rd)
{
	if (!rd)
		return;
	mcr_fhir_res_free(&rd->res);
	mcr_buf_free(&rd->full_url);
}
