/*
 * Safe streaming XML: xmlTextReader over an mcr_gz reader (or memory).
 *
 * Defences, in the order they act:
 *  - the bytes of the prolog are scanned as they are handed to libxml2, and a
 *    "<!DOCTYPE" stops the input there, so no DTD, entity declaration or bomb
 *    is ever parsed;
 *  - a DOCTYPE or entity reference node that still arrives (an encoding the scan
 *    does not read, such as EBCDIC) is refused;
 *  - a process-wide external entity loader refuses every load, so no file or
 *    URL is opened whatever libxml2 is asked to do; XML_PARSE_NONET as well;
 *  - the first libxml2 error (with its line) fails the read.
 */
#include "mcr/xml.h"
#include "mcr/buf.h"
#include "mcr/error.h"
#include "mcr/gz.h"

#include <libxml/parser.h>
#include <libxml/xmlerror.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define XML_OPTIONS XML_PARSE_NONET
#define XML_ERRMSG 512

/* Prolog scanner states (see prolog_scan). */
enum scan_state { SCAN_TEXT, SCAN_LT, SCAN_PI, SCAN_BANG, SCAN_COMMENT, SCAN_DONE };

struct mcr_xml {
	xmlTextReaderPtr reader;
	mcr_gz_reader *gz;        /* file input; NULL for memory */
	const char *mem;          /* memory input */
	size_t mem_len, mem_pos;
	uint32_t mem_crc;
	char *path;
	int failed;               /* sticky error code */
	int io_error;             /* the gz reader failed; its message is set */
	int done;
	/* First libxml2 error, kept until the read returns. */
	int parse_error;
	int parse_code;
	int parse_line;
	int parse_epilog;         /* that error came after the root element closed */
	int input_eof;            /* the input has no more bytes */
	uint64_t bytes_in;        /* bytes of input read */
	int root_state;           /* 0 root not seen, 1 open, 2 closed (as delivered) */
	char parse_msg[XML_ERRMSG];
	/* Prolog scan. */
	enum scan_state scan;
	int scan_line;            /* current line of the bytes scanned */
	int scan_prev;            /* previous byte (PI and comment ends) */
	int scan_prev2;
	char bang[8];             /* characters after "<!" */
	int bang_len;
	int doctype_line;         /* >0: a DOCTYPE starts on this line */
	xmlChar *attr;            /* last mcr_xml_attr result */
	/* SAX2 mode (mcr_xml_sax_open): reader is NULL. */
	xmlParserCtxtPtr ctxt;
	const mcr_xml_sax *sax;
	void *sax_ctx;
	int cb_rc;                /* a callback's error: stops the parse */
	int sax_depth;            /* elements open */
	char *chunk;              /* input buffer; bytes pending after the first 4 */
	int pending;
};

/* ---- the external entity loader: refuses everything ---- */

static atomic_ulong loader_calls;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static xmlParserInputPtr refuse_entity_loader(const char *url, const char *id,
                                              xmlParserCtxtPtr ctxt)
{
	(void)url;
	(void)id;
	(void)ctxt;
	atomic_fetch_add(&loader_calls, 1);
	return NULL;
}

static void xml_init(void)
{
	xmlInitParser();
	xmlSetExternalEntityLoader(refuse_entity_loader);
}

unsigned long mcr_xml_entity_loader_calls(void)
{
	pthread_once(&init_once, xml_init);
	return atomic_load(&loader_calls);
}

/* ---- prolog scan ---- */

/*
 * Follow the prolog (XML declaration, comments, processing instructions,
 * whitespace) up to the first element; on "<!DOCTYPE" record its line and
 * return the number of bytes before that '<' so the input can stop there.
 * Returns len when nothing was found in these bytes.
 */
