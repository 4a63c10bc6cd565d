/*
 * Test shim (LD_PRELOAD): a disk that fills up. Writes to files under
 * $MCR_TEST_ENOSPC_DIR fail with ENOSPC once $MCR_TEST_ENOSPC_AFTER bytes have
 * been written there by this process; everything else is untouched. Used by
 * tests/scripts/test_load_disk_full.sh: the loader must name the real error
 * whatever moment the disk fills.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static long long budget = -1; /* -1: not yet read; -2: off */
static const char *dir;
static size_t dir_len;

/* Whether a write of n bytes to fd must fail: fd is a file under dir and the
 * budget is spent. */
static int full(int fd, size_t n)
{
	if (budget == -1) {
		const char *after = getenv("MCR_TEST_ENOSPC_AFTER");
		dir = getenv("MCR_TEST_ENOSPC_DIR");
		budget = after && dir && *dir ? atoll(after) : -2;
		dir_len = dir ? strlen(dir) : 0;
	}
	if (budget == -2)
		return 0;
	char link[64], path[PATH_MAX];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t len = readlink(link, path, sizeof(path) - 1);
	if (len < 0 || (size_t)len < dir_len || strncmp(path, dir, dir_len) != 0)
		return 0;
	if ((long long)n > budget) {
		budget = 0;
		errno = ENOSPC;
		return 1;
	}
	budget -= (long long)n;
	return 0;
}

ssize_t write(int fd, const void *buf, size_t n)
{
	static ssize_t (*real)(int, const void *, size_t);
	if (!real)
		real = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
	return full(fd, n) ? -1 : real(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	static ssize_t (*real)(int, const void *, size_t, off_t);
	if (!real)
		real = (ssize_t (*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
	return full(fd, n) ? -1 : real(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
	static ssize_t (*real)(int, const void *, size_t, off64_t);
	if (!real)
		real = (ssize_t (*)(int, const void *, size_t, off64_t))dlsym(RTLD_NEXT, "pwrite64");
	return full(fd, n) ? -1 : real(fd, buf, n, off);
}
