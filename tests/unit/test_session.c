/* mcr-serve's sessions: ids and CSRF tokens, idle and absolute time-outs, the
 * identity fixed at the start, one table shared by threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "mcr/error.h"
#include "mcr/session.h"

static mcr_launch_claims who(const char *nhs)
{
	mcr_launch_claims c;
	memset(&c, 0, sizeof(c));
	c.verified = 1;
	snprintf(c.sub, sizeof(c.sub), "dr.jones");
	snprintf(c.org, sizeof(c.org), "A81001");
	snprintf(c.role, sizeof(c.role), "clinician");
	snprintf(c.nhs, sizeof(c.nhs), "%s", nhs);
	return c;
}

static void test_start_get(void **state)
{
	(void)state;
	mcr_sessions *t = NULL;
	mcr_session a, b, got;
	mcr_launch_claims c = who("9990000018");
	assert_int_equal(mcr_sessions_new(&t, 60, 300, 4), 0);
	assert_int_equal(mcr_session_start(t, &c, 1000, &a), 0);
	assert_int_equal(mcr_session_start(t, &c, 1000, &b), 0);
	assert_int_equal(strlen(a.id), MCR_SESSION_ID_LEN);
	assert_int_equal(strlen(a.csrf), MCR_SESSION_ID_LEN);
	assert_string_not_equal(a.id, b.id);
	assert_string_not_equal(a.id, a.csrf);
	assert_int_equal(mcr_session_get(t, a.id, 1010, &got), 0);
	assert_string_equal(got.who.nhs, "9990000018");
	assert_int_equal(got.basis, MCR_BASIS_NONE);
	assert_true(mcr_session_csrf_ok(&got, a.csrf));
	assert_false(mcr_session_csrf_ok(&got, b.csrf));
	assert_false(mcr_session_csrf_ok(&got, NULL));
	assert_false(mcr_session_csrf_ok(&got, ""));
	/* The CSRF token is not a session id. */
	assert_int_equal(mcr_session_get(t, a.csrf, 1010, &got), MCR_ENOTFOUND);
	assert_int_equal(mcr_session_set_basis(t, a.id, MCR_BASIS_BREAK_GLASS, "unconscious"), 0);
	assert_int_equal(mcr_session_get(t, a.id, 1011, &got), 0);
	assert_int_equal(got.basis, MCR_BASIS_BREAK_GLASS);
	assert_string_equal(got.reason, "unconscious");
	assert_string_equal(got.who.sub, "dr.jones"); /* identity unchanged */
	assert_int_equal(mcr_sessions_count(t), 2);
	mcr_session_end(t, a.id);
	assert_int_equal(mcr_session_get(t, a.id, 1012, &got), MCR_ENOTFOUND);
	assert_int_equal(mcr_sessions_count(t), 1);
	mcr_sessions_free(t);
}

static void test_timeouts(void **state)
{
	(void)state;
	mcr_sessions *t = NULL;
	mcr_session a, got;
	mcr_launch_claims c = who("9990000018");
	assert_int_equal(mcr_sessions_new(&t, 60, 300, 4), 0);
	assert_int_equal(mcr_session_start(t, &c, 1000, &a), 0);
	assert_int_equal(mcr_session_get(t, a.id, 1059, &got), 0);
	assert_int_equal(mcr_session_get(t, a.id, 1118, &got), 0); /* idle clock restarted at 1059 */
	assert_int_equal(mcr_session_get(t, a.id, 1178, &got), MCR_EDENIED);
	assert_string_equal(mcr_error_message(), "session idle for too long");
	assert_int_equal(mcr_session_get(t, a.id, 1179, &got), MCR_ENOTFOUND); /* ended */

	assert_int_equal(mcr_session_start(t, &c, 2000, &a), 0);
	for (long now = 2050; now < 2300; now += 50)
		assert_int_equal(mcr_session_get(t, a.id, now, &got), 0);
	assert_int_equal(mcr_session_get(t, a.id, 2300, &got), MCR_EDENIED);
	assert_string_equal(mcr_error_message(), "session reached its time limit");

	/* A reload's shorter time-outs apply to sessions already running. */
	assert_int_equal(mcr_session_start(t, &c, 3000, &a), 0);
	mcr_sessions_set_timeouts(t, 10, 300);
	assert_int_equal(mcr_session_get(t, a.id, 3010, &got), MCR_EDENIED);
	mcr_sessions_free(t);
}

static void test_full_and_malformed(void **state)
{
	(void)state;
	mcr_sessions *t = NULL;
	mcr_session a, got;
	mcr_launch_claims c = who("9990000018");
	assert_int_equal(mcr_sessions_new(&t, 60, 300, 2), 0);
	assert_int_equal(mcr_session_start(t, &c, 1000, &a), 0);
	assert_int_equal(mcr_session_start(t, &c, 1000, NULL), 0);
	assert_int_equal(mcr_session_start(t, &c, 1000, NULL), MCR_ELIMIT);
	/* Timed-out sessions make room. */
	assert_int_equal(mcr_session_start(t, &c, 1060, NULL), 0);
	const char *bad[] = {NULL, "", "short", "%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%",
	                     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" /* 44 */};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(mcr_session_get(t, bad[i], 1060, &got), MCR_ENOTFOUND);
	mcr_session_end(t, NULL);
	mcr_session_end(t, "short");
	mcr_sessions_free(t);
	mcr_sessions_free(NULL);
}

/* Threads starting, reading and ending sessions on one table. */
static mcr_sessions *shared;

static void *worker(void *arg)
{
	mcr_launch_claims c = who((const char *)arg);
	for (int i = 0; i < 200; i++) {
		mcr_session s, got;
		if (mcr_session_start(shared, &c, 1000, &s) ||
		    mcr_session_get(shared, s.id, 1001, &got) || strcmp(got.who.nhs, c.nhs) != 0)
			return (void *)1;
		mcr_session_end(shared, s.id);
	}
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	pthread_t th[4];
	static const char *nhs[] = {"9990000018", "9990000026", "9990000034", "9990000042"};
	assert_int_equal(mcr_sessions_new(&shared, 60, 300, 16), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, worker, (void *)nhs[i]), 0);
	for (int i = 0; i < 4; i++) {
		void *r = NULL;
		pthread_join(th[i], &r);
		assert_null(r);
	}
	assert_int_equal(mcr_sessions_count(shared), 0);
	mcr_sessions_free(shared);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_start_get),
		cmocka_unit_test(test_timeouts),
		cmocka_unit_test(test_full_and_malformed),
		cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
