/*
 * Private to mcr-load's library side (lib/load*.c): the run's state and the
 * functions its parts call across files. Not installed; programs use
 * include/mcr/load.h.
 *
 *   load.c          the run (mcr_load_run)
 *   load_common.c   helpers the parts share, events to the caller
 *   load_queue.c    parse thread -> inserting thread batches, record encoding
 *   load_rules.c    the parse thread: the consent rules applied again
 *   load_insert.c   streaming a staged file in, carrying data over
 *   load_decide.c   each organisation: load, carry over or reject
 *   load_history.c  the load history (the run's start and end)
 *   load_publish.c  build, check, publish, quarantine
 * The store and the history are written through backends (load_backend.h):
 * no SQL here.
 */
#ifndef MCR_LOAD_INTERNAL_H
#define MCR_LOAD_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "mcr/buf.h"
#include "mcr/config.h"
#include "mcr/load.h"
#include "mcr/staged.h"

#include "load_backend.h"

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
	/* night-on-night guard: the newest file's fall against the data held (one
	 * line) when it was held (guard_held) or loaded on acceptance (guard_accepted) */
	int guard_held, guard_accepted;
	char *guard_reason;
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
	const char *outcome;          /* loaded | rejected | held | accepted (static) */
	long items;
} file_entry;

typedef struct load_run {
	const mcr_config *cfg;
	mcr_load_summary *sum;
	time_t now;
	char now_iso[32];
	char run_id[64];
	const load_store_ops *store;  /* the store writer (load_backend.h) */
	void *sb;                     /* its state */
	const load_history_ops *hist; /* the load history */
	void *hb;                     /* its state */
	long cur_gen;                 /* 0: none published */
	long new_gen;
	char *new_path, *prev_path;   /* the generations' names in messages (file, schema) */
	int64_t next_id;
	org_run *orgs;
	reject_entry *rejects;
	size_t nrejects;
	file_entry *files;
	size_t nfiles;
	mcr_buf json;                 /* the current item's details */
	int progress;                 /* report ITEMS, PHASE, REJECTED, CPU events */
	mcr_load_event_fn on_event;   /* NULL: report nothing */
	void *ctx;
	long total_items, done_items;
	double t0, last_print;
	double parse_cpu;             /* CPU seconds of the parse threads */
	const char *crash_at;         /* $MCR_LOAD_CRASH_AT: SIGKILL at that phase */
	const char *stop_at;          /* $MCR_LOAD_STOP_AT: SIGSTOP at that phase */
	int parsed_once;
	int renamed;                  /* readers see the new generation (published) */
	int recorded;                 /* the history has the run's end */
	int indexed_early;            /* the backend built the index before the insert */
	int summarised;               /* the organisations' totals are in sum */
	const char *const *accept;    /* ODS codes the operator accepted (--accept) */
	size_t naccept;
} load_run;

/* ---- load_common.c --------------------------------------------------------- */

/* Monotonic seconds, for elapsed times and rates. */
double mcr_load_clock(void);

/* *out = a copy of s, or NULL for NULL. 0, or MCR_ENOMEM (message set). */
int mcr_load_dup(char **out, const char *s);

/* Test hooks: SIGKILL this process when $MCR_LOAD_CRASH_AT names phase; SIGSTOP
 * it when $MCR_LOAD_STOP_AT does (a test then acts on the store, e.g. restarts
 * the database, and lets it go on with SIGCONT). */
void mcr_load_crash_point(load_run *r, const char *phase);

/* The part of path after its last '/'. */
const char *mcr_load_base_name(const char *path);

/* MCR_EFORMAT: o's staged file lists what (member, person, ...) nhs twice. */
int mcr_load_listed_twice(const struct org_run *o, const char *what, const char *nhs, int len);

/* Hand ev to the caller's on_event, if any (ev->elapsed filled in here). */
void mcr_load_report(load_run *r, mcr_load_event *ev);

/* A WARNING event "<what>: <the thread's error message>", whatever progress. */
void mcr_load_warn(load_run *r, const char *what);

/* A phase after the insert (PHASE event, when progress is on). */
void mcr_load_progress_phase(load_run *r, const char *what);

