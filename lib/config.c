/*
 * mcr.yaml: loaded as a libyaml document, then walked with a table of known
 * keys per mapping so every unknown, duplicate or missing key and every bad
 * value is reported as "file:line:column: what".
 */
#include "mcr/config.h"
#include "mcr/buf.h"
#include "mcr/error.h"
#include "mcr/fs.h"
#include "mcr/nhs.h"

#include <errno.h>
#include <libpq-fe.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* Defaults (docs/CONFIG.md). */
#define DEFAULT_GENERATIONS 3
#define DEFAULT_ARCHIVE_DAYS 30
#define DEFAULT_OOH_RECENT_DAYS 90
#define DEFAULT_MAX_UNMATCHED_PERCENT 5
#define DEFAULT_HOLD_DROP_PERCENT 10
#define DEFAULT_WEB_PORT 8080
#define DEFAULT_WEB_THREADS 4
#define DEFAULT_SESSION_IDLE 900
#define DEFAULT_SESSION_MAX 28800
#define DEFAULT_HOLD_MIN_FALL 5
static const char *const default_objection_codes[] = {"416409005"};
static const char *const default_consent_codes[] = {"417528008"};

typedef struct parse_ctx {
	const char *file;     /* as given, for messages */
	char *dir;            /* realpath of the config's folder */
	yaml_document_t *doc;
	mcr_config *cfg;
} parse_ctx;

/* One key of a mapping: filled in by walk_mapping(). */
typedef struct field {
	const char *name;
	int required;
	yaml_node_t *value;
	yaml_mark_t key_mark;
} field;

static int err_mark(const parse_ctx *c, yaml_mark_t m, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int err_mark(const parse_ctx *c, yaml_mark_t m, const char *fmt, ...)
{
	char what[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return mcr_error_set(MCR_ECONFIG, "%s:%zu:%zu: %s", c->file, m.line + 1, m.column + 1, what);
}

static const char *node_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE: return "a scalar";
	case YAML_SEQUENCE_NODE: return "a list";
	case YAML_MAPPING_NODE: return "a mapping";
	default: return "nothing";
	}
}

static yaml_node_t *node_at(const parse_ctx *c, int index)
{
	return yaml_document_get_node(c->doc, index);
}

/* The text of a scalar node; what names the value in messages. */
static int scalar(const parse_ctx *c, yaml_node_t *n, const char *what, const char **out)
{
	if (n->type != YAML_SCALAR_NODE)
		return err_mark(c, n->start_mark, "%s must be a scalar, not %s", what, node_kind(n));
	const char *v = (const char *)n->data.scalar.value;
	if (strlen(v) != n->data.scalar.length)
		return err_mark(c, n->start_mark, "%s contains a NUL character", what);
	*out = v;
	return 0;
}

/* A scalar that must not be empty. */
static int text(const parse_ctx *c, yaml_node_t *n, const char *what, const char **out)
{
	int rc = scalar(c, n, what, out);
	if (rc)
		return rc;
	if (!**out)
		return err_mark(c, n->start_mark, "%s is empty", what);
	return 0;
}

static int text_dup(const parse_ctx *c, yaml_node_t *n, const char *what, char **out)
{
	const char *v = NULL;
	int rc = text(c, n, what, &v);
	if (rc)
		return rc;
	if (!(*out = strdup(v)))
		return mcr_error_set(MCR_ENOMEM, "out of memory reading %s", c->file);
	return 0;
}

/*
 * Match the keys of mapping n against fields: unknown and duplicate keys are
 * errors, and so is a required field left missing. where names the mapping.
 */
static int walk_mapping(const parse_ctx *c, yaml_node_t *n, const char *where,
                        field *fields, size_t nfields)
{
	if (n->type != YAML_MAPPING_NODE)
		return err_mark(c, n->start_mark, "%s must be a mapping, not %s", where,
		                node_kind(n));
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node_at(c, p->key), *v = node_at(c, p->value);
		const char *name;
		int rc = text(c, k, "a key", &name);
		if (rc)
			return rc;
		size_t i;
		for (i = 0; i < nfields && strcmp(fields[i].name, name) != 0; i++)
			;
		if (i == nfields)
			return err_mark(c, k->start_mark, "unknown key '%s' in %s", name, where);
		if (fields[i].value)
			return err_mark(c, k->start_mark, "duplicate key '%s' in %s (first at line %zu)",
			                name, where, fields[i].key_mark.line + 1);
		fields[i].value = v;
		fields[i].key_mark = k->start_mark;
	}
	for (size_t i = 0; i < nfields; i++)
		if (fields[i].required && !fields[i].value)
			return err_mark(c, n->start_mark, "missing required key '%s' in %s",
			                fields[i].name, where);
	return 0;
}

/* A positive integer no smaller than min. */
static int positive(const parse_ctx *c, yaml_node_t *n, const char *what, int min, int *out)
{
	const char *v = NULL;
	int rc = text(c, n, what, &v);
	if (rc)
		return rc;
	long val = 0;
	for (const char *p = v; *p; p++) {
		if (*p < '0' || *p > '9' || val > INT_MAX / 10)
			return err_mark(c, n->start_mark, "%s must be a positive integer, not '%s'",
			                what, v);
		val = val * 10 + (*p - '0');
	}
	if (val > INT_MAX || val < 1)
		return err_mark(c, n->start_mark, "%s must be a positive integer, not '%s'", what, v);
	if (val < min)
		return err_mark(c, n->start_mark, "%s must be at least %d, not %ld", what, min, val);
	*out = (int)val;
	return 0;
}

