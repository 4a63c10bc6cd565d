/*
 * The shared vocabulary: record sections and the reasons an item is withheld.
 * Names are what config files, staged files, the store and reports use.
 * Pure functions over constant tables: safe from any thread.
 */
#ifndef MCR_VOCAB_H
#define MCR_VOCAB_H

typedef enum mcr_section {
	MCR_SECTION_DEMOGRAPHICS,  /* "demographics" */
	MCR_SECTION_ALLERGIES,     /* "allergies" */
	MCR_SECTION_MEDICATIONS,   /* "medications" */
	MCR_SECTION_PROBLEMS,      /* "problems" */
	MCR_SECTION_IMMUNISATIONS, /* "immunisations" */
	MCR_SECTION_RESULTS,       /* "results" */
	MCR_SECTION_ENCOUNTERS,    /* "encounters" */
	MCR_SECTION_SOCIAL_CARE,   /* "social-care" */
	MCR_SECTION_MISC_REPORTS,  /* "misc-reports": out-of-hours / 111 reports */
	MCR_SECTION_COUNT
} mcr_section;

/* Machine name ("social-care"); NULL for an out-of-range value. */
const char *mcr_section_name(mcr_section s);
/* Heading shown to people ("Social care", "Miscellaneous Reports"). */
const char *mcr_section_title(mcr_section s);
/* Parse a machine name; 0 or MCR_EFORMAT (no message set). */
int mcr_section_parse(const char *name, mcr_section *out);

/* Why an item or a person was not shared. Counted per organisation in the
 * manifest and the store; never stored with content. */
typedef enum mcr_reason {
	MCR_REASON_OBJECTION,         /* "objection": objection to sharing in force */
	MCR_REASON_NO_CONSENT,        /* "no-consent": social care without consent Y */
	MCR_REASON_SENSITIVE,         /* "sensitive": code in the sensitive list */
	MCR_REASON_CONFIDENTIAL,      /* "confidential": meta.security R or V */
	MCR_REASON_ENTERED_IN_ERROR,  /* "entered-in-error" */
	MCR_REASON_BEFORE_SHARES_FROM,/* "before-shares-from" */
	MCR_REASON_INVALID_NHS,       /* "invalid-nhs-number": missing or failing modulus 11 */
	MCR_REASON_UNMATCHED,         /* "unmatched": OOH document without a verified NHS number
	                                 or with several recordTargets; GP resource whose Patient
	                                 is not in the export */
	MCR_REASON_NO_CLINICAL_CONTACT, /* "no-clinical-contact": OOH call with no clinician advice */
	MCR_REASON_INVALID_DATE,      /* "invalid-date": a date that is no calendar date ("2023-02-30") */
	MCR_REASON_MALFORMED,         /* "malformed": an OOH document that could not be read */
	MCR_REASON_COUNT
} mcr_reason;

const char *mcr_reason_name(mcr_reason r);
/* Parse a reason name; 0 or MCR_EFORMAT (no message set). */
int mcr_reason_parse(const char *name, mcr_reason *out);

#endif