static size_t prolog_scan(mcr_xml *x, const unsigned char *p, size_t len)
{
	size_t lt = 0;   /* offset of the last '<' in these bytes */
	int lt_here = 0; /* whether that '<' is in these bytes */
	for (size_t i = 0; i < len && x->scan != SCAN_DONE; i++) {
		int c = p[i];
		/* Dropping NULs reads a UTF-16 or UCS-4 prolog as ASCII too. */
		if (c == 0)
			continue;
		if (c == '\n')
			x->scan_line++;
		switch (x->scan) {
		case SCAN_TEXT:
			if (c == '<') {
				x->scan = SCAN_LT;
				lt = i;
				lt_here = 1;
			}
			break;
		case SCAN_LT:
			if (c == '?') {
				x->scan = SCAN_PI;
				x->scan_prev = 0;
			} else if (c == '!') {
				x->scan = SCAN_BANG;
				x->bang_len = 0;
			} else {
				x->scan = SCAN_DONE; /* the root element: the prolog is over */
			}
			break;
		case SCAN_PI:
			if (c == '>' && x->scan_prev == '?')
				x->scan = SCAN_TEXT;
			x->scan_prev = c;
			break;
		case SCAN_BANG:
			x->bang[x->bang_len++] = (char)c;
			if (x->bang_len == 2 && memcmp(x->bang, "--", 2) == 0) {
				x->scan = SCAN_COMMENT;
				x->scan_prev = x->scan_prev2 = 0;
			} else if (x->bang_len == 7) {
				if (memcmp(x->bang, "DOCTYPE", 7) == 0) {
					x->doctype_line = x->scan_line;
					/* Stop the input before the '<' (or now, if it went in an earlier chunk). */
					return lt_here ? lt : 0;
				}
				x->scan = SCAN_DONE; /* malformed: libxml2 reports it */
			} else if (x->bang_len == 1 && c != '-' && c != 'D') {
				x->scan = SCAN_DONE;
			}
			break;
		case SCAN_COMMENT:
			if (c == '>' && x->scan_prev == '-' && x->scan_prev2 == '-')
				x->scan = SCAN_TEXT;
			x->scan_prev2 = x->scan_prev;
			x->scan_prev = c;
			break;
		case SCAN_DONE:
			break;
		}
	}
	return len;
}

/* ---- input callbacks ---- */

static int xml_input_read(void *ctx, char *buf, int len)
{
	mcr_xml *x = ctx;
	if (x->doctype_line || x->io_error)
		return -1;
	size_t got;
	if (x->gz) {
		int rc = mcr_gz_read(x->gz, buf, (size_t)len, &got);
		if (rc) {
			x->io_error = rc;
			return -1;
		}
	} else {
		got = x->mem_len - x->mem_pos;
		if (got > (size_t)len)
			got = (size_t)len;
		memcpy(buf, x->mem + x->mem_pos, got);
		x->mem_pos += got;
		x->mem_crc = (uint32_t)crc32(x->mem_crc, (const unsigned char *)buf, (uInt)got);
	}
	if (got == 0)
		x->input_eof = 1;
	x->bytes_in += got;
	if (x->scan != SCAN_DONE) {
		size_t keep = prolog_scan(x, (const unsigned char *)buf, got);
		if (x->doctype_line)
			return (int)keep; /* hand over what came before; the next call fails */
	}
	return (int)got;
}

static int xml_input_close(void *ctx)
{
	(void)ctx; /* the mcr_xml owns its input and frees it in mcr_xml_close */
	return 0;
}

/* Keep the first error; warnings do not fail a document. */
static void xml_error_handler(void *ctx, xmlErrorPtr err)
{
	mcr_xml *x = ctx;
	if (!err || x->parse_error || err->level < XML_ERR_ERROR)
		return;
	x->parse_error = 1;
	x->parse_code = err->code;
	x->parse_line = err->line;
	x->parse_epilog = err->domain == XML_FROM_PARSER && err->ctxt &&
	                  ((xmlParserCtxtPtr)err->ctxt)->instate == XML_PARSER_EPILOG;
	const char *m = err->message ? err->message : "XML error";
	size_t n = strlen(m);
	while (n && (m[n - 1] == '\n' || m[n - 1] == ' '))
		n--;
	if (n >= sizeof(x->parse_msg))
		n = sizeof(x->parse_msg) - 1;
	memcpy(x->parse_msg, m, n);
	x->parse_msg[n] = '\0';
}

/*
 * The error for libxml2's first error, saying what is actually wrong where
 * libxml2's words mislead: at the end of the input its push parser says "Extra
 * content at the end of the document" for an empty file, a file with no element,
 * and a document cut short alike.
 */
static int parse_error_rc(mcr_xml *x)
{
	int at_end = x->input_eof && (x->parse_code == XML_ERR_DOCUMENT_END ||
	                              x->parse_code == XML_ERR_DOCUMENT_EMPTY);
	if (at_end && x->bytes_in == 0)
		return mcr_error_set(MCR_EFORMAT, "%s: empty file (no XML document)", x->path);
	if (at_end && x->scan != SCAN_DONE)
		return mcr_error_set(MCR_EFORMAT, "%s:%d: no root element (the file holds no XML "
		                     "element, only a declaration, comments or white space)", x->path,
		                     x->parse_line);
	/* At the end of the input, before the root element closed (libxml2 raises the
	 * same error in the epilog for a second root element, which is extra content). */
	if (at_end && x->parse_code == XML_ERR_DOCUMENT_END && !x->parse_epilog)
		return mcr_error_set(MCR_EFORMAT, "%s:%d: document ends before its elements are closed "
		                     "(truncated?)", x->path, x->parse_line);
	return mcr_error_set(MCR_EFORMAT, "%s:%d: %s", x->path, x->parse_line, x->parse_msg);
}

