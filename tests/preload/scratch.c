/*
 * Test shim (LD_PRELOAD): what a program does with its unnamed scratch files,
 * made observable without changing the program.
 * - MCR_TEST_KEEP_DIR=DIR: every file the process unlinks is first hard-linked
 *   into DIR (same file system) as <name>.<n>, so the test can read what was
 *   written to it after the process has gone (the process still unlinks it and
 *   runs as it always does).
 * - MCR_TEST_TAMPER=SUBSTRING and MCR_TEST_TAMPER_AT=OFFSET: the first time the
 *   process reads a file whose path contains SUBSTRING, the byte at OFFSET of
 *   that file (negative: from the end) is flipped on disk first, as someone
 *   with access to the disk might.
 * Used by tests/scripts/test_extract_scratch.sh.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static void keep(const char *path)
{
	static int n;
	const char *dir = getenv("MCR_TEST_KEEP_DIR");
	if (!dir || !*dir)
		return;
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	char to[PATH_MAX];
	snprintf(to, sizeof(to), "%s/%s.%d", dir, base, n++);
	if (link(path, to) != 0)
		fprintf(stderr, "scratch shim: cannot keep %s\n", path);
}

int unlink(const char *path)
{
	static int (*real)(const char *);
	if (!real)
		real = (int (*)(const char *))dlsym(RTLD_NEXT, "unlink");
	keep(path);
	return real(path);
}

static void tamper(int fd)
{
	static int done;
	const char *what = getenv("MCR_TEST_TAMPER"), *at = getenv("MCR_TEST_TAMPER_AT");
	if (done || !what || !*what || !at)
		return;
	char link[64], path[PATH_MAX];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t len = readlink(link, path, sizeof(path) - 1);
	if (len < 0)
		return;
	path[len] = '\0';
	struct stat st;
	if (!strstr(path, what) || fstat(fd, &st) != 0 || st.st_size == 0)
		return;
	done = 1;
	long long off = atoll(at);
	if (off < 0)
		off += st.st_size;
	unsigned char c;
	if (off >= 0 && off < st.st_size && pread(fd, &c, 1, off) == 1) {
		c ^= 0x20;
		if (pwrite(fd, &c, 1, off) != 1)
			fprintf(stderr, "scratch shim: cannot change %s\n", path);
	}
}

ssize_t read(int fd, void *buf, size_t n)
{
	static ssize_t (*real)(int, void *, size_t);
	if (!real)
		real = (ssize_t(*)(int, void *, size_t))dlsym(RTLD_NEXT, "read");
	tamper(fd);
	return real(fd, buf, n);
}
