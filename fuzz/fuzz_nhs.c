/* libFuzzer target: mcr_nhs_validate on any bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mcr/nhs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 64)
		return 0;
	char s[65];
	memcpy(s, data, size);
	s[size] = '\0';
	char out[11];
	if (mcr_nhs_validate(s, out) != 0)
		return 0;
	/* Accepted: out is 10 digits, its check digit holds, and it validates again. */
	for (int i = 0; i < 10; i++)
		if (out[i] < '0' || out[i] > '9')
			abort();
	if (out[10] != '\0' || mcr_nhs_check_digit(out) != out[9] - '0')
		abort();
	char again[11];
	if (mcr_nhs_validate(out, again) != 0 || memcmp(out, again, 11) != 0)
		abort();
	return 0;
}
