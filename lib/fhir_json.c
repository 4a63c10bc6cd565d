/*
 * FHIR R4 JSON and NDJSON -> the per-resource model (fhir_res.h), through
 * yajl's event API (streaming: memory holds one resource and a stack of open
 * objects, never the file).
 *
 * A .json file is a Bundle (its entry[].resource, with entry[].fullUrl) or a
 * single resource; a .ndjson file (FHIR Bulk Data) holds one resource (or
 * Bundle) per line. Property order is free (a resource is handed over at its
 * end, a Bundle entry's at the entry's end, once its fullUrl is known),
 * except that a Bundle's resourceType must come before its entries. The
 * mapping onto the XML model is described in fhir_res.h.
 */
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "fhir_res.h"
#include "mcr/error.h"
#include "mcr/gz.h"

#define CHUNK 65536
#define MAX_NEST 100 /* objects and arrays open at once, whatever is skipped */
#define NAME_MAX_LEN 64

typedef enum role {
	R_ROOT,          /* the root object, kind not known yet */
	R_BUNDLE,        /* the root Bundle */
	R_ENTRIES,       /* its entry array */
	R_ENTRY,         /* one entry */
	R_RES,           /* a resource (root, entry or NDJSON line): elements at depth 1 */
	R_CONTAINED,     /* a resource's contained array */
	R_CONT_RES,      /* one contained resource: its elements at depth 3 */
	R_ELEM_OBJ,      /* a complex element at depth rel */
	R_ELEM_ARR,      /* an array: each item is the element name at depth rel */
} role;

/* What the value after a property name is. */
typedef enum pending {
	P_NONE,
	P_ELEM,       /* an element: key at depth key_rel */
	P_SKIP,       /* skipped */
	P_ROOT_TYPE,  /* the root's resourceType */
	P_TYPE,       /* a resource's resourceType */
	P_CTYPE,      /* a contained resource's resourceType */
	P_ENTRIES,    /* Bundle.entry */
	P_FULL_URL,   /* entry.fullUrl */
	P_RESOURCE,   /* entry.resource */
	P_CONTAINED,  /* a resource's contained */
} pending;

typedef struct frame {
	unsigned char role;
	unsigned char ext;   /* R_ELEM_OBJ: an extension (its url is not a pair) */
	int rel;
	size_t k0;           /* R_CONT_RES: its first pair */
	int typed;           /* R_CONT_RES: resourceType seen */
	char name[NAME_MAX_LEN]; /* R_ELEM_ARR: the element's name */
	size_t name_len;
} frame;

typedef struct js {
	mcr_fhir_reader *rd;
	const char *file;
	int ndjson;
	yajl_handle h;
	int rc;            /* the error a callback stopped the parse with */
	frame st[MAX_NEST];
	int nst;
	int skip;          /* depth inside a skipped value, 0: not skipping */
	int nest;          /* objects and arrays open */
	pending pend;
	char key[NAME_MAX_LEN];
	size_t key_len;
	int key_rel;
	int key_ext;       /* the key is extension or modifierExtension */
	int saw_entry;     /* the root resource had an "entry" before its resourceType */
	int has_res, has_url; /* the current entry's resource and fullUrl */
	int roots;         /* root values seen */
	int content;       /* a byte other than JSON white space seen */
	int last_root_line;
	/* Position: the chunk being parsed and the lines counted in it. */
	const unsigned char *chunk;
	size_t clen;
	uint64_t base;     /* absolute offset of chunk */
	size_t upto;       /* newlines counted in chunk[0, upto) */
	int line;          /* line at chunk[upto] */
	uint64_t line_start; /* absolute offset where that line starts */
	uint64_t prev_line_start; /* and where the line before it starts */
	uint64_t last_event; /* absolute offset of the last event */
} js;

/* ---- position ---------------------------------------------------------------- */

static void count_to(js *s, size_t off)
{
	if (off > s->clen)
		off = s->clen;
	while (s->upto < off) {
		const unsigned char *p = memchr(s->chunk + s->upto, '\n', off - s->upto);
		if (!p) {
			s->upto = off;
			break;
		}
		s->line++;
		s->upto = (size_t)(p - s->chunk) + 1;
		s->prev_line_start = s->line_start;
		s->line_start = s->base + s->upto;
	}
}

/* Line of the token just parsed. */
static int cur_line(js *s)
{
	size_t off = yajl_get_bytes_consumed(s->h);
	count_to(s, off ? off - 1 : 0);
	s->last_event = s->base + off;
	return s->line;
}

