/* libFuzzer target: mcr_fhirtime_parse and _parse_hl7 on any bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mcr/fhirtime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An accepted value: an interval, a staged form that means the same earliest
 * instant (to the second) and is accepted again. */
static void check(const mcr_fhirtime *t)
{
	if (t->lo > t->hi || t->precision < MCR_FHIRTIME_YEAR || t->precision > MCR_FHIRTIME_SECOND)
		abort();
	int64_t wlo, whi;
	mcr_fhirtime_widen(t, &wlo, &whi);
	if (wlo > t->lo || whi < t->hi)
		abort();
	char staged[32];
	mcr_fhirtime_format(t, staged);
	mcr_fhirtime back;
	if (mcr_fhirtime_parse(staged, &back) != 0 || mcr_fhirtime_seconds(&back) != mcr_fhirtime_seconds(t) ||
	    mcr_fhirtime_cmp(&back, &back) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 64)
		return 0;
	char s[65];
	memcpy(s, data, size);
	s[size] = '\0';
	mcr_fhirtime t;
	if (mcr_fhirtime_parse(s, &t) == 0)
		check(&t);
	if (mcr_fhirtime_parse_hl7(s, &t) == 0)
		check(&t);
	return 0;
}
