/*
 * FHIR R4 XML -> the per-resource model (fhir_res.h), through libxml2's SAX2
 * push parser (mcr_xml_sax_*: the reader's defences, no tree).
 *
 * A file is a Bundle (entry/resource/<Resource>, entry/fullUrl) or a single
 * resource. A resource is collected as (path, value) pairs from its elements'
 * value attributes; its narrative (the top-level text) and elements of other
 * namespaces are skipped. Names are compared as the parser's interned pointers.
 */
#include <string.h>

#include "fhir_res.h"
#include "mcr/error.h"
#include "mcr/xml.h"

#define FHIR_NS "http://hl7.org/fhir"
#define MAX_ONLY 32

typedef struct xr {
	mcr_fhir_reader *rd;
	mcr_xml *x;
	const xmlChar *n_bundle, *n_entry, *n_full_url, *n_resource, *n_value, *n_text, *n_fhir;
	const xmlChar *n_whole;
	const xmlChar *n_only[MAX_ONLY + 1]; /* rd->only interned, NULL-terminated */
	int depth;       /* elements open */
	int skip;        /* depth of the element whose subtree is skipped, -1: none */
	int base;        /* depth of the resource element being collected, -1: none */
	int has_full_url;
	int filter;      /* the resource's top-level elements are filtered by n_only */
} xr;

static int is_fhir(const xr *s, const xmlChar *uri)
{
	return uri && (uri == s->n_fhir || strcmp((const char *)uri, FHIR_NS) == 0);
}

static int res_begin(xr *s, const xmlChar *name, int depth, int root)
{
	fres *r = &s->rd->res;
	mcr_fhir_res_begin(r, (const char *)name, strlen((const char *)name), mcr_xml_line(s->x), root);
	r->full_url = !root && s->has_full_url ? s->rd->full_url.ptr : NULL;
	s->base = depth;
	s->filter = s->rd->only && name != s->n_whole;
	mcr_fhir_path_reset(&s->rd->path);
	return 0;
}

static int only_reads(const xr *s, const xmlChar *name)
{
	for (const xmlChar *const *p = s->n_only; *p; p++)
		if (*p == name)
			return 1;
	return 0;
}

/* The element's un-namespaced value attribute (its 5 pointers), or NULL. */
static const xmlChar **value_attr(const xr *s, int nattrs, const xmlChar **attrs)
{
	for (int i = 0; i < nattrs; i++)
		if (attrs[5 * i] == s->n_value && !attrs[5 * i + 2])
			return attrs + 5 * i;
	return NULL;
}

/* An element inside the resource being collected, at rel levels below it. */
static int res_element(xr *s, const xmlChar *ln, const xmlChar *uri, int nattrs,
                       const xmlChar **attrs, int rel)
{
	fres *r = &s->rd->res;
	if (!is_fhir(s, uri) || (rel == 1 && (ln == s->n_text || (s->filter && !only_reads(s, ln))))) {
		s->skip = s->base + rel;
		return 0;
	}
	int rc = mcr_fhir_path_enter(&s->rd->path, r, rel, (const char *)ln, strlen((const char *)ln));
	if (rc)
		return rc;
	const xmlChar **a = value_attr(s, nattrs, attrs);
	if (!a)
		return 0;
	return mcr_fhir_path_push(&s->rd->path, r, rel, (const char *)a[3], 0, (const char *)a[4]);
}

static int on_start(void *ctx, const xmlChar *ln, const xmlChar *uri, int nattrs,
                    const xmlChar **attrs)
{
	xr *s = ctx;
	int d = s->depth++;
	if (s->skip >= 0)
		return 0;
	if (s->base >= 0)
		return res_element(s, ln, uri, nattrs, attrs, d - s->base);
	if (d == 0) {
		if (!is_fhir(s, uri))
			return mcr_error_set(MCR_EFORMAT, "%s:%d: root <%s> is not a FHIR resource or Bundle "
			                     "(namespace %s)", mcr_xml_path(s->x), mcr_xml_line(s->x),
			                     (const char *)ln, uri ? (const char *)uri : "none");
		if (ln == s->n_bundle)
			return 0;
		return res_begin(s, ln, d, 1);
	}
	/* In a Bundle, outside its resources. */
	if (d == 1) {
		if (ln == s->n_entry)
			s->has_full_url = 0;
		else if (ln != s->n_resource)
			s->skip = d;
		return 0;
	}
	if (d == 2) {
		if (ln == s->n_full_url) {
			const xmlChar **a = value_attr(s, nattrs, attrs);
			mcr_buf *u = &s->rd->full_url;
			s->has_full_url = a != NULL;
			mcr_buf_reset(u);
			if (a && (mcr_xml_sax_value(u, a[3], a[4]) != 0 || mcr_buf_putc(u, '\0') != 0))
				return MCR_ENOMEM;
		} else if (ln != s->n_resource) {
			s->skip = d;
		}
		return 0;
	}
	if (!is_fhir(s, uri))
		return mcr_error_set(MCR_EFORMAT, "%s:%d: <%s> in a Bundle entry is not a FHIR resource",
		                     mcr_xml_path(s->x), mcr_xml_line(s->x), (const char *)ln);
	return res_begin(s, ln, d, 0);
}

static int on_end(void *ctx, const xmlChar *ln, const xmlChar *uri)
{
	xr *s = ctx;
	(void)ln;
	(void)uri;
	int d = --s->depth;
	if (s->skip >= 0) {
		if (d == s->skip)
			s->skip = -1;
		return 0;
	}
	if (s->base < 0)
		return 0;
	int rel = d - s->base;
	if (rel == 0) {
		s->base = -1;
		return s->rd->on_resource(s->rd->ctx, &s->rd->res);
	}
	mcr_fhir_path_leave(&s->rd->path, rel);
	return 0;
}

static const mcr_xml_sax fhir_sax = {on_start, on_end, NULL};

int mcr_fhir_read_xml(mcr_fhir_reader *rd, const char *path)
{
	xr s = {0};
	s.rd = rd;
	rd->res.file = path;
	int rc = mcr_xml_sax_open(&s.x, path, 0, &fhir_sax, &s);
	if (rc)
		return rc;
	mcr_xml *x = s.x;
	s.n_bundle = mcr_xml_intern(x, "Bundle");
	s.n_entry = mcr_xml_intern(x, "entry");
	s.n_full_url = mcr_xml_intern(x, "fullUrl");
	s.n_resource = mcr_xml_intern(x, "resource");
	s.n_value = mcr_xml_intern(x, "value");
	s.n_text = mcr_xml_intern(x, "text");
	s.n_fhir = mcr_xml_intern(x, FHIR_NS);
	s.n_whole = mcr_xml_intern(x, rd->whole ? rd->whole : "");
	int interned = s.n_bundle && s.n_entry && s.n_full_url && s.n_resource && s.n_value &&
	               s.n_text && s.n_fhir && s.n_whole;
	size_t k = 0;
	for (; interned && rd->only && rd->only[k] && k < MAX_ONLY; k++)
		interned = (s.n_only[k] = mcr_xml_intern(x, rd->only[k])) != NULL;
	s.n_only[k] = NULL;
	if (rd->only && rd->only[k])
		rc = mcr_error_set(MCR_ERROR, "more than %d top-level names to read", MAX_ONLY);
	else if (!interned)
		rc = mcr_error_set(MCR_ENOMEM, "out of memory reading %s", path);
	s.skip = -1;
	s.base = -1;
	if (rc == 0)
		rc = mcr_xml_sax_run(x);
	rd->res.full_url = NULL;
	mcr_xml_close(x);
	return rc;
}
