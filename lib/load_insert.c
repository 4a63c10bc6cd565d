/*
 * mcr-load: the inserting side. One organisation's staged file streamed into
 * the new generation through the store backend (rows in the order read), or its
 * rows carried over from the previous generation.
 */

#include "load_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	long member_rows, person_rows, objection_records, item_rows;
} stream_state;

static load_str get_field(load_cursor *c)
{
	load_str v;
	v.s = mcr_load_get_str(c, &v.len);
	return v;
}

static int insert_batch(load_run *r, org_run *o, const load_batch *b, stream_state *ss)
{
	const load_store_ops *st = r->store;
	size_t len;
	load_cursor c = { mcr_load_batch_data(b, &len), 0 };
	int rc = 0;
	while (!rc && c.off < len) {
		unsigned type = mcr_load_get_u8(&c);
		switch (type) {
		case LOAD_REC_MEMBER:
			if (!(rc = st->put_member(r, o, get_field(&c))))
				ss->member_rows++;
			break;
		case LOAD_REC_PERSON: {
			load_str nhs = get_field(&c), f[7];
			int demo = 0;
			for (int i = 0; i < 7; i++) {
				f[i] = get_field(&c);
				if (f[i].s)
					demo = 1;
			}
			if (!(rc = st->put_person(r, o, nhs, f))) {
				ss->person_rows++;
				ss->mask = 0;
				if (demo)
					o->sec_people[MCR_SECTION_DEMOGRAPHICS]++;
			}
			break;
		}
		case LOAD_REC_OBJECTION: {
			load_str nhs = get_field(&c), since = get_field(&c);
			if (!(rc = st->put_objection(r, o, nhs, since)))
				ss->objection_records++;
			break;
		}
		case LOAD_REC_ITEM: {
			unsigned s = mcr_load_get_u8(&c);
			load_item_row it = { .id = r->next_id, .section = mcr_section_name((mcr_section)s) };
			it.nhs = get_field(&c);
			it.date = get_field(&c);
			it.system = get_field(&c);
			it.code = get_field(&c);
			it.display = get_field(&c);
			it.status = get_field(&c);
			it.source_id = get_field(&c);
			uint32_t nd;
			memcpy(&nd, c.p + c.off, 4);
			c.off += 4;
			if (nd) {
				if ((rc = details_json(&r->json, &c, nd)))
					break;
				it.details.s = r->json.ptr;
				it.details.len = (int)r->json.len;
			}
			if (!(rc = st->put_item(r, o, &it))) {
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
			load_str nhs = get_field(&c);
			rc = st->put_withheld(r, o, nhs, (mcr_section)s, (mcr_reason)why,
			                      (long)mcr_load_get_i64(&c));
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
	int rc = r->store->discard_org(r, o);
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
	if ((rc = r->store->stream_begin(r, o)) || (rc = mcr_load_parse_start(&ps))) {
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
	long objection_rows = 0;
	int erc = r->store->stream_end(r, o, !irc && !prc, &objection_rows);
	if (erc && !irc)
		irc = erc;

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
	o->people = ss.person_rows + objection_rows;
	o->objections = objection_rows;
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
	reset_counts(o);
	o->first = r->next_id;
	o->last = r->next_id - 1;
	int rc = 0;
	if (o->prev_last >= o->prev_first) {
		long copied = 0;
		if ((rc = r->store->carry_items(r, o, r->next_id, &copied)))
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
	if ((rc = r->store->prev_sections(r, o->org->ods, o->sec_people, o->sec_items)) ||
	    (rc = r->store->prev_withheld(r, o->org->ods, o->withheld)))
		return rc;
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
	const char **ods = calloc(r->cfg->norgs + 1, sizeof(*ods));
	size_t n = 0;
	if (!ods)
		return mcr_error_set(MCR_ENOMEM, "out of memory");
	for (size_t i = 0; i < r->cfg->norgs; i++)
		if (r->orgs[i].action == ACT_CARRY)
			ods[n++] = r->orgs[i].org->ods;
	int rc = r->store->carry_tables(r, ods, n);
	free(ods);
	return rc;
}