/* A whole number from 0 to 100. */
static int percent(const parse_ctx *c, yaml_node_t *n, const char *what, int *out)
{
	const char *v = NULL;
	int rc = text(c, n, what, &v);
	if (rc)
		return rc;
	size_t len = strlen(v);
	int pct = 0;
	for (size_t i = 0; i < len && i < 3; i++)
		pct = pct * 10 + (v[i] - '0');
	if (len == 0 || len > 3 || strspn(v, "0123456789") != len || pct > 100)
		return err_mark(c, n->start_mark, "%s must be a whole number from 0 to 100, not '%s'",
		                what, v);
	*out = pct;
	return 0;
}

static int join_path(const parse_ctx *c, const char *rel, char **out)
{
	mcr_buf b = MCR_BUF_INIT;
	int rc = mcr_fs_join(&b, c->dir, rel);
	if (rc) {
		mcr_buf_free(&b);
		return rc;
	}
	*out = mcr_buf_detach(&b);
	return *out ? 0 : MCR_ENOMEM;
}

/* An absolute path: relative values resolve against the config's folder. */
static int resolve(const parse_ctx *c, yaml_node_t *n, const char *what, char **out)
{
	const char *v = NULL;
	int rc = text(c, n, what, &v);
	if (rc)
		return rc;
	return join_path(c, v, out);
}

/* A path key if present, else the default relative to the config's folder. */
static int path_or_default(const parse_ctx *c, const field *f, const char *def, char **out)
{
	if (f->value)
		return resolve(c, f->value, f->name, out);
	return join_path(c, def, out);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int codes_add(mcr_codes *list, const char *code)
{
	char **grown = realloc(list->codes, (list->count + 1) * sizeof(*grown));
	if (!grown)
		return mcr_error_set(MCR_ENOMEM, "out of memory reading a code list");
	list->codes = grown;
	if (!(grown[list->count] = strdup(code)))
		return mcr_error_set(MCR_ENOMEM, "out of memory reading a code list");
	list->count++;
	return 0;
}

static void codes_free(mcr_codes *list)
{
	for (size_t i = 0; i < list->count; i++)
		free(list->codes[i]);
	free(list->codes);
	list->codes = NULL;
	list->count = 0;
}

/* A list of codes (scalars), or the defaults when the key is absent. Sorted. */
static int code_list(const parse_ctx *c, const field *f, const char *const *defaults,
                     size_t ndefaults, mcr_codes *out)
{
	int rc = 0;
	if (!f->value) {
		for (size_t i = 0; i < ndefaults && !rc; i++)
			rc = codes_add(out, defaults[i]);
	} else if (f->value->type != YAML_SEQUENCE_NODE) {
		return err_mark(c, f->value->start_mark, "%s must be a list, not %s", f->name,
		                node_kind(f->value));
	} else {
		yaml_node_item_t *it;
		for (it = f->value->data.sequence.items.start;
		     it < f->value->data.sequence.items.top && !rc; it++) {
			const char *code;
			if (!(rc = text(c, node_at(c, *it), "a code", &code)))
				rc = codes_add(out, code);
		}
	}
	if (!rc && out->count > 1)
		qsort(out->codes, out->count, sizeof(*out->codes), cmp_str);
	return rc;
}

static int valid_date(const char *s)
{
	time_t t;
	return strlen(s) == 10 && mcr_time_parse(s, &t) == 0;
}

static int parse_org(const parse_ctx *c, yaml_node_t *n, mcr_org *o)
{
	field f[] = {
		{"ods", 1, NULL, {0}}, {"name", 1, NULL, {0}}, {"kind", 1, NULL, {0}},
		{"schedule", 0, NULL, {0}}, {"shares_from", 0, NULL, {0}},
		{"caldicott", 0, NULL, {0}}, {"source", 0, NULL, {0}},
	};
	int rc = walk_mapping(c, n, "an organisation", f, sizeof(f) / sizeof(f[0]));
	if (rc)
		return rc;
	const char *v = NULL;
	if ((rc = text(c, f[0].value, "ods", &v)))
		return rc;
	if (!mcr_org_ods_valid(v))
		return err_mark(c, f[0].value->start_mark,
		                "bad ODS code '%s': expected 3 to 10 capital letters or digits", v);
	if ((rc = text_dup(c, f[0].value, "ods", &o->ods)) ||
	    (rc = text_dup(c, f[1].value, "name", &o->name)) ||
	    (rc = text(c, f[2].value, "kind", &v)))
		return rc;
	if (mcr_org_kind_parse(v, &o->kind) != 0)
		return err_mark(c, f[2].value->start_mark,
		                "bad kind '%s' for %s: expected gp, lcs or ooh", v, o->ods);
	o->schedule = MCR_SCHEDULE_NIGHTLY;
	if (f[3].value) {
		if ((rc = text(c, f[3].value, "schedule", &v)))
			return rc;
		if (strcmp(v, "nightly") == 0)
			o->schedule = MCR_SCHEDULE_NIGHTLY;
		else if (strcmp(v, "twice-daily") == 0)
			o->schedule = MCR_SCHEDULE_TWICE_DAILY;
		else
			return err_mark(c, f[3].value->start_mark,
			                "bad schedule '%s' for %s: expected nightly or twice-daily",
			                v, o->ods);
	}
	if (f[4].value) {
		if ((rc = text(c, f[4].value, "shares_from", &v)))
			return rc;
		if (!valid_date(v))
			return err_mark(c, f[4].value->start_mark,
			                "bad shares_from date '%s' for %s: expected YYYY-MM-DD", v,
			                o->ods);
		memcpy(o->shares_from, v, 11);
	}
	if (f[5].value && (rc = text_dup(c, f[5].value, "caldicott", &o->caldicott)))
		return rc;
	if (f[6].value && (rc = resolve(c, f[6].value, "source", &o->source)))
		return rc;
	return 0;
}

static int parse_orgs(const parse_ctx *c, yaml_node_t *n)
{
	mcr_config *cfg = c->cfg;
	if (n->type != YAML_SEQUENCE_NODE)
		return err_mark(c, n->start_mark, "organisations must be a list, not %s",
		                node_kind(n));
	size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (count && !(cfg->orgs = calloc(count, sizeof(*cfg->orgs))))
		return mcr_error_set(MCR_ENOMEM, "out of memory reading %s", c->file);
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *on = node_at(c, n->data.sequence.items.start[i]);
		cfg->norgs = i + 1; /* so mcr_config_free frees a partly read entry */
		int rc = parse_org(c, on, &cfg->orgs[i]);
		if (rc)
			return rc;
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->orgs[j].ods, cfg->orgs[i].ods) == 0) {
				yaml_node_t *prev = node_at(c, n->data.sequence.items.start[j]);
				return err_mark(c, on->start_mark,
				                "duplicate organisation %s (first at line %zu)",
				                cfg->orgs[i].ods, prev->start_mark.line + 1);
			}
	}
	return 0;
}

