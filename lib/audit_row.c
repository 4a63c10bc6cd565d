/*
 * The audit log's row as read back (lib/audit_backend.h), shared by the chain
 * code (lib/audit.c) and the backends that fill it (lib/audit_sqlite.c,
 * lib/audit_pg.c): its own file so that neither backend depends on lib/audit.c.
 */
#include "audit_backend.h"
#include "mcr/buf.h"
#include "mcr/error.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int audit_put_value(mcr_buf *b, char tag, const void *p, size_t len)
{
	unsigned char hdr[9];
	hdr[0] = (unsigned char)tag;
	if (tag == 'N')
		return mcr_buf_put(b, (const char *)hdr, 1);
	for (int i = 0; i < 8; i++)
		hdr[1 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
	int rc = mcr_buf_put(b, (const char *)hdr, sizeof(hdr));
	return rc ? rc : mcr_buf_put(b, (const char *)p, len);
}

void audit_row_clear(audit_row *r)
{
	for (int i = 0; i < 9; i++)
		free(r->f[i]);
	mcr_buf_free(&r->rest);
	memset(r, 0, sizeof(*r));
}

int audit_row_put(audit_row *r, int col, char tag, const void *p, size_t len)
{
	char *text = NULL;
	int rc = 0;
	if (tag != 'N') {
		/* The value as text (what scheme 1 hashed), up to a NUL as SQLite's text. */
		text = strndup(p, len);
		if (!text)
			return mcr_error_set(MCR_ENOMEM, "out of memory verifying the audit log");
	}
	if (col >= AUDIT_COL_AT && col <= AUDIT_COL_GENERATION)
		rc = audit_put_value(&r->rest, tag, p, len);
	if (col == AUDIT_COL_SEQ) {
		r->e.seq = text ? strtol(text, NULL, 10) : 0;
	} else if (col == AUDIT_COL_AT) {
		snprintf(r->e.at, sizeof(r->e.at), "%s", text ? text : "");
	} else if (col == AUDIT_COL_GENERATION) {
		r->e.generation = text ? strtol(text, NULL, 10) : 0;
	} else if (col == AUDIT_COL_PREV_HASH || col == AUDIT_COL_HASH) {
		char *h = col == AUDIT_COL_HASH ? r->hash : r->prev_hash;
		h[0] = '\0';
		if (text && strlen(text) == 64)
			memcpy(h, text, 65);
		r->bad_type |= tag != 'T';
	} else if (col >= AUDIT_COL_USER && col <= AUDIT_COL_DETAIL) {
		if (text && strchr(text, '\x1f'))
			r->bad_field = 1;
		free(r->f[col - AUDIT_COL_USER]);
		r->f[col - AUDIT_COL_USER] = text;
		text = NULL;
		const char **field[] = { &r->e.user, &r->e.org, &r->e.role, &r->e.nhs, &r->e.sections,
		                         &r->e.basis, &r->e.reason, &r->e.outcome, &r->e.detail };
		*field[col - AUDIT_COL_USER] = r->f[col - AUDIT_COL_USER];
	}
	free(text);
	return rc;
}