static int fail(js *s, int code, const char *what)
{
	int line = cur_line(s);
	s->rc = mcr_error_set(code, "%s:%d:%d: %s", s->file, line,
	                      (int)(s->base + yajl_get_bytes_consumed(s->h) - s->line_start), what);
	return 0;
}

/* A callback's own error (message set): stop the parse with it. */
static int stop(js *s, int rc)
{
	s->rc = rc;
	return 0;
}

/* ---- building the model --------------------------------------------------------- */

static frame *top(js *s)
{
	return s->nst ? &s->st[s->nst - 1] : NULL;
}

static frame *push(js *s, role r, int rel)
{
	frame *f = &s->st[s->nst++]; /* nst < MAX_NEST: nest is checked first */
	memset(f, 0, offsetof(frame, name));
	f->role = (unsigned char)r;
	f->rel = rel;
	f->name_len = 0;
	return f;
}

static int eq(const char *k, size_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(k, lit, n) == 0;
}

/* A FHIR name (element or resource type): letters, digits, '_'; never '/',
 * which would make one name read as a path of several. */
static int is_name(const char *k, size_t n)
{
	if (n == 0 || n >= NAME_MAX_LEN)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = k[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
			return 0;
	}
	return 1;
}

static int enter(js *s, int rel, const char *name, size_t n)
{
	return mcr_fhir_path_enter(&s->rd->path, &s->rd->res, rel, name, n);
}

/* A primitive element: its pair. */
static int primitive(js *s, int rel, const char *name, size_t n, const char *v, size_t vlen)
{
	int rc = enter(s, rel, name, n);
	if (rc == 0)
		rc = mcr_fhir_path_push(&s->rd->path, &s->rd->res, rel, v, vlen, NULL);
	mcr_fhir_path_leave(&s->rd->path, rel);
	return rc;
}

static int begin_resource(js *s, int root)
{
	mcr_fhir_res_begin(&s->rd->res, NULL, 0, cur_line(s), root);
	s->rd->res.file = s->file;
	mcr_fhir_path_reset(&s->rd->path);
	push(s, R_RES, 0);
	return 1;
}

static int deliver(js *s)
{
	fres *r = &s->rd->res;
	if (!r->type[0]) {
		s->rc = mcr_error_set(MCR_EFORMAT, "%s:%d: resource without resourceType", s->file, r->line);
		return 0;
	}
	int rc = s->rd->on_resource(s->rd->ctx, r);
	return rc ? stop(s, rc) : 1;
}

/* Of a resource whose type is known, is this top-level element read? */
static int reads(const js *s, const char *k, size_t n)
{
	const mcr_fhir_reader *rd = s->rd;
	if (!rd->only || !rd->res.type[0] || (rd->whole && strcmp(rd->res.type, rd->whole) == 0))
		return 1;
	for (const char *const *p = rd->only; *p; p++)
		if (eq(k, n, *p))
			return 1;
	return 0;
}

/* A contained resource's type arrives after some of its elements: their paths
 * had "?" for it. Rename that segment in the path and in the pairs so far. */
static int name_contained(js *s, frame *f, const char *type, size_t n)
{
	fhir_path *p = &s->rd->path;
	fres *r = &s->rd->res;
	int id = p->anc[1];
	mcr_fhir_path_leave(p, 2);
	int rc = enter(s, 2, type, n);
	if (rc)
		return rc;
	p->anc[1] = id;
	size_t old_prefix = strlen("contained/?"), n0 = r->n;
	mcr_buf path = MCR_BUF_INIT, value = MCR_BUF_INIT;
	for (size_t i = f->k0; i < n0 && rc == 0; i++) {
		fpair q = r->pairs[i];
		mcr_buf_reset(&path);
		mcr_buf_reset(&value);
		const char *old = r->arena.ptr + q.path;
		if (mcr_buf_put(&path, p->s, p->len) != 0 || mcr_buf_puts(&path, old + old_prefix) != 0 ||
		    mcr_buf_puts(&value, r->arena.ptr + q.value) != 0) {
			rc = MCR_ENOMEM;
			break;
		}
		rc = mcr_fhir_res_push(r, path.ptr, path.len, path_hash(path.ptr, path.len), value.ptr,
		                       value.len, NULL, q.depth, q.anc);
	}
	mcr_buf_free(&path);
	mcr_buf_free(&value);
	if (rc)
		return rc;
	if (n0 > f->k0) {
		memmove(r->pairs + f->k0, r->pairs + n0, (r->n - n0) * sizeof *r->pairs);
		r->n -= n0 - f->k0;
	}
	f->typed = 1;
	return 0;
}