static int parse_roles(const parse_ctx *c, yaml_node_t *n)
{
	mcr_config *cfg = c->cfg;
	if (n->type != YAML_MAPPING_NODE)
		return err_mark(c, n->start_mark, "roles must be a mapping, not %s", node_kind(n));
	size_t count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	if (count && !(cfg->roles = calloc(count, sizeof(*cfg->roles))))
		return mcr_error_set(MCR_ENOMEM, "out of memory reading %s", c->file);
	for (size_t i = 0; i < count; i++) {
		yaml_node_pair_t *p = &n->data.mapping.pairs.start[i];
		yaml_node_t *k = node_at(c, p->key), *v = node_at(c, p->value);
		mcr_role *r = &cfg->roles[i];
		cfg->nroles = i + 1;
		int rc = text_dup(c, k, "a role name", &r->name);
		if (rc)
			return rc;
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->roles[j].name, r->name) == 0)
				return err_mark(c, k->start_mark, "duplicate role '%s' (first at line %zu)",
				                r->name,
				                node_at(c, n->data.mapping.pairs.start[j].key)->start_mark.line + 1);
		if (v->type != YAML_SEQUENCE_NODE)
			return err_mark(c, v->start_mark,
			                "role '%s' must be a list of sections, not %s", r->name,
			                node_kind(v));
		for (yaml_node_item_t *it = v->data.sequence.items.start;
		     it < v->data.sequence.items.top; it++) {
			yaml_node_t *sn = node_at(c, *it);
			const char *name;
			mcr_section s;
			if ((rc = text(c, sn, "a section", &name)))
				return rc;
			if (mcr_section_parse(name, &s) != 0)
				return err_mark(c, sn->start_mark,
				                "unknown section '%s' in role '%s'", name, r->name);
			r->sections |= 1u << s;
		}
	}
	return 0;
}

static int parse_staff(const parse_ctx *c, yaml_node_t *n)
{
	mcr_config *cfg = c->cfg;
	if (n->type != YAML_SEQUENCE_NODE)
		return err_mark(c, n->start_mark, "staff must be a list, not %s", node_kind(n));
	size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (count && !(cfg->staff = calloc(count, sizeof(*cfg->staff))))
		return mcr_error_set(MCR_ENOMEM, "out of memory reading %s", c->file);
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *sn = node_at(c, n->data.sequence.items.start[i]);
		field f[] = {{"user", 1, NULL, {0}}, {"nhs", 1, NULL, {0}}};
		mcr_staff *st = &cfg->staff[i];
		cfg->nstaff = i + 1;
		int rc = walk_mapping(c, sn, "a staff entry", f, 2);
		if (rc || (rc = text_dup(c, f[0].value, "user", &st->user)))
			return rc;
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->staff[j].user, st->user) == 0)
				return err_mark(c, f[0].value->start_mark,
				                "duplicate staff user '%s' (first at line %zu)", st->user,
				                node_at(c, n->data.sequence.items.start[j])->start_mark.line + 1);
		const char *nhs;
		if ((rc = text(c, f[1].value, "nhs", &nhs)))
			return rc;
		if (mcr_nhs_validate(nhs, st->nhs) != 0) {
			char why[256];
			snprintf(why, sizeof(why), "%s", mcr_error_message());
			return err_mark(c, f[1].value->start_mark,
			                "bad NHS number '%s' for staff user '%s': %s", nhs, st->user, why);
		}
	}
	return 0;
}

