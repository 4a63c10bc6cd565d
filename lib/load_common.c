/* mcr-load: what the parts of a run share (load_internal.h): small helpers and
 * the events reported to the caller. Calls no other part (no file cycle). */
#include "load_internal.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mcr/error.h"

double mcr_load_clock(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int mcr_load_dup(char **out, const char *s)
{
	*out = s ? strdup(s) : NULL;
	return s && !*out ? mcr_error_set(MCR_ENOMEM, "out of memory") : 0;
}

void mcr_load_crash_point(load_run *r, const char *phase)
{
	if (r->crash_at && strcmp(r->crash_at, phase) == 0) {
		fflush(NULL);
		kill(getpid(), SIGKILL);
	}
	if (r->stop_at && strcmp(r->stop_at, phase) == 0)
		raise(SIGSTOP);
}

const char *mcr_load_base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

int mcr_load_listed_twice(const org_run *o, const char *what, const char *nhs, int len)
{
	return mcr_error_set(MCR_EFORMAT, "%s: %s %.*s listed twice", o->manifest_path, what,
	                     nhs ? len : 6, nhs ? nhs : "(none)");
}

void mcr_load_report(load_run *r, mcr_load_event *ev)
{
	if (!r->on_event)
		return;
	ev->elapsed = mcr_load_clock() - r->t0;
	r->on_event(ev, r->ctx);
}

void mcr_load_warn(load_run *r, const char *what)
{
	char text[1100];
	snprintf(text, sizeof(text), "%s: %s", what, mcr_error_message());
	mcr_load_event ev = { .kind = MCR_LOAD_EVENT_WARNING, .text = text };
	mcr_load_report(r, &ev);
}

void mcr_load_progress_phase(load_run *r, const char *what)
{
	if (!r->progress)
		return;
	mcr_load_event ev = { .kind = MCR_LOAD_EVENT_PHASE, .text = what };
	mcr_load_report(r, &ev);
}

void mcr_load_progress_print(load_run *r, const char *org, int final)
{
	if (!r->progress)
		return;
	double t = mcr_load_clock();
	if (!final && t - r->last_print < 0.5)
		return;
	r->last_print = t;
	double el = t - r->t0;
	double rate = el > 0 ? (double)r->done_items / el : 0;
	long left = r->total_items - r->done_items;
	mcr_load_event ev = { .kind = MCR_LOAD_EVENT_ITEMS, .org = org, .done = r->done_items,
	                      .total = r->total_items, .rate = rate, .eta = -1, .final = final };
	if (rate > 0 && left >= 0)
		ev.eta = (double)left / rate;
	mcr_load_report(r, &ev);
}
