/*
 * Safe streaming XML input with libxml2's xmlTextReader, over mcr_gz.
 *
 * Options: XML_PARSE_NONET and nothing that widens what the parser does:
 * never XML_PARSE_NOENT, XML_PARSE_DTDLOAD or XML_PARSE_HUGE, so libxml2's
 * default limits stay. A document with a DOCTYPE
 * is refused outright (no partner format uses one): that refuses entity bombs,
 * external entities and external DTDs before anything is expanded or fetched.
 * Parser errors become MCR_EFORMAT "<file>:<line>: <libxml2 message>".
 */
#ifndef MCR_XML_H
#define MCR_XML_H

#include <libxml/xmlreader.h>
#include <stdint.h>

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

void mcr_xml_close(mcr_xml *x); /* accepts NULL */

/* How many times libxml2 asked this process to load an external entity or DTD.
 * mcr_xml installs a loader that refuses every such load (no file or URL is
 * ever opened); this count lets tests show it was never even asked. */
unsigned long mcr_xml_entity_loader_calls(void);

#endif