static int parse_policy(const parse_ctx *c, yaml_node_t *n)
{
	mcr_config *cfg = c->cfg;
	field f[] = {
		{"consent_at_point_of_care", 0, NULL, {0}}, {"objection_codes", 0, NULL, {0}},
		{"consent_codes", 0, NULL, {0}}, {"sensitive_codes", 0, NULL, {0}},
		{"clinician_roles", 0, NULL, {0}}, {"ooh_recent_days", 0, NULL, {0}},
		{"roles", 1, NULL, {0}}, {"staff", 0, NULL, {0}}, {"max_unmatched_percent", 0, NULL, {0}},
	};
	int rc = walk_mapping(c, n, "policy", f, sizeof(f) / sizeof(f[0]));
	if (rc)
		return rc;
	if (f[0].value) {
		const char *v = NULL;
		if ((rc = text(c, f[0].value, "consent_at_point_of_care", &v)))
			return rc;
		if (strcmp(v, "required") == 0)
			cfg->consent_required = 1;
		else if (strcmp(v, "implied") != 0)
			return err_mark(c, f[0].value->start_mark,
			                "bad consent_at_point_of_care '%s': expected implied or required",
			                v);
	}
	if ((rc = code_list(c, &f[1], default_objection_codes, 1, &cfg->objection_codes)) ||
	    (rc = code_list(c, &f[2], default_consent_codes, 1, &cfg->consent_codes)) ||
	    (rc = code_list(c, &f[3], NULL, 0, &cfg->sensitive_codes)) ||
	    (rc = code_list(c, &f[4], NULL, 0, &cfg->clinician_roles)))
		return rc;
	/* A code cannot both raise and withdraw an objection. */
	for (size_t i = 0; i < cfg->consent_codes.count; i++)
		if (mcr_config_code_in(&cfg->objection_codes, cfg->consent_codes.codes[i]))
			return err_mark(c, f[2].value ? f[2].value->start_mark : n->start_mark,
			                "code %s is in both objection_codes and consent_codes",
			                cfg->consent_codes.codes[i]);
	cfg->ooh_recent_days = DEFAULT_OOH_RECENT_DAYS;
	if (f[5].value && (rc = positive(c, f[5].value, "ooh_recent_days", 1, &cfg->ooh_recent_days)))
		return rc;
	if ((rc = parse_roles(c, f[6].value)))
		return rc;
	if (f[7].value && (rc = parse_staff(c, f[7].value)))
		return rc;
	cfg->max_unmatched_percent = DEFAULT_MAX_UNMATCHED_PERCENT;
	if (f[8].value && (rc = percent(c, f[8].value, "max_unmatched_percent", &cfg->max_unmatched_percent)))
		return rc;
	return 0;
}

static int parse_paths(const parse_ctx *c, yaml_node_t *n)
{
	mcr_config *cfg = c->cfg;
	field f[] = {
		{"staging", 1, NULL, {0}}, {"archive", 0, NULL, {0}}, {"quarantine", 0, NULL, {0}},
		{"store", 1, NULL, {0}}, {"audit", 1, NULL, {0}}, {"log", 0, NULL, {0}},
		{"lock", 0, NULL, {0}},
	};
	int rc = walk_mapping(c, n, "paths", f, sizeof(f) / sizeof(f[0]));
	if (rc)
		return rc;
	if ((rc = path_or_default(c, &f[0], "staging", &cfg->staging_dir)) ||
	    (rc = path_or_default(c, &f[1], "archive", &cfg->archive_dir)) ||
	    (rc = path_or_default(c, &f[2], "quarantine", &cfg->quarantine_dir)) ||
	    (rc = path_or_default(c, &f[3], "store", &cfg->store_dir)) ||
	    (rc = path_or_default(c, &f[4], "audit", &cfg->audit_path)) ||
	    (rc = path_or_default(c, &f[5], "log/mcr.log", &cfg->log_path)))
		return rc;
	if (f[6].value)
		return resolve(c, f[6].value, "lock", &cfg->lock_path);
	mcr_buf b = MCR_BUF_INIT;
	if ((rc = mcr_fs_join(&b, cfg->store_dir, "mcr.lock"))) {
		mcr_buf_free(&b);
		return rc;
	}
	if (!(cfg->lock_path = mcr_buf_detach(&b)))
		return MCR_ENOMEM;
	return 0;
}

static int parse_retention(const parse_ctx *c, yaml_node_t *n)
{
	field f[] = {{"generations", 0, NULL, {0}}, {"archive_days", 0, NULL, {0}}};
	int rc = walk_mapping(c, n, "retention", f, 2);
	if (rc)
		return rc;
	/* Two generations at least: the one being read and the one being built. */
	if (f[0].value && (rc = positive(c, f[0].value, "generations", 2, &c->cfg->keep_generations)))
		return rc;
	if (f[1].value && (rc = positive(c, f[1].value, "archive_days", 1, &c->cfg->archive_days)))
		return rc;
	return 0;
}

static int parse_freshness(const parse_ctx *c, yaml_node_t *n)
{
	field f[] = {{"nightly", 0, NULL, {0}}, {"twice-daily", 0, NULL, {0}}};
	int rc = walk_mapping(c, n, "freshness", f, 2);
	if (rc)
		return rc;
	if (f[0].value && (rc = positive(c, f[0].value, "freshness.nightly (hours)", 1,
	                                 &c->cfg->fresh_nightly_hours)))
		return rc;
	if (f[1].value && (rc = positive(c, f[1].value, "freshness.twice-daily (hours)", 1,
	                                 &c->cfg->fresh_twice_daily_hours)))
		return rc;
	return 0;
}