static int xml_start(mcr_xml *x, mcr_xml **out)
{
	x->scan_line = 1;
	x->reader = xmlReaderForIO(xml_input_read, xml_input_close, x, x->path, NULL, XML_OPTIONS);
	if (!x->reader) {
		int rc = x->io_error ? x->io_error
		                     : mcr_error_set(MCR_ENOMEM, "%s: cannot create XML reader", x->path);
		mcr_xml_close(x);
		return rc;
	}
	xmlTextReaderSetStructuredErrorHandler(x->reader, xml_error_handler, x);
	*out = x;
	return 0;
}

static mcr_xml *xml_new(const char *name)
{
	pthread_once(&init_once, xml_init);
	mcr_xml *x = calloc(1, sizeof(*x));
	if (!x)
		return NULL;
	x->path = strdup(name);
	if (!x->path) {
		free(x);
		return NULL;
	}
	return x;
}

int mcr_xml_open(mcr_xml **out, const char *path, uint64_t max_out)
{
	*out = NULL;
	mcr_xml *x = xml_new(path);
	if (!x)
		return mcr_error_set(MCR_ENOMEM, "out of memory opening %s", path);
	int rc = mcr_gz_open(&x->gz, path, MCR_GZ_ALLOW_PLAIN, max_out);
	if (rc) {
		mcr_xml_close(x);
		return rc;
	}
	return xml_start(x, out);
}

int mcr_xml_open_memory(mcr_xml **out, const char *data, size_t len, const char *name)
{
	*out = NULL;
	mcr_xml *x = xml_new(name ? name : "(memory)");
	if (!x)
		return mcr_error_set(MCR_ENOMEM, "out of memory opening %s", name ? name : "(memory)");
	x->mem = data ? data : "";
	x->mem_len = data ? len : 0;
	x->mem_crc = (uint32_t)crc32(0L, Z_NULL, 0);
	return xml_start(x, out);
}

static int node_line(mcr_xml *x)
{
	xmlNodePtr n = xmlTextReaderCurrentNode(x->reader);
	long line = n ? xmlGetLineNo(n) : -1;
	/* Node lines stop at 65535 without XML_PARSE_BIG_LINES: use the parser's. */
	if (line <= 0 || line >= 65535)
		line = xmlTextReaderGetParserLineNumber(x->reader);
	return (int)line;
}

int mcr_xml_next(mcr_xml *x)
{
	if (x->failed)
		return mcr_error_set(x->failed, "%s: read after an earlier error", x->path);
	if (x->done)
		return 0;
	if (x->attr) {
		xmlFree(x->attr);
		x->attr = NULL;
	}
	int r = xmlTextReaderRead(x->reader);
	int rc = 0;
	if (x->doctype_line)
		rc = mcr_error_set(MCR_EFORMAT, "%s:%d: DOCTYPE not allowed", x->path, x->doctype_line);
	else if (x->io_error)
		rc = x->io_error; /* the gz reader's message names the file and the fault */
	else if (x->parse_error)
		rc = parse_error_rc(x);
	else if (r < 0)
		rc = mcr_error_set(MCR_EFORMAT, "%s:%d: XML parse error", x->path,
		                   xmlTextReaderGetParserLineNumber(x->reader));
	if (rc) {
		x->failed = rc;
		return rc;
	}
	if (r == 0) {
		x->done = 1;
		return 0;
	}
	int type = xmlTextReaderNodeType(x->reader);
	if (x->root_state < 2 && (type == XML_READER_TYPE_ELEMENT || type == XML_READER_TYPE_END_ELEMENT) &&
	    xmlTextReaderDepth(x->reader) == 0)
		x->root_state = (type == XML_READER_TYPE_ELEMENT && !xmlTextReaderIsEmptyElement(x->reader)) ? 1 : 2;
	switch (type) {
	case XML_READER_TYPE_DOCUMENT_TYPE:
		rc = mcr_error_set(MCR_EFORMAT, "%s:%d: DOCTYPE not allowed", x->path, node_line(x));
		break;
	case XML_READER_TYPE_ENTITY_REFERENCE:
	case XML_READER_TYPE_ENTITY:
		rc = mcr_error_set(MCR_EFORMAT, "%s:%d: entity reference not allowed", x->path,
		                   node_line(x));
		break;
	default:
		return 1;
	}
	x->failed = rc;
	return rc;
}

