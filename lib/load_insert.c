/*
 * mcr-load: the inserting side. One organisation's staged file streamed into
 * the new generation (prepared INSERTs, rows in the order read), or its rows
 * carried over from the previous generation.
 */

#include "load_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcr/db.h"
#include "mcr/error.h"

/* Characters JSON needs escaped: '"', '\\' and controls. */
static int json_plain(unsigned char c)
{
	return c >= 0x20 && c != '"' && c != '\\';
}

static int json_string(mcr_buf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *e = p + n;
	int rc = mcr_buf_putc(b, '"');
	while (!rc && p < e) {
		const unsigned char *run = p;
		while (p < e && json_plain(*p))
			p++;
		if (p > run && (rc = mcr_buf_put(b, run, (size_t)(p - run))))
			break;
		if (p == e)
			break;
		switch (*p) {
		case '"': rc = mcr_buf_puts(b, "\\\""); break;
		case '\\': rc = mcr_buf_puts(b, "\\\\"); break;
		case '\n': rc = mcr_buf_puts(b, "\\n"); break;
		case '\r': rc = mcr_buf_puts(b, "\\r"); break;
		case '\t': rc = mcr_buf_puts(b, "\\t"); break;
		default: rc = mcr_buf_printf(b, "\\u%04x", *p);
		}
		p++;
	}
	return rc ? rc : mcr_buf_putc(b, '"');
}

/* The details of an item as stored: a JSON array of [name, value] pairs, from
 * the batch encoding (count, then name and value strings). */
static int details_json(mcr_buf *b, load_cursor *c, uint32_t n)
{
	mcr_buf_reset(b);
	int rc = mcr_buf_putc(b, '[');
	for (uint32_t i = 0; !rc && i < n; i++) {
		int nl, vl;
		const char *name = mcr_load_get_str(c, &nl), *value = mcr_load_get_str(c, &vl);
		if (i)
			rc = mcr_buf_putc(b, ',');
		if (!rc)
			rc = mcr_buf_putc(b, '[');
		if (!rc)
			rc = json_string(b, name ? name : "", name ? (size_t)nl : 0);
		if (!rc)
			rc = mcr_buf_putc(b, ',');
		if (!rc)
			rc = json_string(b, value ? value : "", value ? (size_t)vl : 0);
		if (!rc)
			rc = mcr_buf_putc(b, ']');
	}
	return rc ? rc : mcr_buf_putc(b, ']');
}

typedef struct stream_state {
	unsigned mask;          /* sections the current person has items in */
	long member_rows, person_rows, objection_records, objection_rows, item_rows;
} stream_state;

