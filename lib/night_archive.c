/* The nightly runner's file housekeeping: failed-extract markers, archiving the
 * staged files a generation was built from, pruning the archive by retention. */
#include "mcr/night.h"
#include "mcr/error.h"
#include "mcr/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int mcr_night_mark_failed(const char *staging_dir, const char *org, const char *dataset,
                          time_t when, const char *why)
{
	mcr_buf dir = MCR_BUF_INIT, path = MCR_BUF_INIT, line = MCR_BUF_INIT;
	char stamp[32];
	mcr_time_stamp(when, stamp);
	int rc = mcr_buf_printf(&dir, "%s/%s/%s", staging_dir, org, dataset);
	if (!rc)
		rc = mcr_buf_printf(&path, "%s/%s.failed", dir.ptr, stamp);
	/* One line: the loader shows it as the rejection reason. */
	for (const char *p = why; !rc && *p; p++)
		rc = mcr_buf_putc(&line, *p == '\n' || *p == '\r' ? ' ' : *p);
	if (!rc)
		rc = mcr_buf_putc(&line, '\n');
	if (!rc)
		rc = mcr_fs_mkdirs(dir.ptr);
	if (!rc)
		rc = mcr_fs_write_atomic(path.ptr, line.ptr, line.len);
	mcr_buf_free(&dir);
	mcr_buf_free(&path);
	mcr_buf_free(&line);
	return rc;
}

/* Copy then unlink, for an archive on another file system than staging. */
static int copy_file(const char *from, const char *to)
{
	mcr_buf tmp = MCR_BUF_INIT;
	int in = -1, out = -1, rc;
	if ((rc = mcr_buf_printf(&tmp, "%s.tmp.%ld", to, (long)getpid())))
		return rc;
	in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		rc = mcr_error_set_errno(MCR_EIO, "cannot open %s", from);
		goto out;
	}
	out = open(tmp.ptr, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (out < 0) {
		rc = mcr_error_set_errno(MCR_EIO, "cannot create %s", tmp.ptr);
		goto out;
	}
	char chunk[65536];
	for (;;) {
		ssize_t n = read(in, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = mcr_error_set_errno(MCR_EIO, "cannot read %s", from);
			goto out;
		}
		if (n == 0)
			break;
		for (ssize_t done = 0; done < n;) {
			ssize_t w = write(out, chunk + done, (size_t)(n - done));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				rc = mcr_error_set_errno(MCR_EIO, "cannot write %s", tmp.ptr);
				goto out;
			}
			done += w;
		}
	}
	if (fsync(out) != 0) {
		rc = mcr_error_set_errno(MCR_EIO, "cannot fsync %s", tmp.ptr);
		goto out;
	}
	if (close(out) != 0) {
		out = -1;
		rc = mcr_error_set_errno(MCR_EIO, "cannot close %s", tmp.ptr);
		goto out;
	}
	out = -1;
	if (rename(tmp.ptr, to) != 0)
		rc = mcr_error_set_errno(MCR_EIO, "cannot rename %s to %s", tmp.ptr, to);
out:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	if (rc)
		unlink(tmp.ptr);
	mcr_buf_free(&tmp);
	return rc;
}

