/* mcr-serve: the Health link as a web service (DESIGN.md "The Health link
 * service", docs/WEB.md). Runs in the foreground (systemd), logs to the
 * project's log and syslog, reloads its config on SIGHUP, stops on SIGTERM. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "serve.h"

#include "mcr/error.h"
#include "mcr/fs.h"
#include "mcr/log.h"

#define PROG "mcr-serve"

static const struct option options[] = {
	{"config", required_argument, NULL, 'c'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

static const char usage[] =
	"Usage: " PROG " [--config FILE]\n"
	"Serve the shared care record to practitioners launched from their own system\n"
	"(a signed ES256 token at /launch), and IG reports. Runs in the foreground; prints\n"
	"\"listening on HOST:PORT\" once ready, and \"reloaded\" or \"reload refused: why\"\n"
	"after each SIGHUP. Settings: config section web (docs/WEB.md).\n"
	"\n"
	"  --config FILE   default $MCR_CONFIG, else ./mcr.yaml\n"
	"  --help, -h, --version\n"
	"\n"
	"Signals: SIGHUP reloads the config (or logs why not and keeps the old one);\n"
	"SIGTERM or SIGINT finishes the requests in progress and exits 0.\n"
	"Exit: 0 stopped cleanly; 1 could not start (port in use, audit log); 2 usage\n"
	"or configuration error.\n";

/* ---- log ------------------------------------------------------------------------- */

void serve_log(serve_state *st, int prio, const char *fmt, ...)
{
	mcr_buf msg = MCR_BUF_INIT, line = MCR_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	int rc = mcr_buf_vprintf(&msg, fmt, ap);
	va_end(ap);
	if (!rc)
		mcr_log_line(st->log_fd, PROG, time(NULL), prio, msg.ptr, &line);
	mcr_buf_free(&msg);
	mcr_buf_free(&line);
}

long long serve_now(const serve_state *st)
{
	if (st->clock_file) {
		FILE *f = fopen(st->clock_file, "r");
		long long t = 0;
		if (f) {
			if (fscanf(f, "%lld", &t) != 1)
				t = 0;
			fclose(f);
		}
		if (t > 0)
			return t;
	}
	return (long long)time(NULL);
}

static int open_log(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (slash && slash != path) {
		mcr_buf dir = MCR_BUF_INIT;
		if (mcr_buf_put(&dir, path, (size_t)(slash - path)) == 0)
			mcr_fs_mkdirs(dir.ptr);
		mcr_buf_free(&dir);
	}
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

/* Each audit commit's new head to the log and syslog: checkpoints outside the
 * audit database that verify-audit checks the chain against (docs/AUDIT.md). */
static void checkpoint(void *ctx, long seq, const char *hash)
{
	serve_log(ctx, LOG_INFO, MCR_AUDIT_CHECKPOINT_WORDS " %ld:%s", seq, hash);
}

/* ---- start, reload, stop --------------------------------------------------------------- */

static struct MHD_Daemon *start(serve_state *st, const mcr_web *w, int *port)
{
	struct addrinfo hints, *ai = NULL;
	char portstr[8];
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
	snprintf(portstr, sizeof(portstr), "%d", w->listen_port);
	int gai = getaddrinfo(w->listen_host, portstr, &hints, &ai);
	if (gai != 0) {
		fprintf(stderr, "%s: cannot resolve listen address %s: %s\n", PROG, w->listen_host, gai_strerror(gai));
		return NULL;
	}
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	struct MHD_Daemon *d = MHD_start_daemon(
		flags, (uint16_t)w->listen_port, NULL, NULL, serve_handle, st,
		MHD_OPTION_SOCK_ADDR, ai->ai_addr,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)w->threads,
		/* The request line and headers must fit in this: beyond it libmicrohttpd
		 * answers 431 itself; routes.c refuses more than SERVE_MAX_HEADERS. */
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)65536,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
		MHD_OPTION_NOTIFY_COMPLETED, serve_completed, st,
		MHD_OPTION_END);
	freeaddrinfo(ai);
	if (!d) {
		fprintf(stderr, "%s: cannot listen on %s:%d: %s\n", PROG, w->listen_host, w->listen_port,
		        errno ? strerror(errno) : "failed");
		return NULL;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	*port = info ? info->port : w->listen_port;
	return d;
}

