/*
 * mcr-load's library side (include/mcr/load.h, docs/LOAD.md).
 *
 * Parse side: a thread streams one staged file through the validating reader,
 * applies the consent rules again (defence in depth) and hands the rows to keep
 * to the inserting thread in batches through a bounded queue, so parsing and
 * inserting use both cores and memory stays flat whatever the region's size.
 * Insert side (the calling thread): one SQLite transaction on the new
 * generation file, prepared INSERTs, rows in the order read, the index
 * before (small regions, EARLY_INDEX_ITEMS) or after.
 */
#include "mcr/load.h"

#include "mcr/consent.h"
#include "mcr/db.h"
#include "mcr/error.h"
#include "mcr/fs.h"
#include "mcr/nhs.h"
#include "mcr/schema.h"
#include "mcr/staged.h"
#include "mcr/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libxml/parser.h>

#define BATCH_BYTES (256 * 1024)
#define QUEUE_BATCHES 8
/* Up to this many items in the new generation, the index is created before the
 * insert: the inserting thread waits on the parser most of the time, so it
 * maintains the index while it would otherwise wait (faster, no sorter memory),
 * and the index (about 31 bytes an item when built so) with the person and
 * member trees stays within the 64 MiB insert cache. Above it the index is built
 * after the insert by a sort, as random inserts into it would miss the cache.
 * The threshold sits below a 100k-person region (1.4M items) so that every region
 * of that size and up takes the one path and has the same peak memory (105 MiB,
 * docs/LOAD.md); small regions and the tests take the early path. */
#define EARLY_INDEX_ITEMS 1000000L

enum {
	LOAD_REC_MEMBER = 1,
	LOAD_REC_PERSON,
	LOAD_REC_OBJECTION,
	LOAD_REC_ITEM,
	LOAD_REC_WITHHELD,
	LOAD_REC_PERSON_END,
};

typedef struct load_batch {
	unsigned char *buf;
	size_t len, cap;
	struct load_batch *next;
} load_batch;

typedef struct load_queue {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	load_batch *full_head, *full_tail; /* filled, in order */
	load_batch *free_list;
	int nalloc;                        /* batches allocated (<= QUEUE_BATCHES) */
	int done;                          /* the producer has finished */
	atomic_int cancel;                 /* the consumer asks the producer to stop */
	int rc;                            /* the producer's result, and its message */
	char msg[1024];
} load_queue;

typedef struct load_cursor {
	const unsigned char *p;
	size_t off;
} load_cursor;

/* One staged file being parsed: owned by the parse thread until joined. */
typedef struct load_parse {
	load_queue *q;
	load_batch *cur;
	const mcr_config *cfg;
	const mcr_org *org;
	mcr_org_kind kind;
	const char *manifest_path;
	const mcr_staged_manifest *m;
	pthread_t thread;
	int started;
	/* the person being read */
	char nhs[11];
	int skip;              /* dropped with its items (counted once) */
	int objecting;         /* objection in force: marker only */
	long pw[MCR_SECTION_COUNT][MCR_REASON_COUNT]; /* withheld here, per person */
	int pw_any;
	/* what the loader itself withheld and dropped */
	long withheld[MCR_REASON_COUNT];
	long dropped_members, dropped_people, dropped_items;
	double cpu;            /* the thread's CPU seconds, for the progress report */
} load_parse;



/* ---- queue --------------------------------------------------------------- */

static int load_queue_init(load_queue *q)
{
	memset(q, 0, sizeof(*q));
	if (pthread_mutex_init(&q->mu, NULL) != 0)
		return mcr_error_set(MCR_ERROR, "cannot create a mutex");
	if (pthread_cond_init(&q->cv, NULL) != 0) {
		pthread_mutex_destroy(&q->mu);
		return mcr_error_set(MCR_ERROR, "cannot create a condition variable");
	}
	return 0;
}

static void batch_list_free(load_batch *b)
{
	while (b) {
		load_batch *next = b->next;
		free(b->buf);
		free(b);
		b = next;
	}
}

static void load_queue_destroy(load_queue *q)
{
	batch_list_free(q->full_head);
	batch_list_free(q->free_list);
	pthread_cond_destroy(&q->cv);
	pthread_mutex_destroy(&q->mu);
}

/* Producer: a free batch (waits while QUEUE_BATCHES are in use); NULL when the
 * consumer cancelled or memory ran out. */
static load_batch *queue_get_free(load_queue *q)
{
	load_batch *b = NULL;
	pthread_mutex_lock(&q->mu);
	while (!q->cancel && !q->free_list && q->nalloc >= QUEUE_BATCHES)
		pthread_cond_wait(&q->cv, &q->mu);
	if (!q->cancel) {
		if (q->free_list) {
			b = q->free_list;
			q->free_list = b->next;
		} else {
			b = calloc(1, sizeof(*b));
			if (b && !(b->buf = malloc(BATCH_BYTES))) {
				free(b);
				b = NULL;
			}
			if (b) {
				b->cap = BATCH_BYTES;
				q->nalloc++;
			}
		}
	}
	pthread_mutex_unlock(&q->mu);
	if (b) {
		b->len = 0;
		b->next = NULL;
	}
	return b;
}

