/*
 * Staged file reader: the loader's hot path. libxml2's SAX2 push parser (twice
 * the speed of xmlTextReader, PERF-NOTES.md) fed with mcr_gz chunks, with the
 * XML Schema validator plugged into the same SAX stream so validation costs no
 * second pass. Strings handed to callbacks live in buffers reused from one
 * person or item to the next: no allocation per item once they have grown.
 */
#include "mcr/staged.h"
#include "mcr/buf.h"
#include "mcr/error.h"
#include "mcr/fs.h"
#include "mcr/gz.h"
#include "mcr/nhs.h"
#include "mcr/schema.h"

#include <libxml/SAX2.h>
#include <libxml/parser.h>
#include <libxml/xmlschemas.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CHUNK (256 * 1024)
/* Caps on one item (its attributes and details) against absurd input. */
#define MAX_ITEM_BYTES (16u << 20)
#define MAX_DETAILS 4096
/* Withheld counts above this are not a real extract. */
#define MAX_COUNT 1000000000000L

/* ---- the schema, compiled once per process ------------------------------ */

static pthread_once_t schema_once = PTHREAD_ONCE_INIT;
static xmlSchemaPtr schema;

static void quiet_schema_error(void *ctx, xmlErrorPtr e)
{
	(void)ctx;
	(void)e;
}

static void compile_schema(void)
{
	xmlInitParser();
	xmlSchemaParserCtxtPtr pc =
		xmlSchemaNewMemParserCtxt(mcr_schema_staged_xsd, (int)mcr_schema_staged_xsd_len);
	if (!pc)
		return;
	xmlSchemaSetParserStructuredErrors(pc, quiet_schema_error, NULL);
	schema = xmlSchemaParse(pc);
	xmlSchemaFreeParserCtxt(pc);
}

/* ---- reader state ---------------------------------------------------------- */

enum person_field {
	PF_NHS, PF_FAMILY, PF_GIVEN, PF_BIRTH_DATE, PF_GENDER, PF_ADDRESS, PF_POSTCODE,
	PF_PHONE, PF_OBJECTION, PF_CONSENT, PF_COUNT
};
static const char *const person_attrs[PF_COUNT] = {
	"nhs", "family", "given", "birthDate", "gender", "address", "postcode", "phone",
	"objection", "consent",
};

enum item_field {
	IF_SECTION, IF_ID, IF_DATE, IF_SYSTEM, IF_CODE, IF_DISPLAY, IF_STATUS,
	IF_CONFIDENTIALITY, IF_COUNT
};
static const char *const item_attrs[IF_COUNT] = {
	"section", "id", "date", "system", "code", "display", "status", "confidentiality",
};

typedef struct detail_off {
	size_t name, value;
} detail_off;

typedef struct reader {
	const char *path;            /* payload, for messages */
	const mcr_staged_manifest *m;
	const mcr_staged_handler *h;
	xmlParserCtxtPtr ctxt;
	int rc;                      /* first failure; stops everything */
	int depth;
	int root_seen;

	/* The open person: strings in pbuf at poff (SIZE_MAX: absent). */
	mcr_buf pbuf;
	size_t poff[PF_COUNT];
	mcr_staged_person person;
	int person_pending;          /* person_begin not yet delivered */
	int person_objects;

	/* The open item: attributes and details in ibuf. */
	mcr_buf ibuf;
	size_t ioff[IF_COUNT];
	mcr_staged_item item;
	detail_off *doffs;
	mcr_staged_detail *details;
	size_t ndetails, details_cap;
	int in_detail;

	/* The open member or withheld element, delivered at its end. */
	char member_nhs[11];
	mcr_section w_section;
	mcr_reason w_reason;
	long w_count;

	long people, members, items, objections;
	long section_items[MCR_SECTION_COUNT];
	long withheld[MCR_REASON_COUNT];
} reader;

static int line_of(const reader *r)
{
	return r->ctxt ? xmlSAX2GetLineNumber(r->ctxt) : 0;
}

