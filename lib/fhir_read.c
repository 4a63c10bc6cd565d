/* The GP format dispatch (fhir_res.h): apart from fhir_res.c, which the readers
 * call, so that lib/ has no file cycle (fhir_read -> fhir_json/fhir_xml ->
 * fhir_res). */
#include "fhir_res.h"

int mcr_fhir_read(mcr_fhir_reader *rd, const char *path)
{
	switch (mcr_fhir_format_of(path)) {
	case MCR_FHIR_JSON:
		return mcr_fhir_read_json(rd, path, 0);
	case MCR_FHIR_NDJSON:
		return mcr_fhir_read_json(rd, path, 1);
	default:
		return mcr_fhir_read_xml(rd, path);
	}
}
