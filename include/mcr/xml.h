/*
 * Safe streaming XML input with libxml2's xmlTextReader, over mcr_gz.
 *
 * Options: XML_PARSE_NONET and nothing that widens what the parser does:
 * never entity substitution, DTD loading or the huge-input option, so libxml2's
 * default limits stay. A document with a DOCTYPE
 * is refused outright (no partner format uses one): that refuses entity bombs,
 * external entities and external DTDs before anything is expanded or fetched.
 * Parser errors become MCR_EFORMAT "<file>:<line>: <libxml2 message>".
 */
#ifndef MCR_XML_H
#define MCR_XML_H

#include <libxml/xmlreader.h>
#include <stdint.h>

#include "mcr/buf.h"

typedef struct mcr_xml mcr_xml;

/* Open path (.xml or .xml.gz, detected by content) for streaming. max_out caps
 * decompressed bytes (0: default). Free with mcr_xml_close(). */
int mcr_xml_open(mcr_xml **out, const char *path, uint64_t max_out);

/* Open over bytes in memory (fuzzing, tests); name is used in messages. The
 * memory must outlive the reader. */
int mcr_xml_open_memory(mcr_xml **out, const char *data, size_t len, const char *name);

/*
 * Advance to the next node. Returns 1 when positioned on a node, 0 at the end of
 * the document, negative on error (message set, naming file and line). A DOCTYPE
 * or an entity reference node is an error.
 */
int mcr_xml_next(mcr_xml *x);

/* The underlying reader, for xmlTextReaderConstLocalName & co on the current node. */
xmlTextReaderPtr mcr_xml_reader(mcr_xml *x);

/* Line of the current node, and the file name, for messages. */
int mcr_xml_line(mcr_xml *x);
const char *mcr_xml_path(const mcr_xml *x);

/* Raw bytes of the file read so far and their CRC-32 (see mcr_gz). */
uint64_t mcr_xml_raw_length(const mcr_xml *x);
uint32_t mcr_xml_raw_crc32(const mcr_xml *x);

/*
 * Helpers on the current node (an element): the attribute's value, or NULL;
 * the element's text content collected to its end (the reader is left on the
 * end element) into a malloc'd string the caller frees, capped at max bytes
 * (MCR_ELIMIT beyond).
 */
const char *mcr_xml_attr(mcr_xml *x, const char *name); /* valid until the next call */
int mcr_xml_text(mcr_xml *x, size_t max, char **out);

/* Skip the current element and its subtree. 0 or negative. */
int mcr_xml_skip(mcr_xml *x);

/*
 * SAX2 streaming: libxml2's push parser with callbacks, no tree (about twice
 * the reader's speed). The same defences as the reader: the prolog scan stops
 * the input at a DOCTYPE, a DOCTYPE or entity reference the scan missed is
 * refused, the refusing entity loader, XML_PARSE_NONET only, and the first
 * libxml2 error fails the parse with its line.
 *
 * start gets the element's local name and namespace URI (NULL: none), and
 * nattrs attributes as libxml2's startElementNs gives them: five pointers each
 * (local name, prefix, URI, value, end of value; the value is not
 * NUL-terminated; see mcr_xml_sax_value). Names are interned in the parser's
 * dictionary: compare them with mcr_xml_intern()'s pointers. A callback
 * returns 0 to go on, or a negative MCR_E* (message set) to stop the parse:
 * mcr_xml_sax_run returns that code. text may be NULL (text ignored).
 */
typedef struct mcr_xml_sax {
	int (*start)(void *ctx, const xmlChar *localname, const xmlChar *uri, int nattrs,
	             const xmlChar **attrs);
	int (*end)(void *ctx, const xmlChar *localname, const xmlChar *uri);
	int (*text)(void *ctx, const xmlChar *s, int len);
} mcr_xml_sax;

/* Open path (.xml or .xml.gz, by content) for a SAX2 parse with handlers h
 * (which must outlive the parse) and ctx passed to them. Free with
 * mcr_xml_close(); mcr_xml_next/_reader/_attr/_text/_skip are not for it. */
int mcr_xml_sax_open(mcr_xml **out, const char *path, uint64_t max_out, const mcr_xml_sax *h,
                     void *ctx);

/* The same over bytes in memory (tests); the memory must outlive the parse. */
int mcr_xml_sax_open_memory(mcr_xml **out, const char *data, size_t len, const char *name,
                            const mcr_xml_sax *h, void *ctx);

/* Parse the whole document, calling the handlers. 0, a callback's code, or a
 * negative MCR_E* naming file and line. Once per mcr_xml. */
int mcr_xml_sax_run(mcr_xml *x);

/* name as the SAX parser's dictionary holds it: the pointer its callbacks pass
 * for that name (valid until mcr_xml_close), or NULL when out of memory. */
const xmlChar *mcr_xml_intern(mcr_xml *x, const char *name);

/*
 * Append an attribute value (attrs[3] to attrs[4] of a start callback) to out.
 * libxml2 without entity substitution hands '&' over as "&#38;" in attribute
 * values; it is decoded here. 0 or MCR_ENOMEM (message set).
 */
int mcr_xml_sax_value(mcr_buf *out, const xmlChar *value, const xmlChar *end);

void mcr_xml_close(mcr_xml *x); /* accepts NULL */

/* How many times libxml2 asked this process to load an external entity or DTD.
 * mcr_xml installs a loader that refuses every such load (no file or URL is
 * ever opened); this count lets tests show it was never even asked. */
unsigned long mcr_xml_entity_loader_calls(void);

#endif