static int parse_load(const parse_ctx *c, yaml_node_t *n)
{
	field f[] = {{"hold_drop_percent", 0, NULL, {0}}, {"hold_min_fall", 0, NULL, {0}}};
	int rc = walk_mapping(c, n, "load", f, 2);
	if (rc)
		return rc;
	if (f[1].value && (rc = positive(c, f[1].value, "hold_min_fall", 1, &c->cfg->hold_min_fall)))
		return rc;
	if (!f[0].value)
		return 0;
	int pct = 0;
	/* 0 holds any fall; 100 only a fall to none (which is always held). */
	if ((rc = percent(c, f[0].value, "hold_drop_percent", &pct)))
		return rc;
	c->cfg->hold_drop_percent = pct;
	return 0;
}

/* host:port with a port from 0 to 65535; the host is an IPv4 or IPv6 literal
 * or a name ([::1]:8080 for IPv6). */
static int parse_listen(const parse_ctx *c, yaml_node_t *n, mcr_web *w)
{
	const char *v = NULL;
	int rc = text(c, n, "listen", &v);
	if (rc)
		return rc;
	const char *colon = strrchr(v, ':');
	if (!colon || colon == v || !colon[1])
		return err_mark(c, n->start_mark, "bad listen '%s': expected host:port", v);
	long port = 0;
	for (const char *p = colon + 1; *p; p++) {
		if (*p < '0' || *p > '9' || port > 65535)
			return err_mark(c, n->start_mark, "bad listen port in '%s': expected 0 to 65535", v);
		port = port * 10 + (*p - '0');
	}
	if (port > 65535)
		return err_mark(c, n->start_mark, "bad listen port in '%s': expected 0 to 65535", v);
	const char *h = v;
	size_t hl = (size_t)(colon - v);
	if (h[0] == '[' && hl > 2 && h[hl - 1] == ']') {
		h++;
		hl -= 2;
	}
	free(w->listen_host);
	if (!(w->listen_host = strndup(h, hl)))
		return mcr_error_set(MCR_ENOMEM, "out of memory reading %s", c->file);
	w->listen_port = (int)port;
	return 0;
}

static int parse_launchers(const parse_ctx *c, yaml_node_t *n)
{
	mcr_web *w = &c->cfg->web;
	if (n->type != YAML_SEQUENCE_NODE)
		return err_mark(c, n->start_mark, "launchers must be a list, not %s", node_kind(n));
	size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (count && !(w->launchers = calloc(count, sizeof(*w->launchers))))
		return mcr_error_set(MCR_ENOMEM, "out of memory reading %s", c->file);
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *ln = node_at(c, n->data.sequence.items.start[i]);
		field f[] = {{"id", 1, NULL, {0}}, {"public_key", 1, NULL, {0}},
		             {"organisations", 1, NULL, {0}}};
		mcr_launcher *l = &w->launchers[i];
		w->nlaunchers = i + 1;
		int rc = walk_mapping(c, ln, "a launcher", f, 3);
		if (rc || (rc = text_dup(c, f[0].value, "id", &l->id)))
			return rc;
		for (const char *p = l->id; *p; p++)
			if ((unsigned char)*p <= 0x20 || *p == 0x7f)
				return err_mark(c, f[0].value->start_mark,
				                "bad launcher id '%s': no spaces or control characters", l->id);
		for (size_t j = 0; j < i; j++)
			if (strcmp(w->launchers[j].id, l->id) == 0)
				return err_mark(c, f[0].value->start_mark,
				                "duplicate launcher '%s' (first at line %zu)", l->id,
				                node_at(c, n->data.sequence.items.start[j])->start_mark.line + 1);
		if ((rc = resolve(c, f[1].value, "public_key", &l->public_key)) ||
		    (rc = code_list(c, &f[2], NULL, 0, &l->orgs)))
			return rc;
		for (size_t k = 0; k < l->orgs.count; k++)
			if (!mcr_org_ods_valid(l->orgs.codes[k]))
				return err_mark(c, f[2].value->start_mark,
				                "bad ODS code '%s' for launcher '%s'", l->orgs.codes[k], l->id);
	}
	return 0;
}

static int parse_web(const parse_ctx *c, yaml_node_t *n)
{
	mcr_web *w = &c->cfg->web;
	field f[] = {
		{"listen", 0, NULL, {0}}, {"threads", 0, NULL, {0}}, {"state", 0, NULL, {0}},
		{"session_idle", 0, NULL, {0}}, {"session_max", 0, NULL, {0}},
		{"frame_ancestors", 0, NULL, {0}}, {"ig_roles", 0, NULL, {0}},
		{"launchers", 0, NULL, {0}},
	};
	int rc = walk_mapping(c, n, "web", f, sizeof(f) / sizeof(f[0]));
	if (rc)
		return rc;
	w->present = 1;
	if ((f[0].value && (rc = parse_listen(c, f[0].value, w))) ||
	    (f[1].value && (rc = positive(c, f[1].value, "threads", 1, &w->threads))) ||
	    (f[3].value && (rc = positive(c, f[3].value, "session_idle", 1, &w->session_idle))) ||
	    (f[4].value && (rc = positive(c, f[4].value, "session_max", 1, &w->session_max))) ||
	    (rc = code_list(c, &f[5], NULL, 0, &w->frame_ancestors)) ||
	    (rc = code_list(c, &f[6], NULL, 0, &w->ig_roles)) ||
	    (f[7].value && (rc = parse_launchers(c, f[7].value))))
		return rc;
	if (f[2].value) {
		free(w->state_dir);
		w->state_dir = NULL;
		if ((rc = resolve(c, f[2].value, "state", &w->state_dir)))
			return rc;
	}
	if (w->threads > 256)
		return err_mark(c, f[1].value->start_mark, "threads must be at most 256, not %d", w->threads);
	if (w->session_idle > w->session_max)
		return err_mark(c, (f[3].value ? f[3].value : n)->start_mark,
		                "session_idle (%d) must not exceed session_max (%d)", w->session_idle,
		                w->session_max);
	/* A source in a CSP header: no spaces, semicolons, commas or quotes. */
	for (size_t i = 0; i < w->frame_ancestors.count; i++)
		if (strpbrk(w->frame_ancestors.codes[i], " \t;,'\"\r\n"))
			return err_mark(c, f[5].value->start_mark, "bad frame ancestor '%s'",
			                w->frame_ancestors.codes[i]);
	return 0;
}