static void queue_push(load_queue *q, load_batch *b)
{
	pthread_mutex_lock(&q->mu);
	if (q->full_tail)
		q->full_tail->next = b;
	else
		q->full_head = b;
	q->full_tail = b;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

static load_batch *load_queue_pop(load_queue *q)
{
	load_batch *b = NULL;
	pthread_mutex_lock(&q->mu);
	while (!q->full_head && !q->done)
		pthread_cond_wait(&q->cv, &q->mu);
	if (q->full_head) {
		b = q->full_head;
		q->full_head = b->next;
		if (!q->full_head)
			q->full_tail = NULL;
	}
	pthread_mutex_unlock(&q->mu);
	return b;
}

static void load_queue_recycle(load_queue *q, load_batch *b)
{
	pthread_mutex_lock(&q->mu);
	b->next = q->free_list;
	q->free_list = b;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

static void load_queue_cancel(load_queue *q)
{
	pthread_mutex_lock(&q->mu);
	q->cancel = 1;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

static const unsigned char *load_batch_data(const load_batch *b, size_t *len)
{
	*len = b->len;
	return b->buf;
}

/* ---- record encoding ----------------------------------------------------- */

/* Records: a type byte, then fields. A string is a 4-byte length (UINT32_MAX
 * for NULL), its bytes and a NUL, so the inserter binds it in place. */

static int batch_room(load_parse *ps, size_t need)
{
	if (ps->cur && ps->cur->len + need <= ps->cur->cap)
		return 0;
	if (ps->cur && ps->cur->len) {
		queue_push(ps->q, ps->cur);
		ps->cur = NULL;
	}
	if (!ps->cur && !(ps->cur = queue_get_free(ps->q)))
		return atomic_load(&ps->q->cancel) ? mcr_error_set(MCR_ERROR, "load cancelled")
		                     : mcr_error_set(MCR_ENOMEM, "out of memory for a batch");
	if (need > ps->cur->cap) {
		unsigned char *nb = realloc(ps->cur->buf, need);
		if (!nb)
			return mcr_error_set(MCR_ENOMEM, "out of memory for a batch");
		ps->cur->buf = nb;
		ps->cur->cap = need;
	}
	return 0;
}

static size_t str_size(const char *s)
{
	return 4 + (s ? strlen(s) + 1 : 0);
}

static void put_u8(load_batch *b, unsigned v)
{
	b->buf[b->len++] = (unsigned char)v;
}

static void put_i64(load_batch *b, int64_t v)
{
	memcpy(b->buf + b->len, &v, sizeof(v));
	b->len += sizeof(v);
}

static void put_str(load_batch *b, const char *s)
{
	uint32_t n = s ? (uint32_t)strlen(s) : UINT32_MAX;
	memcpy(b->buf + b->len, &n, 4);
	b->len += 4;
	if (s) {
		memcpy(b->buf + b->len, s, (size_t)n + 1);
		b->len += (size_t)n + 1;
	}
}

static uint8_t load_get_u8(load_cursor *c)
{
	return c->p[c->off++];
}

static int64_t load_get_i64(load_cursor *c)
{
	int64_t v;
	memcpy(&v, c->p + c->off, sizeof(v));
	c->off += sizeof(v);
	return v;
}

static const char *load_get_str(load_cursor *c, int *len)
{
	uint32_t n;
	memcpy(&n, c->p + c->off, 4);
	c->off += 4;
	if (n == UINT32_MAX) {
		*len = -1;
		return NULL;
	}
	const char *s = (const char *)c->p + c->off;
	c->off += (size_t)n + 1;
	*len = (int)n;
	return s;
}

/* ---- the rules, applied again ------------------------------------------- */

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
		const char *name = load_get_str(c, &nl), *value = load_get_str(c, &vl);
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

static int section_allowed(mcr_org_kind kind, mcr_section s)
{
	if (kind == MCR_KIND_LCS)
		return s == MCR_SECTION_SOCIAL_CARE;
	return s != MCR_SECTION_SOCIAL_CARE && s != MCR_SECTION_DEMOGRAPHICS &&
	       (unsigned)s < MCR_SECTION_COUNT;
}

static int cancelled(load_parse *ps)
{
	if (atomic_load_explicit(&ps->q->cancel, memory_order_relaxed))
		return mcr_error_set(MCR_ERROR, "load cancelled");
	return 0;
}

static int on_member(void *ctx, const char *nhs)
{
	load_parse *ps = ctx;
	char norm[11];
	if (mcr_nhs_validate(nhs, norm) != 0) {
		ps->withheld[MCR_REASON_INVALID_NHS]++;
		ps->dropped_members++;
		return cancelled(ps);
	}
	int rc = batch_room(ps, 1 + str_size(norm));
	if (rc)
		return rc;
	put_u8(ps->cur, LOAD_REC_MEMBER);
	put_str(ps->cur, norm);
	return 0;
}

static int on_person_begin(void *ctx, const mcr_staged_person *p)
{
	load_parse *ps = ctx;
	ps->skip = 0;
	ps->objecting = 0;
	memset(ps->pw, 0, sizeof(ps->pw));
	ps->pw_any = 0;
	if (mcr_nhs_validate(p->nhs, ps->nhs) != 0) {
		ps->withheld[MCR_REASON_INVALID_NHS]++;
		ps->dropped_people++;
		ps->skip = 1;
		return cancelled(ps);
	}
	int rc;
	if (p->objection) {
		/* The withdrawn-consent marker only: nothing else of this person. */
		ps->objecting = 1;
		const char *since = p->objection[0] ? p->objection : NULL;
		if ((rc = batch_room(ps, 1 + str_size(ps->nhs) + str_size(since))))
			return rc;
		put_u8(ps->cur, LOAD_REC_OBJECTION);
		put_str(ps->cur, ps->nhs);
		put_str(ps->cur, since);
		return 0;
	}
	if (ps->kind == MCR_KIND_LCS && !mcr_consent_social_care_given(p->consent)) {
		ps->withheld[MCR_REASON_NO_CONSENT]++;
		ps->dropped_people++;
		ps->skip = 1;
		return cancelled(ps);
	}
	const char *f[7] = { p->family, p->given, p->birth_date, p->gender,
	                     p->address, p->postcode, p->phone };
	size_t need = 1 + str_size(ps->nhs);
	for (int i = 0; i < 7; i++)
		need += str_size(f[i]);
	if ((rc = batch_room(ps, need)))
		return rc;
	put_u8(ps->cur, LOAD_REC_PERSON);
	put_str(ps->cur, ps->nhs);
	for (int i = 0; i < 7; i++)
		put_str(ps->cur, f[i]);
	return 0;
}

static int on_item(void *ctx, const mcr_staged_person *p, const mcr_staged_item *it)
{
	load_parse *ps = ctx;
	(void)p;
	if (ps->skip) {
		/* Counted once with the person (invalid number, no consent). */
		ps->dropped_items++;
		return cancelled(ps);
	}
	if (!section_allowed(ps->kind, it->section))
		return mcr_error_set(MCR_EFORMAT,
		                     "%s: a %s organisation's file holds an item in section %s "
		                     "(person %s)", ps->manifest_path, mcr_org_kind_name(ps->kind),
		                     mcr_section_name(it->section) ? mcr_section_name(it->section)
		                                                   : "?", ps->nhs);
	if (ps->objecting) {
		ps->withheld[MCR_REASON_OBJECTION]++;
		ps->dropped_items++;
		return cancelled(ps);
	}
	const char *codes[1] = { it->code };
	mcr_item_facts facts = { codes, it->code ? 1 : 0, it->date, it->confidentiality,
	                         it->status };
	int reason = mcr_consent_item_withhold_reason(ps->cfg, ps->org, &facts);
	if (reason >= 0) {
		ps->withheld[reason]++;
		ps->dropped_items++;
		/* An error is not a sharing decision: only policy is shown per person. */
		if (reason != MCR_REASON_ENTERED_IN_ERROR) {
			ps->pw[it->section][reason]++;
			ps->pw_any = 1;
		}
		return cancelled(ps);
	}
	/* Details go raw: the inserting thread, which has time to spare, makes
	 * the JSON. */
	size_t need = 2 + str_size(ps->nhs) + str_size(it->date) + str_size(it->system) +
	              str_size(it->code) + str_size(it->display) + str_size(it->status) +
	              str_size(it->id) + 4;
	for (size_t i = 0; i < it->ndetails; i++)
		need += str_size(it->details[i].name) + str_size(it->details[i].value);
	int rc = batch_room(ps, need);
	if (rc)
		return rc;
	put_u8(ps->cur, LOAD_REC_ITEM);
	put_u8(ps->cur, (unsigned)it->section);
	put_str(ps->cur, ps->nhs);
	put_str(ps->cur, it->date);
	put_str(ps->cur, it->system);
	put_str(ps->cur, it->code);
	put_str(ps->cur, it->display);
	put_str(ps->cur, it->status);
	put_str(ps->cur, it->id);
	uint32_t nd = (uint32_t)it->ndetails;
	memcpy(ps->cur->buf + ps->cur->len, &nd, 4);
	ps->cur->len += 4;
	for (size_t i = 0; i < it->ndetails; i++) {
		put_str(ps->cur, it->details[i].name);
		put_str(ps->cur, it->details[i].value);
	}
	return 0;
}

static int put_withheld(load_parse *ps, mcr_section s, mcr_reason r, long count)
{
	int rc = batch_room(ps, 3 + str_size(ps->nhs) + 8);
	if (rc)
		return rc;
	put_u8(ps->cur, LOAD_REC_WITHHELD);
	put_u8(ps->cur, (unsigned)s);
	put_u8(ps->cur, (unsigned)r);
	put_str(ps->cur, ps->nhs);
	put_i64(ps->cur, count);
	return 0;
}

static int on_withheld(void *ctx, const mcr_staged_person *p, mcr_section s, mcr_reason r,
                       long count)
{
	load_parse *ps = ctx;
	(void)p;
	if (ps->skip || ps->objecting)
		return cancelled(ps);
	if ((unsigned)s >= MCR_SECTION_COUNT || (unsigned)r >= MCR_REASON_COUNT || count < 0)
		return mcr_error_set(MCR_EFORMAT, "%s: bad withheld count for person %s",
		                     ps->manifest_path, ps->nhs);
	return put_withheld(ps, s, r, count);
}

static int on_person_end(void *ctx, const mcr_staged_person *p)
{
	load_parse *ps = ctx;
	(void)p;
	if (ps->skip || ps->objecting)
		return cancelled(ps);
	int rc;
	if (ps->pw_any)
		for (int s = 0; s < MCR_SECTION_COUNT; s++)
			for (int r = 0; r < MCR_REASON_COUNT; r++)
				if (ps->pw[s][r] && (rc = put_withheld(ps, s, r, ps->pw[s][r])))
					return rc;
	if ((rc = batch_room(ps, 1)))
		return rc;
	put_u8(ps->cur, LOAD_REC_PERSON_END);
	return 0;
}

static void *parse_main(void *arg)
{
	load_parse *ps = arg;
	mcr_staged_handler h = { ps, on_member, on_person_begin, on_item, on_withheld,
	                         on_person_end };
	int rc = mcr_staged_read(ps->manifest_path, ps->m, &h);
	if (!rc && ps->cur && ps->cur->len) {
		queue_push(ps->q, ps->cur);
		ps->cur = NULL;
	}
	struct timespec ts;
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0)
		ps->cpu = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	load_queue *q = ps->q;
	pthread_mutex_lock(&q->mu);
	if (ps->cur) {
		ps->cur->next = q->free_list;
		q->free_list = ps->cur;
		ps->cur = NULL;
	}
	q->rc = rc;
	if (rc)
		snprintf(q->msg, sizeof(q->msg), "%s",
		         mcr_error_message()[0] ? mcr_error_message() : "staged file rejected");
	q->done = 1;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

static int load_parse_start(load_parse *ps)
{
	if (pthread_create(&ps->thread, NULL, parse_main, ps) != 0)
		return mcr_error_set(MCR_ERROR, "cannot start the parse thread");
	ps->started = 1;
	return 0;
}

static void load_parse_join(load_parse *ps)
{
	if (ps->started)
		pthread_join(ps->thread, NULL);
	ps->started = 0;
}

/* ==== the run ============================================================ */

enum org_action { ACT_NEVER, ACT_LOAD, ACT_CARRY };

/* One configured organisation in this run. */
typedef struct org_run {
	const mcr_org *org;
	const char *dataset;
	/* the previous generation's row */
	int prev_row, prev_data;      /* a source row; holding data (status != never) */
	char *prev_extracted, *prev_loaded, *prev_manifest, *prev_shares_from;
	long prev_people, prev_members, prev_items, prev_objections;
	int64_t prev_len, prev_crc, prev_first, prev_last;
	int prev_range;
	/* this run */
	enum org_action action;
	const char *status;
	char *manifest_path;
	mcr_staged_manifest *m;
	char *extracted, *loaded, *shares_from, *manifest;
	char *rejected_file, *rejected_reason;
	time_t held;                  /* extract time of the data held (held_set) */
	int held_set;
	int64_t len, crc;
	int has_payload;
	int64_t first, last;          /* item ids [first, last] */
	long people, members, items, objections, expect_objections;
	long sec_people[MCR_SECTION_COUNT], sec_items[MCR_SECTION_COUNT];
	long withheld[MCR_REASON_COUNT];
} org_run;

typedef struct reject_entry {
	char *dir;                    /* <quarantine>/<ORG>/<dataset> */
	char *stamp, *reason;
	char *paths[2];
} reject_entry;

typedef struct file_entry {
	const char *org, *dataset;
	char *manifest, *extracted, *reason;
	const char *outcome;          /* loaded | rejected */
	long items;
} file_entry;

typedef struct load_run {
	const mcr_config *cfg;
	mcr_load_summary *sum;
	time_t now;
	char now_iso[32];
	char run_id[64];
	sqlite3 *hist;
	long cur_gen;                 /* 0: none published */
	long new_gen;
	char *new_path, *prev_path;
	sqlite3 *db;
	sqlite3_stmt *ins_member, *ins_person, *ins_objection, *ins_item, *ins_pw;
	int64_t next_id;
	org_run *orgs;
	reject_entry *rejects;
	size_t nrejects;
	file_entry *files;
	size_t nfiles;
	mcr_buf index_sql;            /* CREATE INDEX statements, run before or after the insert */
	mcr_buf json;                 /* the current item's details */
	int progress;
	long total_items, done_items;
	double t0, last_print;
	int printed;
	double parse_cpu;             /* CPU seconds of the parse threads */
	const char *crash_at;
	int parsed_once;
} load_run;

static double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void crash_point(load_run *r, const char *phase)
{
	if (r->crash_at && strcmp(r->crash_at, phase) == 0) {
		fflush(NULL);
		kill(getpid(), SIGKILL);
	}
}

static int db_error(sqlite3 *db, const char *what)
{
	return mcr_error_set(MCR_EIO, "%s: %s", what, sqlite3_errmsg(db));
}

static int exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		int rc = mcr_error_set(MCR_EIO, "%s: %s", sql, err ? err : sqlite3_errmsg(db));
		sqlite3_free(err);
		return rc;
	}
	return 0;
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK)
		return mcr_error_set(MCR_EIO, "cannot prepare %s: %s", sql, sqlite3_errmsg(db));
	return 0;
}

