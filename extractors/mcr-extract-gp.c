/* mcr-extract-gp: a GP practice's FHIR R4 XML export -> staged file. */
#include "extract_main.h"

int main(int argc, char **argv)
{
	static const extract_program gp = {
		.name = "mcr-extract-gp",
		.kind = MCR_KIND_GP,
		.description = "Extract a GP practice's FHIR R4 XML export (a file or a folder of .xml or\n"
		               ".xml.gz files, Bundles or single resources, in any order) into a staged file.",
		.org_noun = "the practice",
		.input_help = "the export: a file or a folder",
	};
	return extract_main(&gp, argc, argv);
}