static int parse_store(const parse_ctx *c, yaml_node_t *n, yaml_mark_t *backend_mark)
{
	field f[] = {{"backend", 0, NULL, {0}}};
	int rc = walk_mapping(c, n, "store", f, 1);
	if (rc || !f[0].value)
		return rc;
	const char *v = NULL;
	if ((rc = text(c, f[0].value, "store.backend", &v)))
		return rc;
	*backend_mark = f[0].value->start_mark;
	if (strcmp(v, "sqlite") == 0)
		c->cfg->backend = MCR_BACKEND_SQLITE;
	else if (strcmp(v, "postgresql") == 0)
		c->cfg->backend = MCR_BACKEND_POSTGRESQL;
	else
		return err_mark(c, f[0].value->start_mark,
		                "unknown store.backend '%s': expected sqlite or postgresql", v);
	return 0;
}

/* Free libpq's parsed options, wiping the values first (one may be a password). */
static void conninfo_free(PQconninfoOption *opts)
{
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (o->val)
			explicit_bzero(o->val, strlen(o->val));
	PQconninfoFree(opts);
}

/*
 * A conninfo libpq can parse (keyword=value pairs or a postgresql:// URI) and that
 * carries no password. libpq's own parse message is not repeated: it may quote
 * part of the string, and the string may hold the very secret refused here.
 */
static int check_conninfo(const parse_ctx *c, yaml_node_t *n, const char *v)
{
	char *errmsg = NULL;
	PQconninfoOption *opts = PQconninfoParse(v, &errmsg);
	if (!opts) {
		int oom = errmsg == NULL;
		PQfreemem(errmsg);
		if (oom)
			return mcr_error_set(MCR_ENOMEM, "out of memory reading %s", c->file);
		return err_mark(c, n->start_mark,
		                "bad postgresql.conninfo: not a libpq connection string "
		                "(keyword=value pairs or a postgresql:// URI)");
	}
	int has_password = 0;
	for (PQconninfoOption *o = opts; o->keyword; o++)
		if (strcmp(o->keyword, "password") == 0 && o->val)
			has_password = 1;
	conninfo_free(opts);
	if (has_password)
		return err_mark(c, n->start_mark,
		                "postgresql.conninfo must not hold a password: put it in "
		                "postgresql.password_file or the environment (MCR_PG_PASSWORD)");
	return 0;
}

static int parse_postgresql(const parse_ctx *c, yaml_node_t *n)
{
	mcr_pg_config *pg = &c->cfg->pg;
	field f[] = {{"conninfo", 1, NULL, {0}}, {"password_file", 0, NULL, {0}}};
	int rc = walk_mapping(c, n, "postgresql", f, 2);
	if (rc)
		return rc;
	const char *v = NULL;
	if ((rc = text(c, f[0].value, "postgresql.conninfo", &v)) ||
	    (rc = check_conninfo(c, f[0].value, v)) ||
	    (rc = text_dup(c, f[0].value, "postgresql.conninfo", &pg->conninfo)))
		return rc;
	if (f[1].value && (rc = resolve(c, f[1].value, "postgresql.password_file", &pg->password_file)))
		return rc;
	return 0;
}

/* Defaults of the web section, also when it is absent. */
static int web_defaults(const parse_ctx *c)
{
	mcr_web *w = &c->cfg->web;
	w->listen_port = DEFAULT_WEB_PORT;
	w->threads = DEFAULT_WEB_THREADS;
	w->session_idle = DEFAULT_SESSION_IDLE;
	w->session_max = DEFAULT_SESSION_MAX;
	if (!(w->listen_host = strdup("127.0.0.1")))
		return mcr_error_set(MCR_ENOMEM, "out of memory reading %s", c->file);
	return join_path(c, "web", &w->state_dir);
}