/* The items line (done/total, rate, time left), at most twice a second unless
 * final. */
void mcr_load_progress_print(load_run *r, const char *org, int final);

/* ---- load_queue.c ---------------------------------------------------------- */

/* The queue: the parse thread fills batches (mcr_load_batch_room, the put
 * functions, mcr_load_queue_push); the inserting thread pops, reads (the get
 * functions) and recycles them, or cancels the producer. */
int mcr_load_queue_init(load_queue *q);

void mcr_load_queue_destroy(load_queue *q);

void mcr_load_queue_push(load_queue *q, load_batch *b);

load_batch *mcr_load_queue_pop(load_queue *q);

void mcr_load_queue_recycle(load_queue *q, load_batch *b);

void mcr_load_queue_cancel(load_queue *q);

const unsigned char *mcr_load_batch_data(const load_batch *b, size_t *len);

int mcr_load_batch_room(load_parse *ps, size_t need);

size_t mcr_load_str_size(const char *s);

void mcr_load_put_u8(load_batch *b, unsigned v);

void mcr_load_put_i64(load_batch *b, int64_t v);

void mcr_load_put_str(load_batch *b, const char *s);

uint8_t mcr_load_get_u8(load_cursor *c);

int64_t mcr_load_get_i64(load_cursor *c);

const char *mcr_load_get_str(load_cursor *c, int *len);

/* ---- load_rules.c ---------------------------------------------------------- */

/* Start the parse thread on ps->manifest_path; join it before reading what it
 * counted. */
int mcr_load_parse_start(load_parse *ps);

void mcr_load_parse_join(load_parse *ps);

/* ---- load_insert.c --------------------------------------------------------- */

/*
 * Stream o's staged file into the new generation. 0: loaded; MCR_EFORMAT (or
 * another reading error) with *why set: the file is rejected and its rows are
 * gone; any other code: the load fails.
 */
int mcr_load_stream_org(load_run *r, org_run *o, char **why);

/* Copy o's rows of the item table from the previous generation, keeping their
 * order and relative ids; counts and statistics come from its source rows. */
int mcr_load_carry_org(load_run *r, org_run *o);

/* Member, person, person_withheld and objection rows of every carried-over
 * organisation, one pass over each previous table. */
int mcr_load_carry_tables(load_run *r);

/* ---- load_decide.c --------------------------------------------------------- */

/* The previous generation's source rows (attached as prev) into r->orgs. */
int mcr_load_read_prev_sources(load_run *r);

/* .failed markers newer than the data o holds are rejected files too. */
int mcr_load_check_markers(load_run *r, org_run *o);

/* Choose o's action from its newest staged file: load, carry over unchanged,
 * or reject (corrupt, wrong organisation, a replay) keeping its data stale. */
int mcr_load_decide_org(load_run *r, org_run *o);

/* Load o's staged file; when it is rejected while streaming, carry the
 * previous data over (stale) or leave o never loaded. */
int mcr_load_org(load_run *r, org_run *o);

/* ---- load_history.c -------------------------------------------------------- */

/* Open the history, mark runs left 'running' as interrupted, record this run as
 * running (r->run_id) with the audit log's head. */
int mcr_load_history_start(load_run *r);

/* Record the run's end and the files it examined, in one transaction. */
int mcr_load_history_end(load_run *r, const char *outcome, const char *message);

/* Whether an earlier run held the file at manifest for ods (history load_file
 * outcome 'held'): --accept loads only a file the operator was shown held. 0 or
 * a negative code with the message set; *held 1 or 0. */
int mcr_load_history_was_held(load_run *r, const char *ods, const char *manifest, int *held);
int mcr_load_note_file(load_run *r, const org_run *o, const char *manifest, const char *extracted,
                       const char *outcome, const char *reason, long items);

/* ---- load_publish.c -------------------------------------------------------- */

/* Build, check and make durable the new generation r->new_path (unpublished). */
int mcr_load_build(load_run *r);

/* Move rejected files to quarantine with a reason file beside them. Failures
 * are WARNING events: the generation is already published. */
void mcr_load_quarantine(load_run *r);

#endif
