/* The per-resource model the GP format readers share (fhir_res.h). */
#include "fhir_res.h"

#include <stdlib.h>
#include <string.h>

#include "mcr/error.h"
#include "mcr/xml.h"

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
	mcr_buf_reset(&r->arena);
}

void mcr_fhir_res_free(fres *r)
{
	free(r->pairs);
	r->pairs = NULL;
	r->n = r->cap = 0;
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
