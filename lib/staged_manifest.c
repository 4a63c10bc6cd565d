/*
 * Staged file manifests: strict YAML reading (every key required, nothing
 * unknown) and finding the newest complete staged file of an organisation.
 */
#include "mcr/staged.h"
#include "mcr/buf.h"
#include "mcr/config.h"
#include "mcr/error.h"
#include "mcr/fs.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* A manifest is a few hundred bytes; anything this large is not one. */
#define MANIFEST_MAX (64 * 1024)

typedef struct mctx {
	const char *path;
	yaml_document_t *doc;
} mctx;

static int merr(const mctx *c, const yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int merr(const mctx *c, const yaml_node_t *n, const char *fmt, ...)
{
	char what[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return mcr_error_set(MCR_EFORMAT, "%s:%zu: %s", c->path, n ? n->start_mark.line + 1 : 1,
	                     what);
}

/* Keys of one mapping, matched against names; unknown and duplicate keys are errors. */
static int keys(const mctx *c, yaml_node_t *n, const char *where, const char *const *names,
                size_t count, yaml_node_t **values)
{
	if (n->type != YAML_MAPPING_NODE)
		return merr(c, n, "%s must be a mapping", where);
	for (size_t i = 0; i < count; i++)
		values[i] = NULL;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
		if (k->type != YAML_SCALAR_NODE)
			return merr(c, k, "a key in %s is not a scalar", where);
		const char *name = (const char *)k->data.scalar.value;
		size_t i;
		for (i = 0; i < count && strcmp(names[i], name) != 0; i++)
			;
		if (i == count)
			return merr(c, k, "unknown key '%s' in %s", name, where);
		if (values[i])
			return merr(c, k, "duplicate key '%s' in %s", name, where);
		values[i] = v;
	}
	for (size_t i = 0; i < count; i++)
		if (!values[i])
			return merr(c, n, "missing key '%s' in %s", names[i], where);
	return 0;
}

static int str(const mctx *c, yaml_node_t *n, const char *name, const char **out)
{
	if (n->type != YAML_SCALAR_NODE ||
	    strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
		return merr(c, n, "%s must be a plain value", name);
	*out = (const char *)n->data.scalar.value;
	return 0;
}

/* A count: decimal digits, no sign, at most 18 of them. */
static int number(const mctx *c, yaml_node_t *n, const char *name, uint64_t *out)
{
	const char *v = "";
	int rc = str(c, n, name, &v);
	if (rc)
		return rc;
	size_t len = strlen(v);
	if (len == 0 || len > 18)
		return merr(c, n, "bad %s '%s'", name, v);
	uint64_t x = 0;
	for (const char *p = v; *p; p++) {
		if (*p < '0' || *p > '9')
			return merr(c, n, "bad %s '%s'", name, v);
		x = x * 10 + (uint64_t)(*p - '0');
	}
	*out = x;
	return 0;
}

static int count(const mctx *c, yaml_node_t *n, const char *name, long *out)
{
	uint64_t x;
	int rc = number(c, n, name, &x);
	if (!rc)
		*out = (long)x;
	return rc;
}

static int parse_manifest(const mctx *c, yaml_node_t *root, mcr_staged_manifest *m)
{
	static const char *const top[] = {
		"schema_version", "organisation", "dataset", "extracted", "shares_from",
		"payload", "payload_length", "payload_crc32", "counts", "withheld",
	};
	static const char *const cnt[] = {"people", "members", "items", "objections", "sections"};
	yaml_node_t *v[10], *cv[5], *sv[MCR_SECTION_COUNT], *wv[MCR_REASON_COUNT];
	const char *section_names[MCR_SECTION_COUNT], *reason_names[MCR_REASON_COUNT];
	for (int i = 0; i < MCR_SECTION_COUNT; i++)
		section_names[i] = mcr_section_name((mcr_section)i);
	for (int i = 0; i < MCR_REASON_COUNT; i++)
		reason_names[i] = mcr_reason_name((mcr_reason)i);
	int rc;
	uint64_t x;
	if ((rc = keys(c, root, "the manifest", top, 10, v)) ||
	    (rc = number(c, v[0], "schema_version", &x)))
		return rc;
	if (x < MCR_STAGED_SCHEMA_OLDEST || x > MCR_STAGED_SCHEMA_VERSION)
		return merr(c, v[0], "unsupported schema_version %llu (this build reads %d to %d)",
		            (unsigned long long)x, MCR_STAGED_SCHEMA_OLDEST, MCR_STAGED_SCHEMA_VERSION);
	m->schema_version = (int)x;
	/* Version 1 (the release before invalid-date and malformed) lists only the reasons
	 * before them; the later ones were not counted then and read as 0. */
	int nreasons = x == 1 ? (int)MCR_REASON_INVALID_DATE : MCR_REASON_COUNT;
	for (int i = nreasons; i < MCR_REASON_COUNT; i++)
		m->withheld[i] = 0;
	if ((rc = keys(c, v[8], "counts", cnt, 5, cv)) ||
	    (rc = keys(c, cv[4], "counts.sections", section_names, MCR_SECTION_COUNT, sv)) ||
	    (rc = keys(c, v[9], "withheld", reason_names, (size_t)nreasons, wv)))
		return rc;
	const char *s = "";
	if ((rc = str(c, v[1], "organisation", &s)))
		return rc;
	if (!mcr_org_ods_valid(s))
		return merr(c, v[1], "bad organisation '%s'", s);
	if (!(m->org = strdup(s)))
		return mcr_error_set(MCR_ENOMEM, "out of memory reading %s", c->path);
	if ((rc = str(c, v[2], "dataset", &s)))
		return rc;
	if (mcr_org_kind_parse(s, NULL) != 0)
		return merr(c, v[2], "bad dataset '%s'", s);
	if (!(m->dataset = strdup(s)))
		return mcr_error_set(MCR_ENOMEM, "out of memory reading %s", c->path);
	if ((rc = str(c, v[3], "extracted", &s)))
		return rc;
	if (mcr_time_parse(s, &m->extracted) != 0)
		return merr(c, v[3], "bad extracted time '%s'", s);
	if ((rc = str(c, v[4], "shares_from", &s)))
		return rc;
	time_t t;
	if (*s && (strlen(s) != 10 || mcr_time_parse(s, &t) != 0))
		return merr(c, v[4], "bad shares_from date '%s'", s);
	memcpy(m->shares_from, s, strlen(s) + 1);
	if ((rc = str(c, v[5], "payload", &s)))
		return rc;
	/* A bare file name beside the manifest: never a path elsewhere. */
	size_t len = strlen(s);
	if (len <= 7 || strchr(s, '/') || s[0] == '.' || strcmp(s + len - 7, ".xml.gz") != 0)
		return merr(c, v[5], "bad payload name '%s'", s);
	if (!(m->payload = strdup(s)))
		return mcr_error_set(MCR_ENOMEM, "out of memory reading %s", c->path);
	if ((rc = number(c, v[6], "payload_length", &m->payload_length)))
		return rc;
	if ((rc = str(c, v[7], "payload_crc32", &s)))
		return rc;
	if (strlen(s) != 8 || strspn(s, "0123456789abcdef") != 8)
		return merr(c, v[7], "bad payload_crc32 '%s': expected 8 lowercase hex digits", s);
	m->payload_crc32 = (uint32_t)strtoul(s, NULL, 16);
	if ((rc = count(c, cv[0], "people", &m->people)) ||
	    (rc = count(c, cv[1], "members", &m->members)) ||
	    (rc = count(c, cv[2], "items", &m->items)) ||
	    (rc = count(c, cv[3], "objections", &m->objections)))
		return rc;
	long sum = 0;
	for (int i = 0; i < MCR_SECTION_COUNT; i++) {
		if ((rc = count(c, sv[i], section_names[i], &m->section_items[i])))
			return rc;
		sum += m->section_items[i];
	}
	if (sum != m->items)
		return merr(c, cv[2], "items %ld is not the sum of the sections (%ld)", m->items, sum);
	if (m->objections > m->people)
		return merr(c, cv[3], "objections %ld exceed people %ld", m->objections, m->people);
	for (int i = 0; i < nreasons; i++)
		if ((rc = count(c, wv[i], reason_names[i], &m->withheld[i])))
			return rc;
	return 0;
}

int mcr_staged_manifest_read(const char *path, mcr_staged_manifest **out)
{
	*out = NULL;
	mcr_buf text = MCR_BUF_INIT;
	int rc = mcr_fs_read_file(path, MANIFEST_MAX, &text);
	if (rc) {
		mcr_buf_free(&text);
		return rc;
	}
	mcr_staged_manifest *m = calloc(1, sizeof(*m));
	yaml_parser_t parser;
	yaml_document_t doc;
	int have_doc = 0;
	if (!m || !yaml_parser_initialize(&parser)) {
		free(m);
		mcr_buf_free(&text);
		return mcr_error_set(MCR_ENOMEM, "out of memory reading %s", path);
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)mcr_buf_cstr(&text), text.len);
	mctx c = {path, &doc};
	if (!yaml_parser_load(&parser, &doc)) {
		rc = mcr_error_set(MCR_EFORMAT, "%s:%zu: bad YAML: %s", path,
		                   parser.problem_mark.line + 1,
		                   parser.problem ? parser.problem : "unreadable");
		goto out;
	}
	have_doc = 1;
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (!root)
		rc = mcr_error_set(MCR_EFORMAT, "%s:1: empty manifest", path);
	else
		rc = parse_manifest(&c, root, m);
out:
	if (have_doc)
		yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	mcr_buf_free(&text);
	if (rc) {
		mcr_staged_manifest_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

void mcr_staged_manifest_free(mcr_staged_manifest *m)
{
	if (!m)
		return;
	free(m->org);
	free(m->dataset);
	free(m->payload);
	free(m);
}

/* "YYYYMMDDTHHMMSSZ.yaml": the only names find_latest considers. */
static int is_manifest_name(const char *n)
{
	static const char shape[] = "ddddddddTddddddZ.yaml";
	if (strlen(n) != sizeof(shape) - 1)
		return 0;
	for (size_t i = 0; shape[i]; i++) {
		if (shape[i] == 'd' ? (n[i] < '0' || n[i] > '9') : n[i] != shape[i])
			return 0;
	}
	return 1;
}

int mcr_staged_find_latest(const char *staging_dir, const char *org, const char *dataset,
                           char **manifest_path)
{
	*manifest_path = NULL;
	mcr_buf dir = MCR_BUF_INIT;
	int rc = mcr_buf_printf(&dir, "%s/%s/%s", staging_dir, org, dataset);
	if (rc)
		return rc;
	DIR *d = opendir(dir.ptr);
	if (!d) {
		if (errno == ENOENT || errno == ENOTDIR)
			rc = mcr_error_set(MCR_ENOTFOUND, "no staged file for %s/%s in %s", org,
			                   dataset, staging_dir);
		else
			rc = mcr_error_set_errno(MCR_EIO, "cannot open %s", dir.ptr);
		mcr_buf_free(&dir);
		return rc;
	}
	char best[32] = "";
	struct dirent *e;
	/* Stamps sort as text in time order; a payload without its manifest is
	 * incomplete and never listed, nor are temporary files and .failed markers. */
	while ((e = readdir(d)) != NULL)
		if (is_manifest_name(e->d_name) && strcmp(e->d_name, best) > 0)
			memcpy(best, e->d_name, strlen(e->d_name) + 1);
	closedir(d);
	if (!best[0]) {
		rc = mcr_error_set(MCR_ENOTFOUND, "no staged file for %s/%s in %s", org, dataset,
		                   staging_dir);
	} else if (!(rc = mcr_buf_putc(&dir, '/')) && !(rc = mcr_buf_puts(&dir, best))) {
		*manifest_path = mcr_buf_detach(&dir);
		if (!*manifest_path)
			rc = mcr_error_set(MCR_ENOMEM, "out of memory");
	}
	mcr_buf_free(&dir);
	return rc;
}
