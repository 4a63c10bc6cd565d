/*
 * FHIR XML -> FHIR JSON for mcr-synth --format json|ndjson: the generator
 * writes every resource as XML; this rewrites Bundle entries in the JSON
 * representation (resourceType first, repeating elements as arrays by FHIR
 * cardinality, numbers and booleans unquoted), so that every format carries
 * the same content.
 */
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "mcr/error.h"
#include "synth.h"

static int name_is(const xmlNode *n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

static int in_list(const char *name, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(name, *list) == 0)
			return 1;
	return 0;
}

/* Elements that are arrays (0..*) in FHIR JSON wherever they occur. */
static const char *const arrays[] = {
	"name", "given", "prefix", "suffix", "line", "telecom", "address", "generalPractitioner",
	"coding", "category", "reaction", "manifestation", "dosage", "dosageInstruction", "reasonCode",
	"component", "referenceRange", "interpretation", "participant", "extension",
	"modifierExtension", "security", "tag", "profile", "contained", "performer", "note",
	"protocolApplied", "targetDisease", "bodySite", "location", "diagnosis", "evidence", NULL,
};

static const char *const quantities[] = {
	"valueQuantity", "doseQuantity", "quantity", "low", "high", NULL,
};

static const char *const booleans[] = {
	"valueBoolean", "active", "primarySource", "deceasedBoolean", NULL,
};

static const char *const integers[] = {
	"valueInteger", "valueDecimal", "doseNumberPositiveInt", NULL,
};

static int is_resource(const xmlNode *n)
{
	return n->parent && (name_is(n->parent, "resource") || name_is(n->parent, "contained"));
}

static int is_array(const xmlNode *parent, const char *name)
{
	if (in_list(name, arrays))
		return 1;
	/* A resource's identifiers are a list, a Reference's identifier is one; only
	 * an Encounter's type is a list. */
	if (strcmp(name, "identifier") == 0)
		return is_resource(parent);
	if (strcmp(name, "type") == 0)
		return name_is(parent, "Encounter");
	return 0;
}

static int json_str(mcr_buf *b, const char *s)
{
	int rc = mcr_buf_putc(b, '"');
	for (; *s && !rc; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			rc = mcr_buf_putc(b, '\\') || mcr_buf_putc(b, (char)c);
		else if (c < 0x20)
			rc = mcr_buf_printf(b, "\\u%04x", c);
		else
			rc = mcr_buf_putc(b, (char)c);
	}
	return rc ? rc : mcr_buf_putc(b, '"');
}

static int is_number(const char *s)
{
	if (*s == '-')
		s++;
	if (!*s)
		return 0;
	int dot = 0;
	for (; *s; s++) {
		if (*s == '.' && !dot)
			dot = 1;
		else if (*s < '0' || *s > '9')
			return 0;
	}
	return 1;
}

static int scalar(mcr_buf *b, const xmlNode *n, const char *v)
{
	const char *name = (const char *)n->name;
	int num = in_list(name, integers) ||
	          (strcmp(name, "value") == 0 && n->parent && in_list((const char *)n->parent->name, quantities));
	if ((num && is_number(v)) || (in_list(name, booleans) && (!strcmp(v, "true") || !strcmp(v, "false"))))
		return mcr_buf_puts(b, v);
	return json_str(b, v);
}

static int object(mcr_buf *b, const xmlNode *n, int resource);

static const xmlNode *next_elem(const xmlNode *c)
{
	while (c && c->type != XML_ELEMENT_NODE)
		c = c->next;
	return c;
}

/* One element's JSON value. */
static int value(mcr_buf *b, const xmlNode *c)
{
	if (name_is(c, "contained")) {
		const xmlNode *r = next_elem(c->children);
		return r ? object(b, r, 1) : mcr_buf_puts(b, "{}");
	}
	if (next_elem(c->children))
		return object(b, c, 0);
	xmlChar *v = xmlGetProp(c, (const xmlChar *)"value");
	int rc = scalar(b, c, v ? (const char *)v : "");
	xmlFree(v);
	return rc;
}

