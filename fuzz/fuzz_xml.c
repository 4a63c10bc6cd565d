/*
 * libFuzzer target: mcr_xml over bytes in memory. Walks every node; takes the
 * text of some elements, skips others, reads an attribute of the rest. The
 * refusing entity loader must never have been called.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "mcr/xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mcr_xml *x = NULL;
	if (mcr_xml_open_memory(&x, (const char *)data, size, "fuzz.xml") != 0)
		return 0;
	unsigned n = 0;
	while (mcr_xml_next(x) == 1) {
		xmlTextReaderPtr r = mcr_xml_reader(x);
		(void)mcr_xml_line(x);
		if (xmlTextReaderNodeType(r) != XML_READER_TYPE_ELEMENT)
			continue;
		switch (n++ % 3) {
		case 0: {
			char *text = NULL;
			if (mcr_xml_text(x, 4096, &text) == 0)
				free(text);
			break;
		}
		case 1:
			(void)mcr_xml_skip(x);
			break;
		default:
			(void)mcr_xml_attr(x, "id");
			break;
		}
	}
	if (mcr_xml_raw_length(x) > size)
		abort();
	mcr_xml_close(x);
	/* No input may make libxml2 try to load an external entity or DTD. */
	if (mcr_xml_entity_loader_calls() != 0)
		abort();
	return 0;
}
