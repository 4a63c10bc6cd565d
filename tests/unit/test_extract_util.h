/*
 * Helpers shared by the extractor tests: a temporary region (config + staging),
 * running an extract, and reading back what was staged (mcr_staged_read) as a
 * text log the tests search:
 *   member 9990000018
 *   person 9990000018 family=O'Brien given=Siân objection=- consent=-
 *   item 9990000018 allergies 91936005 Allergy to penicillin | reaction=Eruption of skin | ...
 *   date 9990000018 <item id> 2019-03-04
 *   withheld 9990000018 results confidential 2
 * Include after cmocka.h.
 */
#ifndef TEST_EXTRACT_UTIL_H
#define TEST_EXTRACT_UTIL_H

/* Each test uses some of these helpers. */
#pragma GCC diagnostic ignored "-Wunused-function"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mcr/buf.h"
#include "mcr/config.h"
#include "mcr/error.h"
#include "mcr/extract.h"
#include "mcr/staged.h"

static char tdir[64];
static mcr_buf tlog = MCR_BUF_INIT;
static mcr_staged_manifest *tman;
static mcr_buf tnotes = MCR_BUF_INIT; /* the refusals the last extract named, a line each */
static int tnotes_n;

static const char test_config[] =
	"region: Test\n"
	"paths:\n"
	"  staging: staging\n"
	"  store: store\n"
	"  audit: audit.sqlite\n"
	"organisations:\n"
	"  - ods: A81001\n"
	"    name: Test Surgery\n"
	"    kind: gp\n"
	"    schedule: nightly\n"
	"    shares_from: 2012-04-01\n"
	"  - ods: LA919\n"
	"    name: Test Social Care\n"
	"    kind: lcs\n"
	"    schedule: nightly\n"
	"    shares_from: 2010-04-01\n"
	"  - ods: NLO11\n"
	"    name: Test Out of Hours\n"
	"    kind: ooh\n"
	"    schedule: twice-daily\n"
	"    shares_from: 2015-01-01\n"
	"policy:\n"
	"  objection_codes: [416409005]\n"
	"  consent_codes: [417528008]\n"
	"  sensitive_codes: [8098009, 386639001]\n"
	"  clinician_roles: [R8000, R8001, R8003]\n"
	"  ooh_recent_days: 90\n"
	"  roles:\n"
	"    clinician: [allergies]\n";

static int tsetup(void **state)
{
	(void)state;
	snprintf(tdir, sizeof tdir, "/tmp/test_extract.XXXXXX");
	if (!mkdtemp(tdir))
		return -1;
	setenv("MCR_NOW", "2026-11-21T06:00:00Z", 1);
	char p[128];
	snprintf(p, sizeof p, "%s/mcr.yaml", tdir);
	FILE *f = fopen(p, "w");
	if (!f)
		return -1;
	fputs(test_config, f);
	fclose(f);
	return 0;
}

static int tteardown(void **state)
{
	(void)state;
	mcr_buf cmd = MCR_BUF_INIT;
	mcr_buf_printf(&cmd, "rm -rf '%s'", tdir);
	int rc = system(cmd.ptr);
	mcr_buf_free(&cmd);
	mcr_buf_free(&tlog);
	mcr_buf_free(&tnotes);
	mcr_staged_manifest_free(tman);
	tman = NULL;
	return rc;
}

/* Write text to <tdir>/<name> (folders created); returns the path (static). */
static const char *twrite(const char *name, const char *text)
{
	static char p[256];
	snprintf(p, sizeof p, "%s/%s", tdir, name);
	char dir[256];
	snprintf(dir, sizeof dir, "%s", p);
	char *slash = strrchr(dir, '/');
	*slash = '\0';
	mcr_buf cmd = MCR_BUF_INIT;
	mcr_buf_printf(&cmd, "mkdir -p '%s'", dir);
	assert_int_equal(system(cmd.ptr), 0);
	mcr_buf_free(&cmd);
	FILE *f = fopen(p, "wb");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	return p;
}

static int log_member(void *ctx, const char *nhs)
{
	(void)ctx;
	mcr_buf_printf(&tlog, "member %s\n", nhs);
	return 0;
}

static int log_person(void *ctx, const mcr_staged_person *p)
{
	(void)ctx;
	mcr_buf_printf(&tlog, "person %s family=%s given=%s objection=%s consent=%s\n", p->nhs,
	               p->family ? p->family : "-", p->given ? p->given : "-",
	               p->objection ? p->objection : "-", p->consent ? p->consent : "-");
	return 0;
}

