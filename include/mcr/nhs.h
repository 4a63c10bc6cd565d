/* NHS numbers: 10 digits, the last a modulus 11 check digit. Pure functions:
 * safe from any thread. */
#ifndef MCR_NHS_H
#define MCR_NHS_H

/*
 * Validate s as an NHS number. Accepts exactly 10 digits, or the 3-3-4 form with
 * single spaces ("999 000 0018"). On success writes the 10 digits and a NUL to
 * out (when out is not NULL) and returns 0. Otherwise MCR_EFORMAT with a message
 * saying why (empty, wrong length, non-digit, check digit 10, check digit
 * mismatch); the caller adds file and line.
 */
int mcr_nhs_validate(const char *s, char out[11]);

/* The check digit for the first 9 digits of s (0-9), or 10 when none exists;
 * -1 when s does not start with 9 digits. */
int mcr_nhs_check_digit(const char *nine_digits);

#endif
