/*
 * mcr-load: the parse thread. It streams one staged file through the validating
 * reader, applies the consent rules again (defence in depth) and hands the rows
 * to keep to the inserting thread in batches (load_queue.c).
 */

#include "load_internal.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mcr/consent.h"
#include "mcr/error.h"
#include "mcr/nhs.h"

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
	int rc = mcr_load_batch_room(ps, 1 + mcr_load_str_size(norm));
	if (rc)
		return rc;
	mcr_load_put_u8(ps->cur, LOAD_REC_MEMBER);
	mcr_load_put_str(ps->cur, norm);
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
		if ((rc = mcr_load_batch_room(ps, 1 + mcr_load_str_size(ps->nhs) + mcr_load_str_size(since))))
			return rc;
		mcr_load_put_u8(ps->cur, LOAD_REC_OBJECTION);
		mcr_load_put_str(ps->cur, ps->nhs);
		mcr_load_put_str(ps->cur, since);
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
	size_t need = 1 + mcr_load_str_size(ps->nhs);
	for (int i = 0; i < 7; i++)
		need += mcr_load_str_size(f[i]);
	if ((rc = mcr_load_batch_room(ps, need)))
		return rc;
	mcr_load_put_u8(ps->cur, LOAD_REC_PERSON);
	mcr_load_put_str(ps->cur, ps->nhs);
	for (int i = 0; i < 7; i++)
		mcr_load_put_str(ps->cur, f[i]);
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
	size_t need = 2 + mcr_load_str_size(ps->nhs) + mcr_load_str_size(it->date) + mcr_load_str_size(it->system) +
	              mcr_load_str_size(it->code) + mcr_load_str_size(it->display) + mcr_load_str_size(it->status) +
	              mcr_load_str_size(it->id) + 4;
	for (size_t i = 0; i < it->ndetails; i++)
		need += mcr_load_str_size(it->details[i].name) + mcr_load_str_size(it->details[i].value);
	int rc = mcr_load_batch_room(ps, need);
	if (rc)
		return rc;
	mcr_load_put_u8(ps->cur, LOAD_REC_ITEM);
	mcr_load_put_u8(ps->cur, (unsigned)it->section);
	mcr_load_put_str(ps->cur, ps->nhs);
	mcr_load_put_str(ps->cur, it->date);
	mcr_load_put_str(ps->cur, it->system);
	mcr_load_put_str(ps->cur, it->code);
	mcr_load_put_str(ps->cur, it->display);
	mcr_load_put_str(ps->cur, it->status);
	mcr_load_put_str(ps->cur, it->id);
	uint32_t nd = (uint32_t)it->ndetails;
	memcpy(ps->cur->buf + ps->cur->len, &nd, 4);
	ps->cur->len += 4;
	for (size_t i = 0; i < it->ndetails; i++) {
		mcr_load_put_str(ps->cur, it->details[i].name);
		mcr_load_put_str(ps->cur, it->details[i].value);
	}
	return 0;
}

static int put_withheld(load_parse *ps, mcr_section s, mcr_reason r, long count)
{
	int rc = mcr_load_batch_room(ps, 3 + mcr_load_str_size(ps->nhs) + 8);
	if (rc)
		return rc;
	mcr_load_put_u8(ps->cur, LOAD_REC_WITHHELD);
	mcr_load_put_u8(ps->cur, (unsigned)s);
	mcr_load_put_u8(ps->cur, (unsigned)r);
	mcr_load_put_str(ps->cur, ps->nhs);
	mcr_load_put_i64(ps->cur, count);
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
	if ((rc = mcr_load_batch_room(ps, 1)))
		return rc;
	mcr_load_put_u8(ps->cur, LOAD_REC_PERSON_END);
	return 0;
}

static void *parse_main(void *arg)
{
	load_parse *ps = arg;
	mcr_staged_handler h = { ps, on_member, on_person_begin, on_item, on_withheld,
	                         on_person_end };
	int rc = mcr_staged_read(ps->manifest_path, ps->m, &h);
	if (!rc && ps->cur && ps->cur->len) {
		mcr_load_queue_push(ps->q, ps->cur);
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

int mcr_load_parse_start(load_parse *ps)
{
	if (pthread_create(&ps->thread, NULL, parse_main, ps) != 0)
		return mcr_error_set(MCR_ERROR, "cannot start the parse thread");
	ps->started = 1;
	return 0;
}

void mcr_load_parse_join(load_parse *ps)
{
	if (ps->started)
		pthread_join(ps->thread, NULL);
	ps->started = 0;
}