static int move_file(const char *from, const char *to, const char *to_dir)
{
	if (rename(from, to) == 0)
		return 0;
	if (errno != EXDEV)
		return mcr_error_set_errno(MCR_EIO, "cannot move %s to %s", from, to);
	int rc = copy_file(from, to);
	/* The copy must be durable before the original goes. */
	if (!rc)
		rc = mcr_fs_fsync_dir(to_dir);
	if (!rc && unlink(from) != 0)
		rc = mcr_error_set_errno(MCR_EIO, "cannot remove %s", from);
	return rc;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

/* Which pass moves this file: 1 manifests, 2 payloads and .failed markers, 0 none. */
static int archive_pass(const char *name)
{
	time_t t;
	if (mcr_time_parse_stamp(name, &t) != 0 || name[MCR_TIME_STAMP_LEN] != '.')
		return 0;
	const char *rest = name + MCR_TIME_STAMP_LEN;
	if (strcmp(rest, ".yaml") == 0)
		return 1;
	if (strcmp(rest, ".xml.gz") == 0 || strcmp(rest, ".failed") == 0)
		return 2;
	return 0;
}

int mcr_night_archive(const char *staging_dir, const char *archive_dir, const char *org,
                      const char *dataset, const char *loaded_manifest, long *moved)
{
	const char *base = strrchr(loaded_manifest, '/');
	base = base ? base + 1 : loaded_manifest;
	time_t loaded;
	if (mcr_time_parse_stamp(base, &loaded) != 0 || !ends_with(base, ".yaml"))
		return mcr_error_set(MCR_EFORMAT, "loaded manifest %s is not named <stamp>.yaml",
		                     loaded_manifest);

	mcr_buf from_dir = MCR_BUF_INIT, to_dir = MCR_BUF_INIT, from = MCR_BUF_INIT,
	        to = MCR_BUF_INIT;
	DIR *d = NULL;
	long n = 0;
	int rc = mcr_buf_printf(&from_dir, "%s/%s/%s", staging_dir, org, dataset);
	if (!rc)
		rc = mcr_buf_printf(&to_dir, "%s/%s/%s", archive_dir, org, dataset);
	if (!rc)
		rc = mcr_fs_mkdirs(to_dir.ptr);
	for (int pass = 1; !rc && pass <= 2; pass++) {
		d = opendir(from_dir.ptr);
		if (!d && errno == ENOENT)
			break; /* nothing staged there any more: archived by an earlier run */
		if (!d) {
			rc = mcr_error_set_errno(MCR_EIO, "cannot open directory %s", from_dir.ptr);
			break;
		}
		struct dirent *e;
		while (!rc && (e = readdir(d)) != NULL) {
			time_t t;
			if (archive_pass(e->d_name) != pass || mcr_time_parse_stamp(e->d_name, &t) ||
			    t > loaded)
				continue;
			if ((rc = mcr_fs_join(&from, from_dir.ptr, e->d_name)) ||
			    (rc = mcr_fs_join(&to, to_dir.ptr, e->d_name)) ||
			    (rc = move_file(from.ptr, to.ptr, to_dir.ptr)))
				break;
			n++;
		}
		closedir(d);
		d = NULL;
		/* The manifests' new home is durable before their payloads move. */
		if (!rc && n)
			rc = mcr_fs_fsync_dir(to_dir.ptr);
		if (!rc && n)
			rc = mcr_fs_fsync_dir(from_dir.ptr);
	}
	*moved += n;
	mcr_buf_free(&from_dir);
	mcr_buf_free(&to_dir);
	mcr_buf_free(&from);
	mcr_buf_free(&to);
	return rc;
}

/* Prune one archive/<org>/<dataset>/ folder. */
static int prune_dir(const char *dir, time_t cutoff, long *removed)
{
	DIR *d = opendir(dir);
	if (!d)
		return mcr_error_set_errno(MCR_EIO, "cannot open directory %s", dir);
	mcr_buf path = MCR_BUF_INIT;
	struct dirent *e;
	int rc = 0;
	long n = 0;
	while (!rc && (e = readdir(d)) != NULL) {
		time_t t;
		if (e->d_name[0] == '.' || mcr_time_parse_stamp(e->d_name, &t) != 0 || t >= cutoff)
			continue;
		if ((rc = mcr_fs_join(&path, dir, e->d_name)))
			break;
		if (unlink(path.ptr) != 0 && errno != ENOENT)
			rc = mcr_error_set_errno(MCR_EIO, "cannot remove %s", path.ptr);
		else
			n++;
	}
	closedir(d);
	if (!rc && n)
		rc = mcr_fs_fsync_dir(dir);
	*removed += n;
	mcr_buf_free(&path);
	return rc;
}

static int is_subdir(const char *parent, const char *name, mcr_buf *path)
{
	struct stat st;
	if (name[0] == '.' || mcr_fs_join(path, parent, name) != 0)
		return 0;
	return lstat(path->ptr, &st) == 0 && S_ISDIR(st.st_mode);
}

int mcr_night_prune_archive(const char *archive_dir, time_t now, int days, long *removed)
{
	DIR *orgs = opendir(archive_dir);
	if (!orgs) {
		if (errno == ENOENT)
			return 0;
		return mcr_error_set_errno(MCR_EIO, "cannot open directory %s", archive_dir);
	}
	time_t cutoff = now - (time_t)days * 86400;
	mcr_buf org_path = MCR_BUF_INIT, ds_path = MCR_BUF_INIT;
	struct dirent *o;
	int rc = 0;
	while (!rc && (o = readdir(orgs)) != NULL) {
		if (!is_subdir(archive_dir, o->d_name, &org_path))
			continue;
		DIR *sets = opendir(org_path.ptr);
		if (!sets) {
			rc = mcr_error_set_errno(MCR_EIO, "cannot open directory %s", org_path.ptr);
			break;
		}
		struct dirent *s;
		while (!rc && (s = readdir(sets)) != NULL) {
			if (is_subdir(org_path.ptr, s->d_name, &ds_path))
				rc = prune_dir(ds_path.ptr, cutoff, removed);
		}
		closedir(sets);
	}
	closedir(orgs);
	mcr_buf_free(&org_path);
	mcr_buf_free(&ds_path);
	return rc;
}

long mcr_night_count_generations(const char *store_dir)
{
	DIR *d = opendir(store_dir);
	if (!d)
		return 0;
	long n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "gen-", 4) == 0 && ends_with(e->d_name, ".sqlite"))
			n++;
	}
	closedir(d);
	return n;
}