static int begin_contained(js *s)
{
	int rc = enter(s, 1, "contained", 9);
	if (rc == 0)
		rc = enter(s, 2, "?", 1);
	if (rc)
		return stop(s, rc);
	frame *f = push(s, R_CONT_RES, 2);
	f->k0 = s->rd->res.n;
	return 1;
}

/* ---- yajl callbacks ------------------------------------------------------------ */

static int on_key(void *ctx, const unsigned char *key, size_t n)
{
	js *s = ctx;
	if (s->skip)
		return 1;
	const char *k = (const char *)key;
	frame *f = top(s);
	s->pend = P_SKIP;
	switch (f->role) {
	case R_ROOT:
		if (eq(k, n, "resourceType")) {
			s->pend = P_ROOT_TYPE;
			return 1;
		}
		/* A resource whose resourceType comes later. */
		s->nst--;
		begin_resource(s, 1);
		s->rd->res.line = s->last_root_line;
		f = top(s);
		break;
	case R_BUNDLE:
		if (eq(k, n, "entry"))
			s->pend = P_ENTRIES;
		return 1;
	case R_ENTRY:
		if (eq(k, n, "fullUrl"))
			s->pend = P_FULL_URL;
		else if (eq(k, n, "resource"))
			s->pend = P_RESOURCE;
		return 1;
	default:
		break;
	}
	int rel = f->rel + 1;
	if (f->role == R_RES) {
		if (eq(k, n, "resourceType")) {
			s->pend = P_TYPE;
			return 1;
		}
		if (eq(k, n, "entry") && s->nst == 1)
			s->saw_entry = 1;
		if (eq(k, n, "text") || !reads(s, k, n))
			return 1;
		if (eq(k, n, "contained")) {
			s->pend = P_CONTAINED;
			return 1;
		}
	} else if (f->role == R_CONT_RES) {
		if (eq(k, n, "resourceType")) {
			s->pend = P_CTYPE;
			return 1;
		}
	} else if (f->role == R_ELEM_OBJ) {
		/* XML attributes, not value elements: a datatype's id, an extension's url. */
		if (eq(k, n, "id") || (f->ext && eq(k, n, "url")))
			return 1;
	}
	if (eq(k, n, "div") || eq(k, n, "fhir_comments"))
		return 1;
	if (n && k[0] == '_') { /* a primitive's id and extensions: the element itself */
		k++;
		n--;
	}
	if (!is_name(k, n))
		return fail(s, MCR_EFORMAT, "not a FHIR property name (letters, digits and _ only, at most 63)");
	memcpy(s->key, k, n);
	s->key_len = n;
	s->key_rel = rel;
	s->key_ext = eq(k, n, "extension") || eq(k, n, "modifierExtension");
	s->pend = P_ELEM;
	return 1;
}