xmlTextReaderPtr mcr_xml_reader(mcr_xml *x)
{
	return x->reader;
}

int mcr_xml_line(mcr_xml *x)
{
	if (x->ctxt)
		return x->ctxt->input ? x->ctxt->input->line : 0;
	return node_line(x);
}

const char *mcr_xml_path(const mcr_xml *x)
{
	return x->path;
}

uint64_t mcr_xml_raw_length(const mcr_xml *x)
{
	return x->gz ? mcr_gz_raw_length(x->gz) : x->mem_pos;
}

uint32_t mcr_xml_raw_crc32(const mcr_xml *x)
{
	return x->gz ? mcr_gz_raw_crc32(x->gz) : x->mem_crc;
}

const char *mcr_xml_attr(mcr_xml *x, const char *name)
{
	if (x->attr) {
		xmlFree(x->attr);
		x->attr = NULL;
	}
	x->attr = xmlTextReaderGetAttribute(x->reader, (const xmlChar *)name);
	return (const char *)x->attr;
}

/* Leaves the reader on the end of the current element. text may be NULL. */
static int walk_element(mcr_xml *x, mcr_buf *text, size_t max)
{
	if (xmlTextReaderNodeType(x->reader) != XML_READER_TYPE_ELEMENT ||
	    xmlTextReaderIsEmptyElement(x->reader))
		return 0;
	int depth = xmlTextReaderDepth(x->reader);
	int line = node_line(x);
	/* Interned in the reader's dictionary: valid while the reader lives. */
	const char *name = (const char *)xmlTextReaderConstName(x->reader);
	for (;;) {
		int rc = mcr_xml_next(x);
		if (rc < 0)
			return rc;
		if (rc == 0) /* libxml2 reports an unclosed element before this */
			return x->failed = mcr_error_set(MCR_EFORMAT, "%s:%d: element not closed",
			                                 x->path, line);
		int type = xmlTextReaderNodeType(x->reader);
		if (type == XML_READER_TYPE_END_ELEMENT && xmlTextReaderDepth(x->reader) == depth)
			return 0;
		if (!text)
			continue;
		if (type == XML_READER_TYPE_TEXT || type == XML_READER_TYPE_CDATA ||
		    type == XML_READER_TYPE_SIGNIFICANT_WHITESPACE || type == XML_READER_TYPE_WHITESPACE) {
			const char *v = (const char *)xmlTextReaderConstValue(x->reader);
			size_t n = v ? strlen(v) : 0;
			if (n > max - text->len)
				return mcr_error_set(MCR_ELIMIT, "%s:%d: text of element <%s> longer than %zu bytes",
				                     x->path, line, name, max);
			if (n && (rc = mcr_buf_put(text, v, n)))
				return rc;
		}
	}
}

int mcr_xml_text(mcr_xml *x, size_t max, char **out)
{
	*out = NULL;
	mcr_buf text = MCR_BUF_INIT;
	int type = xmlTextReaderNodeType(x->reader);
	int rc = 0;
	if (type == XML_READER_TYPE_ELEMENT) {
		rc = walk_element(x, &text, max);
	} else {
		/* Not an element: the node's own value (a text node), else "". */
		const char *v = (const char *)xmlTextReaderConstValue(x->reader);
		size_t n = v ? strlen(v) : 0;
		if (n > max)
			rc = mcr_error_set(MCR_ELIMIT, "%s:%d: text longer than %zu bytes", x->path,
			                   node_line(x), max);
		else if (n)
			rc = mcr_buf_put(&text, v, n);
	}
	if (rc) {
		mcr_buf_free(&text);
		return rc;
	}
	*out = mcr_buf_detach(&text);
	if (!*out)
		return mcr_error_set(MCR_ENOMEM, "out of memory reading text in %s", x->path);
	return 0;
}

int mcr_xml_skip(mcr_xml *x)
{
	return walk_element(x, NULL, 0);
}

