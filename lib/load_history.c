/* mcr-load: the load history (the run's start, its end and the staged files it
 * examined), written through the history backend (load_backend.h). */

#include "load_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mcr/audit.h"
#include "mcr/error.h"
#include "mcr/fs.h"

/*
 * Copy the audit log's head into the history (DESIGN.md "Audit"): one more place
 * outside the audit database that verify-audit checks it against. A region with
 * no audit log yet, or one whose head is unreadable, gets no row: the load is not
 * the place to fail for it (verify-audit reports it).
 */
static int record_audit_checkpoint(load_run *r)
{
	mcr_audit_checkpoint head;
	if (mcr_audit_read_head_config(r->cfg, &head) != 0) {
		mcr_error_clear();
		return 0;
	}
	char taken[32];
	mcr_time_iso(time(NULL), taken);
	return r->hist->checkpoint(r, taken, (long)head.seq, head.hash);
}

int mcr_load_history_start(load_run *r)
{
	long runs = 0;
	int rc = r->hist->open(r, &runs);
	if (rc)
		return rc;
	/* Unique even when $MCR_NOW replays the same time in one process. */
	char stamp[32];
	mcr_time_stamp(r->now, stamp);
	snprintf(r->run_id, sizeof(r->run_id), "%s-%ld-%ld", stamp, (long)getpid(),
	         runs >= 0 ? runs + 1 : 0);
	if ((rc = r->hist->insert_run(r)))
		return rc;
	return record_audit_checkpoint(r);
}

int mcr_load_history_end(load_run *r, const char *outcome, const char *message)
{
	if (!r->hb)
		return 0;
	return r->hist->end(r, outcome, message);
}

int mcr_load_history_was_held(load_run *r, const char *ods, const char *manifest, int *held)
{
	return r->hist->was_held(r, ods, manifest, held);
}

int mcr_load_note_file(load_run *r, const org_run *o, const char *manifest, const char *extracted,
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
	f->outcome = outcome;
	f->items = items;
	r->sum->files++;
	int rc;
	if ((rc = mcr_load_dup(&f->manifest, manifest)) ||
	    (rc = mcr_load_dup(&f->extracted, extracted)) || (rc = mcr_load_dup(&f->reason, reason)))
		return rc;
	return 0;
}