/* A string, number or boolean (text), or null (v NULL). */
static int scalar(js *s, const char *v, size_t n)
{
	if (s->skip)
		return 1;
	frame *f = top(s);
	if (!f)
		return fail(s, MCR_EFORMAT, "not a FHIR resource or Bundle (not a JSON object)");
	pending p = s->pend;
	s->pend = P_NONE;
	int rc = 0;
	if ((p == P_ROOT_TYPE || p == P_TYPE || p == P_CTYPE) && (!v || !is_name(v, n)))
		return fail(s, MCR_EFORMAT, "resourceType is not a FHIR type name");
	switch (p) {
	case P_SKIP:
		return 1;
	case P_ELEM:
		if (v)
			rc = primitive(s, s->key_rel, s->key, s->key_len, v, n);
		break;
	case P_ROOT_TYPE:
		s->nst--;
		if (eq(v, n, "Bundle")) {
			push(s, R_BUNDLE, 0);
			return 1;
		}
		begin_resource(s, 1);
		s->rd->res.line = s->last_root_line;
		mcr_fhir_res_set_type(&s->rd->res, v, n);
		return 1;
	case P_TYPE:
		if (eq(v, n, "Bundle") && s->nst == 1 && s->rd->res.root) {
			if (s->saw_entry)
				return fail(s, MCR_EFORMAT, "a Bundle's resourceType must come before its entry");
			s->st[0].role = R_BUNDLE;
			return 1;
		}
		mcr_fhir_res_set_type(&s->rd->res, v, n);
		return 1;
	case P_CTYPE:
		rc = name_contained(s, f, v, n);
		break;
	case P_FULL_URL:
		if (v) {
			mcr_buf *u = &s->rd->full_url;
			mcr_buf_reset(u);
			if (mcr_buf_put(u, v, n) != 0 || mcr_buf_putc(u, '\0') != 0)
				rc = MCR_ENOMEM;
			s->has_url = 1;
		}
		break;
	case P_ENTRIES:
	case P_CONTAINED:
		if (v)
			return fail(s, MCR_EFORMAT, "Bundle entry or contained is not an array");
		break;
	case P_RESOURCE:
		if (v)
			return fail(s, MCR_EFORMAT, "entry resource is not an object");
		break;
	case P_NONE:
		if (f->role == R_ELEM_ARR) {
			if (v)
				rc = primitive(s, f->rel, f->name, f->name_len, v, n);
		} else if (v) {
			return fail(s, MCR_EFORMAT, "Bundle entry or contained resource is not an object");
		}
		break;
	}
	return rc ? stop(s, rc) : 1;
}

static int on_null(void *ctx)
{
	return scalar(ctx, NULL, 0);
}

static int on_bool(void *ctx, int b)
{
	return b ? scalar(ctx, "true", 4) : scalar(ctx, "false", 5);
}

static int on_number(void *ctx, const char *v, size_t n)
{
	return scalar(ctx, v, n);
}

static int on_string(void *ctx, const unsigned char *v, size_t n)
{
	return scalar(ctx, (const char *)v, n);
}

/* Common start of an object or array: depth, skipping. 1: handled (skipped). */
static int open_value(js *s, int *handled)
{
	*handled = 1;
	if (++s->nest > MAX_NEST)
		return fail(s, MCR_ELIMIT, "JSON nested deeper than 100");
	if (s->skip) {
		s->skip++;
		return 1;
	}
	if (s->pend == P_SKIP) {
		s->pend = P_NONE;
		s->skip = 1;
		return 1;
	}
	*handled = 0;
	return 1;
}

static int on_start_map(void *ctx)
{
	js *s = ctx;
	int handled;
	if (!open_value(s, &handled) || handled)
		return s->rc ? 0 : 1;
	frame *f = top(s);
	pending p = s->pend;
	s->pend = P_NONE;
	if (!f) {
		int line = cur_line(s);
		if (s->roots++ && line == s->last_root_line)
			return fail(s, MCR_EFORMAT, "two JSON values on one line (NDJSON holds one resource a line)");
		s->last_root_line = line;
		s->saw_entry = 0;
		push(s, R_ROOT, 0);
		return 1;
	}
	int rc = 0;
	switch (p) {
	case P_ELEM:
		rc = enter(s, s->key_rel, s->key, s->key_len);
		if (rc == 0)
			push(s, R_ELEM_OBJ, s->key_rel)->ext = (unsigned char)s->key_ext;
		break;
	case P_RESOURCE:
		s->has_res = 1;
		return begin_resource(s, 0);
	case P_CONTAINED:
		return begin_contained(s);
	case P_NONE:
		if (f->role == R_ELEM_ARR) {
			rc = enter(s, f->rel, f->name, f->name_len);
			if (rc == 0) {
				int ext = eq(f->name, f->name_len, "extension") || eq(f->name, f->name_len, "modifierExtension");
				push(s, R_ELEM_OBJ, f->rel)->ext = (unsigned char)ext;
			}
		} else if (f->role == R_ENTRIES) {
			push(s, R_ENTRY, 0);
			s->has_res = s->has_url = 0;
		} else if (f->role == R_CONTAINED) {
			return begin_contained(s);
		} else {
			return fail(s, MCR_EFORMAT, "unexpected object");
		}
		break;
	default:
		return fail(s, MCR_EFORMAT, p == P_ENTRIES ? "Bundle entry is not an array"
		                                              : "resourceType or fullUrl is not a string");
	}
	return rc ? stop(s, rc) : 1;
}