void mcr_xml_close(mcr_xml *x)
{
	if (!x)
		return;
	if (x->attr)
		xmlFree(x->attr);
	if (x->reader)
		xmlFreeTextReader(x->reader);
	if (x->ctxt) {
		if (x->ctxt->myDoc)
			xmlFreeDoc(x->ctxt->myDoc);
		xmlFreeParserCtxt(x->ctxt);
	}
	free(x->chunk);
	mcr_gz_close(x->gz);
	free(x->path);
	free(x);
}

/* ---- SAX2 ------------------------------------------------------------------
 * The push parser is fed CHUNK bytes at a time through xml_input_read (so the
 * prolog scan acts as for the reader). Callbacks are wrapped: once an error is
 * known (a callback's or libxml2's) nothing more is delivered, so the first
 * error is the one reported.
 */

#define SAX_CHUNK (256 * 1024)

static int sax_quiet(const mcr_xml *x)
{
	return x->cb_rc || x->parse_error;
}

static void sax_fail(mcr_xml *x, int rc)
{
	if (!x->cb_rc)
		x->cb_rc = rc;
	xmlStopParser(x->ctxt);
}

static void sax_start(void *ctx, const xmlChar *localname, const xmlChar *prefix,
                      const xmlChar *uri, int nb_namespaces, const xmlChar **namespaces,
                      int nb_attributes, int nb_defaulted, const xmlChar **attributes)
{
	mcr_xml *x = ctx;
	(void)prefix;
	(void)nb_namespaces;
	(void)namespaces;
	(void)nb_defaulted; /* no DTD: never any */
	if (sax_quiet(x))
		return;
	x->sax_depth++;
	if (x->root_state == 0)
		x->root_state = 1;
	int rc = x->sax->start ? x->sax->start(x->sax_ctx, localname, uri, nb_attributes, attributes) : 0;
	if (rc)
		sax_fail(x, rc);
}

static void sax_end(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri)
{
	mcr_xml *x = ctx;
	(void)prefix;
	if (sax_quiet(x))
		return;
	if (--x->sax_depth == 0)
		x->root_state = 2;
	int rc = x->sax->end ? x->sax->end(x->sax_ctx, localname, uri) : 0;
	if (rc)
		sax_fail(x, rc);
}

static void sax_text(void *ctx, const xmlChar *s, int len)
{
	mcr_xml *x = ctx;
	if (sax_quiet(x) || !x->sax->text)
		return;
	int rc = x->sax->text(x->sax_ctx, s, len);
	if (rc)
		sax_fail(x, rc);
}

/* A DOCTYPE the prolog scan did not see (an encoding it does not read). */
static void sax_internal_subset(void *ctx, const xmlChar *name, const xmlChar *external_id,
                                const xmlChar *system_id)
{
	mcr_xml *x = ctx;
	(void)name;
	(void)external_id;
	(void)system_id;
	if (!sax_quiet(x))
		sax_fail(x, mcr_error_set(MCR_EFORMAT, "%s:%d: DOCTYPE not allowed", x->path,
		                          mcr_xml_line(x)));
}

static void sax_reference(void *ctx, const xmlChar *name)
{
	mcr_xml *x = ctx;
	(void)name;
	if (!sax_quiet(x))
		sax_fail(x, mcr_error_set(MCR_EFORMAT, "%s:%d: entity reference not allowed", x->path,
		                          mcr_xml_line(x)));
}

/* Entities, DTD declarations, documents: no handler, so nothing is stored or
 * built; an undeclared entity is then a fatal libxml2 error. */
static int sax_begin(mcr_xml *x, const mcr_xml_sax *h, void *ctx, mcr_xml **out)
{
	x->sax = h;
	x->sax_ctx = ctx;
	x->scan_line = 1;
	x->chunk = malloc(SAX_CHUNK);
	if (!x->chunk) {
		int rc = mcr_error_set(MCR_ENOMEM, "out of memory opening %s", x->path);
		mcr_xml_close(x);
		return rc;
	}
	int got = xml_input_read(x, x->chunk, SAX_CHUNK);
	if (got < 0)
		got = 0; /* the error is kept and reported by the run */
	xmlSAXHandler sax;
	memset(&sax, 0, sizeof sax);
	sax.initialized = XML_SAX2_MAGIC;
	sax.startElementNs = sax_start;
	sax.endElementNs = sax_end;
	if (h->text) { /* else libxml2 need not deliver text at all */
		sax.characters = sax_text;
		sax.ignorableWhitespace = sax_text;
		sax.cdataBlock = sax_text;
	}
	sax.internalSubset = sax_internal_subset;
	sax.reference = sax_reference;
	sax.serror = xml_error_handler;
	/* The first 4 bytes choose the encoding, as xmlReaderForIO does. */
	int first = got < 4 ? got : 4;
	x->ctxt = xmlCreatePushParserCtxt(&sax, x, first ? x->chunk : NULL, first, x->path);
	if (!x->ctxt) {
		int rc = mcr_error_set(MCR_ENOMEM, "%s: cannot create XML parser", x->path);
		mcr_xml_close(x);
		return rc;
	}
	xmlCtxtUseOptions(x->ctxt, XML_OPTIONS);
	if (first < got)
		memmove(x->chunk, x->chunk + first, (size_t)(got - first));
	x->pending = got - first;
	*out = x;
	return 0;
}

