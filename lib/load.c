/*
 * mcr-load's library side (include/mcr/load.h, docs/LOAD.md): the run, under
 * the run lock (its parts: load_internal.h).
 *
 * Parse side (load_rules.c): a thread streams one staged file through the
 * validating reader, applies the consent rules again (defence in depth) and
 * hands the rows to keep to the inserting thread in batches through a bounded
 * queue (load_queue.c), so parsing and inserting use both cores and memory stays
 * flat whatever the region's size. Insert side (load_insert.c, the calling
 * thread): rows in the order read through the store backend (load_backend.h:
 * on SQLite one transaction on the new generation file, prepared INSERTs), the
 * index before (small regions) or after.
 * load_decide.c decides each organisation's fate, load_publish.c builds, checks
 * and publishes the generation, load_history.c records the run.
 */

#include "load_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libxml/parser.h>

#include "mcr/error.h"
#include "mcr/fs.h"
#include "mcr/store.h"

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
			free(o->guard_reason);
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
	if (r->store)
		r->store->close(r);
	if (r->hist && r->hb)
		r->hist->close(r);
	free(r->new_path);
	free(r->prev_path);
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

/* The run's history message when the night-on-night guard acted: which
 * organisations' files were held and which accepted. */
static void guard_message(const load_run *r, char *msg, size_t n)
{
	size_t len = 0;
	for (int pass = 0; pass < 2; pass++) {
		int first = 1;
		for (size_t i = 0; i < r->cfg->norgs && len < n; i++) {
			const org_run *o = &r->orgs[i];
			if (!(pass ? o->guard_accepted : o->guard_held))
				continue;
			len += (size_t)snprintf(msg + len, n - len, "%s%s%s (%s)",
			                        first ? (len ? "; " : "") : ", ",
			                        first ? (pass ? "accepted: " : "held: ") : "",
			                        o->org->ods, o->guard_reason);
			first = 0;
		}
	}
}

/* The per-organisation totals into the summary (once). */
static void summarise(load_run *r)
{
	mcr_load_summary *sum = r->sum;
	if (r->summarised)
		return;
	r->summarised = 1;
	for (size_t i = 0; r->orgs && i < r->cfg->norgs; i++) {
		const org_run *o = &r->orgs[i];
		if (!o->status)
			continue;
		if (strcmp(o->status, "current") == 0)
			sum->loaded++;
		else if (strcmp(o->status, "unchanged") == 0)
			sum->unchanged++;
		else if (strcmp(o->status, "stale") == 0)
			sum->stale++;
		else if (strcmp(o->status, "held") == 0)
			sum->held++;
		else
			sum->never++;
		sum->people += o->people;
		sum->items += o->items;
		for (int w = 0; w < MCR_REASON_COUNT; w++)
			sum->withheld += o->withheld[w];
	}
}

/* Record the run's end in the history: its outcome for rc (0: it publishes
 * sum->generation), its files and counts. On failure (rc) the thread's message
 * is the run's and stays set; returns the history's own error otherwise. */
static int record_end(load_run *r, int rc)
{
	mcr_load_summary *sum = r->sum;
	char msg[1100];
	snprintf(msg, sizeof(msg), "%s", rc ? mcr_error_message() : "");
	int saved = mcr_error_code();
	const char *outcome = rc ? "failed" : sum->rejected ? "rejected"
	                      : sum->held_files ? "held" : "ok";
	if (!rc && (sum->held_files || sum->accepted))
		guard_message(r, msg, sizeof(msg));
	int hrc = mcr_load_history_end(r, outcome, msg[0] ? msg : NULL);
	if (rc) {
		mcr_error_set(saved ? saved : rc, "%s", msg);
		return 0;
	}
	return hrc;
}

