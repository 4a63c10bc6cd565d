/* Durable file writes, directory sync, run locks and UTC time. */
#include "mcr/fs.h"
#include "mcr/error.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int mcr_fs_mkdirs(const char *path)
{
	mcr_buf b = MCR_BUF_INIT;
	int rc = mcr_buf_puts(&b, path);
	if (rc)
		return rc;
	for (char *p = b.ptr + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char saved = *p;
			*p = '\0';
			if (mkdir(b.ptr, 0750) != 0 && errno != EEXIST) {
				rc = mcr_error_set_errno(MCR_EIO, "cannot create directory %s", b.ptr);
				break;
			}
			*p = saved;
			if (saved == '\0')
				break;
		}
	}
	mcr_buf_free(&b);
	return rc;
}

int mcr_fs_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return mcr_error_set_errno(MCR_EIO, "cannot open directory %s", dir);
	int rc = 0;
	if (fsync(fd) != 0)
		rc = mcr_error_set_errno(MCR_EIO, "cannot fsync directory %s", dir);
	close(fd);
	return rc;
}

static int dir_of(const char *path, mcr_buf *out)
{
	const char *slash = strrchr(path, '/');
	mcr_buf_reset(out);
	if (!slash)
		return mcr_buf_puts(out, ".");
	if (slash == path)
		return mcr_buf_puts(out, "/");
	return mcr_buf_put(out, path, (size_t)(slash - path));
}

int mcr_fs_write_atomic(const char *path, const void *data, size_t len)
{
	mcr_buf tmp = MCR_BUF_INIT, dir = MCR_BUF_INIT;
	int fd = -1, rc;
	if ((rc = mcr_buf_printf(&tmp, "%s.tmp.%ld", path, (long)getpid())) ||
	    (rc = dir_of(path, &dir)))
		goto out;
	fd = open(tmp.ptr, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0) {
		rc = mcr_error_set_errno(MCR_EIO, "cannot create %s", tmp.ptr);
		goto out;
	}
	const char *p = data;
	size_t left = len;
	while (left) {
		ssize_t n = write(fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = mcr_error_set_errno(MCR_EIO, "cannot write %s", tmp.ptr);
			goto out;
		}
		p += n;
		left -= (size_t)n;
	}
	if (fsync(fd) != 0) {
		rc = mcr_error_set_errno(MCR_EIO, "cannot fsync %s", tmp.ptr);
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = mcr_error_set_errno(MCR_EIO, "cannot close %s", tmp.ptr);
		goto out;
	}
	fd = -1;
	if (rename(tmp.ptr, path) != 0) {
		rc = mcr_error_set_errno(MCR_EIO, "cannot rename %s to %s", tmp.ptr, path);
		goto out;
	}
	rc = mcr_fs_fsync_dir(dir.ptr);
out:
	if (fd >= 0)
		close(fd);
	if (rc && tmp.ptr)
		unlink(tmp.ptr);
	mcr_buf_free(&tmp);
	mcr_buf_free(&dir);
	return rc;
}

/* ---- temporary files ------------------------------------------------------ */

#define TEMP_SLOTS 8

/* Read by a signal handler: a slot is set only once its string is complete and
 * cleared before the string is freed. */
static char *volatile temp_slots[TEMP_SLOTS];

int mcr_fs_temp_anonymous(const char *path, FILE **out)
{
	*out = NULL;
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return mcr_error_set_errno(MCR_EIO, "cannot create %s", path);
	unlink(path);
	*out = fdopen(fd, "w+b");
	if (!*out) {
		int rc = mcr_error_set_errno(MCR_EIO, "cannot open %s", path);
		close(fd);
		return rc;
	}
	return 0;
}

int mcr_fs_temp_track(const char *path)
{
	for (size_t i = 0; i < TEMP_SLOTS; i++) {
		if (temp_slots[i])
			continue;
		char *copy = strdup(path);
		if (!copy)
			return mcr_error_set(MCR_ENOMEM, "out of memory");
		temp_slots[i] = copy;
		return 0;
	}
	return mcr_error_set(MCR_ELIMIT, "more than %d temporary files open (%s)", TEMP_SLOTS, path);
}

