/* The nightly runner: extract -> load -> archive -> check -> report, logged. */
#include "mcr/night.h"
#include "mcr/audit.h"
#include "mcr/error.h"
#include "mcr/fs.h"
#include "mcr/log.h"
#include "mcr/report.h"
#include "mcr/store.h"
#include "store_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif


/* A child's output line longer than this is logged in pieces. */
#define MAX_LINE 4096

struct night {
	const mcr_config *cfg;
	const mcr_night_options *opt;
	mcr_night_result *res;
	int log_fd;
	mcr_buf bin;      /* programs' folder */
	time_t now;
};

static double mono_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One log line: "<time> mcr-nightly[pid] run=<id> <message>", written with one
 * write(2) to a file opened O_APPEND, so lines of concurrent runs never mix. */
static void night_log(struct night *n, int prio, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void night_log(struct night *n, int prio, const char *fmt, ...)
{
	mcr_buf msg = MCR_BUF_INIT, line = MCR_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	int rc = mcr_buf_printf(&msg, "run=%s ", n->res->run_id);
	if (!rc)
		rc = mcr_buf_vprintf(&msg, fmt, ap);
	va_end(ap);
	if (!rc)
		rc = mcr_log_line(n->log_fd, "mcr-nightly", mcr_time_now(), prio, msg.ptr, &line);
	if (!rc && n->opt->on_log)
		n->opt->on_log(n->opt->ctx, line.ptr, line.len);
	mcr_buf_free(&msg);
	mcr_buf_free(&line);
}

static int add_word(mcr_buf *b, const char *sep, const char *word)
{
	int rc = 0;
	if (b->len)
		rc = mcr_buf_puts(b, sep);
	return rc ? rc : mcr_buf_puts(b, word);
}

/* ---- children ------------------------------------------------------------
 * A step's child runs with its stdout and stderr read line by line. Several
 * children may run at once (the extracts): each keeps its log lines until the
 * runner flushes them, in the organisations' order, so the log reads the same
 * whatever order they finished in.
 */

struct stream {
	int fd;
	const char *name;   /* "stdout" or "stderr" */
	mcr_buf pending;    /* a partial line */
};

struct child {
	const char *step, *org;
	pid_t pid;
	struct stream streams[2];
	int open_streams;
	double started;
	int buffered;       /* keep log lines in msgs until child_flush */
	mcr_buf msgs;       /* kept lines: a priority digit, a space, the message, '\n' */
	mcr_buf *lasterr;   /* its last stderr line (may be NULL) */
	int status;
	int done;
};

static void child_log(struct night *n, struct child *c, int prio, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void child_log(struct night *n, struct child *c, int prio, const char *fmt, ...)
{
	mcr_buf msg = MCR_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	int rc = mcr_buf_vprintf(&msg, fmt, ap);
	va_end(ap);
	if (rc == 0 && c->buffered)
		mcr_buf_printf(&c->msgs, "%d %s\n", prio, msg.ptr);
	else if (rc == 0)
		night_log(n, prio, "%s", msg.ptr);
	mcr_buf_free(&msg);
}

/* Write the lines c kept to the log. */
static void child_flush(struct night *n, struct child *c)
{
	const char *p = mcr_buf_cstr(&c->msgs);
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (len > 2)
			night_log(n, p[0] - '0', "%.*s", (int)(len - 2), p + 2);
		p += len + (nl ? 1 : 0);
	}
	mcr_buf_reset(&c->msgs);
}

static void emit_line(struct night *n, struct child *c, struct stream *s, const char *text,
                      size_t len)
{
	while (len && (text[len - 1] == '\r' || text[len - 1] == '\n'))
		len--;
	if (!len)
		return;
	int is_err = strcmp(s->name, "stderr") == 0;
	/* A kept line must stay one line. */
	for (size_t i = 0; i < len; i++)
		if (text[i] == '\n' || text[i] == '\0')
			len = i;
	child_log(n, c, is_err ? LOG_WARNING : LOG_INFO, "step=%s%s%s %s: %.*s", c->step,
	          c->org ? " org=" : "", c->org ? c->org : "", s->name, (int)len, text);
	if (is_err && c->lasterr) {
		mcr_buf_reset(c->lasterr);
		mcr_buf_put(c->lasterr, text, len);
	}
}

/* Read what is available on s; log each complete line. Returns 1 at end of file. */
static int drain(struct night *n, struct child *c, struct stream *s)
{
	char chunk[4096];
	ssize_t got = read(s->fd, chunk, sizeof(chunk));
	if (got < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (got <= 0) {
		if (s->pending.len)
			emit_line(n, c, s, s->pending.ptr, s->pending.len);
		mcr_buf_reset(&s->pending);
		return 1;
	}
	if (mcr_buf_put(&s->pending, chunk, (size_t)got) != 0)
		return 1;
	size_t start = 0;
	for (size_t i = 0; i < s->pending.len; i++) {
		if (s->pending.ptr[i] == '\n' || i - start >= MAX_LINE) {
			emit_line(n, c, s, s->pending.ptr + start, i + 1 - start);
			start = i + 1;
		}
	}
	if (start) {
		memmove(s->pending.ptr, s->pending.ptr + start, s->pending.len - start);
		s->pending.len -= start;
		s->pending.ptr[s->pending.len] = '\0';
	}
	return 0;
}

static int cloexec_pipe(int p[2])
{
	if (pipe(p) != 0)
		return -1;
	fcntl(p[0], F_SETFD, FD_CLOEXEC);
	fcntl(p[1], F_SETFD, FD_CLOEXEC);
	return 0;
}

/*
 * Start argv (argv[0] a path; no shell) as child c of step (c->step, c->org,
 * c->buffered and c->lasterr set by the caller). Its stderr, and its stdout
 * unless out_fd >= 0 takes it, go to the log line by line. 0, or MCR_EIO when
 * no child could be made (c->done is then set, status 127).
 */
static int child_start(struct night *n, struct child *c, char *const argv[], int out_fd)
{
	mcr_buf cmd = MCR_BUF_INIT;
	for (size_t i = 0; argv[i]; i++)
		add_word(&cmd, " ", argv[i]);
	child_log(n, c, LOG_INFO, "step=%s%s%s start: %s", c->step, c->org ? " org=" : "",
	          c->org ? c->org : "", mcr_buf_cstr(&cmd));
	mcr_buf_free(&cmd);
	if (c->lasterr)
		mcr_buf_reset(c->lasterr);
	c->status = 127;
	c->done = 1;

	int errp[2] = {-1, -1}, outp[2] = {-1, -1};
	if (cloexec_pipe(errp) != 0 || (out_fd < 0 && cloexec_pipe(outp) != 0)) {
		int rc = mcr_error_set_errno(MCR_EIO, "cannot create a pipe for %s", argv[0]);
		for (int i = 0; i < 2; i++) {
			if (errp[i] >= 0)
				close(errp[i]);
		}
		return rc;
	}
	c->started = mono_seconds();
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		int rc = mcr_error_set_errno(MCR_EIO, "cannot start %s", argv[0]);
		close(errp[0]);
		close(errp[1]);
		if (outp[0] >= 0) {
			close(outp[0]);
			close(outp[1]);
		}
		return rc;
	}
	if (pid == 0) {
#ifdef __linux__
		/* A runner killed mid-step takes its step with it, as an operator expects
		 * of "kill the run"; SIGTERM lets the child clean up its temporary files. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(127);
#endif
		int nul = open("/dev/null", O_RDONLY);
		if (nul >= 0)
			dup2(nul, 0);
		dup2(out_fd >= 0 ? out_fd : outp[1], 1);
		dup2(errp[1], 2);
		execv(argv[0], argv);
		/* Into the step's error pipe (the child's fd 2), read back as its last line. */
		dprintf(errp[1], "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(errp[1]);
	if (outp[1] >= 0)
		close(outp[1]);
	c->pid = pid;
	c->done = 0;
	c->streams[0] = (struct stream){errp[0], "stderr", MCR_BUF_INIT};
	c->streams[1] = (struct stream){outp[0], "stdout", MCR_BUF_INIT};
	c->open_streams = outp[0] >= 0 ? 2 : 1;
	return 0;
}

/* c's streams are closed: reap it. */
static void child_reap(struct night *n, struct child *c)
{
	for (int i = 0; i < 2; i++) {
		if (c->streams[i].fd >= 0)
			close(c->streams[i].fd);
		c->streams[i].fd = -1;
		mcr_buf_free(&c->streams[i].pending);
	}
	int ws = 0;
	while (waitpid(c->pid, &ws, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(ws))
		c->status = WEXITSTATUS(ws);
	else if (WIFSIGNALED(ws))
		c->status = 128 + WTERMSIG(ws);
	else
		c->status = 1;
	c->done = 1;
	double secs = mono_seconds() - c->started;
	const char *sp = c->org ? " org=" : "", *org = c->org ? c->org : "";
	if (WIFSIGNALED(ws))
		child_log(n, c, LOG_ERR, "step=%s%s%s end: killed by signal %d after %.3f s", c->step,
		          sp, org, WTERMSIG(ws), secs);
	else
		child_log(n, c, c->status ? LOG_WARNING : LOG_INFO, "step=%s%s%s end: exit %d in %.3f s",
		          c->step, sp, org, c->status, secs);
}

/* Read the running children's output until at least one of them has ended. */
static void children_pump(struct night *n, struct child *cs, size_t nc)
{
	for (;;) {
		struct pollfd pfd[2 * MCR_NIGHT_MAX_JOBS];
		struct child *pc[2 * MCR_NIGHT_MAX_JOBS];
		struct stream *ps[2 * MCR_NIGHT_MAX_JOBS];
		nfds_t np = 0;
		for (size_t i = 0; i < nc; i++) {
			if (cs[i].done || !cs[i].pid)
				continue;
			for (int k = 0; k < 2; k++) {
				if (cs[i].streams[k].fd < 0 || np == 2 * MCR_NIGHT_MAX_JOBS)
					continue;
				pfd[np] = (struct pollfd){cs[i].streams[k].fd, POLLIN, 0};
				pc[np] = &cs[i];
				ps[np++] = &cs[i].streams[k];
			}
		}
		if (np == 0)
			return;
		if (poll(pfd, np, -1) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		int ended = 0;
		for (nfds_t k = 0; k < np; k++) {
			if (!pfd[k].revents)
				continue;
			if (drain(n, pc[k], ps[k])) {
				close(ps[k]->fd);
				ps[k]->fd = -1;
				if (--pc[k]->open_streams == 0) {
					child_reap(n, pc[k]);
					ended = 1;
				}
			}
		}
		if (ended)
			return;
	}
}

/*
 * Run argv as one logged step and wait for it: *status gets the exit status,
 * 128 + signal when it was killed, 127 when it could not start; lasterr (may
 * be NULL) its last stderr line. 0, or MCR_EIO when no child could be made.
 */
static int run_step(struct night *n, const char *step, const char *org, char *const argv[],
                    int out_fd, int *status, mcr_buf *lasterr)
{
	struct child c = {0};
	c.step = step;
	c.org = org;
	c.lasterr = lasterr;
	int rc = child_start(n, &c, argv, out_fd);
	while (rc == 0 && !c.done)
		children_pump(n, &c, 1);
	*status = c.status;
	mcr_buf_free(&c.msgs);
	return rc;
}

static int program_path(struct night *n, mcr_buf *out, const char *name)
{
	return mcr_fs_join(out, n->bin.ptr, name);
}

/* ---- scope ----------------------------------------------------------------- */

static int in_scope(const struct night *n, const mcr_org *o)
{
	if (n->opt->only_kind >= 0 && (int)o->kind != n->opt->only_kind)
		return 0;
	if (!n->opt->orgs || !n->opt->norgs)
		return 1;
	for (size_t i = 0; i < n->opt->norgs; i++) {
		if (strcmp(n->opt->orgs[i], o->ods) == 0)
			return 1;
	}
	return 0;
}

/* ---- steps ----------------------------------------------------------------- */

static void degrade(struct night *n)
{
	if (n->res->status == MCR_EXIT_OK)
		n->res->status = MCR_EXIT_REJECTED;
}

static void problem(struct night *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void problem(struct night *n, const char *fmt, ...)
{
	mcr_buf msg = MCR_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	int rc = mcr_buf_vprintf(&msg, fmt, ap);
	va_end(ap);
	if (!rc)
		add_word(&n->res->problems, "\n", msg.ptr);
	mcr_buf_free(&msg);
}

/* One organisation's extract, after it ended: count it, and record a failure
 * for the loader. */
static void extract_done(struct night *n, const mcr_org *o, struct child *c)
{
	n->res->extracts++;
	if (c->status == 0)
		return;
	if (c->status == MCR_EXIT_REJECTED) {
		/* Staged: the loader takes the file; the refusals (named in the log
		 * by the extractor) make the night degraded, not the data stale. */
		degrade(n);
		night_log(n, LOG_WARNING, "step=extract org=%s staged, but some records or "
		          "documents were refused (named above)", o->ods);
		problem(n, "extract of %s refused some records or documents (see the log)", o->ods);
		return;
	}
	mcr_buf *why = c->lasterr;
	n->res->extracts_failed++;
	degrade(n);
	add_word(&n->res->failed_orgs, " ", o->ods);
	if (!why->len)
		mcr_buf_printf(why, "mcr-extract-%s exited with status %d", mcr_org_kind_name(o->kind),
		               c->status);
	/* The loader keeps this organisation's last good data, flagged stale. */
	if (mcr_night_mark_failed(n->cfg->staging_dir, o->ods, mcr_org_dataset(o->kind), n->now,
	                          why->ptr) != 0) {
		night_log(n, LOG_ERR, "step=extract org=%s cannot record the failure: %s", o->ods,
		          mcr_error_message());
		problem(n, "cannot record the failed extract of %s", o->ods);
	} else {
		night_log(n, LOG_WARNING, "step=extract org=%s failed: %s (recorded for the loader)",
		          o->ods, why->ptr);
	}
	problem(n, "extract of %s failed: %s", o->ods, why->ptr);
}

/* How many extracts run at once: opt->jobs, else the number of processors. */
static size_t extract_jobs(const struct night *n)
{
	long jobs = n->opt->jobs;
	if (jobs <= 0)
		jobs = sysconf(_SC_NPROCESSORS_ONLN);
	if (jobs < 1)
		jobs = 1;
	return jobs > MCR_NIGHT_MAX_JOBS ? MCR_NIGHT_MAX_JOBS : (size_t)jobs;
}

/* Bytes of the regular files under a source (a file or a folder, 8 levels
 * deep at most; what cannot be read counts 0: its extractor will say so). */
static unsigned long long source_bytes(const char *path, int depth)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return 0;
	if (S_ISREG(st.st_mode))
		return (unsigned long long)st.st_size;
	DIR *d = S_ISDIR(st.st_mode) && depth < 8 ? opendir(path) : NULL;
	if (!d)
		return 0;
	unsigned long long sum = 0;
	mcr_buf sub = MCR_BUF_INIT;
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		mcr_buf_reset(&sub);
		if (mcr_buf_printf(&sub, "%s/%s", path, e->d_name) == 0)
			sum += source_bytes(sub.ptr, depth + 1);
	}
	mcr_error_clear();
	mcr_buf_free(&sub);
	closedir(d);
	return sum;
}

/*
 * Each organisation's extract in scope, up to extract_jobs() at once (they are
 * independent: one staging folder each), the largest source first, so that a
 * large one does not start last and hold the load back alone (the longest-
 * processing-time rule: an extract's time follows its input's size). Their log
 * lines, counts and failures are taken in the config's order, whatever order
 * they start and end in.
 */
static int extract_all(struct night *n)
{
	const mcr_config *cfg = n->cfg;
	size_t jobs = extract_jobs(n), nt = 0, started = 0, flushed = 0, running = 0;
	const mcr_org **orgs = calloc(cfg->norgs ? cfg->norgs : 1, sizeof *orgs);
	struct child *cs = calloc(cfg->norgs ? cfg->norgs : 1, sizeof *cs);
	mcr_buf *why = calloc(cfg->norgs ? cfg->norgs : 1, sizeof *why);
	size_t *order = calloc(cfg->norgs ? cfg->norgs : 1, sizeof *order); /* start order */
	unsigned long long *bytes = calloc(cfg->norgs ? cfg->norgs : 1, sizeof *bytes);
	mcr_buf prog = MCR_BUF_INIT, name = MCR_BUF_INIT;
	int rc = orgs && cs && why && order && bytes ? 0 : mcr_error_set(MCR_ENOMEM, "out of memory");
	for (size_t i = 0; !rc && i < cfg->norgs; i++) {
		const mcr_org *o = &cfg->orgs[i];
		if (!in_scope(n, o))
			continue;
		if (!o->source) {
			night_log(n, LOG_NOTICE, "step=extract org=%s skipped: no source in the config; "
			          "its staged files arrive by other means", o->ods);
			continue;
		}
		orgs[nt] = o;
		cs[nt].step = "extract";
		cs[nt].org = o->ods;
		cs[nt].buffered = 1;
		cs[nt].lasterr = &why[nt];
		bytes[nt] = jobs > 1 ? source_bytes(o->source, 0) : 0;
		/* Insertion by size, largest first; equal sizes in the config's order. */
		size_t k = nt;
		while (k > 0 && bytes[order[k - 1]] < bytes[nt]) {
			order[k] = order[k - 1];
			k--;
		}
		order[k] = nt;
		nt++;
	}
	if (!rc)
		night_log(n, LOG_INFO, "step=extract %zu organisation(s), up to %zu at once", nt, jobs);
	while (!rc && flushed < nt) {
		while (!rc && running < jobs && started < nt) {
			size_t i = order[started];
			const mcr_org *o = orgs[i];
			mcr_buf_reset(&name);
			if ((rc = mcr_buf_printf(&name, "mcr-extract-%s", mcr_org_kind_name(o->kind))) ||
			    (rc = program_path(n, &prog, name.ptr)))
				break;
			char *argv[] = {prog.ptr, "--config", n->cfg->path, "--org", (char *)o->ods,
			                "--input", o->source, NULL};
			rc = child_start(n, &cs[i], argv, -1);
			started++;
			running += rc == 0;
		}
		if (rc)
			break;
		/* Children not started yet have no pid: the pump passes them by. */
		if (running && !cs[flushed].done) {
			size_t before = 0;
			for (size_t i = flushed; i < nt; i++)
				before += cs[i].pid && !cs[i].done;
			children_pump(n, cs + flushed, nt - flushed);
			for (size_t i = flushed; i < nt; i++)
				before -= cs[i].pid && !cs[i].done;
			running -= before;
		}
		while (flushed < nt && cs[flushed].done) {
			child_flush(n, &cs[flushed]);
			extract_done(n, orgs[flushed], &cs[flushed]);
			flushed++;
		}
	}
	/* After an error, the ones still running are waited for (never left behind);
	 * the ones never started are passed by. */
	while (flushed < nt) {
		if (cs[flushed].pid && !cs[flushed].done)
			children_pump(n, cs + flushed, nt - flushed);
		while (flushed < nt && (cs[flushed].done || !cs[flushed].pid)) {
			if (cs[flushed].done)
				child_flush(n, &cs[flushed]);
			flushed++;
		}
	}
	for (size_t i = 0; cs && why && i < nt; i++) {
		mcr_buf_free(&cs[i].msgs);
		mcr_buf_free(&why[i]);
	}
	free(orgs);
	free(cs);
	free(why);
	free(order);
	free(bytes);
	mcr_buf_free(&prog);
	mcr_buf_free(&name);
	return rc;
}

static int load(struct night *n)
{
	mcr_buf prog = MCR_BUF_INIT;
	int rc = program_path(n, &prog, "mcr-load");
	if (rc)
		return rc;
	char *argv[] = {prog.ptr, "--config", n->cfg->path, NULL};
	int status = 0;
	mcr_buf why = MCR_BUF_INIT;
	rc = run_step(n, "load", NULL, argv, -1, &status, &why);
	mcr_buf_free(&prog);
	if (rc) {
		mcr_buf_free(&why);
		return rc;
	}
	n->res->load_status = status;
	switch (status) {
	case MCR_EXIT_OK:
		break;
	case MCR_EXIT_REJECTED:
		degrade(n);
		problem(n, "mcr-load rejected staged file(s)");
		break;
	case MCR_EXIT_LOCKED:
		/* An ad hoc load holds the loader's lock: the staged files wait for the
		 * next run, which the exit status asks the scheduler to make. */
		n->res->status = MCR_EXIT_LOCKED;
		problem(n, "mcr-load found its lock held by another run");
		break;
	default:
		n->res->status = MCR_EXIT_FAILED;
		problem(n, "mcr-load failed (exit %d)%s%s", status, why.len ? ": " : "",
		        mcr_buf_cstr(&why));
		break;
	}
	mcr_buf_free(&why);
	return 0;
}

static int archive_row(void *arg, const mcr_store_row *row)
{
	struct night *n = arg;
	const char *org = row->v[0], *dataset = row->v[1], *manifest = row->v[2];
	long moved = 0;
	if (mcr_night_archive(n->cfg->staging_dir, n->cfg->archive_dir, org, dataset, manifest,
	                      &moved) != 0) {
		night_log(n, LOG_ERR, "step=archive org=%s failed: %s", org, mcr_error_message());
		problem(n, "cannot archive the staged files of %s", org);
		degrade(n);
		return 0;
	}
	n->res->archived += moved;
	if (moved)
		night_log(n, LOG_INFO, "step=archive org=%s moved %ld file(s) up to %s to %s/%s/%s",
		          org, moved, manifest, n->cfg->archive_dir, org, dataset);
	return 0;
}

/* Archive the staged files the published generation was built from. */
static void archive(struct night *n, mcr_store_gen *g)
{
	double started = mono_seconds();
	long before = n->res->archived;
	if (mcr_store_query(g, MCR_SQ_NIGHT_MANIFESTS, NULL, archive_row, n) != 0) {
		night_log(n, LOG_ERR, "step=archive cannot read the generation's sources: %s",
		          mcr_error_message());
		problem(n, "cannot archive the loaded staged files");
		degrade(n);
		return;
	}
	night_log(n, LOG_INFO, "step=archive end: %ld file(s) archived in %.3f s",
	          n->res->archived - before, mono_seconds() - started);
}

static void prune(struct night *n)
{
	double started = mono_seconds();
	if (mcr_night_prune_archive(n->cfg->archive_dir, n->now, n->cfg->archive_days,
	                            &n->res->pruned) != 0) {
		night_log(n, LOG_ERR, "step=prune failed: %s", mcr_error_message());
		problem(n, "cannot prune the archive");
		degrade(n);
	}
	night_log(n, LOG_INFO, "step=prune end: %ld archived file(s) older than %d days removed "
	          "in %.3f s", n->res->pruned, n->cfg->archive_days, mono_seconds() - started);
	long gens = mcr_night_count_generations(n->cfg->store_dir);
	if (gens > n->cfg->keep_generations) {
		night_log(n, LOG_WARNING, "step=prune %ld store generations kept, retention is %d: "
		          "mcr-load did not prune", gens, n->cfg->keep_generations);
		problem(n, "%ld store generations kept (retention %d)", gens, n->cfg->keep_generations);
		degrade(n);
	} else {
		night_log(n, LOG_INFO, "step=prune %ld store generation(s) kept (retention %d)", gens,
		          n->cfg->keep_generations);
	}
}

typedef struct source_state {
	char *status, *extracted, *rejected;
} source_state;

static int source_state_row(void *arg, const mcr_store_row *row)
{
	source_state *s = arg;
	if ((row->v[0] && !(s->status = strdup(row->v[0]))) ||
	    (row->v[1] && !(s->extracted = strdup(row->v[1]))) ||
	    (row->v[2] && !(s->rejected = strdup(row->v[2]))))
		return mcr_error_set(MCR_ENOMEM, "out of memory");
	return 0;
}

/* Freshness of each organisation in scope in the published generation, judged as
 * the coverage report judges it (mcr_freshness_judge). */
static void check_sources(struct night *n, mcr_store_gen *g)
{
	for (size_t i = 0; i < n->cfg->norgs; i++) {
		const mcr_org *o = &n->cfg->orgs[i];
		if (!in_scope(n, o))
			continue;
		source_state s = { 0 };
		const char *params[] = { o->ods };
		if (mcr_store_query(g, MCR_SQ_NIGHT_SOURCE, params, source_state_row, &s) != 0) {
			night_log(n, LOG_ERR, "step=check cannot read the generation's sources: %s",
			          mcr_error_message());
			problem(n, "cannot check the organisations' freshness");
			degrade(n);
			free(s.status);
			free(s.extracted);
			free(s.rejected);
			return;
		}
		const char *status = s.status, *extracted = s.extracted, *rejected = s.rejected;
		mcr_freshness f = mcr_freshness_judge(n->cfg, status, extracted, o->schedule, n->now);
		if (f == MCR_FRESH_OK) {
			night_log(n, LOG_INFO, "step=check org=%s OK (%s, data as of %s)", o->ods, status,
			          extracted);
		} else {
			night_log(n, LOG_WARNING, "step=check org=%s %s (%s, data as of %s, schedule %s)",
			          o->ods, mcr_freshness_name(f), status ? status : "not in the store",
			          extracted ? extracted : "never", mcr_schedule_name(o->schedule));
			add_word(&n->res->stale_orgs, " ", o->ods);
			problem(n, "%s %s: data as of %s (schedule %s)%s%s%s%s", o->ods,
			        mcr_freshness_name(f), extracted ? extracted : "never",
			        mcr_schedule_name(o->schedule), rejected ? "; latest file rejected: " : "",
			        rejected ? rejected : "",
			        f == MCR_FRESH_HELD ? "; latest file held (far fewer people or items): if "
			                              "the fall is real, mcr-load --accept " : "",
			        f == MCR_FRESH_HELD ? o->ods : "");
			degrade(n);
		}
		free(s.status);
		free(s.extracted);
		free(s.rejected);
	}
}

static void after_load(struct night *n)
{
	mcr_store_gen *g = NULL;
	long gen = 0;
	int rc = mcr_store_gen_open(n->cfg, &g, &gen);
	if (rc) {
		night_log(n, LOG_ERR, "step=check no published generation: %s", mcr_error_message());
		problem(n, "no published generation");
		degrade(n);
		return;
	}
	n->res->generation = gen;
	night_log(n, LOG_INFO, "step=check generation %ld published", gen);
	archive(n, g);
	check_sources(n, g);
	mcr_store_gen_close(g);
	prune(n);
}

static void report(struct night *n)
{
	mcr_buf prog = MCR_BUF_INIT;
	if (program_path(n, &prog, "mcr-report") != 0)
		return;
	char *argv[] = {prog.ptr, "--config", n->cfg->path, "coverage", NULL};
	int status = 0;
	if (run_step(n, "report", NULL, argv, n->opt->report_fd, &status, NULL) == 0) {
		n->res->report_status = status;
		if (status != 0) {
			problem(n, "mcr-report coverage exited %d", status);
			degrade(n);
		}
	}
	mcr_buf_free(&prog);
}

/* ---- the run --------------------------------------------------------------- */

int mcr_night_bin_dir(mcr_buf *out)
{
	const char *env = getenv("MCR_BIN");
	if (env && *env)
		return mcr_buf_puts(out, env);
	char path[4096];
	ssize_t len = readlink("/proc/self/exe", path, sizeof(path) - 1);
	if (len < 0)
		return mcr_error_set_errno(MCR_EIO, "cannot find the programs' folder "
		                           "(readlink /proc/self/exe; set MCR_BIN)");
	path[len] = '\0';
	char *slash = strrchr(path, '/');
	if (!slash)
		return mcr_buf_puts(out, ".");
	return mcr_buf_put(out, path, slash == path ? 1 : (size_t)(slash - path));
}

static int open_log(struct night *n)
{
	const char *path = n->cfg->log_path;
	if (!path)
		return 0;
	const char *slash = strrchr(path, '/');
	if (slash && slash != path) {
		mcr_buf dir = MCR_BUF_INIT;
		int rc = mcr_buf_put(&dir, path, (size_t)(slash - path));
		if (!rc)
			rc = mcr_fs_mkdirs(dir.ptr);
		mcr_buf_free(&dir);
		if (rc)
			return rc;
	}
	n->log_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (n->log_fd < 0)
		return mcr_error_set_errno(MCR_EIO, "cannot open the log %s", path);
	return 0;
}

/*
 * The audit log's head into the log and syslog as "audit checkpoint N:HASH"
 * (DESIGN.md "Audit"): operators ship both off the machine, and verify-audit
 * checks the audit log against every such line it can see.
 */
static void log_audit_checkpoint(struct night *n)
{
	mcr_audit_checkpoint head;
	int rc = mcr_audit_read_head_config(n->cfg, &head);
	if (rc == 0) {
		char cp[MCR_AUDIT_CHECKPOINT_MAX];
		mcr_audit_checkpoint_format(&head, cp);
		night_log(n, LOG_INFO, MCR_AUDIT_CHECKPOINT_WORDS " %s", cp);
	} else if (rc != MCR_ENOTFOUND) {
		night_log(n, LOG_ERR, "audit log head unreadable: %s", mcr_error_message());
	}
	mcr_error_clear();
}

static const char *outcome_name(int status)
{
	switch (status) {
	case MCR_EXIT_OK:
		return "good";
	case MCR_EXIT_REJECTED:
		return "degraded";
	case MCR_EXIT_LOCKED:
		return "locked";
	default:
		return "failed";
	}
}

static void describe_scope(const struct night *n, mcr_buf *out)
{
	mcr_buf_puts(out, n->opt->only_kind >= 0 ? mcr_org_kind_name((mcr_org_kind)n->opt->only_kind)
	                                         : "all kinds");
	for (size_t i = 0; n->opt->orgs && i < n->opt->norgs; i++)
		add_word(out, " ", n->opt->orgs[i]);
}

int mcr_night_run(const mcr_config *cfg, const mcr_night_options *opt, mcr_night_result *res)
{
	memset(res, 0, sizeof(*res));
	res->status = MCR_EXIT_OK;
	res->load_status = -1;
	res->report_status = -1;
	struct night n = {cfg, opt, res, -1, MCR_BUF_INIT, mcr_time_now()};
	char stamp[32];
	mcr_time_stamp(n.now, stamp);
	snprintf(res->run_id, sizeof(res->run_id), "%s-%ld", stamp, (long)getpid());
	double started = mono_seconds();
	mcr_buf lock = MCR_BUF_INIT, scope = MCR_BUF_INIT;
	int lock_fd = -1;

	openlog("mcr-nightly", LOG_PID, LOG_DAEMON);
	int rc = open_log(&n);
	if (rc)
		goto out;
	if ((rc = opt->bin_dir ? mcr_buf_puts(&n.bin, opt->bin_dir) : mcr_night_bin_dir(&n.bin)))
		goto out;
	describe_scope(&n, &scope);

	/* The run lock, beside the loader's: mcr-load takes cfg->lock_path itself. */
	if (cfg->lock_path)
		rc = mcr_buf_printf(&lock, "%s.night", cfg->lock_path);
	else
		rc = mcr_buf_printf(&lock, "%s/mcr.lock.night", cfg->store_dir);
	if (rc)
		goto out;
	const char *slash = strrchr(lock.ptr, '/');
	if (slash && slash != lock.ptr) {
		mcr_buf dir = MCR_BUF_INIT;
		rc = mcr_buf_put(&dir, lock.ptr, (size_t)(slash - lock.ptr));
		if (!rc)
			rc = mcr_fs_mkdirs(dir.ptr);
		mcr_buf_free(&dir);
		if (rc)
			goto out;
	}
	rc = mcr_fs_lock(lock.ptr, 0, &lock_fd);
	if (rc == MCR_ELOCKED && opt->wait) {
		night_log(&n, LOG_NOTICE, "waiting: another run holds the lock %s", lock.ptr);
		rc = mcr_fs_lock(lock.ptr, 1, &lock_fd);
	}
	if (rc == MCR_ELOCKED) {
		res->status = MCR_EXIT_LOCKED;
		night_log(&n, LOG_NOTICE, "not started: %s", mcr_error_message());
		goto out;
	}
	if (rc)
		goto out;

	night_log(&n, LOG_INFO, "start: config %s, scope %s, programs in %s", cfg->path,
	          scope.ptr, n.bin.ptr);
	if ((rc = extract_all(&n)) || (rc = load(&n)))
		goto done;
	if (res->load_status == MCR_EXIT_OK || res->load_status == MCR_EXIT_REJECTED)
		after_load(&n);
	if (opt->report)
		report(&n);
done:
	if (rc) {
		/* The runner itself could not go on (no pipe, no process). */
		night_log(&n, LOG_ERR, "error: %s", mcr_error_message());
		problem(&n, "%s", mcr_error_message());
		res->status = MCR_EXIT_FAILED;
		rc = 0;
	}
	log_audit_checkpoint(&n);
	res->seconds = mono_seconds() - started;
	/* The problems, one per line for the operator's summary, share the log line. */
	mcr_buf joined = MCR_BUF_INIT;
	for (const char *p = mcr_buf_cstr(&res->problems); *p; p++) {
		if (*p == '\n' ? mcr_buf_puts(&joined, "; ") : mcr_buf_put(&joined, p, 1))
			break;
	}
	night_log(&n, res->status == MCR_EXIT_OK ? LOG_INFO : LOG_WARNING,
	          "end: %s, exit %d, %d extract(s) (%d failed%s%s), load exit %d, generation %ld, "
	          "%ld archived, %ld pruned, stale: %s, in %.3f s%s%s",
	          outcome_name(res->status), res->status, res->extracts, res->extracts_failed,
	          res->failed_orgs.len ? ": " : "", mcr_buf_cstr(&res->failed_orgs),
	          res->load_status, res->generation, res->archived, res->pruned,
	          res->stale_orgs.len ? res->stale_orgs.ptr : "none", res->seconds,
	          joined.len ? "; " : "", mcr_buf_cstr(&joined));
	mcr_buf_free(&joined);
out:
	if (rc == MCR_ELOCKED)
		res->status = MCR_EXIT_LOCKED;
	else if (rc)
		res->status = MCR_EXIT_FAILED;
	mcr_fs_unlock(lock_fd);
	if (n.log_fd >= 0)
		close(n.log_fd);
	closelog();
	mcr_buf_free(&n.bin);
	mcr_buf_free(&lock);
	mcr_buf_free(&scope);
	return rc;
}

void mcr_night_result_free(mcr_night_result *res)
{
	if (!res)
		return;
	mcr_buf_free(&res->failed_orgs);
	mcr_buf_free(&res->stale_orgs);
	mcr_buf_free(&res->problems);
}