static void bind_field(sqlite3_stmt *st, int i, load_cursor *c)
{
	int len;
	const char *s = mcr_load_get_str(c, &len);
	if (s)
		sqlite3_bind_text(st, i, s, len, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

/* Step an INSERT of a row from a staged file: a constraint failure is the
 * file's fault (MCR_EFORMAT), anything else the store's (MCR_EIO). */
static int step_insert(load_run *r, sqlite3_stmt *st, const org_run *o, const char *what,
                       const char *nhs)
{
	int rc = sqlite3_step(st);
	int err = 0;
	if (rc != SQLITE_DONE) {
		if ((rc & 0xff) == SQLITE_CONSTRAINT)
			err = mcr_error_set(MCR_EFORMAT, "%s: %s %s listed twice", o->manifest_path,
			                    what, nhs);
		else
			err = mcr_db_error(r->db, r->new_path);
	}
	sqlite3_reset(st);
	return err;
}

static int insert_batch(load_run *r, org_run *o, const load_batch *b, stream_state *ss)
{
	size_t len;
	load_cursor c = { mcr_load_batch_data(b, &len), 0 };
	int rc = 0;
	while (!rc && c.off < len) {
		unsigned type = mcr_load_get_u8(&c);
		switch (type) {
		case LOAD_REC_MEMBER: {
			const char *nhs = (const char *)c.p + c.off + 4;
			bind_field(r->ins_member, 2, &c);
			if (!(rc = step_insert(r, r->ins_member, o, "member", nhs)))
				ss->member_rows++;
			break;
		}
		case LOAD_REC_PERSON: {
			const char *nhs = (const char *)c.p + c.off + 4;
			bind_field(r->ins_person, 2, &c);
			int demo = 0;
			for (int i = 0; i < 7; i++) {
				const unsigned char *p = c.p + c.off;
				uint32_t n;
				memcpy(&n, p, 4);
				if (n != UINT32_MAX)
					demo = 1;
				bind_field(r->ins_person, 3 + i, &c);
			}
			if (!(rc = step_insert(r, r->ins_person, o, "person", nhs))) {
				ss->person_rows++;
				ss->mask = 0;
				if (demo)
					o->sec_people[MCR_SECTION_DEMOGRAPHICS]++;
			}
			break;
		}
		case LOAD_REC_OBJECTION: {
			bind_field(r->ins_objection, 2, &c);
			bind_field(r->ins_objection, 3, &c);
			if (!(rc = mcr_db_step_done(r->db, r->ins_objection, r->new_path))) {
				ss->objection_records++;
				ss->objection_rows += sqlite3_changes(r->db);
			}
			break;
		}
		case LOAD_REC_ITEM: {
			unsigned s = mcr_load_get_u8(&c);
			const char *nhs = (const char *)c.p + c.off + 4;
			sqlite3_bind_int64(r->ins_item, 2, r->next_id);
			sqlite3_bind_text(r->ins_item, 4, mcr_section_name((mcr_section)s), -1,
			                  SQLITE_STATIC);
			bind_field(r->ins_item, 3, &c);
			for (int i = 5; i <= 10; i++)
				bind_field(r->ins_item, i, &c);
			uint32_t nd;
			memcpy(&nd, c.p + c.off, 4);
			c.off += 4;
			if (nd) {
				if ((rc = details_json(&r->json, &c, nd)))
					break;
				sqlite3_bind_text(r->ins_item, 11, r->json.ptr, (int)r->json.len,
				                  SQLITE_STATIC);
			} else {
				sqlite3_bind_null(r->ins_item, 11);
			}
			if (!(rc = step_insert(r, r->ins_item, o, "item of person", nhs))) {
				r->next_id++;
				ss->item_rows++;
				o->sec_items[s]++;
				ss->mask |= 1u << s;
				r->done_items++;
			}
			break;
		}
		case LOAD_REC_WITHHELD: {
			unsigned s = mcr_load_get_u8(&c), why = mcr_load_get_u8(&c);
			bind_field(r->ins_pw, 2, &c);
			sqlite3_bind_text(r->ins_pw, 3, mcr_section_name((mcr_section)s), -1,
			                  SQLITE_STATIC);
			sqlite3_bind_text(r->ins_pw, 4, mcr_reason_name((mcr_reason)why), -1,
			                  SQLITE_STATIC);
			sqlite3_bind_int64(r->ins_pw, 5, mcr_load_get_i64(&c));
			rc = mcr_db_step_done(r->db, r->ins_pw, r->new_path);
			break;
		}
		case LOAD_REC_PERSON_END:
			for (unsigned s = 0; s < MCR_SECTION_COUNT; s++)
				if (ss->mask & (1u << s))
					o->sec_people[s]++;
			ss->mask = 0;
			break;
		default:
			rc = mcr_error_set(MCR_ERROR, "internal error: bad loader record %u", type);
		}
	}
	return rc;
}

static int bind_org_all(load_run *r, const char *ods)
{
	sqlite3_stmt *sts[] = { r->ins_member, r->ins_person, r->ins_objection, r->ins_item,
	                        r->ins_pw };
	for (size_t i = 0; i < sizeof(sts) / sizeof(sts[0]); i++)
		if (sqlite3_bind_text(sts[i], 1, ods, -1, SQLITE_TRANSIENT) != SQLITE_OK)
			return mcr_db_error(r->db, "bind");
	return 0;
}

static void reset_counts(org_run *o)
{
	o->people = o->members = o->items = o->objections = o->expect_objections = 0;
	memset(o->sec_people, 0, sizeof(o->sec_people));
	memset(o->sec_items, 0, sizeof(o->sec_items));
	memset(o->withheld, 0, sizeof(o->withheld));
}

/* Remove what a failed stream of o inserted. */
static int discard_org_rows(load_run *r, org_run *o)
{
	static const char *const tables[] = { "member", "person", "person_withheld",
	                                      "objection" };
	sqlite3_stmt *st = NULL;
	char sql[128];
	int rc = mcr_db_prepare(r->db, "DELETE FROM item WHERE id >= ?1", &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, o->first);
	rc = mcr_db_step_done(r->db, st, r->new_path);
	sqlite3_finalize(st);
	for (int i = 0; !rc && i < 4; i++) {
		snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE org = ?1", tables[i]);
		if ((rc = mcr_db_prepare(r->db, sql, &st)))
			break;
		mcr_db_bind_text(st, 1, o->org->ods);
		rc = mcr_db_step_done(r->db, st, r->new_path);
		sqlite3_finalize(st);
	}
	r->next_id = o->first;
	reset_counts(o);
	return rc;
}

/*
 * Stream o's staged file into the new generation. 0: loaded; MCR_EFORMAT (or
 * another reading error) with *why set: the file is rejected and its rows are
 * gone; any other code: the load fails.
 */
int mcr_load_stream_org(load_run *r, org_run *o, char **why)
{
	load_queue q;
	load_parse ps;
	stream_state ss;
	memset(&ps, 0, sizeof(ps));
	memset(&ss, 0, sizeof(ss));
	*why = NULL;
	int rc = mcr_load_queue_init(&q);
	if (rc)
		return rc;
	ps.q = &q;
	ps.cfg = r->cfg;
	ps.org = o->org;
	ps.kind = o->org->kind;
	ps.manifest_path = o->manifest_path;
	ps.m = o->m;
	reset_counts(o);
	o->first = r->next_id;
	if ((rc = bind_org_all(r, o->org->ods)) || (rc = mcr_load_parse_start(&ps))) {
		mcr_load_queue_destroy(&q);
		return rc;
	}
	int irc = 0;
	load_batch *b;
	while ((b = mcr_load_queue_pop(&q))) {
		if (!irc && (irc = insert_batch(r, o, b, &ss)))
			mcr_load_queue_cancel(&q);
		mcr_load_queue_recycle(&q, b);
		mcr_load_progress_print(r, o->org->ods, 0);
	}
	mcr_load_parse_join(&ps);
	r->parse_cpu += ps.cpu;
	int prc = q.rc;
	char pmsg[1024];
	snprintf(pmsg, sizeof(pmsg), "%s", q.msg);
	mcr_load_queue_destroy(&q);

	if (irc && irc != MCR_EFORMAT)
		return irc;   /* the store failed, not the file */
	if (!irc && prc == MCR_ENOMEM)
		return mcr_error_set(MCR_ENOMEM, "%s", pmsg);
	const mcr_staged_manifest *m = o->m;
	if (!irc && !prc) {
		/* What went into the new file, against the manifest. */
		if (ss.member_rows + ps.dropped_members != m->members ||
		    ss.person_rows + ss.objection_records + ps.dropped_people != m->people ||
		    ss.item_rows + ps.dropped_items != m->items)
			irc = mcr_error_set(MCR_EFORMAT,
			                    "%s: rows loaded differ from the manifest: members %ld+%ld "
			                    "dropped (manifest %ld), people %ld+%ld dropped (%ld), "
			                    "items %ld+%ld dropped (%ld)", o->manifest_path,
			                    ss.member_rows, ps.dropped_members, m->members,
			                    ss.person_rows + ss.objection_records, ps.dropped_people,
			                    m->people, ss.item_rows, ps.dropped_items, m->items);
	}
	if (irc || prc) {
		*why = strdup(irc ? mcr_error_message() : pmsg);
		if (!*why)
			return mcr_error_set(MCR_ENOMEM, "out of memory");
		r->done_items -= ss.item_rows;
		int drc = discard_org_rows(r, o);
		return drc ? drc : MCR_EFORMAT;
	}
	o->last = r->next_id - 1;
	o->members = ss.member_rows;
	o->people = ss.person_rows + ss.objection_rows;
	o->objections = ss.objection_rows;
	o->expect_objections = m->objections;
	o->items = ss.item_rows;
	for (int i = 0; i < MCR_REASON_COUNT; i++)
		o->withheld[i] = m->withheld[i] + ps.withheld[i];
	return 0;
}

/* Copy o's rows of the item table from the previous generation, keeping their
 * order and relative ids; counts and statistics come from its source rows. */
int mcr_load_carry_org(load_run *r, org_run *o)
{
	sqlite3_stmt *st = NULL;
	reset_counts(o);
	o->first = r->next_id;
	o->last = r->next_id - 1;
	int rc = 0;
	if (o->prev_last >= o->prev_first) {
		if ((rc = mcr_db_prepare(r->db,
		                         "INSERT INTO item(id, nhs, org, section, date, system, code, display, "
		                         "status, source_id, details) SELECT id - ?1 + ?3, nhs, org, section, "
		                         "date, system, code, display, status, source_id, details "
		                         "FROM prev.item WHERE id BETWEEN ?1 AND ?2 AND org = ?4 ORDER BY id",
		                         &st)))
			return rc;
		sqlite3_bind_int64(st, 1, o->prev_first);
		sqlite3_bind_int64(st, 2, o->prev_last);
		sqlite3_bind_int64(st, 3, r->next_id);
		mcr_db_bind_text(st, 4, o->org->ods);
		rc = mcr_db_step_done(r->db, st, r->new_path);
		long copied = sqlite3_changes(r->db);
		sqlite3_finalize(st);
		st = NULL;
		if (rc)
			return rc;
		if (copied != o->prev_items)
			return mcr_error_set(MCR_EFORMAT, "%s: %s holds %ld items, its source row says %ld",
			                     r->prev_path, o->org->ods, copied, o->prev_items);
		o->last = r->next_id + (o->prev_last - o->prev_first);
		r->next_id = o->last + 1;
	}
	o->people = o->prev_people;
	o->members = o->prev_members;
	o->items = o->prev_items;
	o->objections = o->expect_objections = o->prev_objections;
	if ((rc = mcr_db_prepare(r->db, "SELECT section, people, items FROM prev.source_section "
	                                "WHERE org = ?1", &st)))
		return rc;
	mcr_db_bind_text(st, 1, o->org->ods);
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		mcr_section s;
		if (mcr_section_parse((const char *)sqlite3_column_text(st, 0), &s) == 0) {
			o->sec_people[s] = (long)sqlite3_column_int64(st, 1);
			o->sec_items[s] = (long)sqlite3_column_int64(st, 2);
		}
	}
	if (step != SQLITE_DONE) {
		rc = mcr_db_errorf(r->db, MCR_EIO, "%s: reading the sections of %s", r->prev_path,
		                   o->org->ods);
		sqlite3_finalize(st);
		return rc;
	}
	sqlite3_finalize(st);
	if ((rc = mcr_db_prepare(r->db, "SELECT reason, count FROM prev.withheld WHERE org = ?1", &st)))
		return rc;
	mcr_db_bind_text(st, 1, o->org->ods);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		mcr_reason why;
		if (mcr_reason_parse((const char *)sqlite3_column_text(st, 0), &why) == 0)
			o->withheld[why] = (long)sqlite3_column_int64(st, 1);
	}
	if (step != SQLITE_DONE) {
		rc = mcr_db_errorf(r->db, MCR_EIO, "%s: reading the withheld counts of %s", r->prev_path,
		                   o->org->ods);
		sqlite3_finalize(st);
		return rc;
	}
	sqlite3_finalize(st);
	free(o->extracted);
	free(o->loaded);
	free(o->shares_from);
	free(o->manifest);
	o->loaded = o->shares_from = o->manifest = NULL;
	o->len = o->prev_len;
	o->crc = o->prev_crc;
	o->has_payload = 1;
	if ((rc = mcr_load_dup(&o->extracted, o->prev_extracted)) ||
	    (rc = mcr_load_dup(&o->loaded, o->prev_loaded)) ||
	    (rc = mcr_load_dup(&o->shares_from, o->prev_shares_from)))
		return rc;
	return mcr_load_dup(&o->manifest, o->prev_manifest);
}