static int on_end_map(void *ctx)
{
	js *s = ctx;
	s->nest--;
	if (s->skip) {
		s->skip--;
		return 1;
	}
	frame *f = top(s);
	s->nst--;
	switch (f->role) {
	case R_ROOT:
		return fail(s, MCR_EFORMAT, "empty object: not a FHIR resource or Bundle");
	case R_ELEM_OBJ:
		mcr_fhir_path_leave(&s->rd->path, f->rel);
		return 1;
	case R_CONT_RES:
		if (!f->typed)
			return fail(s, MCR_EFORMAT, "contained resource without resourceType");
		mcr_fhir_path_leave(&s->rd->path, 2);
		mcr_fhir_path_leave(&s->rd->path, 1);
		return 1;
	case R_RES:
		if (s->nst == 0) {
			cur_line(s);
			s->last_root_line = s->line;
			return deliver(s);
		}
		return 1; /* an entry's: handed over at the entry's end */
	case R_ENTRY:
		if (!s->has_res)
			return 1;
		s->rd->res.full_url = s->has_url ? s->rd->full_url.ptr : NULL;
		return deliver(s);
	case R_BUNDLE:
		cur_line(s);
		s->last_root_line = s->line;
		return 1;
	default:
		return 1;
	}
}

static int on_start_array(void *ctx)
{
	js *s = ctx;
	int handled;
	if (!open_value(s, &handled) || handled)
		return s->rc ? 0 : 1;
	frame *f = top(s);
	pending p = s->pend;
	s->pend = P_NONE;
	if (!f)
		return fail(s, MCR_EFORMAT, "not a FHIR resource or Bundle (a JSON array)");
	switch (p) {
	case P_ELEM: {
		frame *a = push(s, R_ELEM_ARR, s->key_rel);
		memcpy(a->name, s->key, s->key_len);
		a->name_len = s->key_len;
		return 1;
	}
	case P_ENTRIES:
		push(s, R_ENTRIES, 0);
		return 1;
	case P_CONTAINED:
		push(s, R_CONTAINED, 1);
		return 1;
	case P_NONE:
		if (f->role == R_ELEM_ARR) { /* not FHIR; read as the same element repeated */
			frame *a = push(s, R_ELEM_ARR, f->rel);
			memcpy(a->name, f->name, f->name_len);
			a->name_len = f->name_len;
			return 1;
		}
		return fail(s, MCR_EFORMAT, "unexpected array");
	default:
		return fail(s, MCR_EFORMAT, "resourceType, fullUrl or resource is an array");
	}
}

static int on_end_array(void *ctx)
{
	js *s = ctx;
	s->nest--;
	if (s->skip) {
		s->skip--;
		return 1;
	}
	s->nst--;
	return 1;
}

static const yajl_callbacks callbacks = {
	on_null, on_bool, NULL, NULL, on_number, on_string,
	on_start_map, on_key, on_end_map, on_start_array, on_end_array,
};

/* ---- feeding ------------------------------------------------------------------ */

/* The parse failed: at the byte yajl reached, or at the end of the file (yajl
 * finishes by parsing one space of its own, not of the file). */
static int parse_error(js *s, yajl_status st, int at_end)
{
	if (st == yajl_status_client_canceled)
		return s->rc ? s->rc : mcr_error_set(MCR_EFORMAT, "%s: JSON parse stopped", s->file);
	unsigned char *e = yajl_get_error(s->h, 0, NULL, 0);
	const char *msg = e ? (const char *)e : "parse error";
	if (strncmp(msg, "parse error: ", 13) == 0)
		msg += 13;
	size_t len = strcspn(msg, "\n");
	size_t off = at_end ? 0 : yajl_get_bytes_consumed(s->h);
	count_to(s, off);
	int rc = mcr_error_set(MCR_EFORMAT, "%s:%d:%d: bad JSON: %.*s", s->file, s->line,
	                       (int)(s->base + off - s->line_start + 1), (int)len, msg);
	yajl_free_error(s->h, e);
	return rc;
}

/* Parse bytes of the file, in order. */
static int parse(js *s, const unsigned char *buf, size_t len)
{
	s->chunk = buf;
	s->clen = len;
	s->upto = 0;
	yajl_status st = yajl_parse(s->h, buf, len);
	if (st != yajl_status_ok)
		return parse_error(s, st, 0);
	count_to(s, len);
	s->base += len;
	return 0;
}

/* NDJSON: a line ended (its newline parsed) inside a value, or the file ended
 * inside one: the resource that began on its line is not whole on it. */
