/* mcr-serve's sessions: random ids from OpenSSL, a mutex-guarded table. */
#include "mcr/session.h"
#include "mcr/error.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct mcr_sessions {
	pthread_mutex_t lock;
	mcr_session *s;
	size_t n, max;
	int idle, absolute;
};

int mcr_sessions_new(mcr_sessions **out, int idle, int absolute, size_t max)
{
	mcr_sessions *t = calloc(1, sizeof(*t));
	*out = NULL;
	if (!t || !(t->s = calloc(max ? max : 1, sizeof(*t->s)))) {
		free(t);
		return mcr_error_set(MCR_ENOMEM, "out of memory for sessions");
	}
	pthread_mutex_init(&t->lock, NULL);
	t->max = max;
	t->idle = idle;
	t->absolute = absolute;
	*out = t;
	return 0;
}

void mcr_sessions_free(mcr_sessions *t)
{
	if (!t)
		return;
	/* Session ids and reasons are secrets or personal data: wiped, not just freed. */
	OPENSSL_cleanse(t->s, (t->max ? t->max : 1) * sizeof(*t->s));
	free(t->s);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

void mcr_sessions_set_timeouts(mcr_sessions *t, int idle, int absolute)
{
	pthread_mutex_lock(&t->lock);
	t->idle = idle;
	t->absolute = absolute;
	pthread_mutex_unlock(&t->lock);
}

/* 0 live; 1 idle too long; 2 older than the absolute time-out. */
static int timed_out(const mcr_sessions *t, const mcr_session *s, long long now)
{
	if (now - s->started >= t->absolute)
		return 2;
	if (now - s->last >= t->idle)
		return 1;
	return 0;
}

static void drop(mcr_sessions *t, size_t i)
{
	t->s[i] = t->s[t->n - 1];
	OPENSSL_cleanse(&t->s[t->n - 1], sizeof(t->s[0]));
	t->n--;
}

/* 32 random bytes as base64url without padding (43 characters). */
static int random_id(char out[MCR_SESSION_ID_LEN + 1])
{
	unsigned char r[33], b64[48];
	if (RAND_bytes(r, 32) != 1)
		return mcr_error_set(MCR_EIO, "no random bytes for a session id");
	r[32] = 0;
	/* 33 bytes encode to 44 characters; the first 43 carry the 32 bytes' bits. */
	EVP_EncodeBlock(b64, r, 33);
	for (size_t i = 0; i < MCR_SESSION_ID_LEN; i++)
		out[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : (char)b64[i];
	out[MCR_SESSION_ID_LEN] = '\0';
	OPENSSL_cleanse(r, sizeof(r));
	return 0;
}

int mcr_session_start(mcr_sessions *t, const mcr_launch_claims *who, long long now,
                      mcr_session *out)
{
	mcr_session s;
	int rc;
	memset(&s, 0, sizeof(s));
	if ((rc = random_id(s.id)) || (rc = random_id(s.csrf)))
		return rc;
	s.who = *who;
	s.started = s.last = now;
	pthread_mutex_lock(&t->lock);
	for (size_t i = t->n; i-- > 0;)
		if (timed_out(t, &t->s[i], now))
			drop(t, i);
	if (t->n == t->max) {
		rc = mcr_error_set(MCR_ELIMIT, "too many sessions (%zu)", t->max);
	} else {
		t->s[t->n++] = s;
		if (out)
			*out = s;
	}
	pthread_mutex_unlock(&t->lock);
	OPENSSL_cleanse(&s, sizeof(s));
	return rc;
}

static int well_formed(const char *cookie)
{
	size_t n = 0;
	for (; cookie && cookie[n]; n++) {
		char c = cookie[n];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_') || n >= MCR_SESSION_ID_LEN)
			return 0;
	}
	return n == MCR_SESSION_ID_LEN;
}

/* Index of the session with this id, or -1. Caller holds the lock. */
static long find(mcr_sessions *t, const char *id)
{
	for (size_t i = 0; i < t->n; i++)
		if (CRYPTO_memcmp(t->s[i].id, id, MCR_SESSION_ID_LEN) == 0)
			return (long)i;
	return -1;
}

int mcr_session_get(mcr_sessions *t, const char *cookie, long long now, mcr_session *out)
{
	int rc = 0;
	if (!well_formed(cookie))
		return mcr_error_set(MCR_ENOTFOUND, "no session");
	pthread_mutex_lock(&t->lock);
	long i = find(t, cookie);
	if (i < 0) {
		rc = mcr_error_set(MCR_ENOTFOUND, "no session");
	} else {
		int why = timed_out(t, &t->s[i], now);
		if (why) {
			rc = mcr_error_set(MCR_EDENIED, why == 1 ? "session idle for too long"
			                                         : "session reached its time limit");
			drop(t, (size_t)i);
		} else {
			t->s[i].last = now;
			*out = t->s[i];
		}
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

int mcr_session_set_basis(mcr_sessions *t, const char *id, mcr_session_basis basis,
                          const char *reason)
{
	int rc = 0;
	pthread_mutex_lock(&t->lock);
	long i = well_formed(id) ? find(t, id) : -1;
	if (i < 0) {
		rc = mcr_error_set(MCR_ENOTFOUND, "no session");
	} else {
		t->s[i].basis = basis;
		size_t n = reason ? strlen(reason) : 0;
		if (n >= sizeof(t->s[i].reason))
			n = sizeof(t->s[i].reason) - 1;
		memcpy(t->s[i].reason, reason ? reason : "", n);
		t->s[i].reason[n] = '\0';
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

void mcr_session_end(mcr_sessions *t, const char *id)
{
	if (!well_formed(id))
		return;
	pthread_mutex_lock(&t->lock);
	long i = find(t, id);
	if (i >= 0)
		drop(t, (size_t)i);
	pthread_mutex_unlock(&t->lock);
}

int mcr_session_csrf_ok(const mcr_session *s, const char *token)
{
	return token && strlen(token) == MCR_SESSION_ID_LEN &&
	       CRYPTO_memcmp(s->csrf, token, MCR_SESSION_ID_LEN) == 0;
}

size_t mcr_sessions_count(mcr_sessions *t)
{
	pthread_mutex_lock(&t->lock);
	size_t n = t->n;
	pthread_mutex_unlock(&t->lock);
	return n;
}