/* Read the config again; swap it in when it loads, else keep the old one. */
static void reload(serve_state *st, const char *path)
{
	mcr_config *cfg = NULL;
	mcr_launch_keys *keys = NULL;
	if (mcr_config_load(&cfg, path) || mcr_launch_keys_load(cfg, &keys)) {
		serve_log(st, LOG_ERR, "reload refused, old configuration kept: %s", mcr_error_message());
		printf("reload refused: %s\n", mcr_error_message());
		fflush(stdout);
		mcr_config_free(cfg);
		return;
	}
	const mcr_web *o = &st->cfg->web, *n = &cfg->web;
	int restart = strcmp(o->listen_host, n->listen_host) != 0 || o->listen_port != n->listen_port ||
	              o->threads != n->threads || strcmp(o->state_dir, n->state_dir) != 0 ||
	              strcmp(st->cfg->audit_path, cfg->audit_path) != 0 ||
	              strcmp(st->cfg->log_path, cfg->log_path) != 0;
	pthread_rwlock_wrlock(&st->lock);
	mcr_config *old = st->cfg;
	mcr_launch_keys *oldkeys = st->keys;
	st->cfg = cfg;
	st->keys = keys;
	mcr_sessions_set_timeouts(st->sessions, n->session_idle, n->session_max);
	pthread_rwlock_unlock(&st->lock);
	mcr_launch_keys_free(oldkeys);
	mcr_config_free(old);
	serve_log(st, LOG_NOTICE, "configuration reloaded (%zu launchers)%s", cfg->web.nlaunchers,
	          restart ? "; listen, threads, state, audit and log paths change only on restart" : "");
	printf("reloaded\n");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	serve_state st;
	const char *config = NULL, *path;
	struct MHD_Daemon *d = NULL;
	sigset_t sigs;
	int c, status = MCR_EXIT_OK, port = 0, rc;

	memset(&st, 0, sizeof(st));
	st.log_fd = -1;
	while ((c = mcr_cli_getopt(PROG, argc, argv, options)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'h': fputs(usage, stdout); return MCR_EXIT_OK;
		case 'V': mcr_cli_version(PROG); return MCR_EXIT_OK;
		default: return MCR_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return mcr_cli_usage_error(PROG, "unexpected argument '%s'", argv[optind]);
	path = config ? config : mcr_config_default_path();
	if ((status = mcr_cli_load_config(PROG, config, &st.cfg)))
		return status;
	pthread_rwlock_init(&st.lock, NULL);
	openlog(PROG, LOG_PID, LOG_DAEMON);
	st.clock_file = getenv("MCR_SERVE_TEST_CLOCK");
	if (st.clock_file && !*st.clock_file)
		st.clock_file = NULL;
	if (mcr_launch_keys_load(st.cfg, &st.keys)) {
		mcr_error_print(PROG);
		status = MCR_EXIT_USAGE;
		goto out;
	}
	if (st.cfg->web.nlaunchers == 0)
		fprintf(stderr, "%s: warning: no launchers configured (web.launchers): every launch is refused\n", PROG);
	if ((st.log_fd = open_log(st.cfg->log_path)) < 0)
		fprintf(stderr, "%s: warning: cannot open the log %s: %s (syslog only)\n", PROG, st.cfg->log_path,
		        strerror(errno));
	if ((rc = mcr_audit_open_config(&st.audit, st.cfg)) ||
	    (rc = mcr_jti_open_config(&st.jti, st.cfg)) ||
	    (rc = mcr_sessions_new(&st.sessions, st.cfg->web.session_idle, st.cfg->web.session_max,
	                           SERVE_MAX_SESSIONS))) {
		mcr_error_print(PROG);
		status = MCR_EXIT_FAILED;
		goto out;
	}
	mcr_audit_on_commit(st.audit, checkpoint, &st);
	/* Signals are taken by this thread alone (sigwait); the server's threads,
	 * started after, inherit the blocked mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (!(d = start(&st, &st.cfg->web, &port))) {
		status = MCR_EXIT_FAILED;
		goto out;
	}
	serve_log(&st, LOG_NOTICE, "listening on %s:%d (%d threads)", st.cfg->web.listen_host, port,
	          st.cfg->web.threads);
	printf("listening on %s:%d\n", st.cfg->web.listen_host, port);
	fflush(stdout);
	for (;;) {
		int sig = 0;
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			reload(&st, path);
			continue;
		}
		serve_log(&st, LOG_NOTICE, "stopping on %s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
		break;
	}
	/* Finishes the requests in progress, so every audited view is answered. */
	MHD_stop_daemon(d);
	serve_log(&st, LOG_NOTICE, "stopped");
out:
	mcr_sessions_free(st.sessions);
	mcr_jti_close(st.jti);
	mcr_audit_close(st.audit);
	mcr_launch_keys_free(st.keys);
	mcr_config_free(st.cfg);
	if (st.log_fd >= 0)
		close(st.log_fd);
	closelog();
	return status;
}
