/* The consolidated store's generations: naming, the 'current' link, read-only opens. */
#include "mcr/store.h"
#include "mcr/buf.h"
#include "mcr/error.h"
#include "mcr/fs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int mcr_store_generation_path(const char *store_dir, long generation, char **out)
{
	mcr_buf b = MCR_BUF_INIT;
	int rc = mcr_buf_printf(&b, "%s/gen-%06ld.sqlite", store_dir, generation);
	if (rc) {
		mcr_buf_free(&b);
		return rc;
	}
	*out = mcr_buf_detach(&b);
	return *out ? 0 : MCR_ENOMEM;
}

/* "gen-NNNNNN.sqlite" -> NNNNNN; -1 when name is not a generation file name. */
static long generation_of_name(const char *name)
{
	if (strncmp(name, "gen-", 4) != 0)
		return -1;
	const char *p = name + 4;
	long n = 0;
	int digits = 0;
	while (*p >= '0' && *p <= '9' && digits < 12) {
		n = n * 10 + (*p - '0');
		p++;
		digits++;
	}
	if (digits < 6 || strcmp(p, ".sqlite") != 0)
		return -1;
	return n;
}

int mcr_store_current_generation(const char *store_dir, long *generation)
{
	mcr_buf link = MCR_BUF_INIT;
	int rc = mcr_buf_printf(&link, "%s/current", store_dir);
	if (rc)
		return rc;
	char target[256];
	ssize_t n = readlink(link.ptr, target, sizeof(target) - 1);
	if (n < 0) {
		if (errno == ENOENT)
			rc = mcr_error_set(MCR_ENOTFOUND, "no store generation published in %s",
			                   store_dir);
		else
			rc = mcr_error_set_errno(MCR_EIO, "cannot read link %s", link.ptr);
		goto out;
	}
	target[n] = '\0';
	/* The link names a file beside it; tolerate a path prefix for robustness. */
	const char *slash = strrchr(target, '/');
	long g = generation_of_name(slash ? slash + 1 : target);
	if (g < 0) {
		rc = mcr_error_set(MCR_EFORMAT, "%s names %s, not a store generation", link.ptr,
		                   target);
		goto out;
	}
	*generation = g;
out:
	mcr_buf_free(&link);
	return rc;
}

int mcr_store_open_generation(const char *store_dir, long generation, sqlite3 **db)
{
	char *path = NULL;
	sqlite3 *d = NULL;
	sqlite3_stmt *st = NULL;
	int rc = mcr_store_generation_path(store_dir, generation, &path);
	if (rc)
		return rc;
	struct stat sb;
	if (stat(path, &sb) != 0) {
		if (errno == ENOENT)
			rc = mcr_error_set(MCR_ENOTFOUND, "store generation %ld is not kept (%s)",
			                   generation, path);
		else
			rc = mcr_error_set_errno(MCR_EIO, "cannot open %s", path);
		goto out;
	}
	if (sqlite3_open_v2(path, &d, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		rc = mcr_error_set(MCR_EIO, "cannot open %s: %s", path,
		                   d ? sqlite3_errmsg(d) : "out of memory");
		goto out;
	}
	if (sqlite3_prepare_v2(d, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		rc = mcr_error_set(MCR_EFORMAT, "cannot read %s: %s", path, sqlite3_errmsg(d));
		goto out;
	}
	int version = sqlite3_column_int(st, 0);
	if (version != MCR_STORE_SCHEMA_VERSION) {
		rc = mcr_error_set(MCR_EFORMAT, "%s has store schema version %d, expected %d", path,
		                   version, MCR_STORE_SCHEMA_VERSION);
		goto out;
	}
out:
	sqlite3_finalize(st);
	if (rc) {
		sqlite3_close(d);
		d = NULL;
	}
	*db = d;
	free(path);
	return rc;
}

int mcr_store_open_current(const char *store_dir, sqlite3 **db, long *generation)
{
	long g;
	int rc = mcr_store_current_generation(store_dir, &g);
	if (rc)
		return rc;
	rc = mcr_store_open_generation(store_dir, g, db);
	if (!rc && generation)
		*generation = g;
	return rc;
}