/* The run's end recorded just before publication (load_store_ops.publish). */
static int record_published(load_run *r)
{
	int rc = record_end(r, 0);
	if (!rc)
		r->recorded = 1;
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
	r.t0 = mcr_load_clock();
	r.on_event = opt ? opt->on_event : NULL;
	r.ctx = opt ? opt->ctx : NULL;
	r.progress = opt && opt->progress && r.on_event;
	r.crash_at = getenv("MCR_LOAD_CRASH_AT");
	r.stop_at = getenv("MCR_LOAD_STOP_AT");
	r.accept = opt ? opt->accept : NULL;
	r.naccept = opt && opt->accept ? opt->naccept : 0;
	r.now = mcr_time_now();
	mcr_time_iso(r.now, r.now_iso);
	int lockfd = -1, published = 0, recorded = 0;
	const char *lock_path = cfg->lock_path;
	mcr_buf deflock = MCR_BUF_INIT;
	int rc = 0;
	for (size_t i = 0; i < r.naccept && !rc; i++)
		if (!r.accept[i] || !mcr_config_org(cfg, r.accept[i]))
			rc = mcr_error_set(MCR_EUSAGE, "--accept %s: no such organisation in %s",
			                   r.accept[i] ? r.accept[i] : "(null)",
			                   cfg->path ? cfg->path : "the configuration");
	if (rc)
		goto done;
	rc = prepare_dirs(cfg);
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
	r.store = cfg->backend == MCR_BACKEND_POSTGRESQL ? &mcr_load_store_pg : &mcr_load_store_sqlite;
	r.hist = cfg->backend == MCR_BACKEND_POSTGRESQL ? &mcr_load_history_pg : &mcr_load_history_sqlite;
	if ((rc = r.store->open(&r)) || (rc = mcr_load_history_start(&r)))
		goto out;
	/* Leftovers of a crashed run: unpublished generations, a half-made publication. */
	if ((rc = r.store->clean(&r)))
		goto out;
	r.new_gen = r.cur_gen + 1;
	if ((rc = mcr_load_build(&r)))
		goto out;
	/* The history records the run's end, generation N included, as part of
	 * publishing (record_published): a run stopped after the publication is on
	 * record as it is; one stopped before it is corrected by the next run
	 * (mcr_load_history_start). */
	summarise(&r);
	sum->generation = r.new_gen;
	rc = r.store->publish(&r, record_published);
	recorded = r.recorded;
	published = r.renamed;
	if (!published)
		sum->generation = 0;
	if (rc)
		goto out;
	int keep = cfg->keep_generations >= 2 ? cfg->keep_generations : 2;
	if (r.store->prune(&r, r.new_gen - keep) != 0)
		mcr_load_warn(&r, "pruning generations");
	mcr_load_quarantine(&r);
out:
	summarise(&r);
	if (!recorded || rc) {
		int hrc = record_end(&r, rc);
		if (!rc)
			rc = hrc;
	}
	free_run(&r);
	mcr_fs_unlock(lockfd);
done:
	mcr_buf_free(&deflock);
	sum->seconds = mcr_load_clock() - r.t0;
	return rc;
}

int mcr_load_exit_status(int rc, const mcr_load_summary *sum)
{
	if (rc == 0)
		return sum && (sum->rejected || sum->held_files) ? MCR_EXIT_REJECTED : MCR_EXIT_OK;
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
	int rc2 = mcr_buf_printf(out, "mcr-load: generation %ld published: %d organisation(s) "
	                              "(%d loaded, %d unchanged, %d stale, %d never), %ld people, "
	                              "%ld items, %ld withheld, %ld file(s) rejected",
	                         s->generation, s->orgs, s->loaded, s->unchanged, s->stale, s->never,
	                         s->people, s->items, s->withheld, s->rejected);
	/* Only when the guard acted, so the usual line stays as scripts know it. */
	if (!rc2 && s->held_files)
		rc2 = mcr_buf_printf(out, ", %ld held (accept with mcr-load --accept ODS)", s->held_files);
	if (!rc2 && s->accepted)
		rc2 = mcr_buf_printf(out, ", %ld accepted", s->accepted);
	return rc2 ? rc2 : mcr_buf_printf(out, ", %.1f s", s->seconds);
}
