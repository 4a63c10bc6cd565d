/* A temporary folder per test program: tmpdir_setup / tmpdir_teardown as the
 * cmocka group fixtures, tmpdir holding the folder's path. Include once, after
 * the cmocka headers, in a test program that defines TMPDIR_NAME ("test_gz"). */
#ifndef TEST_TMPDIR_H
#define TEST_TMPDIR_H

#include <stdio.h>
#include <stdlib.h>

#include "mcr/buf.h"

static char tmpdir[64];

static int tmpdir_setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/%s.XXXXXX", TMPDIR_NAME);
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int tmpdir_teardown(void **state)
{
	(void)state;
	mcr_buf cmd = MCR_BUF_INIT;
	mcr_buf_printf(&cmd, "rm -rf '%s'", tmpdir);
	int rc = system(cmd.ptr);
	mcr_buf_free(&cmd);
	return rc;
}

#endif