static int log_item(void *ctx, const mcr_staged_person *p, const mcr_staged_item *it)
{
	(void)ctx;
	mcr_buf_printf(&tlog, "item %s %s %s %s", p->nhs, mcr_section_name(it->section),
	               it->code ? it->code : "-", it->display ? it->display : "-");
	for (size_t i = 0; i < it->ndetails; i++)
		mcr_buf_printf(&tlog, " | %s=%s", it->details[i].name, it->details[i].value);
	mcr_buf_printf(&tlog, "\ndate %s %s %s\n", p->nhs, it->id ? it->id : "-", it->date ? it->date : "-");
	return 0;
}

static int log_withheld(void *ctx, const mcr_staged_person *p, mcr_section s, mcr_reason r, long n)
{
	(void)ctx;
	mcr_buf_printf(&tlog, "withheld %s %s %s %ld\n", p->nhs, mcr_section_name(s),
	               mcr_reason_name(r), n);
	return 0;
}

static void log_notice(void *ctx, const char *msg)
{
	(void)ctx;
	mcr_buf_printf(&tnotes, "%s\n", msg);
	tnotes_n++;
}

/* Run the extract of this kind for org on input; 0 and the log read back, or
 * the extract's error code (the log then empty). */
static int textract(mcr_org_kind kind, const char *ods, const char *input)
{
	char p[128];
	snprintf(p, sizeof p, "%s/mcr.yaml", tdir);
	mcr_config *cfg = NULL;
	assert_int_equal(mcr_config_load(&cfg, p), 0);
	const mcr_org *org = mcr_config_org(cfg, ods);
	assert_non_null(org);
	char *manifest = NULL;
	int rc;
	mcr_buf_reset(&tnotes);
	tnotes_n = 0;
	mcr_extract_set_notice(log_notice, NULL);
	if (kind == MCR_KIND_GP)
		rc = mcr_extract_gp(cfg, org, input, NULL, &manifest);
	else if (kind == MCR_KIND_LCS)
		rc = mcr_extract_lcs(cfg, org, input, NULL, &manifest);
	else
		rc = mcr_extract_ooh(cfg, org, input, NULL, &manifest);
	mcr_extract_set_notice(NULL, NULL);
	mcr_buf_reset(&tlog);
	mcr_staged_manifest_free(tman);
	tman = NULL;
	if (rc == 0) {
		assert_int_equal(mcr_staged_manifest_read(manifest, &tman), 0);
		mcr_staged_handler h = {NULL, log_member, log_person, log_item, log_withheld, NULL};
		int rrc = mcr_staged_read(manifest, tman, &h);
		if (rrc)
			fprintf(stderr, "%s\n", mcr_error_message());
		assert_int_equal(rrc, 0);
	}
	free(manifest);
	mcr_config_free(cfg);
	return rc;
}

static void assert_log_has(const char *line)
{
	if (!strstr(mcr_buf_cstr(&tlog), line)) {
		fprintf(stderr, "staged log lacks: %s\n--- log:\n%s", line, mcr_buf_cstr(&tlog));
		fail();
	}
}

static void assert_log_lacks(const char *text)
{
	if (strstr(mcr_buf_cstr(&tlog), text)) {
		fprintf(stderr, "staged log has: %s\n--- log:\n%s", text, mcr_buf_cstr(&tlog));
		fail();
	}
}

/* Files (not folders) left anywhere under the staging folder. */
static int staged_files_left(void)
{
	mcr_buf cmd = MCR_BUF_INIT;
	mcr_buf_printf(&cmd, "test -z \"$(find '%s/staging' -type f 2>/dev/null)\"", tdir);
	int rc = system(cmd.ptr);
	mcr_buf_free(&cmd);
	return rc != 0;
}

/* The extract named a refusal containing text. */
static void assert_notice_has(const char *text)
{
	if (!strstr(mcr_buf_cstr(&tnotes), text)) {
		fprintf(stderr, "notices lack '%s':\n%s", text, mcr_buf_cstr(&tnotes));
		fail();
	}
}

static void assert_error_has(const char *text)
{
	if (!strstr(mcr_error_message(), text)) {
		fprintf(stderr, "error message lacks '%s': %s\n", text, mcr_error_message());
		fail();
	}
}

static const char *tdata(const char *rel)
{
	static char p[1024];
	const char *d = getenv("MCR_TEST_DATA");
	snprintf(p, sizeof p, "%s/%s", d ? d : MCR_SOURCE_DIR "/tests/data", rel);
	return p;
}

#endif
