/*
 * Test shim (LD_PRELOAD): stops a program at one moment of its PostgreSQL work
 * until the test lets it go on, so a test can restart the database or kill the
 * program exactly there (never by waiting a length of time).
 * - MCR_TEST_PQ_GATE=DIR: a gate made by tests/scripts/sync.sh's gate_make (FIFOs
 *   DIR/started and DIR/go). At the moment below the process writes its pid to
 *   DIR/started (blocking until the test reads it) and then waits for a line on
 *   DIR/go. Only the first time: later calls pass straight through.
 * - MCR_TEST_PQ_GATE_AT=copy: the first PQputCopyData (rows of a load on their
 *   way to the server);
 *   MCR_TEST_PQ_GATE_AT=audit-commit: the COMMIT of the first transaction that
 *   appended to the audit log (INSERT INTO mcr.audit sent, not yet committed).
 * Used by tests/scripts/test_pg_restart_load.sh and test_pg_two_nodes.sh.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int passed;                  /* the gate was used */
static __thread int audit_pending;  /* this thread sent an audit INSERT, not yet committed */

static int wanted(const char *at)
{
	const char *v = getenv("MCR_TEST_PQ_GATE_AT");
	const char *dir = getenv("MCR_TEST_PQ_GATE");
	return v && dir && *dir && strcmp(v, at) == 0;
}

/* The first caller announces itself and waits to be let go on. */
static void gate(void)
{
	pthread_mutex_lock(&lock);
	int first = !passed;
	passed = 1;
	pthread_mutex_unlock(&lock);
	if (!first)
		return;
	const char *dir = getenv("MCR_TEST_PQ_GATE");
	char path[4096], line[64];
	snprintf(path, sizeof(path), "%s/started", dir);
	int fd = open(path, O_WRONLY);
	if (fd >= 0) {
		int n = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
		if (write(fd, line, (size_t)n) != n)
			fprintf(stderr, "pq_gate: cannot announce\n");
		close(fd);
	}
	snprintf(path, sizeof(path), "%s/go", dir);
	fd = open(path, O_RDONLY);
	if (fd >= 0) {
		if (read(fd, line, sizeof(line)) < 0)
			fprintf(stderr, "pq_gate: cannot wait\n");
		close(fd);
	}
}

int PQputCopyData(PGconn *conn, const char *buffer, int nbytes)
{
	static int (*real)(PGconn *, const char *, int);
	if (!real)
		real = (int (*)(PGconn *, const char *, int))dlsym(RTLD_NEXT, "PQputCopyData");
	if (wanted("copy"))
		gate();
	return real(conn, buffer, nbytes);
}

static void note_audit(const char *sql)
{
	if (sql && strstr(sql, "INSERT INTO mcr.audit ("))
		audit_pending = 1;
}

PGresult *PQexecParams(PGconn *conn, const char *command, int nParams, const Oid *paramTypes,
                       const char *const *paramValues, const int *paramLengths,
                       const int *paramFormats, int resultFormat)
{
	static PGresult *(*real)(PGconn *, const char *, int, const Oid *, const char *const *,
	                         const int *, const int *, int);
	if (!real)
		real = (PGresult * (*)(PGconn *, const char *, int, const Oid *, const char *const *,
		                       const int *, const int *, int))dlsym(RTLD_NEXT, "PQexecParams");
	if (wanted("audit-commit"))
		note_audit(command);
	return real(conn, command, nParams, paramTypes, paramValues, paramLengths, paramFormats,
	            resultFormat);
}

PGresult *PQexec(PGconn *conn, const char *query)
{
	static PGresult *(*real)(PGconn *, const char *);
	if (!real)
		real = (PGresult * (*)(PGconn *, const char *))dlsym(RTLD_NEXT, "PQexec");
	if (wanted("audit-commit")) {
		note_audit(query);
		if (audit_pending && query && strcmp(query, "COMMIT") == 0) {
			audit_pending = 0;
			gate();
		}
	}
	return real(conn, query);
}
