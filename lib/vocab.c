/* Section and withheld-reason names. */
#include "mcr/vocab.h"
#include "mcr/error.h"

#include <string.h>

static const char *const section_names[MCR_SECTION_COUNT] = {
	"demographics", "allergies", "medications", "problems", "immunisations",
	"results", "encounters", "social-care", "misc-reports",
};

static const char *const section_titles[MCR_SECTION_COUNT] = {
	"Demographics", "Allergies", "Medications", "Problems", "Immunisations",
	"Results", "Encounters", "Social care", "Miscellaneous Reports",
};

static const char *const reason_names[MCR_REASON_COUNT] = {
	"objection", "no-consent", "sensitive", "confidential", "entered-in-error",
	"before-shares-from", "invalid-nhs-number", "unmatched", "no-clinical-contact",
	"invalid-date", "malformed",
};

const char *mcr_section_name(mcr_section s)
{
	return (unsigned)s < MCR_SECTION_COUNT ? section_names[s] : NULL;
}

const char *mcr_section_title(mcr_section s)
{
	return (unsigned)s < MCR_SECTION_COUNT ? section_titles[s] : NULL;
}

static int lookup(const char *const *names, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	return -1;
}

int mcr_section_parse(const char *name, mcr_section *out)
{
	int i = lookup(section_names, MCR_SECTION_COUNT, name);
	if (i < 0)
		return MCR_EFORMAT;
	*out = (mcr_section)i;
	return 0;
}

const char *mcr_reason_name(mcr_reason r)
{
	return (unsigned)r < MCR_REASON_COUNT ? reason_names[r] : NULL;
}

int mcr_reason_parse(const char *name, mcr_reason *out)
{
	int i = lookup(reason_names, MCR_REASON_COUNT, name);
	if (i < 0)
		return MCR_EFORMAT;
	*out = (mcr_reason)i;
	return 0;
}