static int object(mcr_buf *b, const xmlNode *n, int resource)
{
	int rc = mcr_buf_putc(b, '{');
	int first = 1;
	if (resource) {
		rc = rc ? rc : mcr_buf_puts(b, "\"resourceType\":");
		rc = rc ? rc : json_str(b, (const char *)n->name);
		first = 0;
	}
	xmlChar *url = xmlGetProp(n, (const xmlChar *)"url");
	if (url) {
		rc = rc ? rc : mcr_buf_puts(b, first ? "\"url\":" : ",\"url\":");
		rc = rc ? rc : json_str(b, (const char *)url);
		xmlFree(url);
		first = 0;
	}
	for (const xmlNode *c = next_elem(n->children); c && !rc;) {
		const char *name = (const char *)c->name;
		const xmlNode *end = c;
		int count = 0;
		while (end && strcmp((const char *)end->name, name) == 0) {
			count++;
			end = next_elem(end->next);
		}
		int arr = count > 1 || is_array(n, name);
		rc = mcr_buf_printf(b, "%s\"%s\":%s", first ? "" : ",", name, arr ? "[" : "");
		first = 0;
		for (int k = 0; k < count && !rc; k++, c = next_elem(c->next)) {
			if (k)
				rc = mcr_buf_putc(b, ',');
			rc = rc ? rc : value(b, c);
		}
		if (!rc && arr)
			rc = mcr_buf_putc(b, ']');
		c = end;
	}
	return rc ? rc : mcr_buf_putc(b, '}');
}

int synth_fhir_json(mcr_buf *out, const char *xml, size_t len, int ndjson, int *first)
{
	static const char head[] = "<x xmlns=\"http://hl7.org/fhir\">";
	mcr_buf doc = MCR_BUF_INIT;
	if (mcr_buf_puts(&doc, head) || mcr_buf_put(&doc, xml, len) || mcr_buf_puts(&doc, "</x>")) {
		mcr_buf_free(&doc);
		return mcr_error_set(MCR_ENOMEM, "out of memory");
	}
	xmlDoc *d = xmlReadMemory(doc.ptr, (int)doc.len, "synth.xml", "UTF-8",
	                          XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOERROR |
	                          XML_PARSE_NOWARNING);
	mcr_buf_free(&doc);
	if (!d)
		return mcr_error_set(MCR_ERROR, "synth: generated FHIR XML does not parse");
	int rc = 0;
	for (const xmlNode *e = next_elem(xmlDocGetRootElement(d)->children); e && !rc;
	     e = next_elem(e->next)) {
		const xmlNode *res = NULL, *url = NULL;
		for (const xmlNode *c = next_elem(e->children); c; c = next_elem(c->next)) {
			if (name_is(c, "fullUrl"))
				url = c;
			else if (name_is(c, "resource"))
				res = next_elem(c->children);
		}
		if (!res)
			continue;
		if (ndjson) {
			rc = object(out, res, 1);
			rc = rc ? rc : mcr_buf_putc(out, '\n');
			continue;
		}
		rc = mcr_buf_puts(out, *first ? "  {" : ",\n  {");
		*first = 0;
		if (!rc && url) {
			xmlChar *v = xmlGetProp(url, (const xmlChar *)"value");
			rc = mcr_buf_puts(out, "\"fullUrl\":");
			rc = rc ? rc : json_str(out, v ? (const char *)v : "");
			rc = rc ? rc : mcr_buf_putc(out, ',');
			xmlFree(v);
		}
		rc = rc ? rc : mcr_buf_puts(out, "\"resource\":");
		rc = rc ? rc : object(out, res, 1);
		rc = rc ? rc : mcr_buf_putc(out, '}');
	}
	xmlFreeDoc(d);
	return rc ? (rc == MCR_ENOMEM ? mcr_error_set(MCR_ENOMEM, "out of memory") : rc) : 0;
}