static int not_whole(js *s, const char *where)
{
	return mcr_error_set(MCR_EFORMAT, "%s:%d: the resource %s (NDJSON holds one "
	                     "whole resource a line)", s->file, s->last_root_line, where);
}

/* Parse one chunk: NDJSON a line at a time, so that a value still open at the
 * end of its line is named there. */
static int feed(js *s, const unsigned char *buf, size_t len)
{
	if (s->base == 0 && len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) { /* a BOM */
		buf += 3;
		len -= 3;
		s->base = s->line_start = 3;
	}
	for (size_t i = 0; !s->content && i < len; i++)
		s->content = !strchr(" \t\r\n", buf[i]);
	int rc = 0;
	while (rc == 0 && len) {
		const unsigned char *nl = s->ndjson ? memchr(buf, '\n', len) : NULL;
		size_t n = nl ? (size_t)(nl - buf) + 1 : len;
		rc = parse(s, buf, n);
		if (rc == 0 && nl && s->nest)
			rc = not_whole(s, "does not end on this line");
		buf += n;
		len -= n;
	}
	/* yajl holds a token split across chunks in memory: bound it. */
	if (rc == 0 && s->base - s->last_event > MCR_FHIR_MAX_RESOURCE_BYTES)
		return mcr_error_set(MCR_ELIMIT, "%s:%d: a JSON value or gap larger than %zu bytes",
		                     s->file, s->line, MCR_FHIR_MAX_RESOURCE_BYTES);
	return rc;
}

static int finish(js *s)
{
	if (!s->content)
		return mcr_error_set(MCR_EFORMAT, "%s: empty: no FHIR resource%s", s->file,
		                     s->ndjson ? " (nothing but blank lines)" : " or Bundle");
	if (s->ndjson && s->nest)
		return not_whole(s, "on this line is cut short by the end of the file");
	/* An error at the end of the file is at the end of its last line (the column
	 * of its newline), not on the line after the file's final newline. */
	if (s->line > 1 && s->line_start == s->base) {
		s->line--;
		s->line_start = s->prev_line_start;
		s->base--;
	}
	s->chunk = NULL;
	s->clen = 0;
	s->upto = 0;
	yajl_status st = yajl_complete_parse(s->h);
	if (st != yajl_status_ok)
		return parse_error(s, st, 1);
	return 0;
}

static int js_open(js *s, mcr_fhir_reader *rd, const char *file, int ndjson)
{
	memset(s, 0, sizeof *s);
	s->rd = rd;
	s->file = file;
	s->ndjson = ndjson;
	s->line = 1;
	rd->res.file = file;
	s->h = yajl_alloc(&callbacks, NULL, s);
	if (!s->h)
		return mcr_error_set(MCR_ENOMEM, "out of memory");
	if (ndjson)
		yajl_config(s->h, yajl_allow_multiple_values, 1);
	return 0;
}

static void js_close(js *s)
{
	s->rd->res.full_url = NULL;
	if (s->h)
		yajl_free(s->h);
}

int mcr_fhir_read_json(mcr_fhir_reader *rd, const char *path, int ndjson)
{
	js s;
	mcr_gz_reader *in = NULL;
	unsigned char *buf = NULL;
	int rc = js_open(&s, rd, path, ndjson);
	if (rc == 0)
		rc = mcr_gz_open(&in, path, MCR_GZ_ALLOW_PLAIN, 0);
	if (rc == 0 && !(buf = malloc(CHUNK)))
		rc = mcr_error_set(MCR_ENOMEM, "out of memory");
	while (rc == 0) {
		size_t got = 0;
		rc = mcr_gz_read(in, buf, CHUNK, &got);
		if (rc || got == 0)
			break;
		rc = feed(&s, buf, got);
	}
	if (rc == 0)
		rc = finish(&s);
	free(buf);
	mcr_gz_close(in);
	js_close(&s);
	return rc;
}

int mcr_fhir_read_json_memory(mcr_fhir_reader *rd, const char *data, size_t len,
                              const char *name, int ndjson)
{
	js s;
	int rc = js_open(&s, rd, name, ndjson);
	/* Small chunks, so that tokens and lines split across chunks are exercised. */
	for (size_t off = 0; rc == 0 && off < len; off += 61)
		rc = feed(&s, (const unsigned char *)data + off, len - off < 61 ? len - off : 61);
	if (rc == 0)
		rc = finish(&s);
	js_close(&s);
	return rc;
}