/* Step a statement that returns no rows; reset it. */
static int step_done(sqlite3 *db, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	int err = 0;
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		err = db_error(db, what);
	sqlite3_reset(st);
	return err;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

/* The file-name stamp of a staged path: its base name up to the first '.'. */
static char *stamp_of(const char *path)
{
	const char *b = base_name(path);
	const char *dot = strchr(b, '.');
	size_t n = dot ? (size_t)(dot - b) : strlen(b);
	char *s = malloc(n + 1);
	if (s) {
		memcpy(s, b, n);
		s[n] = '\0';
	}
	return s;
}

/* "YYYYMMDDTHHMMSSZ" -> time. 0 or -1. */
static int parse_stamp(const char *s, time_t *out)
{
	char iso[32];
	if (strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z')
		return -1;
	snprintf(iso, sizeof(iso), "%.4s-%.2s-%.2sT%.2s:%.2s:%.2sZ", s, s + 4, s + 6, s + 9,
	         s + 11, s + 13);
	return mcr_time_parse(iso, out) == 0 ? 0 : -1;
}

static int fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return mcr_error_set_errno(MCR_EIO, "cannot open %s", path);
	int rc = 0;
	if (fsync(fd) != 0)
		rc = mcr_error_set_errno(MCR_EIO, "cannot fsync %s", path);
	close(fd);
	return rc;
}

/* Remove a database file and its possible side files. */
static void unlink_db(const char *path)
{
	char side[4096];
	unlink(path);
	static const char *const suffix[] = { "-journal", "-wal", "-shm" };
	for (int i = 0; i < 3; i++) {
		snprintf(side, sizeof(side), "%s%s", path, suffix[i]);
		unlink(side);
	}
}

/* A phase after the insert, on the progress line's terminal. */
static void progress_phase(load_run *r, const char *what)
{
	if (r->progress)
		fprintf(stderr, "mcr-load: %s (%.1f s)\n", what, mono_now() - r->t0);
}

static void progress_print(load_run *r, const char *org, int final)
{
	if (!r->progress)
		return;
	double t = mono_now();
	if (!final && t - r->last_print < 0.5)
		return;
	r->last_print = t;
	double el = t - r->t0;
	double rate = el > 0 ? (double)r->done_items / el : 0;
	long left = r->total_items - r->done_items;
	char eta[32] = "?";
	if (rate > 0 && left >= 0)
		snprintf(eta, sizeof(eta), "%.0f s", (double)left / rate);
	fprintf(stderr, "\rmcr-load: %s: %ld/%ld items, %.0f items/s, %s left   ", org,
	        r->done_items, r->total_items, rate, eta);
	if (final)
		fputc('\n', stderr);
	r->printed = 1;
}

/* ---- history ------------------------------------------------------------ */

static int history_start(load_run *r)
{
	mcr_buf path = MCR_BUF_INIT;
	sqlite3_stmt *st = NULL;
	int rc = mcr_fs_join(&path, r->cfg->store_dir, "history.sqlite");
	if (rc)
		goto out;
	if (sqlite3_open_v2(path.ptr, &r->hist, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
	                    NULL) != SQLITE_OK) {
		rc = mcr_error_set(MCR_EIO, "cannot open %s: %s", path.ptr,
		                   r->hist ? sqlite3_errmsg(r->hist) : "out of memory");
		goto out;
	}
	sqlite3_busy_timeout(r->hist, 10000);
	if ((rc = exec(r->hist, mcr_schema_history_sql)))
		goto out;
	/* We hold the lock: a run still 'running' crashed before its end. */
	if ((rc = prepare(r->hist, "UPDATE load SET outcome = 'failed', finished = ?1, "
	                           "message = 'interrupted: the run ended without recording "
	                           "its end' WHERE outcome = 'running'", &st)))
		goto out;
	mcr_db_bind_text(st, 1, r->now_iso);
	if ((rc = step_done(r->hist, st, "history.sqlite")))
		goto out;
	sqlite3_finalize(st);
	st = NULL;
	/* Unique even when $MCR_NOW replays the same time in one process. */
	if ((rc = prepare(r->hist, "SELECT count(*) + 1 FROM load", &st)))
		goto out;
	long seq = sqlite3_step(st) == SQLITE_ROW ? (long)sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	st = NULL;
	char stamp[32];
	mcr_time_stamp(r->now, stamp);
	snprintf(r->run_id, sizeof(r->run_id), "%s-%ld-%ld", stamp, (long)getpid(), seq);
	if ((rc = prepare(r->hist, "INSERT INTO load(run_id, started, outcome) "
	                           "VALUES (?1, ?2, 'running')", &st)))
		goto out;
	mcr_db_bind_text(st, 1, r->run_id);
	mcr_db_bind_text(st, 2, r->now_iso);
	rc = step_done(r->hist, st, "history.sqlite");
out:
	sqlite3_finalize(st);
	mcr_buf_free(&path);
	return rc;
}

static int history_end(load_run *r, const char *outcome, const char *message)
{
	if (!r->hist)
		return 0;
	sqlite3_stmt *st = NULL;
	char fin[32];
	mcr_time_iso(mcr_time_now(), fin);
	int rc = exec(r->hist, "BEGIN IMMEDIATE");
	if (rc)
		return rc;
	if ((rc = prepare(r->hist, "UPDATE load SET finished = ?2, outcome = ?3, generation = ?4, "
	                           "files = ?5, rejected = ?6, people = ?7, items = ?8, "
	                           "message = ?9 WHERE run_id = ?1", &st)))
		goto out;
	mcr_db_bind_text(st, 1, r->run_id);
	mcr_db_bind_text(st, 2, fin);
	mcr_db_bind_text(st, 3, outcome);
	if (r->sum->generation)
		sqlite3_bind_int64(st, 4, r->sum->generation);
	sqlite3_bind_int64(st, 5, r->sum->files);
	sqlite3_bind_int64(st, 6, r->sum->rejected);
	sqlite3_bind_int64(st, 7, r->sum->people);
	sqlite3_bind_int64(st, 8, r->sum->items);
	mcr_db_bind_text(st, 9, message);
	if ((rc = step_done(r->hist, st, "history.sqlite")))
		goto out;
	sqlite3_finalize(st);
	st = NULL;
	if ((rc = prepare(r->hist, "INSERT OR REPLACE INTO load_file(run_id, org, dataset, "
	                           "manifest, extracted, outcome, reason, items) "
	                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", &st)))
		goto out;
	for (size_t i = 0; i < r->nfiles; i++) {
		const file_entry *f = &r->files[i];
		mcr_db_bind_text(st, 1, r->run_id);
		mcr_db_bind_text(st, 2, f->org);
		mcr_db_bind_text(st, 3, f->dataset);
		mcr_db_bind_text(st, 4, f->manifest);
		mcr_db_bind_text(st, 5, f->extracted);
		mcr_db_bind_text(st, 6, f->outcome);
		mcr_db_bind_text(st, 7, f->reason);
		sqlite3_bind_int64(st, 8, f->items);
		if ((rc = step_done(r->hist, st, "history.sqlite")))
			goto out;
	}
	rc = exec(r->hist, "COMMIT");
out:
	sqlite3_finalize(st);
	if (rc)
		sqlite3_exec(r->hist, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

static int note_file(load_run *r, const org_run *o, const char *manifest, const char *extracted,
                     const char *outcome, const char *reason, long items)
{
	file_entry *nf = realloc(r->files, (r->nfiles + 1) * sizeof(*nf));
	if (!nf)
		return mcr_error_set(MCR_ENOMEM, "out of memory");
	r->files = nf;
	file_entry *f = &nf[r->nfiles++];
	memset(f, 0, sizeof(*f));
	f->org = o->org->ods;
	f->dataset = o->dataset;
	f->manifest = xstrdup(manifest);
	f->extracted = xstrdup(extracted);
	f->reason = xstrdup(reason);
	f->outcome = outcome;
	f->items = items;
	r->sum->files++;
	return 0;
}

/* ---- generations on disk -------------------------------------------------- */

static long gen_of_name(const char *name)
{
	if (strncmp(name, "gen-", 4) != 0)
		return -1;
	char *end;
	long n = strtol(name + 4, &end, 10);
	if (end - (name + 4) < 6 || strcmp(end, ".sqlite") != 0)
		return -1;
	return n;
}

/* Delete generation files with number > above (crashed runs' orphans), or
 * <= upto (pruning); either bound may be -1 (unused). */
static int remove_generations(const char *store_dir, long above, long upto)
{
	DIR *d = opendir(store_dir);
	if (!d)
		return mcr_error_set_errno(MCR_EIO, "cannot list %s", store_dir);
	struct dirent *e;
	mcr_buf path = MCR_BUF_INIT;
	int rc = 0;
	while (!rc && (e = readdir(d))) {
		long g = gen_of_name(e->d_name);
		if (g < 0)
			continue;
		if ((above >= 0 && g > above) || (upto >= 0 && g <= upto)) {
			if ((rc = mcr_fs_join(&path, store_dir, e->d_name)))
				break;
			unlink_db(path.ptr);
		}
	}
	closedir(d);
	mcr_buf_free(&path);
	return rc;
}

/* ---- previous generation ------------------------------------------------ */

static int read_prev_sources(load_run *r)
{
	sqlite3_stmt *st = NULL;
	int rc = prepare(r->db,
	                 "SELECT s.org, s.status, s.extracted, s.loaded, s.manifest, s.shares_from, "
	                 "s.people, s.members, s.items, s.objections, l.payload_length, "
	                 "l.payload_crc32, l.item_first, l.item_last "
	                 "FROM prev.source s LEFT JOIN prev.load_source l ON l.org = s.org",
	                 &st);
	if (rc)
		return rc;
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *ods = (const char *)sqlite3_column_text(st, 0);
		for (size_t i = 0; i < r->cfg->norgs; i++) {
			org_run *o = &r->orgs[i];
			if (!ods || strcmp(o->org->ods, ods) != 0)
				continue;
			const char *status = (const char *)sqlite3_column_text(st, 1);
			o->prev_row = 1;
			o->prev_data = status && strcmp(status, "never") != 0;
			o->prev_extracted = xstrdup((const char *)sqlite3_column_text(st, 2));
			o->prev_loaded = xstrdup((const char *)sqlite3_column_text(st, 3));
			o->prev_manifest = xstrdup((const char *)sqlite3_column_text(st, 4));
			o->prev_shares_from = xstrdup((const char *)sqlite3_column_text(st, 5));
			o->prev_people = (long)sqlite3_column_int64(st, 6);
			o->prev_members = (long)sqlite3_column_int64(st, 7);
			o->prev_items = (long)sqlite3_column_int64(st, 8);
			o->prev_objections = (long)sqlite3_column_int64(st, 9);
			o->prev_len = sqlite3_column_int64(st, 10);
			o->prev_crc = sqlite3_column_int64(st, 11);
			o->prev_range = sqlite3_column_type(st, 12) != SQLITE_NULL;
			o->prev_first = sqlite3_column_int64(st, 12);
			o->prev_last = sqlite3_column_int64(st, 13);
			if (o->prev_data && o->prev_extracted &&
			    mcr_time_parse(o->prev_extracted, &o->held) == 0)
				o->held_set = 1;
			if (o->prev_data && !o->prev_range)
				rc = mcr_error_set(MCR_EFORMAT, "%s: no item range for %s", r->prev_path,
				                   ods);
		}
	}
	if (!rc && step != SQLITE_DONE)
		rc = db_error(r->db, r->prev_path);
	sqlite3_finalize(st);
	return rc;
}

/* ---- inserting ------------------------------------------------------------ */

typedef struct stream_state {
	unsigned mask;          /* sections the current person has items in */
	long member_rows, person_rows, objection_records, objection_rows, item_rows;
} stream_state;

static void bind_field(sqlite3_stmt *st, int i, load_cursor *c)
{
	int len;
	const char *s = load_get_str(c, &len);
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
			err = db_error(r->db, r->new_path);
	}
	sqlite3_reset(st);
	return err;
}

static int insert_batch(load_run *r, org_run *o, const load_batch *b, stream_state *ss)
{
	size_t len;
	load_cursor c = { load_batch_data(b, &len), 0 };
	int rc = 0;
	while (!rc && c.off < len) {
		unsigned type = load_get_u8(&c);
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
			if (!(rc = step_done(r->db, r->ins_objection, r->new_path))) {
				ss->objection_records++;
				ss->objection_rows += sqlite3_changes(r->db);
			}
			break;
		}
		case LOAD_REC_ITEM: {
			unsigned s = load_get_u8(&c);
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
			unsigned s = load_get_u8(&c), why = load_get_u8(&c);
			bind_field(r->ins_pw, 2, &c);
			sqlite3_bind_text(r->ins_pw, 3, mcr_section_name((mcr_section)s), -1,
			                  SQLITE_STATIC);
			sqlite3_bind_text(r->ins_pw, 4, mcr_reason_name((mcr_reason)why), -1,
			                  SQLITE_STATIC);
			sqlite3_bind_int64(r->ins_pw, 5, load_get_i64(&c));
			rc = step_done(r->db, r->ins_pw, r->new_path);
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
			return db_error(r->db, "bind");
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
	int rc = prepare(r->db, "DELETE FROM item WHERE id >= ?1", &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, o->first);
	rc = step_done(r->db, st, r->new_path);
	sqlite3_finalize(st);
	for (int i = 0; !rc && i < 4; i++) {
		snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE org = ?1", tables[i]);
		if ((rc = prepare(r->db, sql, &st)))
			break;
		mcr_db_bind_text(st, 1, o->org->ods);
		rc = step_done(r->db, st, r->new_path);
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
static int stream_org(load_run *r, org_run *o, char **why)
{
	load_queue q;
	load_parse ps;
	stream_state ss;
	memset(&ps, 0, sizeof(ps));
	memset(&ss, 0, sizeof(ss));
	*why = NULL;
	int rc = load_queue_init(&q);
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
	if ((rc = bind_org_all(r, o->org->ods)) || (rc = load_parse_start(&ps))) {
		load_queue_destroy(&q);
		return rc;
	}
	int irc = 0;
	load_batch *b;
	while ((b = load_queue_pop(&q))) {
		if (!irc && (irc = insert_batch(r, o, b, &ss)))
			load_queue_cancel(&q);
		load_queue_recycle(&q, b);
		progress_print(r, o->org->ods, 0);
	}
	load_parse_join(&ps);
	r->parse_cpu += ps.cpu;
	int prc = q.rc;
	char pmsg[1024];
	snprintf(pmsg, sizeof(pmsg), "%s", q.msg);
	load_queue_destroy(&q);

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
static int carry_org(load_run *r, org_run *o)
{
	sqlite3_stmt *st = NULL;
	reset_counts(o);
	o->first = r->next_id;
	o->last = r->next_id - 1;
	int rc = 0;
	if (o->prev_last >= o->prev_first) {
		if ((rc = prepare(r->db,
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
		rc = step_done(r->db, st, r->new_path);
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
	if ((rc = prepare(r->db, "SELECT section, people, items FROM prev.source_section "
	                         "WHERE org = ?1", &st)))
		return rc;
	mcr_db_bind_text(st, 1, o->org->ods);
	while (sqlite3_step(st) == SQLITE_ROW) {
		mcr_section s;
		if (mcr_section_parse((const char *)sqlite3_column_text(st, 0), &s) == 0) {
			o->sec_people[s] = (long)sqlite3_column_int64(st, 1);
			o->sec_items[s] = (long)sqlite3_column_int64(st, 2);
		}
	}
	sqlite3_finalize(st);
	if ((rc = prepare(r->db, "SELECT reason, count FROM prev.withheld WHERE org = ?1", &st)))
		return rc;
	mcr_db_bind_text(st, 1, o->org->ods);
	while (sqlite3_step(st) == SQLITE_ROW) {
		mcr_reason why;
		if (mcr_reason_parse((const char *)sqlite3_column_text(st, 0), &why) == 0)
			o->withheld[why] = (long)sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	free(o->extracted);
	free(o->loaded);
	free(o->shares_from);
	free(o->manifest);
	o->extracted = xstrdup(o->prev_extracted);
	o->loaded = xstrdup(o->prev_loaded);
	o->shares_from = xstrdup(o->prev_shares_from);
	o->manifest = xstrdup(o->prev_manifest);
	o->len = o->prev_len;
	o->crc = o->prev_crc;
	o->has_payload = 1;
	return 0;
}

/* Member, person, person_withheld and objection rows of every carried-over
 * organisation, one pass over each previous table. */
static int carry_tables(load_run *r)
{
	int any = 0;
	sqlite3_stmt *st = NULL;
	int rc = exec(r->db, "CREATE TEMP TABLE carry (org TEXT PRIMARY KEY) WITHOUT ROWID");
	if (rc)
		return rc;
	if ((rc = prepare(r->db, "INSERT INTO temp.carry(org) VALUES (?1)", &st)))
		return rc;
	for (size_t i = 0; !rc && i < r->cfg->norgs; i++) {
		if (r->orgs[i].action != ACT_CARRY)
			continue;
		any = 1;
		mcr_db_bind_text(st, 1, r->orgs[i].org->ods);
		rc = step_done(r->db, st, r->new_path);
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
		rc = exec(r->db, copies[i]);
	return rc;
}

/* ---- deciding each organisation ------------------------------------------- */

static int add_reject(load_run *r, org_run *o, const char *stamp, const char *reason,
                      const char *p1, const char *p2, char **dest_out)
{
	reject_entry *nr = realloc(r->rejects, (r->nrejects + 1) * sizeof(*nr));
	if (!nr)
		return mcr_error_set(MCR_ENOMEM, "out of memory");
	r->rejects = nr;
	reject_entry *e = &nr[r->nrejects++];
	memset(e, 0, sizeof(*e));
	mcr_buf dir = MCR_BUF_INIT;
	if (mcr_buf_printf(&dir, "%s/%s/%s", r->cfg->quarantine_dir, o->org->ods, o->dataset))
		return MCR_ENOMEM;
	e->dir = mcr_buf_detach(&dir);
	e->stamp = xstrdup(stamp);
	e->reason = xstrdup(reason);
	e->paths[0] = xstrdup(p1);
	e->paths[1] = xstrdup(p2);
	if (!e->dir || !e->stamp || !e->reason)
		return mcr_error_set(MCR_ENOMEM, "out of memory");
	if (dest_out) {
		mcr_buf d = MCR_BUF_INIT;
		if (mcr_buf_printf(&d, "%s/%s", e->dir, base_name(p1)))
			return MCR_ENOMEM;
		*dest_out = mcr_buf_detach(&d);
	}
	r->sum->rejected++;
	return 0;
}

/* Record that o's file at manifest path mp (payload pp) is rejected for why. */
static int reject_file(load_run *r, org_run *o, const char *mp, const char *pp,
                       const char *extracted, const char *why)
{
	char *stamp = stamp_of(mp);
	char *dest = NULL;
	if (!stamp)
		return mcr_error_set(MCR_ENOMEM, "out of memory");
	int rc = add_reject(r, o, stamp, why, mp, pp, &dest);
	free(stamp);
	if (!rc)
		rc = note_file(r, o, mp, extracted, "rejected", why, 0);
	if (!rc) {
		free(o->rejected_file);
		free(o->rejected_reason);
		o->rejected_file = dest;
		o->rejected_reason = xstrdup(why);
		dest = NULL;
	}
	free(dest);
	if (r->progress)
		fprintf(stderr, "%smcr-load: %s: rejected %s: %s\n", r->printed ? "\n" : "",
		        o->org->ods, mp, why);
	r->printed = 0;
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* .failed markers newer than the data o holds are rejected files too. */
static int check_markers(load_run *r, org_run *o)
{
	mcr_buf dir = MCR_BUF_INIT, path = MCR_BUF_INIT, text = MCR_BUF_INIT;
	char **names = NULL;
	size_t n = 0;
	int rc = mcr_buf_printf(&dir, "%s/%s/%s", r->cfg->staging_dir, o->org->ods, o->dataset);
	if (rc)
		return rc;
	DIR *d = opendir(dir.ptr);
	if (!d) {
		mcr_buf_free(&dir);
		return 0;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l < 8 || strcmp(e->d_name + l - 7, ".failed") != 0)
			continue;
		char **nn = realloc(names, (n + 1) * sizeof(*nn));
		if (!nn || !(nn[n] = strdup(e->d_name))) {
			if (nn)
				names = nn;
			rc = mcr_error_set(MCR_ENOMEM, "out of memory");
			break;
		}
		names = nn;
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; !rc && i < n; i++) {
		char *stamp = stamp_of(names[i]);
		time_t t;
		if (!stamp) {
			rc = mcr_error_set(MCR_ENOMEM, "out of memory");
			break;
		}
		int newer = parse_stamp(stamp, &t) == 0 && (!o->held_set || t > o->held);
		free(stamp);
		if (!newer)
			continue;
		if ((rc = mcr_fs_join(&path, dir.ptr, names[i])))
			break;
		mcr_buf_reset(&text);
		if (mcr_fs_read_file(path.ptr, 4096, &text) != 0)
			mcr_buf_reset(&text);
		/* The marker's first line says why the extract failed. */
		char why[1100];
		const char *t0 = mcr_buf_cstr(&text);
		size_t l = strcspn(t0, "\r\n");
		snprintf(why, sizeof(why), "extract failed: %.*s", (int)(l > 1000 ? 1000 : l),
		         l ? t0 : "(no reason given)");
		rc = reject_file(r, o, path.ptr, NULL, NULL, why);
		if (!rc)
			o->status = o->action == ACT_NEVER ? "never" : "stale";
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	mcr_buf_free(&dir);
	mcr_buf_free(&path);
	mcr_buf_free(&text);
	return rc;
}

static int set_loaded_fields(load_run *r, org_run *o)
{
	char iso[32];
	const mcr_staged_manifest *m = o->m;
	mcr_time_iso(m->extracted, iso);
	free(o->extracted);
	free(o->loaded);
	free(o->shares_from);
	free(o->manifest);
	o->extracted = strdup(iso);
	o->loaded = strdup(r->now_iso);
	o->shares_from = strdup(m->shares_from[0] ? m->shares_from : o->org->shares_from);
	o->manifest = strdup(o->manifest_path);
	o->len = (int64_t)m->payload_length;
	o->crc = (int64_t)m->payload_crc32;
	o->has_payload = 1;
	o->held = m->extracted;
	o->held_set = 1;
	if (!o->extracted || !o->loaded || !o->shares_from || !o->manifest)
		return mcr_error_set(MCR_ENOMEM, "out of memory");
	return 0;
}

/* The payload file a manifest names (or would name): beside it. */
static char *payload_path(const char *manifest_path, const mcr_staged_manifest *m)
{
	mcr_buf b = MCR_BUF_INIT;
	const char *slash = strrchr(manifest_path, '/');
	size_t dl = slash ? (size_t)(slash - manifest_path) : 1;
	const char *dir = slash ? manifest_path : ".";
	char *stamp = NULL;
	int rc = mcr_buf_put(&b, dir, dl);
	if (!rc)
		rc = mcr_buf_putc(&b, '/');
	if (!rc && m && m->payload && !strchr(m->payload, '/')) {
		rc = mcr_buf_puts(&b, m->payload);
	} else if (!rc) {
		stamp = stamp_of(manifest_path);
		rc = stamp ? mcr_buf_printf(&b, "%s.xml.gz", stamp) : MCR_ENOMEM;
	}
	free(stamp);
	if (rc) {
		mcr_buf_free(&b);
		return NULL;
	}
	return mcr_buf_detach(&b);
}

static int decide_org(load_run *r, org_run *o)
{
	int rc = mcr_staged_find_latest(r->cfg->staging_dir, o->org->ods, o->dataset,
	                                &o->manifest_path);
	o->action = o->prev_data ? ACT_CARRY : ACT_NEVER;
	o->status = o->prev_data ? "unchanged" : "never";
	if (rc == MCR_ENOTFOUND) {
		mcr_error_clear();
		return 0;
	}
	if (rc)
		return rc;
	char *pp = NULL;
	rc = mcr_staged_manifest_read(o->manifest_path, &o->m);
	if (!rc && (strcmp(o->m->org, o->org->ods) != 0 || strcmp(o->m->dataset, o->dataset) != 0))
		rc = mcr_error_set(MCR_EFORMAT, "%s: manifest is for %s/%s, found under %s/%s",
		                   o->manifest_path, o->m->org, o->m->dataset, o->org->ods, o->dataset);
	if (rc == MCR_ENOMEM)
		return rc;
	if (rc) {
		char *why = strdup(mcr_error_message());
		pp = payload_path(o->manifest_path, o->m);
		rc = why && pp ? reject_file(r, o, o->manifest_path, pp, NULL, why) : MCR_ENOMEM;
		if (!rc)
			o->status = o->prev_data ? "stale" : "never";
		free(why);
		free(pp);
		return rc;
	}
	char iso[32];
	mcr_time_iso(o->m->extracted, iso);
	if (o->prev_data && o->prev_manifest && o->held_set && o->m->extracted == o->held &&
	    strcmp(base_name(o->prev_manifest), base_name(o->manifest_path)) == 0 &&
	    o->prev_len == (int64_t)o->m->payload_length &&
	    o->prev_crc == (int64_t)o->m->payload_crc32)
		return 0;   /* the file already loaded: unchanged */
	if (o->held_set && o->m->extracted <= o->held) {
		char why[256];
		snprintf(why, sizeof(why), "replay: extract of %s is not newer than the one loaded (%s)",
		         iso, o->prev_extracted ? o->prev_extracted : "?");
		if (!(pp = payload_path(o->manifest_path, o->m)))
			return MCR_ENOMEM;
		rc = reject_file(r, o, o->manifest_path, pp, iso, why);
		free(pp);
		o->status = "stale";
		return rc;
	}
	o->action = ACT_LOAD;
	return 0;
}

static int load_org(load_run *r, org_run *o)
{
	char *why = NULL;
	char iso[32];
	mcr_time_iso(o->m->extracted, iso);
	int rc = stream_org(r, o, &why);
	if (!r->parsed_once) {
		r->parsed_once = 1;
		crash_point(r, "parsed");
	}
	if (rc == 0) {
		o->status = "current";
		rc = set_loaded_fields(r, o);
		if (!rc)
			rc = note_file(r, o, o->manifest_path, iso, "loaded", NULL, o->items);
		return rc;
	}
	if (!why)
		return rc;
	char *pp = payload_path(o->manifest_path, o->m);
	rc = pp ? reject_file(r, o, o->manifest_path, pp, iso, why) : MCR_ENOMEM;
	free(pp);
	free(why);
	if (rc)
		return rc;
	if (o->prev_data) {
		o->action = ACT_CARRY;
		o->status = "stale";
		return carry_org(r, o);
	}
	o->action = ACT_NEVER;
	o->status = "never";
	o->first = r->next_id;
	o->last = r->next_id - 1;
	return 0;
}

/* ---- after every source is in ------------------------------------------- */

static int org_index(const load_run *r, const char *ods)
{
	for (size_t i = 0; ods && i < r->cfg->norgs; i++)
		if (strcmp(r->cfg->orgs[i].ods, ods) == 0)
			return (int)i;
	return -1;
}

/*
 * An objection held by a GP stops that person's health data from every
 * organisation: their gp/ooh items, per-person withheld counts and person rows
 * go, counted as 'objection' under the organisation that held them. Social
 * care (a separate opt-in) and the organisations' own lists stay.
 */
static int apply_objections(load_run *r)
{
	sqlite3_stmt *st = NULL;
	int rc = exec(r->db, "CREATE TEMP TABLE orgkind (org TEXT PRIMARY KEY, kind TEXT NOT NULL) "
	                     "WITHOUT ROWID;"
	                     "CREATE TEMP TABLE objnhs (nhs TEXT PRIMARY KEY) WITHOUT ROWID");
	if (rc)
		return rc;
	if ((rc = prepare(r->db, "INSERT INTO temp.orgkind(org, kind) VALUES (?1, ?2)", &st)))
		return rc;
	for (size_t i = 0; !rc && i < r->cfg->norgs; i++) {
		mcr_db_bind_text(st, 1, r->cfg->orgs[i].ods);
		mcr_db_bind_text(st, 2, mcr_org_kind_name(r->cfg->orgs[i].kind));
		rc = step_done(r->db, st, r->new_path);
	}
	sqlite3_finalize(st);
	st = NULL;
	if (rc || (rc = exec(r->db, "INSERT OR IGNORE INTO temp.objnhs SELECT nhs FROM objection "
	                            "WHERE org IN (SELECT org FROM temp.orgkind WHERE kind = 'gp')")))
		return rc;
	if ((rc = prepare(r->db,
	                  "SELECT i.org, i.section, count(*), count(DISTINCT i.nhs) "
	                  "FROM temp.objnhs o CROSS JOIN item i ON i.nhs = o.nhs "
	                  "WHERE i.org IN (SELECT org FROM temp.orgkind WHERE kind <> 'lcs') "
	                  "GROUP BY i.org, i.section", &st)))
		return rc;
	while (sqlite3_step(st) == SQLITE_ROW) {
		int k = org_index(r, (const char *)sqlite3_column_text(st, 0));
		mcr_section s;
		if (k < 0 || mcr_section_parse((const char *)sqlite3_column_text(st, 1), &s) != 0)
			continue;
		org_run *o = &r->orgs[k];
		long n = (long)sqlite3_column_int64(st, 2);
		o->items -= n;
		o->sec_items[s] -= n;
		o->sec_people[s] -= (long)sqlite3_column_int64(st, 3);
		o->withheld[MCR_REASON_OBJECTION] += n;
	}
	sqlite3_finalize(st);
	st = NULL;
	if ((rc = prepare(r->db,
	                  "SELECT p.org, count(*), sum(coalesce(p.family, p.given, p.birth_date, "
	                  "p.gender, p.address, p.postcode, p.phone) IS NOT NULL) "
	                  "FROM temp.objnhs o CROSS JOIN person p ON p.nhs = o.nhs "
	                  "WHERE p.org IN (SELECT org FROM temp.orgkind WHERE kind <> 'lcs') "
	                  "GROUP BY p.org", &st)))
		return rc;
	while (sqlite3_step(st) == SQLITE_ROW) {
		int k = org_index(r, (const char *)sqlite3_column_text(st, 0));
		if (k < 0)
			continue;
		r->orgs[k].people -= (long)sqlite3_column_int64(st, 1);
		r->orgs[k].sec_people[MCR_SECTION_DEMOGRAPHICS] -= (long)sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);
	return exec(r->db,
	            "DELETE FROM item WHERE id IN (SELECT i.id FROM temp.objnhs o CROSS JOIN item i "
	            "ON i.nhs = o.nhs WHERE i.org IN (SELECT org FROM temp.orgkind "
	            "WHERE kind <> 'lcs'));"
	            "DELETE FROM person WHERE nhs IN (SELECT nhs FROM temp.objnhs) "
	            "AND org IN (SELECT org FROM temp.orgkind WHERE kind <> 'lcs');"
	            "DELETE FROM person_withheld WHERE nhs IN (SELECT nhs FROM temp.objnhs) "
	            "AND org IN (SELECT org FROM temp.orgkind WHERE kind <> 'lcs')");
}

static int write_sources(load_run *r)
{
	sqlite3_stmt *st = NULL;
	char num[32];
	int rc = prepare(r->db, "INSERT INTO meta(key, value) VALUES (?1, ?2)", &st);
	if (rc)
		return rc;
	const char *keys[4] = { "schema_version", "generation", "built_at", "region" };
	char ver[16];
	snprintf(ver, sizeof(ver), "%d", MCR_STORE_SCHEMA_VERSION);
	snprintf(num, sizeof(num), "%ld", r->new_gen);
	const char *vals[4] = { ver, num, r->now_iso, r->cfg->region ? r->cfg->region : "" };
	for (int i = 0; !rc && i < 4; i++) {
		mcr_db_bind_text(st, 1, keys[i]);
		mcr_db_bind_text(st, 2, vals[i]);
		rc = step_done(r->db, st, r->new_path);
	}
	sqlite3_finalize(st);
	if (rc)
		return rc;
	sqlite3_stmt *src = NULL, *sec = NULL, *wh = NULL, *ls = NULL;
	if ((rc = prepare(r->db, "INSERT INTO source(org, dataset, kind, name, status, extracted, "
	                         "loaded, shares_from, manifest, rejected_file, rejected_reason, "
	                         "people, members, items, objections) VALUES (?1, ?2, ?3, ?4, ?5, "
	                         "?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)", &src)) ||
	    (rc = prepare(r->db, "INSERT INTO source_section(org, section, people, items) "
	                         "VALUES (?1, ?2, ?3, ?4)", &sec)) ||
	    (rc = prepare(r->db, "INSERT INTO withheld(org, reason, count) VALUES (?1, ?2, ?3)",
	                  &wh)) ||
	    (rc = prepare(r->db, "INSERT INTO load_source(org, payload_length, payload_crc32, "
	                         "item_first, item_last) VALUES (?1, ?2, ?3, ?4, ?5)", &ls)))
		goto out;
	for (size_t i = 0; !rc && i < r->cfg->norgs; i++) {
		org_run *o = &r->orgs[i];
		const mcr_org *g = o->org;
		int data = o->action != ACT_NEVER;
		mcr_db_bind_text(src, 1, g->ods);
		mcr_db_bind_text(src, 2, o->dataset);
		mcr_db_bind_text(src, 3, mcr_org_kind_name(g->kind));
		mcr_db_bind_text(src, 4, g->name ? g->name : g->ods);
		mcr_db_bind_text(src, 5, o->status);
		mcr_db_bind_text(src, 6, data ? o->extracted : NULL);
		mcr_db_bind_text(src, 7, data ? o->loaded : NULL);
		mcr_db_bind_text(src, 8, data && o->shares_from ? o->shares_from
		                  : (g->shares_from[0] ? g->shares_from : NULL));
		mcr_db_bind_text(src, 9, data ? o->manifest : NULL);
		mcr_db_bind_text(src, 10, o->rejected_file);
		mcr_db_bind_text(src, 11, o->rejected_reason);
		sqlite3_bind_int64(src, 12, o->people);
		sqlite3_bind_int64(src, 13, o->members);
		sqlite3_bind_int64(src, 14, o->items);
		sqlite3_bind_int64(src, 15, o->objections);
		if ((rc = step_done(r->db, src, r->new_path)))
			break;
		for (int s = 0; !rc && s < MCR_SECTION_COUNT; s++) {
			if (!o->sec_people[s] && !o->sec_items[s])
				continue;
			mcr_db_bind_text(sec, 1, g->ods);
			mcr_db_bind_text(sec, 2, mcr_section_name(s));
			sqlite3_bind_int64(sec, 3, o->sec_people[s]);
			sqlite3_bind_int64(sec, 4, o->sec_items[s]);
			rc = step_done(r->db, sec, r->new_path);
		}
		for (int w = 0; !rc && w < MCR_REASON_COUNT; w++) {
			if (!o->withheld[w])
				continue;
			mcr_db_bind_text(wh, 1, g->ods);
			mcr_db_bind_text(wh, 2, mcr_reason_name(w));
			sqlite3_bind_int64(wh, 3, o->withheld[w]);
			rc = step_done(r->db, wh, r->new_path);
		}
		if (!rc && data) {
			mcr_db_bind_text(ls, 1, g->ods);
			sqlite3_bind_int64(ls, 2, o->len);
			sqlite3_bind_int64(ls, 3, o->crc);
			sqlite3_bind_int64(ls, 4, o->first);
			sqlite3_bind_int64(ls, 5, o->last);
			rc = step_done(r->db, ls, r->new_path);
		}
	}
out:
	sqlite3_finalize(src);
	sqlite3_finalize(sec);
	sqlite3_finalize(wh);
	sqlite3_finalize(ls);
	return rc;
}

/* Rows per organisation of a table (one pass; the org column first in sql). */
static int tally(load_run *r, const char *sql, long *counts)
{
	sqlite3_stmt *st = NULL;
	int rc = prepare(r->db, sql, &st), step, last = -1;
	if (rc)
		return rc;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *ods = (const char *)sqlite3_column_text(st, 0);
		if (last < 0 || !ods || strcmp(r->cfg->orgs[last].ods, ods) != 0)
			last = org_index(r, ods);
		if (last < 0) {
			rc = mcr_error_set(MCR_ERROR, "%s: rows of an unconfigured organisation %s",
			                   r->new_path, ods ? ods : "(null)");
			break;
		}
		counts[last]++;
	}
	if (!rc && step != SQLITE_DONE)
		rc = db_error(r->db, r->new_path);
	sqlite3_finalize(st);
	return rc;
}

/* The new file's rows against the sources, and the objections reconciled. */
static int verify_counts(load_run *r)
{
	size_t n = r->cfg->norgs;
	long *mem = calloc(n + 1, sizeof(long)), *per = calloc(n + 1, sizeof(long)),
	     *obj = calloc(n + 1, sizeof(long));
	sqlite3_stmt *st = NULL;
	int rc = 0;
	if (!mem || !per || !obj) {
		rc = mcr_error_set(MCR_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = tally(r, "SELECT org FROM member", mem)) ||
	    (rc = tally(r, "SELECT org FROM person", per)) ||
	    (rc = tally(r, "SELECT org FROM objection", obj)) ||
	    (rc = prepare(r->db, "SELECT count(*) FROM item WHERE id BETWEEN ?1 AND ?2", &st)))
		goto out;
	for (size_t i = 0; i < n; i++) {
		org_run *o = &r->orgs[i];
		if (obj[i] != o->expect_objections) {
			rc = mcr_error_set(MCR_ERROR,
			                   "objections not reconciled for %s: %ld in its %s, %ld in the "
			                   "new generation; nothing published", o->org->ods,
			                   o->expect_objections,
			                   o->action == ACT_CARRY ? "previous generation" : "staged file",
			                   obj[i]);
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		org_run *o = &r->orgs[i];
		sqlite3_bind_int64(st, 1, o->first);
		sqlite3_bind_int64(st, 2, o->last);
		long items = 0;
		if (sqlite3_step(st) == SQLITE_ROW)
			items = (long)sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		if (mem[i] != o->members || per[i] + obj[i] != o->people || items != o->items ||
		    obj[i] != o->objections) {
			rc = mcr_error_set(MCR_ERROR,
			                   "%s: counts for %s differ from its source: members %ld (expected "
			                   "%ld), people %ld (%ld), items %ld (%ld), objections %ld (%ld)",
			                   r->new_path, o->org->ods, mem[i], o->members, per[i] + obj[i],
			                   o->people, items, o->items, obj[i], o->objections);
			goto out;
		}
	}
out:
	sqlite3_finalize(st);
	free(mem);
	free(per);
	free(obj);
	return rc;
}

/* ---- building, checking and publishing ------------------------------------- */

/* Run schema/store.sql, keeping its CREATE INDEX statements for after the insert. */
static int create_schema(load_run *r)
{
	const char *sql = mcr_schema_store_sql;
	int rc = 0;
	while (!rc && sql && *sql) {
		sqlite3_stmt *st = NULL;
		const char *tail = NULL;
		if (sqlite3_prepare_v2(r->db, sql, -1, &st, &tail) != SQLITE_OK)
			return mcr_error_set(MCR_EIO, "schema/store.sql: %s", sqlite3_errmsg(r->db));
		if (!st)
			break;   /* only comments or blanks left */
		const char *p = sql;
		for (;;) {
			while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
				p++;
			if (p[0] == '-' && p[1] == '-') {
				p += strcspn(p, "\n");
				continue;
			}
			break;
		}
		if (strncasecmp(p, "CREATE INDEX", 12) == 0 ||
		    strncasecmp(p, "CREATE UNIQUE INDEX", 19) == 0) {
			rc = mcr_buf_put(&r->index_sql, p, (size_t)(tail - p));
			if (!rc)
				rc = mcr_buf_putc(&r->index_sql, '\n');
		} else if (sqlite3_step(st) != SQLITE_DONE) {
			rc = mcr_error_set(MCR_EIO, "schema/store.sql: %s", sqlite3_errmsg(r->db));
		}
		sqlite3_finalize(st);
		sql = tail;
	}
	return rc;
}

static int check_integrity(load_run *r)
{
	struct stat sb;
	/* integrity_check on small stores; quick_check (no index cross-check) on big ones. */
	const char *sql = stat(r->new_path, &sb) == 0 && sb.st_size < (256L << 20)
	                  ? "PRAGMA integrity_check" : "PRAGMA quick_check";
	sqlite3_stmt *st = NULL;
	int rc = prepare(r->db, sql, &st);
	if (rc)
		return rc;
	if (sqlite3_step(st) != SQLITE_ROW)
		rc = db_error(r->db, r->new_path);
	else if (strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0)
		rc = mcr_error_set(MCR_EIO, "%s: %s failed: %s", r->new_path, sql + 7,
		                   (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return rc;
}

static int build(load_run *r)
{
	int rc;
	unlink_db(r->new_path);
	/* One thread uses this connection: no per-call mutex. */
	if (sqlite3_open_v2(r->new_path, &r->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	                    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		return mcr_error_set(MCR_EIO, "cannot create %s: %s", r->new_path,
		                     r->db ? sqlite3_errmsg(r->db) : "out of memory");
	/* Speed (PERF-NOTES.md): the file is unpublished until it is complete and
	 * checked, so a crash only leaves an orphan; no journal is needed. */
	char pragmas[256];
	snprintf(pragmas, sizeof(pragmas),
	         "PRAGMA page_size = 65536; PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;"
	         "PRAGMA cache_size = -65536; PRAGMA threads = 1; PRAGMA user_version = %d",
	         MCR_STORE_SCHEMA_VERSION);
	if ((rc = exec(r->db, pragmas)) || (rc = create_schema(r)))
		return rc;
	if (r->cur_gen) {
		sqlite3_stmt *st = NULL;
		if ((rc = prepare(r->db, "ATTACH ?1 AS prev", &st)))
			return rc;
		mcr_db_bind_text(st, 1, r->prev_path);
		rc = step_done(r->db, st, r->prev_path);
		sqlite3_finalize(st);
		if (rc)
			return rc;
		if ((rc = read_prev_sources(r)))
			return rc;
	}
	if ((rc = exec(r->db, "BEGIN")))
		return rc;
	if ((rc = prepare(r->db, "INSERT INTO member(org, nhs) VALUES (?1, ?2)", &r->ins_member)) ||
	    (rc = prepare(r->db, "INSERT INTO person(org, nhs, family, given, birth_date, gender, "
	                         "address, postcode, phone) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
	                         "?9)", &r->ins_person)) ||
	    (rc = prepare(r->db, "INSERT OR IGNORE INTO objection(org, nhs, since) "
	                         "VALUES (?1, ?2, ?3)", &r->ins_objection)) ||
	    (rc = prepare(r->db, "INSERT INTO item(org, id, nhs, section, date, system, code, "
	                         "display, status, source_id, details) VALUES (?1, ?2, ?3, ?4, ?5, "
	                         "?6, ?7, ?8, ?9, ?10, ?11)", &r->ins_item)) ||
	    (rc = prepare(r->db, "INSERT INTO person_withheld(org, nhs, section, reason, count) "
	                         "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (nhs, org, section, "
	                         "reason) DO UPDATE SET count = count + excluded.count",
	                  &r->ins_pw)))
		return rc;
	r->next_id = 1;
	for (size_t i = 0; i < r->cfg->norgs; i++)
		if ((rc = decide_org(r, &r->orgs[i])))
			return rc;
	long expect_items = 0;
	for (size_t i = 0; i < r->cfg->norgs; i++) {
		const org_run *o = &r->orgs[i];
		if (o->action == ACT_LOAD)
			r->total_items += o->m->items;
		else if (o->action == ACT_CARRY)
			expect_items += o->prev_items;
	}
	expect_items += r->total_items;
	/* $MCR_LOAD_EARLY_INDEX_ITEMS moves the threshold, so tests on small regions
	 * also exercise the build-after path. */
	long early_limit = EARLY_INDEX_ITEMS;
	const char *knob = getenv("MCR_LOAD_EARLY_INDEX_ITEMS");
	if (knob && *knob)
		early_limit = strtol(knob, NULL, 10);
	int early_index = expect_items <= early_limit;
	if (early_index && (rc = exec(r->db, mcr_buf_cstr(&r->index_sql))))
		return rc;
	for (size_t i = 0; i < r->cfg->norgs; i++) {
		org_run *o = &r->orgs[i];
		if (o->action == ACT_LOAD)
			rc = load_org(r, o);
		else if (o->action == ACT_CARRY)
			rc = carry_org(r, o);
		else {
			o->first = r->next_id;
			o->last = r->next_id - 1;
		}
		if (!rc)
			rc = check_markers(r, o);
		if (rc)
			return rc;
	}
	progress_print(r, "all", 1);
	if (r->progress) {
		struct timespec ts;
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
		fprintf(stderr, "mcr-load: CPU so far: parsing %.1f s, inserting %.1f s\n", r->parse_cpu,
		        (double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
	}
	if ((rc = carry_tables(r)))
		return rc;
	crash_point(r, "inserted");
	progress_phase(r, early_index ? "index built during the insert" : "building the index");
	/* The index sorter takes as much memory as the cache allows (per thread):
	 * with the cache at its 64 KiB-page minimum for the sort (16 MiB) it spills
	 * to temporary files instead, so memory does not grow with the region. */
	if ((rc = exec(r->db, "PRAGMA cache_size = -16384")) ||
	    (!early_index && (rc = exec(r->db, mcr_buf_cstr(&r->index_sql)))))
		return rc;
	crash_point(r, "indexed");
	progress_phase(r, "applying objections across organisations");
	if ((rc = apply_objections(r)) || (rc = write_sources(r)))
		return rc;
	progress_phase(r, "checking counts");
	if ((rc = verify_counts(r)))
		return rc;
	sqlite3_stmt **sts[] = { &r->ins_member, &r->ins_person, &r->ins_objection, &r->ins_item,
	                         &r->ins_pw };
	for (size_t i = 0; i < sizeof(sts) / sizeof(sts[0]); i++) {
		sqlite3_finalize(*sts[i]);
		*sts[i] = NULL;
	}
	if ((rc = exec(r->db, "COMMIT")))
		return rc;
	if (r->cur_gen && (rc = exec(r->db, "DETACH prev")))
		return rc;
	progress_phase(r, "checking integrity");
	if ((rc = check_integrity(r)))
		return rc;
	if (sqlite3_close(r->db) != SQLITE_OK)
		return db_error(r->db, r->new_path);
	r->db = NULL;
	progress_phase(r, "syncing the new generation to disk");
	if ((rc = fsync_path(r->new_path)) || (rc = mcr_fs_fsync_dir(r->cfg->store_dir)))
		return rc;
	crash_point(r, "checked");
	progress_phase(r, "checked and synced; publishing");
	return 0;
}

static int publish(load_run *r)
{
	mcr_buf tmp = MCR_BUF_INIT, cur = MCR_BUF_INIT;
	int rc;
	if ((rc = mcr_fs_join(&tmp, r->cfg->store_dir, "current.tmp")) ||
	    (rc = mcr_fs_join(&cur, r->cfg->store_dir, "current")))
		goto out;
	unlink(tmp.ptr);
	if (symlink(base_name(r->new_path), tmp.ptr) != 0) {
		rc = mcr_error_set_errno(MCR_EIO, "cannot create link %s", tmp.ptr);
		goto out;
	}
	crash_point(r, "linked");
	/* Replaces the link, never a database: readers holding the old generation
	 * open keep reading it. */
	if (rename(tmp.ptr, cur.ptr) != 0) {
		rc = mcr_error_set_errno(MCR_EIO, "cannot rename %s to %s", tmp.ptr, cur.ptr);
		unlink(tmp.ptr);
		goto out;
	}
	rc = mcr_fs_fsync_dir(r->cfg->store_dir);
out:
	mcr_buf_free(&tmp);
	mcr_buf_free(&cur);
	return rc;
}

/* Move rejected files to quarantine with a reason file beside them. Failures
 * are reported on stderr: the generation is already published. */
static void quarantine(load_run *r)
{
	mcr_buf dest = MCR_BUF_INIT, reason = MCR_BUF_INIT, line = MCR_BUF_INIT;
	for (size_t i = 0; i < r->nrejects; i++) {
		reject_entry *e = &r->rejects[i];
		int rc = mcr_fs_mkdirs(e->dir);
		for (int k = 0; !rc && k < 2; k++) {
			if (!e->paths[k] || !mcr_fs_exists(e->paths[k]))
				continue;
			if ((rc = mcr_fs_join(&dest, e->dir, base_name(e->paths[k]))))
				break;
			if (rename(e->paths[k], dest.ptr) != 0)
				rc = mcr_error_set_errno(MCR_EIO, "cannot move %s to %s", e->paths[k],
				                         dest.ptr);
		}
		if (!rc) {
			mcr_buf_reset(&line);
			rc = mcr_buf_printf(&line, "%s.reason", e->stamp);
		}
		if (!rc)
			rc = mcr_fs_join(&reason, e->dir, line.ptr);
		if (!rc) {
			mcr_buf_reset(&line);
			rc = mcr_buf_printf(&line, "%s\n", e->reason);
		}
		if (!rc)
			rc = mcr_fs_write_atomic(reason.ptr, line.ptr, line.len);
		if (!rc && e->paths[0]) {
			const char *slash = strrchr(e->paths[0], '/');
			if (slash) {
				mcr_buf_reset(&line);
				rc = mcr_buf_put(&line, e->paths[0], (size_t)(slash - e->paths[0]));
				if (!rc)
					rc = mcr_fs_fsync_dir(line.ptr);
			}
		}
		if (rc)
			fprintf(stderr, "mcr-load: quarantine: %s\n", mcr_error_message());
	}
	mcr_buf_free(&dest);
	mcr_buf_free(&reason);
	mcr_buf_free(&line);
}

/* Finalize the build's statements and close the new file (statements first:
 * sqlite3_close refuses a connection with live statements). */
static void close_build_db(load_run *r)
{
	sqlite3_stmt **sts[] = { &r->ins_member, &r->ins_person, &r->ins_objection, &r->ins_item,
	                         &r->ins_pw };
	for (size_t i = 0; i < sizeof(sts) / sizeof(sts[0]); i++) {
		sqlite3_finalize(*sts[i]);
		*sts[i] = NULL;
	}
	sqlite3_close(r->db);
	r->db = NULL;
}

static void free_run(load_run *r)
{
	if (r->orgs) {
		for (size_t i = 0; i < r->cfg->norgs; i++) {
			org_run *o = &r->orgs[i];
			free(o->prev_extracted);
			free(o->prev_loaded);
			free(o->prev_manifest);
			free(o->prev_shares_from);
			free(o->manifest_path);
			mcr_staged_manifest_free(o->m);
			free(o->extracted);
			free(o->loaded);
			free(o->shares_from);
			free(o->manifest);
			free(o->rejected_file);
			free(o->rejected_reason);
		}
		free(r->orgs);
	}
	for (size_t i = 0; i < r->nrejects; i++) {
		free(r->rejects[i].dir);
		free(r->rejects[i].stamp);
		free(r->rejects[i].reason);
		free(r->rejects[i].paths[0]);
		free(r->rejects[i].paths[1]);
	}
	free(r->rejects);
	for (size_t i = 0; i < r->nfiles; i++) {
		free(r->files[i].manifest);
		free(r->files[i].extracted);
		free(r->files[i].reason);
	}
	free(r->files);
	close_build_db(r);
	sqlite3_close(r->hist);
	free(r->new_path);
	free(r->prev_path);
	mcr_buf_free(&r->index_sql);
	mcr_buf_free(&r->json);
}

static int prepare_dirs(const mcr_config *cfg)
{
	int rc = mcr_fs_mkdirs(cfg->store_dir);
	const char *slash = cfg->lock_path ? strrchr(cfg->lock_path, '/') : NULL;
	if (!rc && slash && slash != cfg->lock_path) {
		mcr_buf d = MCR_BUF_INIT;
		rc = mcr_buf_put(&d, cfg->lock_path, (size_t)(slash - cfg->lock_path));
		if (!rc)
			rc = mcr_fs_mkdirs(d.ptr);
		mcr_buf_free(&d);
	}
	return rc;
}

int mcr_load_run(const mcr_config *cfg, const mcr_load_options *opt, mcr_load_summary *sum)
{
	load_run r;
	memset(&r, 0, sizeof(r));
	memset(sum, 0, sizeof(*sum));
	sum->orgs = (int)cfg->norgs;
	r.cfg = cfg;
	r.sum = sum;
	r.t0 = mono_now();
	r.progress = opt && opt->progress;
	r.crash_at = getenv("MCR_LOAD_CRASH_AT");
	r.now = mcr_time_now();
	mcr_time_iso(r.now, r.now_iso);
	int lockfd = -1, published = 0;
	const char *lock_path = cfg->lock_path;
	mcr_buf deflock = MCR_BUF_INIT;
	int rc = prepare_dirs(cfg);
	if (!rc && !lock_path) {
		rc = mcr_fs_join(&deflock, cfg->store_dir, "mcr.lock");
		lock_path = deflock.ptr;
	}
	if (!rc)
		rc = mcr_fs_lock(lock_path, 0, &lockfd);
	if (rc)
		goto done;
	xmlInitParser();
	if (!(r.orgs = calloc(cfg->norgs + 1, sizeof(*r.orgs)))) {
		rc = mcr_error_set(MCR_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < cfg->norgs; i++) {
		r.orgs[i].org = &cfg->orgs[i];
		r.orgs[i].dataset = mcr_org_dataset(cfg->orgs[i].kind);
	}
	if ((rc = history_start(&r)))
		goto out;
	rc = mcr_store_current_generation(cfg->store_dir, &r.cur_gen);
	if (rc == MCR_ENOTFOUND) {
		r.cur_gen = 0;
		rc = 0;
		mcr_error_clear();
	}
	if (rc)
		goto out;
	/* Leftovers of a crashed run: unpublished generations and a half-made link. */
	if ((rc = remove_generations(cfg->store_dir, r.cur_gen, -1)))
		goto out;
	{
		mcr_buf tmp = MCR_BUF_INIT;
		if (mcr_fs_join(&tmp, cfg->store_dir, "current.tmp") == 0)
			unlink(tmp.ptr);
		mcr_buf_free(&tmp);
	}
	r.new_gen = r.cur_gen + 1;
	if ((rc = mcr_store_generation_path(cfg->store_dir, r.new_gen, &r.new_path)))
		goto out;
	if (r.cur_gen && (rc = mcr_store_generation_path(cfg->store_dir, r.cur_gen, &r.prev_path)))
		goto out;
	if (r.prev_path && !mcr_fs_exists(r.prev_path)) {
		rc = mcr_error_set(MCR_EIO, "the published generation %s is missing", r.prev_path);
		goto out;
	}
	if ((rc = build(&r)) || (rc = publish(&r)))
		goto out;
	published = 1;
	sum->generation = r.new_gen;
	int keep = cfg->keep_generations >= 2 ? cfg->keep_generations : 2;
	if (remove_generations(cfg->store_dir, -1, r.new_gen - keep) != 0)
		fprintf(stderr, "mcr-load: pruning generations: %s\n", mcr_error_message());
	quarantine(&r);
out:
	for (size_t i = 0; r.orgs && i < cfg->norgs; i++) {
		org_run *o = &r.orgs[i];
		if (!o->status)
			continue;
		if (strcmp(o->status, "current") == 0)
			sum->loaded++;
		else if (strcmp(o->status, "unchanged") == 0)
			sum->unchanged++;
		else if (strcmp(o->status, "stale") == 0)
			sum->stale++;
		else
			sum->never++;
		sum->people += o->people;
		sum->items += o->items;
		for (int w = 0; w < MCR_REASON_COUNT; w++)
			sum->withheld += o->withheld[w];
	}
	if (r.progress && r.printed && rc)
		fputc('\n', stderr);
	{
		char msg[1100];
		snprintf(msg, sizeof(msg), "%s", rc ? mcr_error_message() : "");
		int saved = mcr_error_code();
		const char *outcome = rc ? "failed" : sum->rejected ? "rejected" : "ok";
		int hrc = history_end(&r, outcome, rc ? msg : NULL);
		if (rc)
			mcr_error_set(saved ? saved : rc, "%s", msg);
		else if (hrc)
			rc = hrc;
	}
	if (!published && r.new_path) {
		close_build_db(&r);
		unlink_db(r.new_path);
	}
	free_run(&r);
	mcr_fs_unlock(lockfd);
done:
	mcr_buf_free(&deflock);
	sum->seconds = mono_now() - r.t0;
	return rc;
}

int mcr_load_exit_status(int rc, const mcr_load_summary *sum)
{
	if (rc == 0)
		return sum && sum->rejected ? MCR_EXIT_REJECTED : MCR_EXIT_OK;
	return mcr_error_exit_status(rc);
}

int mcr_load_summary_line(int rc, const mcr_load_summary *s, mcr_buf *out)
{
	if (rc == MCR_ELOCKED)
		return mcr_buf_printf(out, "mcr-load: no load: another run holds the lock");
	if (rc && s->generation)
		return mcr_buf_printf(out, "mcr-load: generation %ld published, but the run failed "
		                           "afterwards (%.1f s)", s->generation, s->seconds);
	if (rc)
		return mcr_buf_printf(out, "mcr-load: failed after %.1f s: no new generation "
		                           "(%ld file(s) examined, %ld rejected)",
		                      s->seconds, s->files, s->rejected);
	return mcr_buf_printf(out, "mcr-load: generation %ld published: %d organisation(s) "
	                           "(%d loaded, %d unchanged, %d stale, %d never), %ld people, "
	                           "%ld items, %ld withheld, %ld file(s) rejected, %.1f s",
	                      s->generation, s->orgs, s->loaded, s->unchanged, s->stale, s->never,
	                      s->people, s->items, s->withheld, s->rejected, s->seconds);
}
