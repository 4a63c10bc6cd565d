/*
 * Staged files: round trip of every element with awkward text, the manifest,
 * find_latest, and each kind of damage the reader must refuse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "mcr/buf.h"
#include "mcr/error.h"
#include "mcr/fs.h"
#include "mcr/gz.h"
#include "mcr/staged.h"

#define T0 1795140000 /* 2026-11-20T02:00:00Z */

static char tmp[256];

static int setup(void **state)
{
	(void)state;
	snprintf(tmp, sizeof(tmp), "/tmp/mcr-test-staged.XXXXXX");
	return mkdtemp(tmp) ? 0 : -1;
}

static void rm_rf(const char *path)
{
	DIR *d = opendir(path);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			char sub[PATH_MAX * 2];
			snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
			rm_rf(sub);
		}
		closedir(d);
		rmdir(path);
	} else {
		unlink(path);
	}
}

static int teardown(void **state)
{
	(void)state;
	rm_rf(tmp);
	return 0;
}

/* Names in a folder, sorted, joined by spaces. */
static void list_dir(const char *dir, char *out, size_t n)
{
	char names[64][256];
	int count = 0;
	DIR *d = opendir(dir);
	out[0] = '\0';
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL && count < 64)
		if (e->d_name[0] != '.' || (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")))
			snprintf(names[count++], sizeof(names[0]), "%s", e->d_name);
	closedir(d);
	for (int i = 0; i < count; i++)
		for (int j = i + 1; j < count; j++)
			if (strcmp(names[j], names[i]) < 0) {
				char t[256];
				memcpy(t, names[i], sizeof(t));
				memcpy(names[i], names[j], sizeof(t));
				memcpy(names[j], t, sizeof(t));
			}
	size_t len = 0;
	for (int i = 0; i < count; i++)
		len += (size_t)snprintf(out + len, n - len, "%s%s", i ? " " : "", names[i]);
}

/* ---- a handler that logs every event as text ---------------------------- */

static void log_str(mcr_buf *b, const char *name, const char *v)
{
	if (v)
		mcr_buf_printf(b, " %s=[%s]", name, v);
}

static int on_member(void *ctx, const char *nhs)
{
	return mcr_buf_printf(ctx, "member %s\n", nhs);
}

static void log_person(mcr_buf *b, const mcr_staged_person *p)
{
	mcr_buf_printf(b, "person %s", p->nhs);
	log_str(b, "family", p->family);
	log_str(b, "given", p->given);
	log_str(b, "birthDate", p->birth_date);
	log_str(b, "gender", p->gender);
	log_str(b, "address", p->address);
	log_str(b, "postcode", p->postcode);
	log_str(b, "phone", p->phone);
	log_str(b, "objection", p->objection);
	log_str(b, "consent", p->consent);
	mcr_buf_puts(b, "\n");
}

static int on_person(void *ctx, const mcr_staged_person *p)
{
	log_person(ctx, p);
	return 0;
}

static void log_item(mcr_buf *b, const char *nhs, const mcr_staged_item *it)
{
	mcr_buf_printf(b, "item %s %s", nhs, mcr_section_name(it->section));
	log_str(b, "id", it->id);
	log_str(b, "date", it->date);
	log_str(b, "system", it->system);
	log_str(b, "code", it->code);
	log_str(b, "display", it->display);
	log_str(b, "status", it->status);
	log_str(b, "confidentiality", it->confidentiality);
	for (size_t i = 0; i < it->ndetails; i++)
		mcr_buf_printf(b, " detail(%s)=[%s]", it->details[i].name, it->details[i].value);
	mcr_buf_puts(b, "\n");
}

static int on_item(void *ctx, const mcr_staged_person *p, const mcr_staged_item *it)
{
	log_item(ctx, p->nhs, it);
	return 0;
}

static int on_withheld(void *ctx, const mcr_staged_person *p, mcr_section s, mcr_reason r,
                       long count)
{
	return mcr_buf_printf(ctx, "withheld %s %s %s %ld\n", p->nhs, mcr_section_name(s),
	                      mcr_reason_name(r), count);
}

static int on_person_end(void *ctx, const mcr_staged_person *p)
{
	return mcr_buf_printf(ctx, "end %s\n", p->nhs);
}

static int read_logged(const char *manifest_path, mcr_buf *log)
{
	mcr_staged_manifest *m = NULL;
	int rc = mcr_staged_manifest_read(manifest_path, &m);
	if (rc)
		return rc;
	mcr_staged_handler h = {log, on_member, on_person, on_item, on_withheld, on_person_end};
	rc = mcr_staged_read(manifest_path, m, &h);
	mcr_staged_manifest_free(m);
	return rc;
}

/* ---- the round trip --------------------------------------------------------- */

static const mcr_staged_detail details1[] = {
	{"reaction", "Rash & \"hives\" <severe>"},
	{"note", "line one\nline two\r\n\ttabbed 'quoted' \xE2\x80\x94 done"},
	{"empty", ""},
};

static const mcr_staged_item items1[] = {
	{MCR_SECTION_ALLERGIES, "r1", "2020-01-01", "http://snomed.info/sct", "294505008",
	 "Amoxicillin allergy & \"penicillins\"", "active", NULL, details1, 3},
	{MCR_SECTION_MEDICATIONS, "m<1>", "2021-02-03T10:00:00+01:00", NULL, NULL,
	 "Tab\there\nnewline\rcr 'apos' \xE6\x9D\xB1\xE4\xBA\xAC", NULL, "N", NULL, 0},
	{MCR_SECTION_MISC_REPORTS, NULL, NULL, NULL, NULL, "111 call", NULL, NULL, NULL, 0},
};

static const mcr_staged_person person1 = {
	"9990000018", "O'Brien & Sons", "Si\xC3\xA2n \"Jo\"", "1950-02-03", "female",
	"1 High St,\nHertford\t<Herts>", "SG14 1AA", "01992 000000", NULL, NULL,
};
static const mcr_staged_person person2 = {
	"9990000026", NULL, NULL, NULL, NULL, NULL, NULL, NULL, "2024-03-01", NULL,
};
static const mcr_staged_person person3 = {
	"9990000034", "Plain", NULL, NULL, NULL, NULL, NULL, NULL, "", NULL,
};
static const mcr_staged_person person4 = {
	"9990000042", "Lcs", "Person", NULL, NULL, NULL, NULL, NULL, NULL, "Y",
};

static int write_sample(const char *staging, const char *org, time_t when, char **manifest_path,
                        mcr_buf *expect)
{
	mcr_staged_header hd = {org, "gp", when, "2012-04-01"};
	mcr_staged_writer *w = NULL;
	int rc = mcr_staged_writer_open(&w, staging, &hd);
	if (rc)
		return rc;
	const char *members[] = {"9990000018", "9990000026", "999 000 0050"};
	for (int i = 0; i < 3 && !rc; i++)
		rc = mcr_staged_write_member(w, members[i]);
	if (expect)
		mcr_buf_puts(expect, "member 9990000018\nmember 9990000026\nmember 9990000050\n");
	if (!rc)
		rc = mcr_staged_person_begin(w, &person1);
	for (int i = 0; i < 3 && !rc; i++)
		rc = mcr_staged_write_item(w, &items1[i]);
	if (!rc)
		rc = mcr_staged_write_withheld(w, MCR_SECTION_PROBLEMS, MCR_REASON_SENSITIVE, 2);
	if (!rc)
		rc = mcr_staged_write_withheld(w, MCR_SECTION_RESULTS, MCR_REASON_CONFIDENTIAL, 1);
	if (!rc)
		rc = mcr_staged_person_end(w);
	if (!rc)
		rc = mcr_staged_person_begin(w, &person2);
	if (!rc)
		rc = mcr_staged_person_end(w);
	if (!rc)
		rc = mcr_staged_person_begin(w, &person3);
	if (!rc)
		rc = mcr_staged_person_end(w);
	if (!rc)
		rc = mcr_staged_person_begin(w, &person4);
	if (!rc)
		rc = mcr_staged_person_end(w);
	if (expect) {
		log_person(expect, &person1);
		for (int i = 0; i < 3; i++)
			log_item(expect, person1.nhs, &items1[i]);
		mcr_buf_puts(expect, "withheld 9990000018 problems sensitive 2\n"
		                     "withheld 9990000018 results confidential 1\n"
		                     "end 9990000018\n");
		log_person(expect, &person2);
		mcr_buf_puts(expect, "end 9990000026\n");
		log_person(expect, &person3);
		mcr_buf_puts(expect, "end 9990000034\n");
		log_person(expect, &person4);
		mcr_buf_puts(expect, "end 9990000042\n");
	}
	mcr_staged_count_withheld(w, MCR_REASON_OBJECTION, 7);
	mcr_staged_count_withheld(w, MCR_REASON_INVALID_NHS, 1);
	mcr_staged_count_withheld(w, MCR_REASON_SENSITIVE, 3);
	if (rc) {
		mcr_staged_writer_abort(w);
		return rc;
	}
	return mcr_staged_writer_commit(w, manifest_path);
}

static void test_round_trip(void **state)
{
	(void)state;
	char staging[PATH_MAX];
	snprintf(staging, sizeof(staging), "%s/rt", tmp);
	mcr_buf expect = MCR_BUF_INIT, got = MCR_BUF_INIT;
	char *mp = NULL;
	assert_int_equal(write_sample(staging, "A81001", T0, &mp, &expect), 0);
	char want[PATH_MAX * 2];
	snprintf(want, sizeof(want), "%s/A81001/gp/20261120T020000Z.yaml", staging);
	assert_string_equal(mp, want);

	mcr_staged_manifest *m = NULL;
	assert_int_equal(mcr_staged_manifest_read(mp, &m), 0);
	assert_int_equal(m->schema_version, 2);
	assert_string_equal(m->org, "A81001");
	assert_string_equal(m->dataset, "gp");
	assert_int_equal(m->extracted, T0);
	assert_string_equal(m->shares_from, "2012-04-01");
	assert_string_equal(m->payload, "20261120T020000Z.xml.gz");
	assert_int_equal(m->people, 4);
	assert_int_equal(m->members, 3);
	assert_int_equal(m->items, 3);
	assert_int_equal(m->objections, 2);
	assert_int_equal(m->section_items[MCR_SECTION_ALLERGIES], 1);
	assert_int_equal(m->section_items[MCR_SECTION_MEDICATIONS], 1);
	assert_int_equal(m->section_items[MCR_SECTION_MISC_REPORTS], 1);
	assert_int_equal(m->section_items[MCR_SECTION_PROBLEMS], 0);
	assert_int_equal(m->withheld[MCR_REASON_SENSITIVE], 5);
	assert_int_equal(m->withheld[MCR_REASON_CONFIDENTIAL], 1);
	assert_int_equal(m->withheld[MCR_REASON_OBJECTION], 7);
	assert_int_equal(m->withheld[MCR_REASON_INVALID_NHS], 1);
	assert_int_equal(m->withheld[MCR_REASON_UNMATCHED], 0);

	/* Length and CRC-32 describe the payload's bytes. */
	char payload[PATH_MAX * 2];
	snprintf(payload, sizeof(payload), "%s/A81001/gp/%s", staging, m->payload);
	mcr_buf raw = MCR_BUF_INIT;
	assert_int_equal(mcr_fs_read_file(payload, 1 << 20, &raw), 0);
	assert_int_equal(raw.len, m->payload_length);
	assert_int_equal((uint32_t)crc32(0, (const Bytef *)raw.ptr, (uInt)raw.len), m->payload_crc32);
	mcr_buf_free(&raw);
	mcr_staged_manifest_free(m);

	assert_int_equal(read_logged(mp, &got), 0);
	assert_string_equal(mcr_buf_cstr(&got), mcr_buf_cstr(&expect));

	/* Nothing but the payload and its manifest is left in the folder. */
	char dir[PATH_MAX * 2], names[4096];
	snprintf(dir, sizeof(dir), "%s/A81001/gp", staging);
	list_dir(dir, names, sizeof(names));
	assert_string_equal(names, "20261120T020000Z.xml.gz 20261120T020000Z.yaml");
	free(mp);
	mcr_buf_free(&expect);
	mcr_buf_free(&got);
}

/* The writer's XML is what an independent reader (zlib + the text) expects. */
static void test_escaping_on_disk(void **state)
{
	(void)state;
	char staging[PATH_MAX];
	snprintf(staging, sizeof(staging), "%s/esc", tmp);
	mcr_staged_header hd = {"A81001", "gp", T0, ""};
	mcr_staged_writer *w = NULL;
	assert_int_equal(mcr_staged_writer_open(&w, staging, &hd), 0);
	mcr_staged_person p = {"9990000018", "a\x01" "b\x7f" "c\xEF\xBF\xBF" "d", NULL, NULL, NULL,
	                       NULL, NULL, NULL, NULL, NULL};
	assert_int_equal(mcr_staged_person_begin(w, &p), 0);
	mcr_staged_detail d = {"n\"m", "x\x02y\r\nz]]>"};
	mcr_staged_item it = {MCR_SECTION_PROBLEMS, NULL, NULL, NULL, NULL, "a\tb", NULL, NULL, &d, 1};
	assert_int_equal(mcr_staged_write_item(w, &it), 0);
	assert_int_equal(mcr_staged_person_end(w), 0);
	char *mp = NULL;
	assert_int_equal(mcr_staged_writer_commit(w, &mp), 0);
	char payload[PATH_MAX * 2];
	snprintf(payload, sizeof(payload), "%s/A81001/gp/20261120T020000Z.xml.gz", staging);
	gzFile gz = gzopen(payload, "rb");
	assert_non_null(gz);
	char text[4096];
	int n = gzread(gz, text, sizeof(text) - 1);
	gzclose(gz);
	assert_true(n > 0);
	text[n] = '\0';
	/* C0 controls and U+FFFF dropped (DEL is legal XML); quotes and whitespace in
	 * attributes as references; CR in text as a reference. */
	assert_non_null(strstr(text, "family=\"ab\x7f" "cd\""));
	assert_non_null(strstr(text, "sharesFrom=\"\""));
	assert_non_null(strstr(text, "display=\"a&#9;b\""));
	assert_non_null(strstr(text, "<detail name=\"n&quot;m\">xy&#13;\nz]]&gt;</detail>"));
	mcr_buf got = MCR_BUF_INIT;
	assert_int_equal(read_logged(mp, &got), 0);
	assert_non_null(strstr(mcr_buf_cstr(&got), "detail(n\"m)=[xy\r\nz]]>]"));
	assert_non_null(strstr(mcr_buf_cstr(&got), "display=[a\tb]"));
	mcr_buf_free(&got);
	free(mp);
}

static void test_invalid_utf8_refused(void **state)
{
	(void)state;
	char staging[PATH_MAX], dir[PATH_MAX * 2], names[4096];
	snprintf(staging, sizeof(staging), "%s/utf8", tmp);
	snprintf(dir, sizeof(dir), "%s/A81001/gp", staging);
	const char *bad[] = {"Caf\xE9", "\xC0\xAF", "\xED\xA0\x80", "ab\xE2\x82", "\xF5\x80\x80\x80"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mcr_staged_header hd = {"A81001", "gp", T0, NULL};
		mcr_staged_writer *w = NULL;
		assert_int_equal(mcr_staged_writer_open(&w, staging, &hd), 0);
		mcr_staged_person p = {"9990000018", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
		assert_int_equal(mcr_staged_person_begin(w, &p), 0);
		mcr_staged_item it = {MCR_SECTION_PROBLEMS, "x", NULL, NULL, NULL, bad[i], NULL, NULL,
		                      NULL, 0};
		assert_int_equal(mcr_staged_write_item(w, &it), MCR_EFORMAT);
		assert_non_null(strstr(mcr_error_message(), "invalid UTF-8 in item display"));
		assert_non_null(strstr(mcr_error_message(), "9990000018"));
		/* After a failure the writer only aborts: commit refuses and cleans up. */
		assert_int_not_equal(mcr_staged_writer_commit(w, NULL), 0);
		list_dir(dir, names, sizeof(names));
		assert_string_equal(names, "");
	}
	/* In a detail's text too. */
	mcr_staged_header hd = {"A81001", "gp", T0, NULL};
	mcr_staged_writer *w = NULL;
	assert_int_equal(mcr_staged_writer_open(&w, staging, &hd), 0);
	mcr_staged_person p = {"9990000018", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
	assert_int_equal(mcr_staged_person_begin(w, &p), 0);
	mcr_staged_detail d = {"summary", "bad \xFF byte"};
	mcr_staged_item it = {MCR_SECTION_PROBLEMS, NULL, NULL, NULL, NULL, "ok", NULL, NULL, &d, 1};
	assert_int_equal(mcr_staged_write_item(w, &it), MCR_EFORMAT);
	assert_non_null(strstr(mcr_error_message(), "invalid UTF-8 in detail summary"));
	mcr_staged_writer_abort(w);
	list_dir(dir, names, sizeof(names));
	assert_string_equal(names, "");
}

static void test_writer_refuses_misuse(void **state)
{
	(void)state;
	char staging[PATH_MAX];
	snprintf(staging, sizeof(staging), "%s/misuse", tmp);
	mcr_staged_writer *w = NULL;
	mcr_staged_header bad_org = {"a/../b", "gp", T0, NULL};
	assert_int_not_equal(mcr_staged_writer_open(&w, staging, &bad_org), 0);
	mcr_staged_header bad_ds = {"A81001", "hospital", T0, NULL};
	assert_int_not_equal(mcr_staged_writer_open(&w, staging, &bad_ds), 0);
	mcr_staged_header bad_date = {"A81001", "gp", T0, "2021-02-30"};
	assert_int_not_equal(mcr_staged_writer_open(&w, staging, &bad_date), 0);

	mcr_staged_header hd = {"A81001", "gp", T0, NULL};
	assert_int_equal(mcr_staged_writer_open(&w, staging, &hd), 0);
	assert_int_not_equal(mcr_staged_write_member(w, "9990000019"), 0); /* check digit */
	mcr_staged_writer_abort(w);

	assert_int_equal(mcr_staged_writer_open(&w, staging, &hd), 0);
	assert_int_equal(mcr_staged_person_begin(w, &person2), 0); /* objection in force */
	mcr_staged_item it = {MCR_SECTION_PROBLEMS, NULL, NULL, NULL, NULL, "x", NULL, NULL, NULL, 0};
	assert_int_equal(mcr_staged_write_item(w, &it), MCR_ERROR);
	assert_non_null(strstr(mcr_error_message(), "objection is in force"));
	mcr_staged_writer_abort(w);
	mcr_staged_writer_abort(NULL);
}

static void test_abort_leaves_nothing(void **state)
{
	(void)state;
	char staging[PATH_MAX], dir[PATH_MAX * 2], names[4096];
	snprintf(staging, sizeof(staging), "%s/abort", tmp);
	snprintf(dir, sizeof(dir), "%s/A81001/gp", staging);
	mcr_staged_header hd = {"A81001", "gp", T0, NULL};
	mcr_staged_writer *w = NULL;
	assert_int_equal(mcr_staged_writer_open(&w, staging, &hd), 0);
	for (int i = 0; i < 5000; i++) /* past the flush threshold: bytes reach the file */
		assert_int_equal(mcr_staged_write_member(w, "9990000018"), 0);
	assert_int_equal(mcr_staged_writer_counts(w)->members, 5000);
	list_dir(dir, names, sizeof(names));
	assert_non_null(strstr(names, ".xml.gz.tmp"));
	mcr_staged_writer_abort(w);
	list_dir(dir, names, sizeof(names));
	assert_string_equal(names, "");
	char *latest = NULL;
	assert_int_equal(mcr_staged_find_latest(staging, "A81001", "gp", &latest), MCR_ENOTFOUND);
}

static void test_commit_never_overwrites(void **state)
{
	(void)state;
	char staging[PATH_MAX], dir[PATH_MAX * 2], names[4096];
	snprintf(staging, sizeof(staging), "%s/over", tmp);
	snprintf(dir, sizeof(dir), "%s/A81001/gp", staging);
	mcr_staged_header hd = {"A81001", "gp", T0, NULL};
	mcr_staged_writer *w = NULL;
	/* Two writers of the same stamp open at once (two processes); the second to
	 * commit is refused and the first one's file is intact. */
	assert_int_equal(mcr_staged_writer_open(&w, staging, &hd), 0);
	assert_int_equal(mcr_staged_write_member(w, "9990000026"), 0);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		mcr_staged_writer *w2 = NULL;
		int rc = mcr_staged_writer_open(&w2, staging, &hd);
		if (!rc)
			rc = mcr_staged_write_member(w2, "9990000018");
		if (!rc)
			rc = mcr_staged_writer_commit(w2, NULL);
		_exit(rc ? 1 : 0);
	}
	int status = 0;
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(mcr_staged_writer_commit(w, NULL), MCR_EIO);
	assert_non_null(strstr(mcr_error_message(), "already staged"));
	list_dir(dir, names, sizeof(names));
	assert_string_equal(names, "20261120T020000Z.xml.gz 20261120T020000Z.yaml");
	char mp[PATH_MAX * 3];
	snprintf(mp, sizeof(mp), "%s/20261120T020000Z.yaml", dir);
	mcr_buf got = MCR_BUF_INIT;
	assert_int_equal(read_logged(mp, &got), 0);
	assert_string_equal(mcr_buf_cstr(&got), "member 9990000018\n");
	mcr_buf_free(&got);

	/* Once committed, the stamp cannot be opened again. */
	assert_int_equal(mcr_staged_writer_open(&w, staging, &hd), MCR_EIO);
	assert_non_null(strstr(mcr_error_message(), "already staged"));
}

static void touch(const char *dir, const char *name)
{
	char p[PATH_MAX * 3];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs("x\n", f);
	fclose(f);
}

static void test_find_latest(void **state)
{
	(void)state;
	char staging[PATH_MAX], dir[PATH_MAX * 2];
	snprintf(staging, sizeof(staging), "%s/latest", tmp);
	snprintf(dir, sizeof(dir), "%s/A81001/gp", staging);
	char *mp = NULL;
	assert_int_equal(mcr_staged_find_latest(staging, "A81001", "gp", &mp), MCR_ENOTFOUND);
	assert_null(mp);
	assert_int_equal(write_sample(staging, "A81001", T0, NULL, NULL), 0);
	assert_int_equal(write_sample(staging, "A81001", T0 + 86400, NULL, NULL), 0);
	/* Newer, but incomplete or not data: a payload without manifest, temporary
	 * files, a failed-extract marker. */
	touch(dir, "20261122T020000Z.xml.gz");
	touch(dir, ".20261123T020000Z.123.xml.gz.tmp");
	touch(dir, "20261124T020000Z.yaml.tmp.99");
	touch(dir, "20261125T020000Z.failed");
	assert_int_equal(mcr_staged_find_latest(staging, "A81001", "gp", &mp), 0);
	char want[PATH_MAX * 3];
	snprintf(want, sizeof(want), "%s/20261121T020000Z.yaml", dir);
	assert_string_equal(mp, want);
	free(mp);
	assert_int_equal(mcr_staged_find_latest(staging, "A81001", "lcs", &mp), MCR_ENOTFOUND);
	assert_non_null(strstr(mcr_error_message(), "no staged file for A81001/lcs"));
}

/* ---- damage ------------------------------------------------------------------ */

static void slurp(const char *path, mcr_buf *b)
{
	mcr_buf_reset(b);
	assert_int_equal(mcr_fs_read_file(path, 1 << 24, b), 0);
}

static void spit(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

/* Replace the first line starting with key in the manifest text. */
static void set_line(mcr_buf *text, const char *key, const char *line)
{
	char *p = strstr(text->ptr, key);
	assert_non_null(p);
	char *eol = strchr(p, '\n');
	mcr_buf out = MCR_BUF_INIT;
	mcr_buf_put(&out, text->ptr, (size_t)(p - text->ptr));
	mcr_buf_puts(&out, line);
	mcr_buf_puts(&out, eol);
	mcr_buf_free(text);
	*text = out;
}

/* Rewrite the manifest's length and CRC to describe the payload as it now is. */
static void match_manifest(const char *mp, const char *payload)
{
	mcr_buf raw = MCR_BUF_INIT, text = MCR_BUF_INIT;
	slurp(payload, &raw);
	slurp(mp, &text);
	char line[64];
	snprintf(line, sizeof(line), "payload_length: %zu", raw.len);
	set_line(&text, "payload_length:", line);
	snprintf(line, sizeof(line), "payload_crc32: %08lx",
	         (unsigned long)crc32(0, (const Bytef *)raw.ptr, (uInt)raw.len));
	set_line(&text, "payload_crc32:", line);
	spit(mp, text.ptr, text.len);
	mcr_buf_free(&raw);
	mcr_buf_free(&text);
}

/* A fresh good staged file in its own staging folder: manifest and payload paths. */
static void fresh(const char *name, char *mp, char *payload, size_t n)
{
	char staging[PATH_MAX];
	snprintf(staging, sizeof(staging), "%s/%s", tmp, name);
	char *m = NULL;
	assert_int_equal(write_sample(staging, "A81001", T0, &m, NULL), 0);
	snprintf(mp, n, "%s", m);
	snprintf(payload, n, "%.*s.xml.gz", (int)(strlen(m) - 5), m);
	free(m);
}

static void expect_rejected(const char *mp, const char *what)
{
	mcr_buf log = MCR_BUF_INIT;
	mcr_error_clear();
	int rc = read_logged(mp, &log);
	if (rc == 0 || !strstr(mcr_error_message(), what))
		fail_msg("rc %d, message \"%s\", expected \"%s\"", rc, mcr_error_message(), what);
	mcr_buf_free(&log);
}

static void test_truncated(void **state)
{
	(void)state;
	char mp[PATH_MAX], payload[PATH_MAX];
	fresh("trunc", mp, payload, sizeof(mp));
	mcr_buf raw = MCR_BUF_INIT;
	slurp(payload, &raw);
	spit(payload, raw.ptr, raw.len - 20);
	expect_rejected(mp, "bytes, the manifest says");
	/* With a manifest made to match, gzip itself reports the truncation. */
	match_manifest(mp, payload);
	expect_rejected(mp, payload);
	assert_int_equal(mcr_error_code(), MCR_EFORMAT);
	mcr_buf_free(&raw);
}

static void test_flipped_byte(void **state)
{
	(void)state;
	char mp[PATH_MAX], payload[PATH_MAX];
	fresh("flip", mp, payload, sizeof(mp));
	mcr_buf raw = MCR_BUF_INIT;
	slurp(payload, &raw);
	/* gzip's MTIME field: gzip does not check it, the manifest's CRC-32 does. */
	raw.ptr[5] ^= 0x40;
	spit(payload, raw.ptr, raw.len);
	expect_rejected(mp, "payload CRC-32");
	/* A byte in the deflate stream: gzip or the CRC catches it. */
	raw.ptr[5] ^= 0x40;
	raw.ptr[raw.len / 2] ^= 0x01;
	spit(payload, raw.ptr, raw.len);
	expect_rejected(mp, payload);
	mcr_buf_free(&raw);
}

/* A good staged file whose manifest has one line changed: {line, replacement,
 * message}, each read against the payload and refused with the message. */
static void test_tampered_manifests(void **state)
{
	(void)state;
	static const struct {
		const char *line, *replacement, *message;
	} cases[] = {
		{ "  people:", "  people: 5", "4 people, the manifest says 5" },
		{ "  members:", "  members: 2", "3 members, the manifest says 2" },
		/* More withheld in persons than the manifest's totals. */
		{ "  confidential:", "  confidential: 0", "withheld as confidential" },
		{ "organisation:", "organisation: B81002",
		  "organisation B81002 is not the folder it is in" },
	};
	char mp[PATH_MAX], payload[PATH_MAX];
	fresh("tamper", mp, payload, sizeof(mp));
	mcr_buf good = MCR_BUF_INIT, text = MCR_BUF_INIT;
	slurp(mp, &good);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mcr_buf_reset(&text);
		mcr_buf_puts(&text, good.ptr);
		set_line(&text, cases[i].line, cases[i].replacement);
		spit(mp, text.ptr, text.len);
		expect_rejected(mp, cases[i].message);
	}
	mcr_buf_free(&good);
	mcr_buf_free(&text);
}

static void test_wrong_org(void **state)
{
	(void)state;
	char mp[PATH_MAX], payload[PATH_MAX];
	fresh("org", mp, payload, sizeof(mp));
	/* B81002's payload placed under A81001 with a manifest claiming A81001. */
	char staging[PATH_MAX], *bmp = NULL, bpayload[PATH_MAX * 2];
	snprintf(staging, sizeof(staging), "%s/org", tmp);
	assert_int_equal(write_sample(staging, "B81002", T0 + 60, &bmp, NULL), 0);
	snprintf(bpayload, sizeof(bpayload), "%.*s.xml.gz", (int)(strlen(bmp) - 5), bmp);
	mcr_buf raw = MCR_BUF_INIT;
	slurp(bpayload, &raw);
	spit(payload, raw.ptr, raw.len);
	match_manifest(mp, payload);
	expect_rejected(mp, ":2: org 'B81002' differs from the manifest's organisation A81001");
	free(bmp);
	mcr_buf_free(&raw);
}

/* A payload written by hand (gzip of xml) with a manifest made to match it. */
static void handmade(const char *name, const char *xml, long people, long items, char *mp,
                     size_t n)
{
	char dir[PATH_MAX * 2], payload[PATH_MAX * 3];
	snprintf(dir, sizeof(dir), "%s/%s/A81001/gp", tmp, name);
	assert_int_equal(mcr_fs_mkdirs(dir), 0);
	snprintf(payload, sizeof(payload), "%s/20261120T020000Z.xml.gz", dir);
	unlink(payload);
	mcr_gz_writer *gz = NULL;
	uint64_t len = 0;
	uint32_t crc = 0;
	assert_int_equal(mcr_gz_writer_open(&gz, payload, 6), 0);
	assert_int_equal(mcr_gz_write(gz, xml, strlen(xml)), 0);
	assert_int_equal(mcr_gz_writer_finish(gz, &len, &crc), 0);
	mcr_buf t = MCR_BUF_INIT;
	mcr_buf_printf(&t,
		"schema_version: 2\norganisation: A81001\ndataset: gp\n"
		"extracted: 2026-11-20T02:00:00Z\nshares_from: \"\"\n"
		"payload: 20261120T020000Z.xml.gz\npayload_length: %llu\npayload_crc32: %08x\n"
		"counts:\n  people: %ld\n  members: 0\n  items: %ld\n  objections: 0\n  sections:\n",
		(unsigned long long)len, (unsigned)crc, people, items);
	for (int s = 0; s < MCR_SECTION_COUNT; s++)
		mcr_buf_printf(&t, "    %s: %ld\n", mcr_section_name((mcr_section)s),
		               s == MCR_SECTION_PROBLEMS ? items : 0L);
	mcr_buf_puts(&t, "withheld:\n");
	for (int r = 0; r < MCR_REASON_COUNT; r++)
		mcr_buf_printf(&t, "  %s: 0\n", mcr_reason_name((mcr_reason)r));
	snprintf(mp, n, "%s/20261120T020000Z.yaml", dir);
	spit(mp, t.ptr, t.len);
	mcr_buf_free(&t);
}

#define HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define ROOT "<staged xmlns=\"urn:mcr:staged:1\" org=\"A81001\" dataset=\"gp\" " \
             "extracted=\"2026-11-20T02:00:00Z\">\n"

static void test_handmade_good(void **state)
{
	(void)state;
	char mp[PATH_MAX * 3];
	handmade("hgood", HEAD ROOT "<person nhs=\"9990000018\">\n"
	         "<item section=\"problems\" display=\"a &amp;amp; b &#38; c &lt;\"/>\n"
	         "</person>\n</staged>\n", 1, 1, mp, sizeof(mp));
	mcr_buf log = MCR_BUF_INIT;
	assert_int_equal(read_logged(mp, &log), 0);
	assert_string_equal(mcr_buf_cstr(&log),
	                    "person 9990000018\nitem 9990000018 problems display=[a &amp; b & c <]\n"
	                    "end 9990000018\n");
	mcr_buf_free(&log);
}

static void test_schema_violations(void **state)
{
	(void)state;
	static const struct {
		const char *xml;
		long people, items;
		const char *message;
	} cases[] = {
		{HEAD ROOT "<person nhs=\"9990000018\">\n<item section=\"gossip\"/>\n</person>\n</staged>\n",
		 1, 1, ":4: item with unknown section 'gossip'"},
		{HEAD ROOT "<person nhs=\"99900000180\"/>\n</staged>\n", 1, 0,
		 ":3: person with an invalid NHS number '99900000180'"},
		{HEAD ROOT "<member nhs=\"999000001\"/>\n</staged>\n", 0, 0,
		 ":3: member with an invalid NHS number"},
		{HEAD ROOT "<person nhs=\"9990000018\" colour=\"blue\"/>\n</staged>\n", 1, 0,
		 ":3: schema: "},
		{HEAD ROOT "<person nhs=\"9990000018\">\n<withheld section=\"problems\" reason=\"sensitive\" count=\"0\"/>\n</person>\n</staged>\n",
		 1, 0, ":4: "},
		{HEAD ROOT "<person nhs=\"9990000018\">\n<note/>\n</person>\n</staged>\n", 1, 0,
		 ":4: unexpected element note"},
		{HEAD ROOT "<person nhs=\"9990000018\">stray text</person>\n</staged>\n", 1, 0,
		 ":3: schema: "},
		{HEAD "<staged xmlns=\"urn:mcr:staged:2\" org=\"A81001\" dataset=\"gp\" extracted=\"2026-11-20T02:00:00Z\"/>\n",
		 0, 0, "not in namespace urn:mcr:staged:1"},
		{HEAD ROOT "<person nhs=\"9990000018\" objection=\"2024-01-01\">\n<item section=\"problems\"/>\n</person>\n</staged>\n",
		 1, 1, ":4: item for person 9990000018 whose objection is in force"},
		{HEAD "<!DOCTYPE staged [<!ENTITY x \"boom\">]>\n" ROOT "<person nhs=\"9990000018\" family=\"&x;\"/>\n</staged>\n",
		 1, 0, ":2: DOCTYPE not allowed"},
		{HEAD ROOT "<person nhs=\"9990000018\">\n</staged>\n", 1, 0, ":4: "},
		{HEAD ROOT "<person nhs=\"9990000018\"/>\n</staged>\n<extra/>\n", 1, 0, "Extra content"},
		/* Structure: each element only where the schema puts it. */
		{HEAD ROOT "<item section=\"problems\"/>\n</staged>\n", 0, 1, ":3: "},
		{HEAD ROOT "<person nhs=\"9990000018\">\n<member nhs=\"9990000018\"/>\n</person>\n</staged>\n",
		 1, 0, ":4: "},
		{HEAD ROOT "<person nhs=\"9990000018\">\n<detail name=\"x\">y</detail>\n</person>\n</staged>\n",
		 1, 0, ":4: "},
		{"", 0, 0, ":1: payload is empty"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char mp[PATH_MAX * 3], name[32];
		snprintf(name, sizeof(name), "schema%zu", i);
		handmade(name, cases[i].xml, cases[i].people, cases[i].items, mp, sizeof(mp));
		mcr_buf log = MCR_BUF_INIT;
		mcr_error_clear();
		int rc = read_logged(mp, &log);
		if (rc != MCR_EFORMAT || !strstr(mcr_error_message(), cases[i].message) ||
		    !strstr(mcr_error_message(), "20261120T020000Z.xml.gz:"))
			fail_msg("case %zu: rc %d, message \"%s\", expected \"%s\"", i, rc,
			         mcr_error_message(), cases[i].message);
		mcr_buf_free(&log);
	}
}

static void test_bad_manifests(void **state)
{
	(void)state;
	char mp[PATH_MAX], payload[PATH_MAX];
	fresh("badman", mp, payload, sizeof(mp));
	mcr_buf good = MCR_BUF_INIT, text = MCR_BUF_INIT;
	slurp(mp, &good);
	static const struct {
		const char *key, *line, *message;
	} cases[] = {
		{"schema_version:", "schema_version: 3", ":2: unsupported schema_version 3 (this build reads 1 to 2)"},
		{"schema_version:", "schema_version: 0", ":2: unsupported schema_version 0"},
		{"dataset:", "dataset: hospital", ":4: bad dataset 'hospital'"},
		{"extracted:", "extracted: yesterday", ":5: bad extracted time"},
		{"payload:", "payload: ../../etc/passwd.xml.gz", ":7: bad payload name"},
		{"payload_crc32:", "payload_crc32: 0A1B2C3D", ":9: bad payload_crc32"},
		{"  items:", "  items: 4", ":13: items 4 is not the sum of the sections (3)"},
		{"  people:", "  people: -1", ":11: bad people '-1'"},
		{"withheld:", "withheld:\n  colour: 1", ":26: unknown key 'colour' in withheld"},
		{"  unmatched:", "", ":26: missing key 'unmatched' in withheld"},
		{"dataset:", "dataset: gp\ndataset: gp", ":5: duplicate key 'dataset'"},
		{"counts:", "counts: [1, 2]", ":11: bad YAML: did not find expected key"},
		{"shares_from:", "shares_from: [2012-04-01]", ":6: shares_from must be a plain value"},
		{"shares_from:", "shares_from: 2012-04-31", ":6: bad shares_from date"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mcr_buf_reset(&text);
		mcr_buf_puts(&text, good.ptr);
		set_line(&text, cases[i].key, cases[i].line);
		spit(mp, text.ptr, text.len);
		mcr_staged_manifest *m = NULL;
		mcr_error_clear();
		int rc = mcr_staged_manifest_read(mp, &m);
		char want[PATH_MAX * 2];
		snprintf(want, sizeof(want), "%s%s", mp, cases[i].message);
		if (rc != MCR_EFORMAT || !strstr(mcr_error_message(), want))
			fail_msg("case %zu: rc %d, message \"%s\", expected \"%s\"", i, rc,
			         mcr_error_message(), want);
		assert_null(m);
	}
	mcr_buf_free(&good);
	mcr_buf_free(&text);
}

/* A version 1 manifest (the release before invalid-date and malformed) is read with
 * those reasons 0; listing them in version 1, or leaving them out of 2, is refused. */
static void test_manifest_v1(void **state)
{
	(void)state;
	char mp[PATH_MAX], payload[PATH_MAX];
	fresh("manv1", mp, payload, sizeof(mp));
	mcr_buf good = MCR_BUF_INIT, text = MCR_BUF_INIT;
	slurp(mp, &good);
	mcr_buf_puts(&text, good.ptr);
	set_line(&text, "schema_version:", "schema_version: 1");
	set_line(&text, "  invalid-date:", "");
	set_line(&text, "  malformed:", "");
	spit(mp, text.ptr, text.len);
	mcr_staged_manifest *m = NULL;
	assert_int_equal(mcr_staged_manifest_read(mp, &m), 0);
	assert_int_equal(m->schema_version, 1);
	assert_int_equal(m->withheld[MCR_REASON_INVALID_DATE], 0);
	assert_int_equal(m->withheld[MCR_REASON_MALFORMED], 0);
	assert_int_equal(m->people, 4);
	mcr_staged_manifest_free(m);
	m = NULL;

	mcr_buf_reset(&text);
	mcr_buf_puts(&text, good.ptr);
	set_line(&text, "schema_version:", "schema_version: 1");
	spit(mp, text.ptr, text.len);
	mcr_error_clear();
	assert_int_equal(mcr_staged_manifest_read(mp, &m), MCR_EFORMAT);
	assert_non_null(strstr(mcr_error_message(), "unknown key 'invalid-date' in withheld"));
	assert_null(m);

	mcr_buf_reset(&text);
	mcr_buf_puts(&text, good.ptr);
	set_line(&text, "  malformed:", "");
	spit(mp, text.ptr, text.len);
	mcr_error_clear();
	assert_int_equal(mcr_staged_manifest_read(mp, &m), MCR_EFORMAT);
	assert_non_null(strstr(mcr_error_message(), "missing key 'malformed' in withheld"));
	assert_null(m);
	mcr_buf_free(&good);
	mcr_buf_free(&text);
}

/* A payload whose manifest is missing is not found; one whose payload is gone is refused. */
static void test_missing_parts(void **state)
{
	(void)state;
	char mp[PATH_MAX], payload[PATH_MAX];
	fresh("missing", mp, payload, sizeof(mp));
	mcr_staged_manifest *m = NULL;
	assert_int_equal(mcr_staged_manifest_read(mp, &m), 0);
	unlink(payload);
	mcr_staged_handler h = {0};
	assert_int_equal(mcr_staged_read(mp, m, &h), MCR_EFORMAT);
	assert_non_null(strstr(mcr_error_message(), "unreadable"));
	mcr_staged_manifest_free(m);
	unlink(mp);
	char staging[PATH_MAX], *latest = NULL;
	snprintf(staging, sizeof(staging), "%s/missing", tmp);
	assert_int_equal(mcr_staged_find_latest(staging, "A81001", "gp", &latest), MCR_ENOTFOUND);
	assert_int_equal(mcr_staged_manifest_read(mp, &m), MCR_ENOTFOUND);
}

/* A callback's non-zero return stops the read and comes back unchanged. */
static int stop_at_item(void *ctx, const mcr_staged_person *p, const mcr_staged_item *it)
{
	(void)p;
	(void)it;
	(*(int *)ctx)++;
	return 42;
}

static void test_callback_stops(void **state)
{
	(void)state;
	char mp[PATH_MAX], payload[PATH_MAX];
	fresh("stop", mp, payload, sizeof(mp));
	mcr_staged_manifest *m = NULL;
	assert_int_equal(mcr_staged_manifest_read(mp, &m), 0);
	int calls = 0;
	mcr_staged_handler h = {&calls, NULL, NULL, stop_at_item, NULL, NULL};
	assert_int_equal(mcr_staged_read(mp, m, &h), 42);
	assert_int_equal(calls, 1);
	mcr_staged_manifest_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_escaping_on_disk),
		cmocka_unit_test(test_invalid_utf8_refused),
		cmocka_unit_test(test_writer_refuses_misuse),
		cmocka_unit_test(test_abort_leaves_nothing),
		cmocka_unit_test(test_commit_never_overwrites),
		cmocka_unit_test(test_find_latest),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_flipped_byte),
		cmocka_unit_test(test_tampered_manifests),
		cmocka_unit_test(test_wrong_org),
		cmocka_unit_test(test_handmade_good),
		cmocka_unit_test(test_schema_violations),
		cmocka_unit_test(test_bad_manifests),
		cmocka_unit_test(test_manifest_v1),
		cmocka_unit_test(test_missing_parts),
		cmocka_unit_test(test_callback_stops),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