static int parse_root(const parse_ctx *c, yaml_node_t *root)
{
	field f[] = {
		{"region", 1, NULL, {0}}, {"paths", 1, NULL, {0}}, {"retention", 0, NULL, {0}},
		{"organisations", 1, NULL, {0}}, {"policy", 1, NULL, {0}},
		{"freshness", 0, NULL, {0}}, {"load", 0, NULL, {0}}, {"web", 0, NULL, {0}},
		{"store", 0, NULL, {0}}, {"postgresql", 0, NULL, {0}},
	};
	int rc = walk_mapping(c, root, "the configuration", f, sizeof(f) / sizeof(f[0]));
	if (rc)
		return rc;
	c->cfg->keep_generations = DEFAULT_GENERATIONS;
	c->cfg->archive_days = DEFAULT_ARCHIVE_DAYS;
	c->cfg->fresh_nightly_hours = MCR_FRESH_NIGHTLY_HOURS;
	c->cfg->fresh_twice_daily_hours = MCR_FRESH_TWICE_DAILY_HOURS;
	c->cfg->hold_drop_percent = DEFAULT_HOLD_DROP_PERCENT;
	c->cfg->hold_min_fall = DEFAULT_HOLD_MIN_FALL;
	if ((rc = text_dup(c, f[0].value, "region", &c->cfg->region)) ||
	    (rc = parse_paths(c, f[1].value)) ||
	    (f[2].value && (rc = parse_retention(c, f[2].value))) ||
	    (rc = parse_orgs(c, f[3].value)) ||
	    (rc = parse_policy(c, f[4].value)) ||
	    (f[5].value && (rc = parse_freshness(c, f[5].value))) ||
	    (f[6].value && (rc = parse_load(c, f[6].value))) ||
	    (rc = web_defaults(c)) ||
	    (f[7].value && (rc = parse_web(c, f[7].value))))
		return rc;
	yaml_mark_t backend_mark = root->start_mark;
	if ((f[8].value && (rc = parse_store(c, f[8].value, &backend_mark))) ||
	    (f[9].value && (rc = parse_postgresql(c, f[9].value))))
		return rc;
	if (c->cfg->backend == MCR_BACKEND_POSTGRESQL && !c->cfg->pg.conninfo)
		return err_mark(c, backend_mark,
		                "store.backend postgresql needs postgresql.conninfo");
	return 0;
}

/* Line and column of a byte offset (libyaml's reader errors give only the offset). */
static yaml_mark_t offset_mark(FILE *f, size_t offset)
{
	yaml_mark_t m = {offset, 0, 0};
	rewind(f);
	for (size_t i = 0; i < offset; i++) {
		int ch = getc(f);
		if (ch == EOF)
			break;
		if (ch == '\n') {
			m.line++;
			m.column = 0;
		} else if ((ch & 0xC0) != 0x80) {
			m.column++;
		}
	}
	return m;
}

/* realpath of the folder holding path. */
static int config_dir(const char *path, char **out)
{
	const char *slash = strrchr(path, '/');
	mcr_buf d = MCR_BUF_INIT;
	int rc;
	if (!slash)
		rc = mcr_buf_puts(&d, ".");
	else if (slash == path)
		rc = mcr_buf_puts(&d, "/");
	else
		rc = mcr_buf_put(&d, path, (size_t)(slash - path));
	if (rc)
		return rc;
	*out = realpath(d.ptr, NULL);
	if (!*out)
		rc = mcr_error_set_errno(MCR_ECONFIG, "cannot resolve the folder of %s", path);
	mcr_buf_free(&d);
	return rc;
}

int mcr_config_load(mcr_config **out, const char *path)
{
	*out = NULL;
	FILE *f = fopen(path, "rb");
	if (!f)
		return mcr_error_set_errno(MCR_ECONFIG, "cannot read %s", path);
	mcr_config *cfg = calloc(1, sizeof(*cfg));
	parse_ctx c = {path, NULL, NULL, cfg};
	yaml_parser_t parser;
	yaml_document_t doc;
	int have_parser = 0, have_doc = 0, rc;
	if (!cfg) {
		rc = mcr_error_set(MCR_ENOMEM, "out of memory reading %s", path);
		goto out;
	}
	if (!(cfg->path = strdup(path))) {
		rc = mcr_error_set(MCR_ENOMEM, "out of memory reading %s", path);
		goto out;
	}
	if ((rc = config_dir(path, &c.dir)))
		goto out;
	if (!yaml_parser_initialize(&parser)) {
		rc = mcr_error_set(MCR_ENOMEM, "out of memory reading %s", path);
		goto out;
	}
	have_parser = 1;
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		if (parser.error == YAML_READER_ERROR && ferror(f))
			rc = mcr_error_set_errno(MCR_ECONFIG, "cannot read %s", path);
		else if (parser.error == YAML_MEMORY_ERROR)
			rc = mcr_error_set(MCR_ENOMEM, "out of memory reading %s", path);
		else if (parser.error == YAML_READER_ERROR)
			rc = err_mark(&c, offset_mark(f, parser.problem_offset), "bad encoding (UTF-8 expected): %s",
			              parser.problem ? parser.problem : "bad input");
		else if (parser.context)
			rc = err_mark(&c, parser.problem_mark, "YAML syntax error: %s %s started at %zu:%zu",
			              parser.problem ? parser.problem : "bad input", parser.context,
			              parser.context_mark.line + 1, parser.context_mark.column + 1);
		else
			rc = err_mark(&c, parser.problem_mark, "YAML syntax error: %s",
			              parser.problem ? parser.problem : "bad input");
		goto out;
	}
	have_doc = 1;
	c.doc = &doc;
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (!root) {
		rc = mcr_error_set(MCR_ECONFIG, "%s:1:1: the configuration is empty", path);
		goto out;
	}
	if ((rc = parse_root(&c, root)))
		goto out;
	/* A second document would be silently ignored: refuse it. */
	yaml_document_t extra;
	if (!yaml_parser_load(&parser, &extra)) {
		rc = err_mark(&c, parser.problem_mark, "YAML syntax error: %s",
		              parser.problem ? parser.problem : "bad input");
		goto out;
	}
	yaml_node_t *extra_root = yaml_document_get_root_node(&extra);
	if (extra_root)
		rc = err_mark(&c, extra_root->start_mark, "a second YAML document is not allowed");
	yaml_document_delete(&extra);