/* Member, person, person_withheld and objection rows of every carried-over
 * organisation, one pass over each previous table. */
int mcr_load_carry_tables(load_run *r)
{
	int any = 0;
	sqlite3_stmt *st = NULL;
	int rc = mcr_db_exec(r->db, "CREATE TEMP TABLE carry (org TEXT PRIMARY KEY) WITHOUT ROWID");
	if (rc)
		return rc;
	if ((rc = mcr_db_prepare(r->db, "INSERT INTO temp.carry(org) VALUES (?1)", &st)))
		return rc;
	for (size_t i = 0; !rc && i < r->cfg->norgs; i++) {
		if (r->orgs[i].action != ACT_CARRY)
			continue;
		any = 1;
		mcr_db_bind_text(st, 1, r->orgs[i].org->ods);
		rc = mcr_db_step_done(r->db, st, r->new_path);
	}
	sqlite3_finalize(st);
	if (rc || !any)
		return rc;
	static const char *const copies[] = {
		"INSERT INTO member(nhs, org) SELECT nhs, org FROM prev.member "
		"WHERE org IN (SELECT org FROM temp.carry)",
		"INSERT INTO person(nhs, org, family, given, birth_date, gender, address, postcode, "
		"phone) SELECT nhs, org, family, given, birth_date, gender, address, postcode, phone "
		"FROM prev.person WHERE org IN (SELECT org FROM temp.carry)",
		"INSERT INTO person_withheld(nhs, org, section, reason, count) SELECT nhs, org, "
		"section, reason, count FROM prev.person_withheld "
		"WHERE org IN (SELECT org FROM temp.carry)",
		"INSERT INTO objection(nhs, org, since) SELECT nhs, org, since FROM prev.objection "
		"WHERE org IN (SELECT org FROM temp.carry)",
	};
	for (size_t i = 0; !rc && i < sizeof(copies) / sizeof(copies[0]); i++)
		rc = mcr_db_exec(r->db, copies[i]);
	return rc;
}