void mcr_fs_temp_untrack(const char *path)
{
	for (size_t i = 0; path && i < TEMP_SLOTS; i++) {
		char *p = temp_slots[i];
		if (p && strcmp(p, path) == 0) {
			temp_slots[i] = NULL;
			free(p);
			return;
		}
	}
}

void mcr_fs_temp_unlink_all(void)
{
	for (size_t i = 0; i < TEMP_SLOTS; i++) {
		char *p = temp_slots[i];
		if (p)
			unlink(p);
	}
}

/* Digits at s up to end: the pid they spell, or 0. */
static long pid_between(const char *s, const char *end)
{
	long v = 0;
	if (s >= end || end - s > 9)
		return 0;
	for (; s < end; s++) {
		if (!isdigit((unsigned char)*s))
			return 0;
		v = v * 10 + (*s - '0');
	}
	return v;
}

/* The writer's pid in a temporary file name of ours, or 0 if name is not one. */
static long temp_name_pid(const char *name)
{
	size_t len = strlen(name);
	const char *dot;
	if (name[0] == '.' && (strncmp(name, ".spill-", 7) == 0 || strncmp(name, ".bucket-", 8) == 0)) {
		const char *p = strchr(name, '-') + 1, *dash = strchr(p, '-');
		const char *end = name + len, *q = dash ? dash + 1 : end;
		while (q < end && isdigit((unsigned char)*q))
			q++;
		return dash && q == end && q > dash + 1 ? pid_between(p, dash) : 0;
	}
	static const char gz_tmp[] = ".xml.gz.tmp";
	size_t n = sizeof(gz_tmp) - 1;
	if (name[0] == '.' && len > n && strcmp(name + len - n, gz_tmp) == 0) {
		const char *end = name + len - n;
		for (dot = end - 1; dot > name && *dot != '.'; dot--)
			;
		return dot > name ? pid_between(dot + 1, end) : 0;
	}
	dot = strrchr(name, '.');
	if (dot && dot - name > 4 && strncmp(dot - 4, ".tmp", 4) == 0)
		return pid_between(dot + 1, name + len);
	return 0;
}

int mcr_fs_remove_stale_temps(const char *dir, long *removed)
{
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : mcr_error_set_errno(MCR_EIO, "cannot read directory %s", dir);
	mcr_buf path = MCR_BUF_INIT;
	int rc = 0;
	struct dirent *e;
	while (!rc && (e = readdir(d)) != NULL) {
		long pid = temp_name_pid(e->d_name);
		/* EPERM: a live process of another user; only ESRCH means gone. */
		if (pid <= 0 || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		if ((rc = mcr_fs_join(&path, dir, e->d_name)))
			break;
		if (unlink(path.ptr) == 0) {
			if (removed)
				(*removed)++;
		} else if (errno != ENOENT) {
			rc = mcr_error_set_errno(MCR_EIO, "cannot remove the leftover temporary file %s",
			                         path.ptr);
		}
	}
	closedir(d);
	mcr_buf_free(&path);
	return rc;
}

int mcr_fs_read_file(const char *path, size_t max, mcr_buf *out)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		if (errno == ENOENT)
			return mcr_error_set(MCR_ENOTFOUND, "cannot open %s: no such file", path);
		return mcr_error_set_errno(MCR_EIO, "cannot open %s", path);
	}
	int rc = 0;
	char chunk[65536];
	size_t total = 0, n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		total += n;
		if (total > max) {
			rc = mcr_error_set(MCR_ELIMIT, "%s is larger than %zu bytes", path, max);
			break;
		}
		if ((rc = mcr_buf_put(out, chunk, n)))
			break;
	}
	if (!rc && ferror(f))
		rc = mcr_error_set_errno(MCR_EIO, "cannot read %s", path);
	fclose(f);
	return rc;
}