int mcr_xml_sax_open(mcr_xml **out, const char *path, uint64_t max_out, const mcr_xml_sax *h,
                     void *ctx)
{
	*out = NULL;
	mcr_xml *x = xml_new(path);
	if (!x)
		return mcr_error_set(MCR_ENOMEM, "out of memory opening %s", path);
	int rc = mcr_gz_open(&x->gz, path, MCR_GZ_ALLOW_PLAIN, max_out);
	if (rc) {
		mcr_xml_close(x);
		return rc;
	}
	return sax_begin(x, h, ctx, out);
}

int mcr_xml_sax_open_memory(mcr_xml **out, const char *data, size_t len, const char *name,
                            const mcr_xml_sax *h, void *ctx)
{
	*out = NULL;
	mcr_xml *x = xml_new(name ? name : "(memory)");
	if (!x)
		return mcr_error_set(MCR_ENOMEM, "out of memory opening %s", name ? name : "(memory)");
	x->mem = data ? data : "";
	x->mem_len = data ? len : 0;
	x->mem_crc = (uint32_t)crc32(0L, Z_NULL, 0);
	return sax_begin(x, h, ctx, out);
}

const xmlChar *mcr_xml_intern(mcr_xml *x, const char *name)
{
	return x->ctxt ? xmlDictLookup(x->ctxt->dict, (const xmlChar *)name, -1) : NULL;
}

int mcr_xml_sax_run(mcr_xml *x)
{
	if (!x->ctxt)
		return mcr_error_set(MCR_EFORMAT, "%s: not opened for SAX", x->path);
	if (x->failed)
		return mcr_error_set(x->failed, "%s: read after an earlier error", x->path);
	int got = x->pending, r = 0;
	for (;;) {
		if (got > 0)
			r = xmlParseChunk(x->ctxt, x->chunk, got, 0);
		if (sax_quiet(x) || r)
			break;
		got = xml_input_read(x, x->chunk, SAX_CHUNK);
		if (got < 0)
			break;
		if (got == 0) {
			r = xmlParseChunk(x->ctxt, NULL, 0, 1);
			break;
		}
	}
	x->pending = 0;
	int rc = 0;
	if (x->cb_rc)
		rc = x->cb_rc; /* its message is set */
	else if (x->doctype_line)
		rc = mcr_error_set(MCR_EFORMAT, "%s:%d: DOCTYPE not allowed", x->path, x->doctype_line);
	else if (x->io_error)
		rc = x->io_error;
	else if (x->parse_error)
		rc = parse_error_rc(x);
	else if (r || !x->ctxt->wellFormed)
		rc = mcr_error_set(MCR_EFORMAT, "%s:%d: XML parse error", x->path, mcr_xml_line(x));
	else if (x->root_state != 2)
		rc = mcr_error_set(MCR_EFORMAT, "%s: no root element", x->path);
	x->failed = rc;
	x->done = 1;
	return rc;
}

int mcr_xml_sax_value(mcr_buf *out, const xmlChar *value, const xmlChar *end)
{
	const char *p = (const char *)value, *e = (const char *)end;
	while (p < e) {
		const char *amp = memchr(p, '&', (size_t)(e - p));
		size_t n = amp ? (size_t)(amp - p) : (size_t)(e - p);
		if (n && mcr_buf_put(out, p, n) != 0)
			return MCR_ENOMEM;
		if (!amp)
			break;
		if (e - amp >= 5 && memcmp(amp, "&#38;", 5) == 0) {
			if (mcr_buf_putc(out, '&') != 0)
				return MCR_ENOMEM;
			p = amp + 5;
		} else {
			if (mcr_buf_putc(out, '&') != 0)
				return MCR_ENOMEM;
			p = amp + 1;
		}
	}
	return 0;
}
