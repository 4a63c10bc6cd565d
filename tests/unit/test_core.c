/* Unit tests: errors, buffers, files, locks, time, vocabulary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mcr/buf.h"
#include "mcr/error.h"
#include "mcr/fs.h"
#include "mcr/vocab.h"

static char tmpdir[256];

static int make_tmpdir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/mcr-test-core-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
	(void)state;
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd);
}

static void error_message_is_one_line_and_code_kept(void **state)
{
	(void)state;
	int rc = mcr_error_set(MCR_EFORMAT, "bad value %s (%s:%d)", "a\nb", "f.csv", 12);
	assert_int_equal(rc, MCR_EFORMAT);
	assert_string_equal(mcr_error_message(), "bad value a b (f.csv:12)");
	assert_int_equal(mcr_error_code(), MCR_EFORMAT);
	errno = ENOENT;
	mcr_error_set_errno(MCR_EIO, "cannot open %s", "x");
	assert_string_equal(mcr_error_message(), "cannot open x: No such file or directory");
	mcr_error_clear();
	assert_string_equal(mcr_error_message(), "");
}

static void exit_status_mapping(void **state)
{
	(void)state;
	assert_int_equal(mcr_error_exit_status(MCR_OK), 0);
	assert_int_equal(mcr_error_exit_status(MCR_EFORMAT), 1);
	assert_int_equal(mcr_error_exit_status(MCR_EIO), 1);
	assert_int_equal(mcr_error_exit_status(MCR_ECONFIG), 2);
	assert_int_equal(mcr_error_exit_status(MCR_EUSAGE), 2);
	assert_int_equal(mcr_error_exit_status(MCR_EDENIED), 3);
	assert_int_equal(mcr_error_exit_status(MCR_ENOTFOUND), 4);
	assert_int_equal(mcr_error_exit_status(MCR_ELOCKED), 75);
}

static void buffer_grows_and_detaches(void **state)
{
	(void)state;
	mcr_buf b = MCR_BUF_INIT;
	assert_string_equal(mcr_buf_cstr(&b), "");
	for (int i = 0; i < 1000; i++)
		assert_int_equal(mcr_buf_printf(&b, "%d,", i), 0);
	assert_true(b.len > 1000);
	assert_memory_equal(b.ptr, "0,1,2,", 6);
	mcr_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_int_equal(mcr_buf_puts(&b, "abc"), 0);
	assert_int_equal(mcr_buf_putc(&b, 'd'), 0);
	char *s = mcr_buf_detach(&b);
	assert_string_equal(s, "abcd");
	free(s);
	assert_null(b.ptr);
	s = mcr_buf_detach(&b);
	assert_string_equal(s, "");
	free(s);
	mcr_buf_free(&b);
	mcr_buf_free(NULL);
}

static void atomic_write_and_read_back(void **state)
{
	(void)state;
	mcr_buf path = MCR_BUF_INIT, data = MCR_BUF_INIT;
	assert_int_equal(mcr_fs_join(&path, tmpdir, "a/b/c"), 0);
	assert_int_equal(mcr_fs_mkdirs(path.ptr), 0);
	assert_int_equal(mcr_fs_mkdirs(path.ptr), 0); /* idempotent */
	assert_int_equal(mcr_buf_puts(&path, "/file.txt"), 0);
	assert_int_equal(mcr_fs_write_atomic(path.ptr, "hello\n", 6), 0);
	assert_int_equal(mcr_fs_read_file(path.ptr, 100, &data), 0);
	assert_string_equal(data.ptr, "hello\n");
	mcr_buf_reset(&data);
	assert_int_equal(mcr_fs_read_file(path.ptr, 3, &data), MCR_ELIMIT);
	assert_int_equal(mcr_fs_write_atomic("/nonexistent-dir/x", "a", 1), MCR_EIO);
	mcr_buf_reset(&data);
	assert_int_equal(mcr_fs_read_file("/nonexistent-dir/x", 10, &data), MCR_ENOTFOUND);
	assert_true(mcr_fs_exists(path.ptr));
	assert_int_equal(mcr_fs_join(&path, "dir", "/abs"), 0);
	assert_string_equal(path.ptr, "/abs");
	assert_int_equal(mcr_fs_join(&path, "dir/", "x"), 0);
	assert_string_equal(path.ptr, "dir/x");
	mcr_buf_free(&path);
	mcr_buf_free(&data);
}

