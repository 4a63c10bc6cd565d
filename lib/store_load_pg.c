/*
 * mcr-load's store writer on PostgreSQL (load_backend.h; DESIGN.md "Beyond one
 * machine"): each generation is a schema mcr_gen_NNNNNN (schema/pg/store.sql),
 * published by flipping the pointer row mcr.published in one transaction with
 * the history's record of the run's end.
 *
 * - One run at a time across machines: a session advisory lock on the writer's
 *   connection (released by the server when the connection goes, whatever kills
 *   the run).
 * - A loaded organisation's rows are streamed with COPY, one connection per
 *   table (member, person, item, person_withheld: COPY takes a connection for
 *   itself, and the staged stream interleaves the tables); objections, a handful,
 *   are inserted after the stream (ON CONFLICT DO NOTHING, as on SQLite).
 *   Carried-over organisations are copied server-side (INSERT ... SELECT from the
 *   published schema). item's key and index are built after the insert.
 * - Nothing is visible until the flip: the generation's rows are committed as
 *   they are written (synchronous_commit off: the publishing transaction commits
 *   with it on, and its WAL flush makes every earlier commit durable too). A
 *   crash anywhere before the flip leaves an unpublished schema, dropped by the
 *   next run; after it, the new generation whole.
 */

#include "load_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcr/error.h"
#include "mcr/store.h"

/* pg_advisory_lock key of mcr-load (any constant shared by every node). */
#define LOAD_LOCK_KEY "7885906935484475801"

enum { C_MEMBER, C_PERSON, C_ITEM, C_PW, C_COUNT };

typedef struct pg_objection {
	char *nhs, *since;
} pg_objection;

typedef struct pg_range {
	int64_t first, last;
	long count;
} pg_range;

typedef struct pg_store {
	PGconn *conn;                 /* the run's: lock, DDL, history, publication */
	PGconn *copy_conn[C_COUNT];   /* one COPY each */
	mcr_pg_copy copy[C_COUNT];
	char gen[MCR_PG_SCHEMA_NAME_MAX], prev[MCR_PG_SCHEMA_NAME_MAX];
	int created, indexed;
	pg_objection *obj;            /* the stream's objections, inserted at its end */
	size_t nobj, capobj;
	char pw_nhs[16];              /* the person whose withheld counts are gathered */
	long pw[MCR_SECTION_COUNT][MCR_REASON_COUNT];
	int pw_any;
	pg_range *ranges;             /* item ids by organisation, for the counts */
	size_t nranges;
	mcr_buf sql;
} pg_store;

static pg_store *P(load_run *r)
{
	return r->sb;
}

PGconn *mcr_load_pg_conn(load_run *r)
{
	return r->sb ? P(r)->conn : NULL;
}

/* sql with every %G replaced by the new generation's schema and %P by the
 * previous one's, into s->sql (schema names are ours: mcr_gen_ and digits). */
static const char *q(pg_store *s, const char *sql)
{
	mcr_buf_reset(&s->sql);
	for (const char *p = sql; *p; p++) {
		if (p[0] == '%' && (p[1] == 'G' || p[1] == 'P')) {
			mcr_buf_puts(&s->sql, p[1] == 'G' ? s->gen : s->prev);
			p++;
		} else {
			mcr_buf_putc(&s->sql, *p);
		}
	}
	return mcr_buf_cstr(&s->sql);
}

/* Run sql (with %G / %P) with text params; *out as mcr_pg_exec. */
static int ex(load_run *r, PGresult **out, const char *what, const char *sql, int n,
              const char *const *params)
{
	pg_store *s = P(r);
	return mcr_pg_exec(s->conn, out, what, q(s, sql), n, params);
}