int mcr_fs_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

int mcr_fs_join(mcr_buf *out, const char *dir, const char *name)
{
	mcr_buf_reset(out);
	if (name[0] == '/' || !dir || !dir[0])
		return mcr_buf_puts(out, name);
	size_t dl = strlen(dir);
	int rc = mcr_buf_put(out, dir, dl);
	if (!rc && dir[dl - 1] != '/')
		rc = mcr_buf_putc(out, '/');
	if (!rc)
		rc = mcr_buf_puts(out, name);
	return rc;
}

int mcr_fs_lock(const char *path, int wait, int *fd)
{
	int lfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (lfd < 0)
		return mcr_error_set_errno(MCR_EIO, "cannot open lock file %s", path);
	while (flock(lfd, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0) {
		if (errno == EINTR)
			continue;
		int busy = errno == EWOULDBLOCK;
		close(lfd);
		if (busy)
			return mcr_error_set(MCR_ELOCKED, "another run holds the lock %s", path);
		return mcr_error_set_errno(MCR_EIO, "cannot lock %s", path);
	}
	/* Record the holder for people reading the lock file; the lock is the flock. */
	char pid[32];
	int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(lfd, 0) == 0 && write(lfd, pid, (size_t)n) < 0) {
		/* informational only */
	}
	*fd = lfd;
	return 0;
}

void mcr_fs_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

time_t mcr_time_now(void)
{
	const char *fake = getenv("MCR_NOW");
	time_t t;
	if (fake && *fake && mcr_time_parse(fake, &t) == 0)
		return t;
	return time(NULL);
}

void mcr_time_iso(time_t t, char out[32])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void mcr_time_stamp(time_t t, char out[32])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y%m%dT%H%M%SZ", &tm);
}

static int digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

int mcr_time_parse_stamp(const char *name, time_t *out)
{
	for (int i = 0; i < MCR_TIME_STAMP_LEN; i++) {
		char c = name[i];
		int want_digit = i != 8 && i != 15;
		if (c == '\0' || (want_digit && (c < '0' || c > '9')) || (i == 8 && c != 'T') ||
		    (i == 15 && c != 'Z'))
			return MCR_EFORMAT;
	}
	char iso[32];
	snprintf(iso, sizeof(iso), "%.4s-%.2s-%.2sT%.2s:%.2s:%.2sZ", name, name + 4, name + 6,
	         name + 9, name + 11, name + 13);
	return mcr_time_parse(iso, out) ? MCR_EFORMAT : 0;
}

int mcr_time_parse(const char *s, time_t *out)
{
	struct tm tm = {0};
	int y, mo, d, h = 0, mi = 0, se = 0;
	const char *p = s;
	if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
	    digits(&p, 2, &d))
		return MCR_EFORMAT;
	if (mo < 1 || mo > 12 || d < 1 || d > 31)
		return MCR_EFORMAT;
	long offset = 0;
	if (*p == 'T') {
		p++;
		if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi))
			return MCR_EFORMAT;
		if (*p == ':') {
			p++;
			if (digits(&p, 2, &se))
				return MCR_EFORMAT;
			if (*p == '.') {
				p++;
				while (*p >= '0' && *p <= '9')
					p++;
			}
		}
		if (h > 23 || mi > 59 || se > 60)
			return MCR_EFORMAT;
		if (*p == 'Z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int sign = *p == '-' ? -1 : 1, oh, om;
			p++;
			if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om))
				return MCR_EFORMAT;
			offset = sign * (oh * 3600L + om * 60L);
		}
	}
	if (*p != '\0')
		return MCR_EFORMAT;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	time_t t = timegm(&tm);
	/* timegm normalises 31 February to March: reject dates that moved. */
	struct tm back;
	gmtime_r(&t, &back);
	if (back.tm_mday != d || back.tm_mon != mo - 1)
		return MCR_EFORMAT;
	*out = t - offset;
	return 0;
}
