/* mcr-extract-ooh: out-of-hours / NHS 111 CDA documents -> staged file. */
#include "extract_main.h"

int main(int argc, char **argv)
{
	static const extract_program ooh = {
		.name = "mcr-extract-ooh",
		.kind = MCR_KIND_OOH,
		.description = "Extract NHS 111 / out-of-hours CDA R2 documents (a file or a folder of .xml\n"
		               "or .xml.gz files, bare or in an ITK DistributionEnvelope) into a staged file.\n"
		               "Only documents with a verified NHS number and clinical advice are shared.",
		.org_noun = "the provider",
		.input_help = "the documents: a file or a folder",
	};
	return extract_main(&ooh, argc, argv);
}