static long long num(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static const char *txt(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

/* A PostgreSQL text array literal of codes: {"A81001","A81002"}. */
static int array_of(mcr_buf *b, const char *const *v, size_t n)
{
	mcr_buf_reset(b);
	int rc = mcr_buf_putc(b, '{');
	for (size_t i = 0; !rc && i < n; i++) {
		rc = i ? mcr_buf_putc(b, ',') : 0;
		for (const char *p = v[i]; !rc && p && *p; p++)
			if (*p == '"' || *p == '\\')
				return mcr_error_set(MCR_ECONFIG, "organisation code %s: quote or backslash",
				                     v[i]);
		if (!rc)
			rc = mcr_buf_printf(b, "\"%s\"", v[i]);
	}
	if (!rc)
		rc = mcr_buf_putc(b, '}');
	return rc;
}

/* Generations (schemas mcr_gen_N) with N > above, or N <= upto; -1: unused. */
static int drop_generations(load_run *r, long above, long upto)
{
	PGresult *res = NULL;
	int rc = ex(r, &res, "listing the generation schemas",
	            "SELECT substr(nspname, 9)::bigint FROM pg_namespace "
	            "WHERE nspname ~ '^mcr_gen_[0-9]{6,}$'", 0, NULL);
	for (int i = 0; !rc && i < PQntuples(res); i++) {
		long g = (long)num(res, i, 0);
		if ((above >= 0 && g > above) || (upto >= 0 && g <= upto))
			rc = mcr_pg_generation_drop(P(r)->conn, g);
	}
	PQclear(res);
	return rc;
}

static int pg_open(load_run *r)
{
	pg_store *s = calloc(1, sizeof(*s));
	if (!s)
		return mcr_error_set(MCR_ENOMEM, "out of memory");
	r->sb = s;
	PGresult *res = NULL;
	int rc = mcr_pg_connect(&s->conn, r->cfg, "mcr-load");
	if (!rc)
		rc = mcr_pg_schema_shared(s->conn);
	if (!rc)
		rc = ex(r, &res, "taking the load lock", "SELECT pg_try_advisory_lock(" LOAD_LOCK_KEY ")",
		        0, NULL);
	if (!rc && strcmp(PQgetvalue(res, 0, 0), "t") != 0)
		rc = mcr_error_set(MCR_ELOCKED, "another run holds the lock (PostgreSQL advisory lock "
		                                LOAD_LOCK_KEY ", on any node)");
	PQclear(res);
	res = NULL;
	/* The build's commits need not wait for the disk: see the top of this file. */
	if (!rc)
		rc = mcr_pg_synchronous_commit(s->conn, 0);
	/* The run's statements are few and simple: compiling them (JIT, on by default
	 * above a cost the big tables' estimates pass) takes longer than running them. */
	if (!rc)
		rc = ex(r, NULL, "setting up the load's session", "SET jit = off", 0, NULL);
	/* item's key and index are sorted in memory rather than in temporary files
	 * (the default 64 MB holds about a third of a 100k-person region's keys); the
	 * server's memory for it is shared by the index build's parallel workers. */
	if (!rc)
		rc = ex(r, NULL, "setting up the load's session", "SET maintenance_work_mem = '256MB'",
		        0, NULL);
	if (!rc)
		rc = ex(r, &res, "reading the published generation",
		        "SELECT generation FROM mcr.published WHERE id = 1", 0, NULL);
	if (!rc)
		r->cur_gen = PQntuples(res) ? (long)num(res, 0, 0) : 0;
	PQclear(res);
	return rc;
}

static int pg_clean(load_run *r)
{
	return drop_generations(r, r->cur_gen, -1);
}

static int pg_begin(load_run *r)
{
	pg_store *s = P(r);
	PGresult *res = NULL;
	mcr_pg_generation_schema(r->new_gen, s->gen);
	if (r->cur_gen)
		mcr_pg_generation_schema(r->cur_gen, s->prev);
	if (!(r->new_path = strdup(s->gen)) || (r->cur_gen && !(r->prev_path = strdup(s->prev))))
		return mcr_error_set(MCR_ENOMEM, "out of memory");
	int rc;
	if (r->cur_gen) {
		const char *p[] = { s->prev };
		if ((rc = ex(r, &res, "looking for the published generation",
		             "SELECT to_regnamespace($1) IS NOT NULL", 1, p)))
			return rc;
		int there = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
		PQclear(res);
		if (!there)
			return mcr_error_set(MCR_EIO, "the published generation %s is missing", s->prev);
	}
	if ((rc = mcr_pg_generation_drop(s->conn, r->new_gen)) ||
	    (rc = mcr_pg_generation_create(s->conn, r->new_gen)))
		return rc;
	s->created = 1;
	for (int i = 0; i < C_COUNT; i++)
		if ((rc = mcr_pg_connect(&s->copy_conn[i], r->cfg, "mcr-load")) ||
		    (rc = mcr_pg_synchronous_commit(s->copy_conn[i], 0)))
			return rc;
	return 0;
}

static int pg_read_prev(load_run *r, int (*row)(load_run *r, const load_prev_row *p))
{
	PGresult *res = NULL;
	int rc = ex(r, &res, "reading the published generation's sources",
	            "SELECT s.org, s.status, s.extracted, s.loaded, s.manifest, s.shares_from, "
	            "s.people, s.members, s.items, s.objections, l.payload_length, "
	            "l.payload_crc32, l.item_first, l.item_last "
	            "FROM %P.source s LEFT JOIN %P.load_source l ON l.org = s.org", 0, NULL);
	for (int i = 0; !rc && i < PQntuples(res); i++) {
		load_prev_row p = {
			.org = txt(res, i, 0), .status = txt(res, i, 1), .extracted = txt(res, i, 2),
			.loaded = txt(res, i, 3), .manifest = txt(res, i, 4),
			.shares_from = txt(res, i, 5), .people = (long)num(res, i, 6),
			.members = (long)num(res, i, 7), .items = (long)num(res, i, 8),
			.objections = (long)num(res, i, 9), .len = num(res, i, 10),
			.crc = num(res, i, 11), .has_range = !PQgetisnull(res, i, 12),
			.first = num(res, i, 12), .last = num(res, i, 13),
		};
		rc = row(r, &p);
	}
	PQclear(res);
	return rc;
}

static int pg_prev_sections(load_run *r, const char *ods, long *people, long *items)
{
	PGresult *res = NULL;
	const char *p[] = { ods };
	int rc = ex(r, &res, "reading the published generation's sections",
	            "SELECT section, people, items FROM %P.source_section WHERE org = $1", 1, p);
	for (int i = 0; !rc && i < PQntuples(res); i++) {
		mcr_section sec;
		if (mcr_section_parse(PQgetvalue(res, i, 0), &sec) == 0) {
			people[sec] = (long)num(res, i, 1);
			items[sec] = (long)num(res, i, 2);
		}
	}
	PQclear(res);
	return rc;
}

static int pg_prev_withheld(load_run *r, const char *ods, long *withheld)
{
	PGresult *res = NULL;
	const char *p[] = { ods };
	int rc = ex(r, &res, "reading the published generation's withheld counts",
	            "SELECT reason, count FROM %P.withheld WHERE org = $1", 1, p);
	for (int i = 0; !rc && i < PQntuples(res); i++) {
		mcr_reason why;
		if (mcr_reason_parse(PQgetvalue(res, i, 0), &why) == 0)
			withheld[why] = (long)num(res, i, 1);
	}
	PQclear(res);
	return rc;
}

/* Always after the insert: COPY into an unindexed table, then one sort. */
static int pg_index(load_run *r, int after_insert)
{
	pg_store *s = P(r);
	if (!after_insert || s->indexed)
		return 0;
	s->indexed = 1;
	return mcr_pg_generation_index(s->conn, r->new_gen);
}

static int pg_stream_begin(load_run *r, const org_run *o)
{
	static const char *const copies[C_COUNT] = {
		[C_MEMBER] = "COPY %G.member (nhs, org) FROM STDIN",
		[C_PERSON] = "COPY %G.person (nhs, org, family, given, birth_date, gender, address, "
		             "postcode, phone) FROM STDIN",
		[C_ITEM] = "COPY %G.item (id, nhs, org, section, date, system, code, display, status, "
		           "source_id, details) FROM STDIN",
		[C_PW] = "COPY %G.person_withheld (nhs, org, section, reason, count) FROM STDIN",
	};
	pg_store *s = P(r);
	(void)o;
	s->nobj = 0;
	s->pw_any = 0;
	s->pw_nhs[0] = '\0';
	int rc = 0;
	for (int i = 0; !rc && i < C_COUNT; i++)
		rc = mcr_pg_copy_begin(&s->copy[i], s->copy_conn[i], q(s, copies[i]));
	return rc;
}

/* A failed COPY: a repeated key is the file's fault (MCR_EFORMAT), anything else
 * the store's. */
static int copy_failed(const org_run *o, int rc)
{
	if (strcmp(mcr_pg_sqlstate(), "23505") == 0 || strstr(mcr_error_message(), "duplicate key"))
		return mcr_error_set(MCR_EFORMAT, "%s: a row listed twice: %s", o->manifest_path,
		                     mcr_error_message());
	return rc;
}

static int field(mcr_pg_copy *cp, load_str v)
{
	return v.s ? mcr_pg_copy_textn(cp, v.s, (size_t)v.len) : mcr_pg_copy_text(cp, NULL);
}

static int pg_put_member(load_run *r, const org_run *o, load_str nhs)
{
	mcr_pg_copy *cp = &P(r)->copy[C_MEMBER];
	int rc = field(cp, nhs);
	if (!rc)
		rc = mcr_pg_copy_text(cp, o->org->ods);
	if (!rc)
		rc = mcr_pg_copy_row(cp);
	return rc ? copy_failed(o, rc) : 0;
}

static int pg_put_person(load_run *r, const org_run *o, load_str nhs, const load_str *fields)
{
	mcr_pg_copy *cp = &P(r)->copy[C_PERSON];
	int rc = field(cp, nhs);
	if (!rc)
		rc = mcr_pg_copy_text(cp, o->org->ods);
	for (int i = 0; !rc && i < 7; i++)
		rc = field(cp, fields[i]);
	if (!rc)
		rc = mcr_pg_copy_row(cp);
	return rc ? copy_failed(o, rc) : 0;
}

static int pg_put_objection(load_run *r, const org_run *o, load_str nhs, load_str since)
{
	pg_store *s = P(r);
	(void)o;
	if (s->nobj == s->capobj) {
		size_t cap = s->capobj ? 2 * s->capobj : 64;
		pg_objection *n = realloc(s->obj, cap * sizeof(*n));
		if (!n)
			return mcr_error_set(MCR_ENOMEM, "out of memory");
		s->obj = n;
		s->capobj = cap;
	}
	pg_objection *e = &s->obj[s->nobj];
	e->nhs = strndup(nhs.s ? nhs.s : "", nhs.s ? (size_t)nhs.len : 0);
	e->since = since.s ? strndup(since.s, (size_t)since.len) : NULL;
	if (!e->nhs || (since.s && !e->since)) {
		free(e->nhs);
		free(e->since);
		return mcr_error_set(MCR_ENOMEM, "out of memory");
	}
	s->nobj++;
	return 0;
}

static int pg_put_item(load_run *r, const org_run *o, const load_item_row *it)
{
	mcr_pg_copy *cp = &P(r)->copy[C_ITEM];
	int rc = mcr_pg_copy_int(cp, it->id);
	if (!rc)
		rc = field(cp, it->nhs);
	if (!rc)
		rc = mcr_pg_copy_text(cp, o->org->ods);
	if (!rc)
		rc = mcr_pg_copy_text(cp, it->section);
	const load_str *f[] = { &it->date, &it->system, &it->code, &it->display, &it->status,
	                        &it->source_id, &it->details };
	for (size_t i = 0; !rc && i < sizeof(f) / sizeof(f[0]); i++)
		rc = field(cp, *f[i]);
	if (!rc)
		rc = mcr_pg_copy_row(cp);
	return rc ? copy_failed(o, rc) : 0;
}

/* The gathered withheld counts of one person, one row per section and reason
 * (COPY cannot add to a row already sent, as SQLite's ON CONFLICT does). */
static int flush_withheld(load_run *r, const org_run *o)
{
	pg_store *s = P(r);
	mcr_pg_copy *cp = &s->copy[C_PW];
	int rc = 0;
	if (!s->pw_any)
		return 0;
	for (int k = 0; !rc && k < MCR_SECTION_COUNT; k++)
		for (int w = 0; !rc && w < MCR_REASON_COUNT; w++) {
			if (!s->pw[k][w])
				continue;
			if ((rc = mcr_pg_copy_text(cp, s->pw_nhs)) ||
			    (rc = mcr_pg_copy_text(cp, o->org->ods)) ||
			    (rc = mcr_pg_copy_text(cp, mcr_section_name((mcr_section)k))) ||
			    (rc = mcr_pg_copy_text(cp, mcr_reason_name((mcr_reason)w))) ||
			    (rc = mcr_pg_copy_int(cp, s->pw[k][w])))
				break;
			rc = mcr_pg_copy_row(cp);
		}
	memset(s->pw, 0, sizeof(s->pw));
	s->pw_any = 0;
	return rc ? copy_failed(o, rc) : 0;
}

static int pg_put_withheld(load_run *r, const org_run *o, load_str nhs, mcr_section section,
                           mcr_reason reason, long count)
{
	pg_store *s = P(r);
	int rc = 0;
	if (!nhs.s || (size_t)nhs.len >= sizeof(s->pw_nhs))
		return mcr_error_set(MCR_EFORMAT, "%s: a withheld count without a valid NHS number",
		                     o->manifest_path);
	if (s->pw_any && (strncmp(s->pw_nhs, nhs.s, (size_t)nhs.len) != 0 ||
	                  s->pw_nhs[nhs.len] != '\0'))
		rc = flush_withheld(r, o);
	memcpy(s->pw_nhs, nhs.s, (size_t)nhs.len);
	s->pw_nhs[nhs.len] = '\0';
	s->pw[section][reason] += count;
	s->pw_any = 1;
	return rc;
}

static void free_objections(pg_store *s)
{
	for (size_t i = 0; i < s->nobj; i++) {
		free(s->obj[i].nhs);
		free(s->obj[i].since);
	}
	s->nobj = 0;
}

static int pg_stream_end(load_run *r, const org_run *o, int ok, long *objection_rows)
{
	pg_store *s = P(r);
	int rc = ok ? flush_withheld(r, o) : 0;
	*objection_rows = 0;
	for (int i = 0; i < C_COUNT; i++) {
		if (!ok || rc) {
			mcr_pg_copy_abort(&s->copy[i]);
			continue;
		}
		if ((rc = mcr_pg_copy_end(&s->copy[i], NULL)))
			rc = copy_failed(o, rc);
	}
	for (size_t i = 0; ok && !rc && i < s->nobj; i++) {
		PGresult *res = NULL;
		const char *p[] = { o->org->ods, s->obj[i].nhs, s->obj[i].since };
		if (!(rc = ex(r, &res, "inserting an objection",
		              "INSERT INTO %G.objection (org, nhs, since) VALUES ($1, $2, $3) "
		              "ON CONFLICT DO NOTHING", 3, p)))
			*objection_rows += atol(PQcmdTuples(res));
		PQclear(res);
	}
	free_objections(s);
	return rc;
}

static int pg_discard_org(load_run *r, const org_run *o)
{
	static const char *const tables[] = {
		"DELETE FROM %G.member WHERE org = $1", "DELETE FROM %G.person WHERE org = $1",
		"DELETE FROM %G.person_withheld WHERE org = $1",
		"DELETE FROM %G.objection WHERE org = $1",
	};
	char first[24];
	snprintf(first, sizeof(first), "%lld", (long long)o->first);
	const char *p1[] = { first }, *p2[] = { o->org->ods };
	int rc = ex(r, NULL, "discarding a rejected file's items", "DELETE FROM %G.item WHERE id >= $1",
	            1, p1);
	for (size_t i = 0; !rc && i < sizeof(tables) / sizeof(tables[0]); i++)
		rc = ex(r, NULL, "discarding a rejected file's rows", tables[i], 1, p2);
	return rc;
}

static int pg_carry_items(load_run *r, const org_run *o, int64_t to_first, long *copied)
{
	char a[24], b[24], c[24];
	snprintf(a, sizeof(a), "%lld", (long long)o->prev_first);
	snprintf(b, sizeof(b), "%lld", (long long)o->prev_last);
	snprintf(c, sizeof(c), "%lld", (long long)to_first);
	const char *p[] = { a, b, c, o->org->ods };
	PGresult *res = NULL;
	int rc = ex(r, &res, "carrying items over",
	            "INSERT INTO %G.item (id, nhs, org, section, date, system, code, display, status, "
	            "source_id, details) SELECT id - $1::bigint + $3::bigint, nhs, org, section, date, "
	            "system, code, display, status, source_id, details FROM %P.item "
	            "WHERE id BETWEEN $1::bigint AND $2::bigint AND org = $4 ORDER BY id", 4, p);
	if (!rc)
		*copied = atol(PQcmdTuples(res));
	PQclear(res);
	return rc;
}

static int pg_carry_tables(load_run *r, const char *const *ods, size_t n)
{
	static const char *const copies[] = {
		"INSERT INTO %G.member (nhs, org) SELECT nhs, org FROM %P.member WHERE org = ANY($1)",
		"INSERT INTO %G.person (nhs, org, family, given, birth_date, gender, address, postcode, "
		"phone) SELECT nhs, org, family, given, birth_date, gender, address, postcode, phone "
		"FROM %P.person WHERE org = ANY($1)",
		"INSERT INTO %G.person_withheld (nhs, org, section, reason, count) SELECT nhs, org, "
		"section, reason, count FROM %P.person_withheld WHERE org = ANY($1)",
		"INSERT INTO %G.objection (nhs, org, since) SELECT nhs, org, since FROM %P.objection "
		"WHERE org = ANY($1)",
	};
	mcr_buf arr = MCR_BUF_INIT;
	int rc = n ? array_of(&arr, ods, n) : 0;
	const char *p[] = { arr.ptr };
	for (size_t i = 0; n && !rc && i < sizeof(copies) / sizeof(copies[0]); i++)
		rc = ex(r, NULL, "carrying organisations over", copies[i], 1, p);
	mcr_buf_free(&arr);
	return rc;
}

static int pg_objections(load_run *r, const char *const *by, size_t nby,
                         const char *const *affected, size_t naff, load_obj_items_fn on_items,
                         load_obj_people_fn on_people)
{
	mcr_buf a = MCR_BUF_INIT, b = MCR_BUF_INIT;
	PGresult *res = NULL;
	int rc;
	if ((rc = array_of(&a, by, nby)) || (rc = array_of(&b, affected, naff)))
		goto out;
	const char *p1[] = { a.ptr }, *p2[] = { b.ptr };
	/* One transaction: the temporary table lives until its end. */
	if ((rc = mcr_pg_begin(P(r)->conn, MCR_PG_READ_COMMITTED, 0)))
		goto out;
	if ((rc = ex(r, NULL, "gathering the objecting people",
	             "CREATE TEMP TABLE objnhs ON COMMIT DROP AS SELECT DISTINCT nhs FROM %G.objection "
	             "WHERE org = ANY($1)", 1, p1)))
		goto out;
	/* A few objecting people against the whole generation: each looked up in the
	 * tables' indexes (nhs first), never a scan of item (as SQLite's CROSS JOIN);
	 * item has no statistics yet to tell the planner so. */
	if ((rc = ex(r, NULL, "planning the objections", "SET LOCAL enable_hashjoin = off", 0,
	             NULL)) ||
	    (rc = ex(r, NULL, "planning the objections", "SET LOCAL enable_mergejoin = off", 0, NULL)))
		goto out;
	if ((rc = ex(r, &res, "counting the objecting people's items",
	             "SELECT i.org, i.section, count(*), count(DISTINCT i.nhs) FROM %G.item i "
	             "JOIN objnhs o ON o.nhs = i.nhs WHERE i.org = ANY($1) GROUP BY i.org, i.section",
	             1, p2)))
		goto out;
	for (int i = 0; i < PQntuples(res); i++)
		on_items(r, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), (long)num(res, i, 2),
		         (long)num(res, i, 3));
	PQclear(res);
	res = NULL;
	if ((rc = ex(r, &res, "counting the objecting people",
	             "SELECT p.org, count(*), count(*) FILTER (WHERE coalesce(p.family, p.given, "
	             "p.birth_date, p.gender, p.address, p.postcode, p.phone) IS NOT NULL) "
	             "FROM %G.person p JOIN objnhs o ON o.nhs = p.nhs WHERE p.org = ANY($1) "
	             "GROUP BY p.org", 1, p2)))
		goto out;
	for (int i = 0; i < PQntuples(res); i++)
		on_people(r, PQgetvalue(res, i, 0), (long)num(res, i, 1), (long)num(res, i, 2));
	static const char *const deletes[] = {
		"DELETE FROM %G.item i USING objnhs o WHERE i.nhs = o.nhs AND i.org = ANY($1)",
		"DELETE FROM %G.person p USING objnhs o WHERE p.nhs = o.nhs AND p.org = ANY($1)",
		"DELETE FROM %G.person_withheld w USING objnhs o WHERE w.nhs = o.nhs AND w.org = ANY($1)",
	};
	for (size_t i = 0; !rc && i < sizeof(deletes) / sizeof(deletes[0]); i++)
		rc = ex(r, NULL, "deleting the objecting people's health data", deletes[i], 1, p2);
	if (!rc)
		rc = mcr_pg_commit(P(r)->conn);
out:
	if (rc)
		mcr_pg_rollback(P(r)->conn);
	PQclear(res);
	mcr_buf_free(&a);
	mcr_buf_free(&b);
	return rc;
}

static int pg_write_meta(load_run *r, const char *const *keys, const char *const *values, size_t n)
{
	int rc = 0;
	for (size_t i = 0; !rc && i < n; i++) {
		const char *p[] = { keys[i], values[i] };
		rc = ex(r, NULL, "writing the generation's meta", "INSERT INTO %G.meta (key, value) "
		                                                  "VALUES ($1, $2)", 2, p);
	}
	return rc;
}

static int pg_write_source(load_run *r, const load_source_row *w)
{
	char n[8][24];
	long long v[8] = { w->people, w->members, w->items, w->objections, w->len, w->crc,
	                   w->first, w->last };
	for (int i = 0; i < 8; i++)
		snprintf(n[i], sizeof(n[i]), "%lld", v[i]);
	const char *p[] = { w->org, w->dataset, w->kind, w->name, w->status, w->extracted, w->loaded,
	                    w->shares_from, w->manifest, w->rejected_file, w->rejected_reason, n[0],
	                    n[1], n[2], n[3] };
	int rc = ex(r, NULL, "writing a source row",
	            "INSERT INTO %G.source (org, dataset, kind, name, status, extracted, loaded, "
	            "shares_from, manifest, rejected_file, rejected_reason, people, members, items, "
	            "objections) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, "
	            "$15)", 15, p);
	for (int k = 0; !rc && k < MCR_SECTION_COUNT; k++) {
		if (!w->sec_people[k] && !w->sec_items[k])
			continue;
		char a[24], b[24];
		snprintf(a, sizeof(a), "%ld", w->sec_people[k]);
		snprintf(b, sizeof(b), "%ld", w->sec_items[k]);
		const char *ps[] = { w->org, mcr_section_name((mcr_section)k), a, b };
		rc = ex(r, NULL, "writing a source's sections", "INSERT INTO %G.source_section (org, "
		        "section, people, items) VALUES ($1, $2, $3, $4)", 4, ps);
	}
	for (int k = 0; !rc && k < MCR_REASON_COUNT; k++) {
		if (!w->withheld[k])
			continue;
		char a[24];
		snprintf(a, sizeof(a), "%ld", w->withheld[k]);
		const char *pw[] = { w->org, mcr_reason_name((mcr_reason)k), a };
		rc = ex(r, NULL, "writing a source's withheld counts", "INSERT INTO %G.withheld (org, "
		        "reason, count) VALUES ($1, $2, $3)", 3, pw);
	}
	if (!rc && w->has_range) {
		const char *pl[] = { w->org, n[4], n[5], n[6], n[7] };
		rc = ex(r, NULL, "writing a source's item range", "INSERT INTO %G.load_source (org, "
		        "payload_length, payload_crc32, item_first, item_last) VALUES ($1, $2, $3, $4, $5)",
		        5, pl);
	}
	if (!rc && w->held) {
		char a[24], b[24];
		snprintf(a, sizeof(a), "%ld", w->held_people);
		snprintf(b, sizeof(b), "%ld", w->held_items);
		const char *ph[] = { w->org, w->held_manifest, w->held_extracted, a, b, w->held_reason };
		rc = ex(r, NULL, "writing a held file", "INSERT INTO %G.source_held (org, manifest, "
		        "extracted, people, items, reason) VALUES ($1, $2, $3, $4, $5, $6)", 6, ph);
	}
	return rc;
}

static int pg_count_rows(load_run *r, load_table t, load_count_fn add, long *counts)
{
	static const char *const sql[] = {
		"SELECT org, count(*) FROM %G.member GROUP BY org",
		"SELECT org, count(*) FROM %G.person GROUP BY org",
		"SELECT org, count(*) FROM %G.objection GROUP BY org",
	};
	PGresult *res = NULL;
	int rc = ex(r, &res, "counting the new generation's rows", sql[t], 0, NULL);
	for (int i = 0; !rc && i < PQntuples(res); i++)
		rc = add(r, txt(res, i, 0), (long)num(res, i, 1), counts);
	PQclear(res);
	return rc;
}

/* Each organisation's item id range and count, read in one pass (count_items
 * is asked once per organisation; a scan each would read the table N times). */
static int item_ranges(load_run *r)
{
	pg_store *s = P(r);
	PGresult *res = NULL;
	int rc = ex(r, &res, "counting the new generation's items",
	            "SELECT min(id), max(id), count(*) FROM %G.item GROUP BY org", 0, NULL);
	if (rc)
		return rc;
	int n = PQntuples(res);
	if (!(s->ranges = calloc((size_t)n + 1, sizeof(*s->ranges)))) {
		PQclear(res);
		return mcr_error_set(MCR_ENOMEM, "out of memory");
	}
	for (int i = 0; i < n; i++) {
		s->ranges[i].first = num(res, i, 0);
		s->ranges[i].last = num(res, i, 1);
		s->ranges[i].count = (long)num(res, i, 2);
	}
	s->nranges = (size_t)n;
	PQclear(res);
	return 0;
}

static int pg_count_items(load_run *r, int64_t first, int64_t last, long *n)
{
	pg_store *s = P(r);
	int rc = s->ranges ? 0 : item_ranges(r);
	if (rc)
		return rc;
	/* Exact from the ranges when no organisation's ids straddle [first, last]. */
	long sum = 0;
	int exact = 1;
	for (size_t i = 0; i < s->nranges && exact; i++) {
		const pg_range *g = &s->ranges[i];
		if (g->first >= first && g->last <= last)
			sum += g->count;
		else if (!(g->last < first || g->first > last))
			exact = 0;
	}
	if (exact) {
		*n = sum;
		return 0;
	}
	char a[24], b[24];
	snprintf(a, sizeof(a), "%lld", (long long)first);
	snprintf(b, sizeof(b), "%lld", (long long)last);
	const char *p[] = { a, b };
	PGresult *res = NULL;
	rc = ex(r, &res, "counting items", "SELECT count(*) FROM %G.item "
	                                   "WHERE id BETWEEN $1::bigint AND $2::bigint", 2, p);
	if (!rc)
		*n = (long)num(res, 0, 0);
	PQclear(res);
	return rc;
}

static void close_copies(pg_store *s)
{
	for (int i = 0; i < C_COUNT; i++) {
		mcr_pg_copy_abort(&s->copy[i]);
		mcr_pg_close(s->copy_conn[i]);
		s->copy_conn[i] = NULL;
	}
}

/* The generation's statistics for the readers' plans; its rows are committed
 * already and become durable with the publishing commit. */
static int pg_finish(load_run *r)
{
	close_copies(P(r));
	mcr_load_progress_phase(r, "analysing the new generation");
	/* item is left to autovacuum's analyze (its size is known from the index
	 * build, enough for the readers' lookups by nhs): sampling it here would cost
	 * the load as much as the objections and counts together. */
	return ex(r, NULL, "analysing the new generation",
	          "ANALYZE %G.person, %G.member, %G.objection, %G.person_withheld", 0, NULL);
}

static int pg_publish(load_run *r, int (*record)(load_run *r))
{
	pg_store *s = P(r);
	PGresult *res = NULL;
	char gen[24];
	snprintf(gen, sizeof(gen), "%ld", r->new_gen);
	const char *p[] = { gen, s->gen };
	int rc = mcr_pg_begin(s->conn, MCR_PG_READ_COMMITTED, 0);
	if (rc)
		return rc;
	/* Durable before the flip is reported: this commit waits for the disk (and a
	 * synchronous standby), and with it every commit of the build before it. */
	if ((rc = mcr_pg_synchronous_commit(s->conn, 1)) ||
	    (rc = ex(r, &res, "locking the published generation",
	             "SELECT generation FROM mcr.published WHERE id = 1 FOR UPDATE", 0, NULL)))
		goto fail;
	if (PQntuples(res) != 1 || num(res, 0, 0) != r->cur_gen) {
		rc = mcr_error_set(MCR_ERROR, "the published generation moved to %s during the run; "
		                              "nothing published", PQntuples(res) ? PQgetvalue(res, 0, 0)
		                                                                  : "(none)");
		goto fail;
	}
	if ((rc = record(r)) ||
	    (rc = ex(r, NULL, "publishing the new generation", "UPDATE mcr.published SET "
	             "generation = $1, schema_name = $2 WHERE id = 1", 2, p)))
		goto fail;
	mcr_load_crash_point(r, "linked");
	if ((rc = mcr_pg_commit(s->conn)))
		goto fail;
	r->renamed = 1;
	PQclear(res);
	mcr_load_crash_point(r, "published");
	return mcr_pg_synchronous_commit(s->conn, 0);
fail:
	PQclear(res);
	mcr_pg_rollback(s->conn);
	/* The record was part of the rolled-back transaction. */
	r->recorded = 0;
	return rc;
}

static int pg_prune(load_run *r, long upto)
{
	/* A reader still in an old generation holds it: wait a little, then leave it
	 * for the next run (a warning, not a failure). */
	int rc = ex(r, NULL, "setting lock_timeout", "SET lock_timeout = '10s'", 0, NULL);
	return rc ? rc : drop_generations(r, -1, upto);
}

static void pg_close(load_run *r)
{
	pg_store *s = P(r);
	if (!s)
		return;
	close_copies(s);
	free_objections(s);
	free(s->obj);
	free(s->ranges);
	if (s->conn && s->created && !r->renamed && !mcr_pg_lost(s->conn)) {
		mcr_pg_rollback(s->conn);
		if (mcr_pg_generation_drop(s->conn, r->new_gen) != 0)
			mcr_error_clear();
	}
	mcr_pg_close(s->conn);   /* and with it the advisory lock */
	mcr_buf_free(&s->sql);
	free(s);
	r->sb = NULL;
}

const load_store_ops mcr_load_store_pg = {
	.name = "postgresql",
	.open = pg_open,
	.clean = pg_clean,
	.begin = pg_begin,
	.read_prev = pg_read_prev,
	.prev_sections = pg_prev_sections,
	.prev_withheld = pg_prev_withheld,
	.index = pg_index,
	.stream_begin = pg_stream_begin,
	.put_member = pg_put_member,
	.put_person = pg_put_person,
	.put_objection = pg_put_objection,
	.put_item = pg_put_item,
	.put_withheld = pg_put_withheld,
	.stream_end = pg_stream_end,
	.discard_org = pg_discard_org,
	.carry_items = pg_carry_items,
	.carry_tables = pg_carry_tables,
	.objections = pg_objections,
	.write_meta = pg_write_meta,
	.write_source = pg_write_source,
	.count_rows = pg_count_rows,
	.count_items = pg_count_items,
	.finish = pg_finish,
	.publish = pg_publish,
	.prune = pg_prune,
	.close = pg_close,
};