/* Record the first failure (an MCR_EFORMAT naming file and line) and stop. */
static void failf(reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void failf(reader *r, const char *fmt, ...)
{
	if (r->rc)
		return;
	char what[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	r->rc = mcr_error_set(MCR_EFORMAT, "%s:%d: %s", r->path, line_of(r), what);
	xmlStopParser(r->ctxt);
}

/* A callback's own failure: returned unchanged, message left as it set it. */
static void stop_with(reader *r, int rc)
{
	if (r->rc)
		return;
	r->rc = rc;
	xmlStopParser(r->ctxt);
}

static void fail_nomem(reader *r)
{
	stop_with(r, mcr_error_set(MCR_ENOMEM, "%s: out of memory", r->path));
}

/*
 * Append an attribute value and a NUL to b. Without entity substitution (which
 * is never enabled) libxml2 hands SAX2 every '&' in an attribute as "&#38;":
 * decode that here.
 */
static int put_value(reader *r, mcr_buf *b, const xmlChar *v, const xmlChar *end)
{
	size_t len = (size_t)(end - v);
	if (b->len + len > MAX_ITEM_BYTES) {
		failf(r, "element too large");
		return -1;
	}
	const char *p = (const char *)v, *e = (const char *)end;
	while (p < e) {
		const char *amp = memchr(p, '&', (size_t)(e - p));
		const char *stop = amp ? amp : e;
		if (mcr_buf_put(b, p, (size_t)(stop - p)))
			goto nomem;
		if (!amp)
			break;
		if (mcr_buf_putc(b, '&'))
			goto nomem;
		p = (e - amp >= 5 && memcmp(amp, "&#38;", 5) == 0) ? amp + 5 : amp + 1;
	}
	if (mcr_buf_putc(b, '\0'))
		goto nomem;
	return 0;
nomem:
	fail_nomem(r);
	return -1;
}

/*
 * Copy the attributes named in names (libxml2's SAX2 quintuples: localname,
 * prefix, URI, value, end) into b, recording offsets; absent ones get SIZE_MAX.
 * An attribute not in names is left to the schema to refuse.
 */
static int take_attrs(reader *r, mcr_buf *b, const char *const *names, size_t count,
                      size_t *offs, int nb, const xmlChar **attrs)
{
	for (size_t i = 0; i < count; i++)
		offs[i] = SIZE_MAX;
	for (int a = 0; a < nb; a++) {
		const xmlChar **q = attrs + 5 * a;
		if (q[2])
			continue; /* namespaced attributes are not ours */
		const char *an = (const char *)q[0];
		for (size_t i = 0; i < count; i++) {
			if (an[0] == names[i][0] && strcmp(an, names[i]) == 0) {
				offs[i] = b->len;
				if (put_value(r, b, q[3], q[4]))
					return -1;
				break;
			}
		}
	}
	return 0;
}

static const char *at(const mcr_buf *b, size_t off)
{
	return off == SIZE_MAX ? NULL : b->ptr + off;
}

/* A single attribute's value into out (size n), or "" when absent. */
static int attr_copy(reader *r, const char *name, int nb, const xmlChar **attrs, char *out,
                     size_t n)
{
	out[0] = '\0';
	for (int a = 0; a < nb; a++) {
		const xmlChar **q = attrs + 5 * a;
		if (!q[2] && strcmp((const char *)q[0], name) == 0) {
			size_t len = (size_t)(q[4] - q[3]);
			if (len >= n) {
				failf(r, "%s attribute too long", name);
				return -1;
			}
			memcpy(out, q[3], len);
			out[len] = '\0';
			return 1;
		}
	}
	return 0;
}

/* ---- elements ---------------------------------------------------------------- */

static void deliver_person(reader *r)
{
	if (!r->person_pending)
		return;
	r->person_pending = 0;
	if (r->h && r->h->person_begin && !r->rc) {
		int rc = r->h->person_begin(r->h->ctx, &r->person);
		if (rc)
			stop_with(r, rc);
	}
}

static void start_root(reader *r, int nb, const xmlChar **attrs)
{
	char org[64], dataset[16], extracted[64], shares[64];
	if (attr_copy(r, "org", nb, attrs, org, sizeof(org)) < 0 ||
	    attr_copy(r, "dataset", nb, attrs, dataset, sizeof(dataset)) < 0 ||
	    attr_copy(r, "extracted", nb, attrs, extracted, sizeof(extracted)) < 0 ||
	    attr_copy(r, "sharesFrom", nb, attrs, shares, sizeof(shares)) < 0)
		return;
	time_t t;
	if (strcmp(org, r->m->org) != 0)
		failf(r, "org '%s' differs from the manifest's organisation %s", org, r->m->org);
	else if (strcmp(dataset, r->m->dataset) != 0)
		failf(r, "dataset '%s' differs from the manifest's %s", dataset, r->m->dataset);
	else if (mcr_time_parse(extracted, &t) != 0 || t != r->m->extracted)
		failf(r, "extracted '%s' differs from the manifest's extract time", extracted);
	else if (strcmp(shares, r->m->shares_from) != 0)
		failf(r, "sharesFrom '%s' differs from the manifest's '%s'", shares, r->m->shares_from);
}

static void start_person(reader *r, int nb, const xmlChar **attrs)
{
	mcr_buf_reset(&r->pbuf);
	if (take_attrs(r, &r->pbuf, person_attrs, PF_COUNT, r->poff, nb, attrs))
		return;
	const char *nhs = at(&r->pbuf, r->poff[PF_NHS]);
	if (!nhs) {
		failf(r, "person without an nhs attribute");
		return;
	}
	char digits[11];
	if (strlen(nhs) != 10 || mcr_nhs_validate(nhs, digits) != 0) {
		failf(r, "person with an invalid NHS number '%s'", nhs);
		return;
	}
	mcr_staged_person *p = &r->person;
	p->nhs = nhs;
	p->family = at(&r->pbuf, r->poff[PF_FAMILY]);
	p->given = at(&r->pbuf, r->poff[PF_GIVEN]);
	p->birth_date = at(&r->pbuf, r->poff[PF_BIRTH_DATE]);
	p->gender = at(&r->pbuf, r->poff[PF_GENDER]);
	p->address = at(&r->pbuf, r->poff[PF_ADDRESS]);
	p->postcode = at(&r->pbuf, r->poff[PF_POSTCODE]);
	p->phone = at(&r->pbuf, r->poff[PF_PHONE]);
	p->objection = at(&r->pbuf, r->poff[PF_OBJECTION]);
	p->consent = at(&r->pbuf, r->poff[PF_CONSENT]);
	r->person_objects = p->objection != NULL;
	r->people++;
	if (r->person_objects)
		r->objections++;
	/* Delivered at the next event, once the validator has passed this start tag. */
	r->person_pending = 1;
}

static void start_member(reader *r, int nb, const xmlChar **attrs)
{
	char nhs[16];
	int got = attr_copy(r, "nhs", nb, attrs, nhs, sizeof(nhs));
	if (got < 0)
		return;
	if (!got || strlen(nhs) != 10 || mcr_nhs_validate(nhs, r->member_nhs) != 0)
		failf(r, "member with an invalid NHS number '%s'", nhs);
}

static void start_item(reader *r, int nb, const xmlChar **attrs)
{
	deliver_person(r);
	if (r->person_objects) {
		failf(r, "item for person %s whose objection is in force", r->person.nhs);
		return;
	}
	mcr_buf_reset(&r->ibuf);
	r->ndetails = 0;
	if (take_attrs(r, &r->ibuf, item_attrs, IF_COUNT, r->ioff, nb, attrs))
		return;
	const char *section = at(&r->ibuf, r->ioff[IF_SECTION]);
	if (!section || mcr_section_parse(section, &r->item.section) != 0)
		failf(r, "item with unknown section '%s'", section ? section : "");
}

static void start_detail(reader *r, int nb, const xmlChar **attrs)
{
	if (r->ndetails == MAX_DETAILS) {
		failf(r, "more than %d details in one item", MAX_DETAILS);
		return;
	}
	if (r->ndetails == r->details_cap) {
		size_t cap = r->details_cap ? r->details_cap * 2 : 16;
		detail_off *d = realloc(r->doffs, cap * sizeof(*d));
		if (d)
			r->doffs = d;
		mcr_staged_detail *sd = d ? realloc(r->details, cap * sizeof(*sd)) : NULL;
		if (!sd) {
			fail_nomem(r);
			return;
		}
		r->details = sd;
		r->details_cap = cap;
	}
	static const char *const name[] = {"name"};
	size_t off;
	if (take_attrs(r, &r->ibuf, name, 1, &off, nb, attrs))
		return;
	if (off == SIZE_MAX) {
		failf(r, "detail without a name");
		return;
	}
	r->doffs[r->ndetails].name = off;
	r->doffs[r->ndetails].value = r->ibuf.len;
	r->in_detail = 1;
}

static void start_withheld(reader *r, int nb, const xmlChar **attrs)
{
	deliver_person(r);
	if (r->person_objects) {
		failf(r, "withheld items for person %s whose objection is in force", r->person.nhs);
		return;
	}
	char section[32], reason[32], count[32];
	if (attr_copy(r, "section", nb, attrs, section, sizeof(section)) < 0 ||
	    attr_copy(r, "reason", nb, attrs, reason, sizeof(reason)) < 0 ||
	    attr_copy(r, "count", nb, attrs, count, sizeof(count)) < 0)
		return;
	if (mcr_section_parse(section, &r->w_section) != 0) {
		failf(r, "withheld with unknown section '%s'", section);
		return;
	}
	if (mcr_reason_parse(reason, &r->w_reason) != 0) {
		failf(r, "withheld with unknown reason '%s'", reason);
		return;
	}
	long n = 0;
	const char *p = count;
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	if (*p == '+')
		p++;
	for (; *p >= '0' && *p <= '9'; p++) {
		n = n * 10 + (*p - '0');
		if (n > MAX_COUNT) {
			failf(r, "withheld count '%s' too large", count);
			return;
		}
	}
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	if (*p || n < 1) {
		failf(r, "bad withheld count '%s'", count);
		return;
	}
	r->w_count = n;
}

static void sax_start(void *ctx, const xmlChar *localname, const xmlChar *prefix,
                      const xmlChar *uri, int nb_namespaces, const xmlChar **namespaces,
                      int nb_attributes, int nb_defaulted, const xmlChar **attrs)
{
	(void)prefix;
	(void)nb_namespaces;
	(void)namespaces;
	(void)nb_defaulted;
	reader *r = ctx;
	if (r->rc)
		return;
	const char *name = (const char *)localname;
	int depth = r->depth++;
	if (!uri || strcmp((const char *)uri, MCR_STAGED_NS) != 0) {
		failf(r, "element %s is not in namespace " MCR_STAGED_NS, name);
		return;
	}
	if (depth == 0 && strcmp(name, "staged") == 0) {
		r->root_seen = 1;
		start_root(r, nb_attributes, attrs);
	} else if (depth == 1 && strcmp(name, "person") == 0) {
		start_person(r, nb_attributes, attrs);
	} else if (depth == 1 && strcmp(name, "member") == 0) {
		start_member(r, nb_attributes, attrs);
	} else if (depth == 2 && strcmp(name, "item") == 0) {
		start_item(r, nb_attributes, attrs);
	} else if (depth == 2 && strcmp(name, "withheld") == 0) {
		start_withheld(r, nb_attributes, attrs);
	} else if (depth == 3 && strcmp(name, "detail") == 0) {
		start_detail(r, nb_attributes, attrs);
	} else {
		failf(r, "unexpected element %s", name);
	}
}

static void end_item(reader *r)
{
	mcr_staged_item *it = &r->item;
	const mcr_buf *b = &r->ibuf;
	it->id = at(b, r->ioff[IF_ID]);
	it->date = at(b, r->ioff[IF_DATE]);
	it->system = at(b, r->ioff[IF_SYSTEM]);
	it->code = at(b, r->ioff[IF_CODE]);
	it->display = at(b, r->ioff[IF_DISPLAY]);
	it->status = at(b, r->ioff[IF_STATUS]);
	it->confidentiality = at(b, r->ioff[IF_CONFIDENTIALITY]);
	/* Pointers only now: the buffer may have moved while details grew it. */
	for (size_t i = 0; i < r->ndetails; i++) {
		r->details[i].name = b->ptr + r->doffs[i].name;
		r->details[i].value = b->ptr + r->doffs[i].value;
	}
	it->details = r->details;
	it->ndetails = r->ndetails;
	r->items++;
	r->section_items[it->section]++;
	if (r->h && r->h->item) {
		int rc = r->h->item(r->h->ctx, &r->person, it);
		if (rc)
			stop_with(r, rc);
	}
}

static void sax_end(void *ctx, const xmlChar *localname, const xmlChar *prefix,
                    const xmlChar *uri)
{
	(void)prefix;
	(void)uri;
	reader *r = ctx;
	if (r->rc)
		return;
	int depth = --r->depth;
	const char *name = (const char *)localname;
	int rc = 0;
	if (depth == 3) {
		/* detail: its text was appended after its name */
		if (mcr_buf_putc(&r->ibuf, '\0')) {
			fail_nomem(r);
			return;
		}
		r->in_detail = 0;
		r->ndetails++;
	} else if (depth == 2 && name[0] == 'i') {
		end_item(r);
	} else if (depth == 2) {
		r->withheld[r->w_reason] += r->w_count;
		if (r->h && r->h->withheld)
			rc = r->h->withheld(r->h->ctx, &r->person, r->w_section, r->w_reason, r->w_count);
	} else if (depth == 1 && name[0] == 'p') {
		deliver_person(r);
		if (!r->rc && r->h && r->h->person_end)
			rc = r->h->person_end(r->h->ctx, &r->person);
	} else if (depth == 1) {
		r->members++;
		if (r->h && r->h->member)
			rc = r->h->member(r->h->ctx, r->member_nhs);
	}
	if (rc)
		stop_with(r, rc);
}

static void sax_characters(void *ctx, const xmlChar *ch, int len)
{
	reader *r = ctx;
	if (r->rc || !r->in_detail)
		return; /* whitespace between elements; the schema refuses other text */
	if (r->ibuf.len + (size_t)len > MAX_ITEM_BYTES) {
		failf(r, "element too large");
		return;
	}
	if (mcr_buf_put(&r->ibuf, ch, (size_t)len))
		fail_nomem(r);
}

/* No partner format has a DOCTYPE: refusing it refuses entity tricks outright. */
static void sax_internal_subset(void *ctx, const xmlChar *name, const xmlChar *ext,
                                const xmlChar *sys)
{
	(void)name;
	(void)ext;
	(void)sys;
	failf(ctx, "DOCTYPE not allowed in a staged file");
}

static void sax_entity_decl(void *ctx, const xmlChar *name, int type, const xmlChar *pub,
                            const xmlChar *sys, xmlChar *content)
{
	(void)type;
	(void)pub;
	(void)sys;
	(void)content;
	failf(ctx, "entity declaration '%s' not allowed in a staged file", (const char *)name);
}

static void sax_pi(void *ctx, const xmlChar *target, const xmlChar *data)
{
	(void)data;
	failf(ctx, "processing instruction '%s' not allowed in a staged file", (const char *)target);
}

/* libxml2's own errors are read back with xmlCtxtGetLastError; never printed. */
static void quiet_parser_error(void *ctx, xmlErrorPtr e)
{
	(void)ctx;
	(void)e;
}

static void schema_error(void *ctx, xmlErrorPtr e)
{
	reader *r = ctx;
	if (!e || e->level < XML_ERR_ERROR)
		return;
	char msg[512];
	snprintf(msg, sizeof(msg), "%s", e->message ? e->message : "invalid");
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	failf(r, "schema: %s", msg);
}

/* ---- driving the parse ------------------------------------------------------- */

/* The parser's own failure (not well-formed, or stopped without a reason). */
static void parser_failed(reader *r)
{
	if (r->rc)
		return;
	xmlErrorPtr e = xmlCtxtGetLastError(r->ctxt);
	char msg[512] = "not well-formed XML";
	int line = line_of(r);
	if (e && e->message) {
		snprintf(msg, sizeof(msg), "%s", e->message);
		size_t n = strlen(msg);
		while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
			msg[--n] = '\0';
		if (e->line > 0)
			line = e->line;
	}
	r->rc = mcr_error_set(MCR_EFORMAT, "%s:%d: %s", r->path, line, msg);
}

/* "<staging>/<ORG>/<dataset>/<file>": the manifest must sit in its own folder. */
static int check_folder(const char *manifest_path, const mcr_staged_manifest *m)
{
	const char *end = strrchr(manifest_path, '/');
	if (!end)
		return 0;
	const char *ds = end;
	while (ds > manifest_path && ds[-1] != '/')
		ds--;
	if (ds == manifest_path || (size_t)(end - ds) != strlen(m->dataset) ||
	    memcmp(ds, m->dataset, (size_t)(end - ds)) != 0)
		return mcr_error_set(MCR_EFORMAT, "%s: dataset %s is not the folder it is in",
		                     manifest_path, m->dataset);
	const char *oend = ds - 1, *o = oend;
	while (o > manifest_path && o[-1] != '/')
		o--;
	if ((size_t)(oend - o) != strlen(m->org) || memcmp(o, m->org, (size_t)(oend - o)) != 0)
		return mcr_error_set(MCR_EFORMAT, "%s: organisation %s is not the folder it is in",
		                     manifest_path, m->org);
	return 0;
}

static void final_checks(reader *r, uint64_t raw_len, uint32_t raw_crc)
{
	const mcr_staged_manifest *m = r->m;
	if (raw_len != m->payload_length)
		failf(r, "payload is %llu bytes, the manifest says %llu",
		      (unsigned long long)raw_len, (unsigned long long)m->payload_length);
	else if (raw_crc != m->payload_crc32)
		failf(r, "payload CRC-32 %08x differs from the manifest's %08x", (unsigned)raw_crc,
		      (unsigned)m->payload_crc32);
	else if (r->people != m->people)
		failf(r, "%ld people, the manifest says %ld", r->people, m->people);
	else if (r->members != m->members)
		failf(r, "%ld members, the manifest says %ld", r->members, m->members);
	else if (r->items != m->items)
		failf(r, "%ld items, the manifest says %ld", r->items, m->items);
	else if (r->objections != m->objections)
		failf(r, "%ld objections, the manifest says %ld", r->objections, m->objections);
	for (int s = 0; s < MCR_SECTION_COUNT && !r->rc; s++)
		if (r->section_items[s] != m->section_items[s])
			failf(r, "%ld %s items, the manifest says %ld", r->section_items[s],
			      mcr_section_name((mcr_section)s), m->section_items[s]);
	for (int w = 0; w < MCR_REASON_COUNT && !r->rc; w++)
		if (r->withheld[w] > m->withheld[w])
			failf(r, "%ld items withheld as %s in persons, more than the manifest's total %ld",
			      r->withheld[w], mcr_reason_name((mcr_reason)w), m->withheld[w]);
}

int mcr_staged_read(const char *manifest_path, const mcr_staged_manifest *m,
                    const mcr_staged_handler *h)
{
	pthread_once(&schema_once, compile_schema);
	if (!schema)
		return mcr_error_set(MCR_ERROR, "schema/staged.xsd does not compile");
	int rc = check_folder(manifest_path, m);
	if (rc)
		return rc;

	mcr_buf path = MCR_BUF_INIT;
	const char *slash = strrchr(manifest_path, '/');
	if (slash)
		rc = mcr_buf_put(&path, manifest_path, (size_t)(slash - manifest_path + 1));
	if (rc || (rc = mcr_buf_puts(&path, m->payload))) {
		mcr_buf_free(&path);
		return rc;
	}
	reader r;
	memset(&r, 0, sizeof(r));
	r.path = path.ptr;
	r.m = m;
	r.h = h;
	mcr_gz_reader *gz = NULL;
	xmlSchemaValidCtxtPtr vctxt = NULL;
	xmlSchemaSAXPlugPtr plug = NULL;
	char *chunk = NULL;

	/* A length that differs is known before reading a byte. */
	struct stat st;
	if (stat(r.path, &st) != 0) {
		rc = mcr_error_set_errno(MCR_EFORMAT, "%s: payload of %s unreadable", r.path,
		                         manifest_path);
		goto out;
	}
	if ((uint64_t)st.st_size != m->payload_length) {
		rc = mcr_error_set(MCR_EFORMAT, "%s: payload is %llu bytes, the manifest says %llu",
		                   r.path, (unsigned long long)st.st_size,
		                   (unsigned long long)m->payload_length);
		goto out;
	}
	if ((rc = mcr_gz_open(&gz, r.path, 0, 0)))
		goto out;
	if (!(chunk = malloc(CHUNK)) || !(vctxt = xmlSchemaNewValidCtxt(schema))) {
		rc = mcr_error_set(MCR_ENOMEM, "%s: out of memory", r.path);
		goto out;
	}
	xmlSchemaSetValidStructuredErrors(vctxt, schema_error, &r);

	xmlSAXHandler sax;
	memset(&sax, 0, sizeof(sax));
	sax.initialized = XML_SAX2_MAGIC;
	sax.startElementNs = sax_start;
	sax.endElementNs = sax_end;
	sax.characters = sax_characters;
	sax.ignorableWhitespace = sax_characters;
	sax.internalSubset = sax_internal_subset;
	sax.externalSubset = sax_internal_subset;
	sax.entityDecl = sax_entity_decl;
	sax.processingInstruction = sax_pi;
	sax.serror = quiet_parser_error;
	xmlSAXHandlerPtr saxp = &sax;
	void *user = &r;
	if (!(plug = xmlSchemaSAXPlug(vctxt, &saxp, &user))) {
		rc = mcr_error_set(MCR_ERROR, "%s: cannot plug the schema validator", r.path);
		goto out;
	}
	if (!(r.ctxt = xmlCreatePushParserCtxt(saxp, user, NULL, 0, r.path))) {
		rc = mcr_error_set(MCR_ENOMEM, "%s: cannot create an XML parser", r.path);
		goto out;
	}
	xmlCtxtUseOptions(r.ctxt, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);

	uint64_t total = 0;
	for (;;) {
		size_t got = 0;
		if ((rc = mcr_gz_read(gz, chunk, CHUNK, &got))) {
			if (!r.rc)
				r.rc = rc;
			break;
		}
		if (got == 0 && total == 0) {
			failf(&r, "payload is empty");
			break;
		}
		if (xmlParseChunk(r.ctxt, chunk, (int)got, got == 0) != 0 || r.rc) {
			parser_failed(&r);
			break;
		}
		if (got == 0)
			break;
		total += got;
	}
	if (!r.rc && (!r.ctxt->wellFormed || !r.root_seen))
		parser_failed(&r);
	if (!r.rc && xmlSchemaIsValid(vctxt) != 1)
		failf(&r, "schema: not valid");
	if (!r.rc)
		final_checks(&r, mcr_gz_raw_length(gz), mcr_gz_raw_crc32(gz));
	rc = r.rc;
out:
	if (r.ctxt) {
		xmlFreeDoc(r.ctxt->myDoc);
		xmlFreeParserCtxt(r.ctxt);
	}
	if (plug)
		xmlSchemaSAXUnplug(plug);
	xmlSchemaFreeValidCtxt(vctxt);
	mcr_gz_close(gz);
	free(chunk);
	mcr_buf_free(&r.pbuf);
	mcr_buf_free(&r.ibuf);
	free(r.doffs);
	free(r.details);
	mcr_buf_free(&path);
	return rc;
}