static void second_lock_holder_is_refused(void **state)
{
	(void)state;
	char lock[512];
	snprintf(lock, sizeof(lock), "%s/run.lock", tmpdir);
	int fd = -1;
	assert_int_equal(mcr_fs_lock(lock, 0, &fd), 0);
	pid_t pid = fork();
	if (pid == 0) {
		int fd2;
		int rc = mcr_fs_lock(lock, 0, &fd2);
		_exit(rc == MCR_ELOCKED && strstr(mcr_error_message(), "another run holds the lock") ? 0 : 1);
	}
	int status;
	waitpid(pid, &status, 0);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	mcr_fs_unlock(fd);
	pid = fork();
	if (pid == 0) {
		int fd2;
		_exit(mcr_fs_lock(lock, 0, &fd2) == 0 ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void time_parse_and_format(void **state)
{
	(void)state;
	time_t t;
	char out[32];
	assert_int_equal(mcr_time_parse("2026-11-21T02:00:00Z", &t), 0);
	mcr_time_iso(t, out);
	assert_string_equal(out, "2026-11-21T02:00:00Z");
	mcr_time_stamp(t, out);
	assert_string_equal(out, "20261121T020000Z");
	assert_int_equal(mcr_time_parse("2026-11-21T03:00:00+01:00", &t), 0);
	mcr_time_iso(t, out);
	assert_string_equal(out, "2026-11-21T02:00:00Z");
	assert_int_equal(mcr_time_parse("2026-11-21T02:00:00.123Z", &t), 0);
	assert_int_equal(mcr_time_parse("2024-02-29", &t), 0);
	assert_int_equal(mcr_time_parse("2023-02-29", &t), MCR_EFORMAT);
	assert_int_equal(mcr_time_parse("2026-13-01", &t), MCR_EFORMAT);
	assert_int_equal(mcr_time_parse("2026-11-21 02:00", &t), MCR_EFORMAT);
	assert_int_equal(mcr_time_parse("21/11/2026", &t), MCR_EFORMAT);
	assert_int_equal(mcr_time_parse("", &t), MCR_EFORMAT);
	setenv("MCR_NOW", "2030-01-02T03:04:05Z", 1);
	mcr_time_iso(mcr_time_now(), out);
	assert_string_equal(out, "2030-01-02T03:04:05Z");
	unsetenv("MCR_NOW");
}

static void vocabulary_round_trips(void **state)
{
	(void)state;
	for (int s = 0; s < MCR_SECTION_COUNT; s++) {
		mcr_section back;
		assert_int_equal(mcr_section_parse(mcr_section_name((mcr_section)s), &back), 0);
		assert_int_equal(back, s);
		assert_non_null(mcr_section_title((mcr_section)s));
	}
	for (int r = 0; r < MCR_REASON_COUNT; r++) {
		mcr_reason back;
		assert_int_equal(mcr_reason_parse(mcr_reason_name((mcr_reason)r), &back), 0);
		assert_int_equal(back, r);
	}
	mcr_section s;
	assert_int_equal(mcr_section_parse("Allergies", &s), MCR_EFORMAT);
	assert_string_equal(mcr_section_title(MCR_SECTION_MISC_REPORTS), "Miscellaneous Reports");
	assert_null(mcr_section_name(MCR_SECTION_COUNT));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(error_message_is_one_line_and_code_kept),
		cmocka_unit_test(exit_status_mapping),
		cmocka_unit_test(buffer_grows_and_detaches),
		cmocka_unit_test(atomic_write_and_read_back),
		cmocka_unit_test(second_lock_holder_is_refused),
		cmocka_unit_test(time_parse_and_format),
		cmocka_unit_test(vocabulary_round_trips),
	};
	return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