out:
	if (have_doc)
		yaml_document_delete(&doc);
	if (have_parser)
		yaml_parser_delete(&parser);
	fclose(f);
	free(c.dir);
	if (rc) {
		mcr_config_free(cfg);
		return rc;
	}
	*out = cfg;
	return 0;
}

void mcr_config_free(mcr_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->path);
	free(cfg->region);
	free(cfg->staging_dir);
	free(cfg->archive_dir);
	free(cfg->quarantine_dir);
	free(cfg->store_dir);
	free(cfg->audit_path);
	free(cfg->log_path);
	free(cfg->lock_path);
	for (size_t i = 0; i < cfg->norgs; i++) {
		free(cfg->orgs[i].ods);
		free(cfg->orgs[i].name);
		free(cfg->orgs[i].caldicott);
		free(cfg->orgs[i].source);
	}
	free(cfg->orgs);
	codes_free(&cfg->objection_codes);
	codes_free(&cfg->consent_codes);
	codes_free(&cfg->sensitive_codes);
	codes_free(&cfg->clinician_roles);
	for (size_t i = 0; i < cfg->nroles; i++)
		free(cfg->roles[i].name);
	free(cfg->roles);
	for (size_t i = 0; i < cfg->nstaff; i++)
		free(cfg->staff[i].user);
	free(cfg->staff);
	free(cfg->web.listen_host);
	free(cfg->web.state_dir);
	codes_free(&cfg->web.frame_ancestors);
	codes_free(&cfg->web.ig_roles);
	for (size_t i = 0; i < cfg->web.nlaunchers; i++) {
		free(cfg->web.launchers[i].id);
		free(cfg->web.launchers[i].public_key);
		codes_free(&cfg->web.launchers[i].orgs);
	}
	free(cfg->web.launchers);
	free(cfg->pg.conninfo);
	free(cfg->pg.password_file);
	free(cfg);
}

const char *mcr_config_default_path(void)
{
	const char *env = getenv("MCR_CONFIG");
	return env && *env ? env : "./mcr.yaml";
}

const mcr_org *mcr_config_org(const mcr_config *cfg, const char *ods)
{
	for (size_t i = 0; ods && i < cfg->norgs; i++)
		if (strcmp(cfg->orgs[i].ods, ods) == 0)
			return &cfg->orgs[i];
	return NULL;
}

const mcr_role *mcr_config_role(const mcr_config *cfg, const char *name)
{
	for (size_t i = 0; name && i < cfg->nroles; i++)
		if (strcmp(cfg->roles[i].name, name) == 0)
			return &cfg->roles[i];
	return NULL;
}

const mcr_launcher *mcr_config_launcher(const mcr_config *cfg, const char *id)
{
	for (size_t i = 0; id && i < cfg->web.nlaunchers; i++)
		if (strcmp(cfg->web.launchers[i].id, id) == 0)
			return &cfg->web.launchers[i];
	return NULL;
}

const mcr_staff *mcr_config_staff(const mcr_config *cfg, const char *user)
{
	for (size_t i = 0; user && i < cfg->nstaff; i++)
		if (strcmp(cfg->staff[i].user, user) == 0)
			return &cfg->staff[i];
	return NULL;
}

int mcr_config_code_in(const mcr_codes *list, const char *code)
{
	if (!list->count || !code)
		return 0;
	return bsearch(&code, list->codes, list->count, sizeof(*list->codes), cmp_str) != NULL;
}

const char *mcr_org_kind_name(mcr_org_kind k)
{
	switch (k) {
	case MCR_KIND_GP: return "gp";
	case MCR_KIND_LCS: return "lcs";
	case MCR_KIND_OOH: return "ooh";
	}
	return "unknown";
}

int mcr_org_kind_parse(const char *name, mcr_org_kind *out)
{
	static const mcr_org_kind kinds[] = { MCR_KIND_GP, MCR_KIND_LCS, MCR_KIND_OOH };
	for (size_t i = 0; name && i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (strcmp(name, mcr_org_kind_name(kinds[i])) == 0) {
			if (out)
				*out = kinds[i];
			return 0;
		}
	}
	return MCR_EFORMAT;
}

int mcr_org_ods_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n < 3 || n > 10)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
			return 0;
	return 1;
}

const char *mcr_schedule_name(mcr_schedule s)
{
	switch (s) {
	case MCR_SCHEDULE_NIGHTLY: return "nightly";
	case MCR_SCHEDULE_TWICE_DAILY: return "twice-daily";
	}
	return "unknown";
}

const char *mcr_backend_name(mcr_backend b)
{
	switch (b) {
	case MCR_BACKEND_SQLITE: return "sqlite";
	case MCR_BACKEND_POSTGRESQL: return "postgresql";
	}
	return "unknown";
}

const char *mcr_org_dataset(mcr_org_kind k)
{
	return mcr_org_kind_name(k);
}
