/*
 * mcr-load: the bounded queue of record batches from a parse thread to the
 * inserting thread, and the record encoding inside a batch (load_internal.h).
 */

#include "load_internal.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mcr/error.h"

#define BATCH_BYTES (256 * 1024)
#define QUEUE_BATCHES 8

int mcr_load_queue_init(load_queue *q)
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

void mcr_load_queue_destroy(load_queue *q)
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

void mcr_load_queue_push(load_queue *q, load_batch *b)
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

load_batch *mcr_load_queue_pop(load_queue *q)
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

void mcr_load_queue_recycle(load_queue *q, load_batch *b)
{
	pthread_mutex_lock(&q->mu);
	b->next = q->free_list;
	q->free_list = b;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

void mcr_load_queue_cancel(load_queue *q)
{
	pthread_mutex_lock(&q->mu);
	q->cancel = 1;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

const unsigned char *mcr_load_batch_data(const load_batch *b, size_t *len)
{
	*len = b->len;
	return b->buf;
}


/* Records: a type byte, then fields. A string is a 4-byte length (UINT32_MAX
 * for NULL), its bytes and a NUL, so the inserter binds it in place. */

int mcr_load_batch_room(load_parse *ps, size_t need)
{
	if (ps->cur && ps->cur->len + need <= ps->cur->cap)
		return 0;
	if (ps->cur && ps->cur->len) {
		mcr_load_queue_push(ps->q, ps->cur);
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

size_t mcr_load_str_size(const char *s)
{
	return 4 + (s ? strlen(s) + 1 : 0);
}

void mcr_load_put_u8(load_batch *b, unsigned v)
{
	b->buf[b->len++] = (unsigned char)v;
}

void mcr_load_put_i64(load_batch *b, int64_t v)
{
	memcpy(b->buf + b->len, &v, sizeof(v));
	b->len += sizeof(v);
}

void mcr_load_put_str(load_batch *b, const char *s)
{
	uint32_t n = s ? (uint32_t)strlen(s) : UINT32_MAX;
	memcpy(b->buf + b->len, &n, 4);
	b->len += 4;
	if (s) {
		memcpy(b->buf + b->len, s, (size_t)n + 1);
		b->len += (size_t)n + 1;
	}
}

uint8_t mcr_load_get_u8(load_cursor *c)
{
	return c->p[c->off++];
}

int64_t mcr_load_get_i64(load_cursor *c)
{
	int64_t v;
	memcpy(&v, c->p + c->off, sizeof(v));
	c->off += sizeof(v);
	return v;
}

const char *mcr_load_get_str(load_cursor *c, int *len)
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
