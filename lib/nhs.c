/* NHS numbers: 10 digits, the last a modulus 11 check digit over the first 9. */
#include "mcr/nhs.h"
#include "mcr/error.h"

#include <stddef.h>
#include <string.h>

/* Inputs are quoted in messages; keep a garbage value from filling the line. */
#define NHS_QUOTE_MAX 24

/* Weights 10..2 over the first 9 digits; 11 - (sum mod 11), 11 -> 0.
 * Input that is not 9 digits has no check digit: -1 (callers validate first). */
int mcr_nhs_check_digit(const char *nine_digits)
{
	if (!nine_digits)
		return -1;
	int sum = 0;
	for (int i = 0; i < 9; i++) {
		char c = nine_digits[i];
		if (c < '0' || c > '9')
			return -1;
		sum += (c - '0') * (10 - i);
	}
	int check = 11 - sum % 11;
	return check == 11 ? 0 : check;
}

static int nhs_error(const char *s, const char *why)
{
	return mcr_error_set(MCR_EFORMAT, "bad NHS number %.*s%s: %s", NHS_QUOTE_MAX, s,
	                     strlen(s) > NHS_QUOTE_MAX ? "..." : "", why);
}

int mcr_nhs_validate(const char *s, char out[11])
{
	if (!s || !*s)
		return mcr_error_set(MCR_EFORMAT, "bad NHS number: empty");
	size_t len = strlen(s);
	size_t spaces = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == ' ')
			spaces++;
		else if (s[i] < '0' || s[i] > '9')
			return nhs_error(s, "not a digit");
	}
	char digits[11];
	if (spaces) {
		/* Only the 3-3-4 form with single spaces: "999 000 0018". */
		if (len != 12 || spaces != 2 || s[3] != ' ' || s[7] != ' ')
			return nhs_error(s, "bad spacing (10 digits, or 3-3-4 with single spaces)");
		memcpy(digits, s, 3);
		memcpy(digits + 3, s + 4, 3);
		memcpy(digits + 6, s + 8, 4);
	} else {
		if (len != 10)
			return nhs_error(s, "wrong length (10 digits)");
		memcpy(digits, s, 10);
	}
	digits[10] = '\0';
	int check = mcr_nhs_check_digit(digits);
	if (check == 10)
		return nhs_error(s, "check digit 10 (no valid number starts with these 9 digits)");
	if (check != digits[9] - '0')
		return nhs_error(s, "check digit mismatch");
	if (out)
		memcpy(out, digits, 11);
	return 0;
}
