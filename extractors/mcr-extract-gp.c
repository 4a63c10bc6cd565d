/* mcr-extract-gp: a GP practice's FHIR R4 export (XML, JSON, NDJSON) -> staged file. */
#include "extract_main.h"

int main(int argc, char **argv)
{
	static const extract_program gp = {
		.name = "mcr-extract-gp",
		.kind = MCR_KIND_GP,
		.description = "Extract a GP practice's FHIR R4 export (a file or a folder of .xml, .json\n"
		               "or .ndjson files, each optionally .gz: Bundles, single resources or Bulk\n"
		               "Data NDJSON, in any order and mixed) into a staged file.",
		.org_noun = "the practice",
		.input_help = "the export: a file or a folder",
	};
	return extract_main(&gp, argc, argv);
}
