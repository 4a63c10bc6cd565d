/* mcr-extract-lcs: a social care system's CSV extract -> staged file. */
#include "extract_main.h"

int main(int argc, char **argv)
{
	static const extract_program lcs = {
		.name = "mcr-extract-lcs",
		.kind = MCR_KIND_LCS,
		.description = "Extract a social care system's persons.csv and involvements.csv into a\n"
		               "staged file. Content is staged only for people with share_consent Y;\n"
		               "everyone with an open involvement forms the caseload (access decisions only).",
		.org_noun = "the social care organisation",
		.input_help = "the folder holding persons.csv and involvements.csv",
	};
	return extract_main(&lcs, argc, argv);
}
