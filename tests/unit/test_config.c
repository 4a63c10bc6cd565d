/* mcr.yaml: every field of a full config, defaults, and one bad file per error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mcr/config.h"
#include "mcr/error.h"

static char data_dir[PATH_MAX];

static const char *data(const char *name)
{
	static char path[PATH_MAX * 2];
	snprintf(path, sizeof(path), "%s/%s", data_dir, name);
	return path;
}

static void path_eq(const char *got, const char *rel)
{
	char want[PATH_MAX * 2];
	if (rel[0] == '/')
		snprintf(want, sizeof(want), "%s", rel);
	else
		snprintf(want, sizeof(want), "%s/%s", data_dir, rel);
	assert_string_equal(got, want);
}

static void test_full(void **state)
{
	(void)state;
	mcr_config *c = NULL;
	assert_int_equal(mcr_config_load(&c, data("valid.yaml")), 0);
	assert_string_equal(c->path, data("valid.yaml"));
	assert_string_equal(c->region, "East and North Hertfordshire (sample)");
	path_eq(c->staging_dir, "staging");
	path_eq(c->archive_dir, "/var/lib/mcr/archive");
	path_eq(c->quarantine_dir, "q/quarantine");
	path_eq(c->store_dir, "store");
	path_eq(c->audit_path, "audit/audit.sqlite");
	path_eq(c->log_path, "log/mcr.log");
	path_eq(c->lock_path, "run/mcr.lock");
	assert_int_equal(c->keep_generations, 4);
	assert_int_equal(c->archive_days, 14);
	assert_int_equal(c->fresh_nightly_hours, 30);
	assert_int_equal(c->fresh_twice_daily_hours, 8);
	assert_int_equal(c->hold_drop_percent, 25);
	assert_int_equal(c->hold_min_fall, 3);

	assert_int_equal(c->norgs, 3);
	const mcr_org *o = mcr_config_org(c, "A81001");
	assert_non_null(o);
	assert_ptr_equal(o, &c->orgs[0]);
	assert_string_equal(o->name, "Riverside Surgery");
	assert_int_equal(o->kind, MCR_KIND_GP);
	assert_int_equal(o->schedule, MCR_SCHEDULE_NIGHTLY);
	assert_string_equal(o->shares_from, "2012-04-01");
	assert_string_equal(o->caldicott, "Dr Jane Example, caldicott.a81001@example.nhs.uk");
	path_eq(o->source, "sources/gp/A81001");

	o = mcr_config_org(c, "LCS01");
	assert_non_null(o);
	assert_string_equal(o->name, "County Council: Children's and Adults' Services");
	assert_int_equal(o->kind, MCR_KIND_LCS);
	assert_string_equal(o->shares_from, "");
	assert_null(o->caldicott);
	assert_null(o->source);

	o = mcr_config_org(c, "NHS111");
	assert_non_null(o);
	assert_int_equal(o->kind, MCR_KIND_OOH);
	assert_int_equal(o->schedule, MCR_SCHEDULE_TWICE_DAILY);
	assert_string_equal(o->shares_from, "2020-02-29");
	path_eq(o->source, "/srv/ooh");
	assert_null(mcr_config_org(c, "a81001"));
	assert_null(mcr_config_org(c, "Z99999"));

	assert_int_equal(c->consent_required, 1);
	assert_int_equal(c->objection_codes.count, 2);
	assert_true(mcr_config_code_in(&c->objection_codes, "416409005"));
	assert_true(mcr_config_code_in(&c->objection_codes, "123456"));
	assert_false(mcr_config_code_in(&c->objection_codes, "417528008"));
	assert_int_equal(c->consent_codes.count, 1);
	assert_true(mcr_config_code_in(&c->consent_codes, "417528008"));
	assert_int_equal(c->sensitive_codes.count, 3);
	/* Kept sorted, whatever the file's order. */
	assert_string_equal(c->sensitive_codes.codes[0], "1000001");
	assert_string_equal(c->sensitive_codes.codes[1], "3000003");
	assert_string_equal(c->sensitive_codes.codes[2], "7200002");
	for (size_t i = 0; i < c->sensitive_codes.count; i++)
		assert_true(mcr_config_code_in(&c->sensitive_codes, c->sensitive_codes.codes[i]));
	assert_false(mcr_config_code_in(&c->sensitive_codes, "2000002"));
	assert_false(mcr_config_code_in(&c->sensitive_codes, ""));
	assert_int_equal(c->clinician_roles.count, 3);
	assert_true(mcr_config_code_in(&c->clinician_roles, "R0050"));
	assert_true(mcr_config_code_in(&c->clinician_roles, "R0260"));
	assert_true(mcr_config_code_in(&c->clinician_roles, "R0270"));
	assert_int_equal(c->ooh_recent_days, 60);
	assert_int_equal(c->max_unmatched_percent, 2);

	assert_int_equal(c->nroles, 2);
	const mcr_role *r = mcr_config_role(c, "clinician");
	assert_non_null(r);
	assert_int_equal(r->sections, (1u << MCR_SECTION_COUNT) - 1);
	r = mcr_config_role(c, "social-worker");
	assert_non_null(r);
	assert_int_equal(r->sections, (1u << MCR_SECTION_DEMOGRAPHICS) |
	                 (1u << MCR_SECTION_ALLERGIES) | (1u << MCR_SECTION_SOCIAL_CARE));
	assert_null(mcr_config_role(c, "receptionist"));

	assert_int_equal(c->nstaff, 2);
	const mcr_staff *s = mcr_config_staff(c, "jbloggs");
	assert_non_null(s);
	assert_string_equal(s->nhs, "9990000018");
	s = mcr_config_staff(c, "asmith");
	assert_non_null(s);
	assert_string_equal(s->nhs, "9990000026"); /* "999 000 0026" normalised */
	assert_null(mcr_config_staff(c, "nobody"));
	mcr_config_free(c);
}

static void test_defaults(void **state)
{
	(void)state;
	mcr_config *c = NULL;
	assert_int_equal(mcr_config_load(&c, data("minimal.yaml")), 0);
	path_eq(c->archive_dir, "archive");
	path_eq(c->quarantine_dir, "quarantine");
	path_eq(c->log_path, "log/mcr.log");
	path_eq(c->lock_path, "store/mcr.lock");
	assert_int_equal(c->keep_generations, 3);
	assert_int_equal(c->archive_days, 30);
	assert_int_equal(c->fresh_nightly_hours, 26);
	assert_int_equal(c->fresh_twice_daily_hours, 14);
	assert_int_equal(c->hold_drop_percent, 10);
	assert_int_equal(c->hold_min_fall, 5);
	assert_int_equal(c->norgs, 0);
	assert_int_equal(c->consent_required, 0);
	assert_true(mcr_config_code_in(&c->objection_codes, "416409005"));
	assert_true(mcr_config_code_in(&c->consent_codes, "417528008"));
	assert_int_equal(c->sensitive_codes.count, 0);
	assert_false(mcr_config_code_in(&c->sensitive_codes, "416409005"));
	assert_int_equal(c->clinician_roles.count, 0);
	assert_int_equal(c->ooh_recent_days, 90);
	assert_int_equal(c->max_unmatched_percent, 5);
	assert_int_equal(c->nstaff, 0);
	assert_int_equal(mcr_config_role(c, "clinician")->sections, 1u << MCR_SECTION_ALLERGIES);
	assert_false(c->web.present);
	assert_string_equal(c->web.listen_host, "127.0.0.1");
	assert_int_equal(c->web.listen_port, 8080);
	assert_int_equal(c->web.threads, 4);
	path_eq(c->web.state_dir, "web");
	assert_int_equal(c->web.session_idle, 900);
	assert_int_equal(c->web.session_max, 28800);
	assert_int_equal(c->web.nlaunchers, 0);
	assert_int_equal(c->web.frame_ancestors.count, 0);
	mcr_config_free(c);
}

/* The web section of mcr-serve. */
static void test_web(void **state)
{
	(void)state;
	mcr_config *c = NULL;
	assert_int_equal(mcr_config_load(&c, data("web.yaml")), 0);
	assert_true(c->web.present);
	assert_string_equal(c->web.listen_host, "::1");
	assert_int_equal(c->web.listen_port, 0);
	assert_int_equal(c->web.threads, 2);
	path_eq(c->web.state_dir, "run/web");
	assert_int_equal(c->web.session_idle, 60);
	assert_int_equal(c->web.session_max, 600);
	assert_int_equal(c->web.frame_ancestors.count, 2);
	assert_true(mcr_config_code_in(&c->web.ig_roles, "ig"));
	assert_int_equal(c->web.nlaunchers, 2);
	const mcr_launcher *l = mcr_config_launcher(c, "lcs");
	assert_non_null(l);
	path_eq(l->public_key, "keys/lcs.pub.pem");
	assert_true(mcr_config_code_in(&l->orgs, "X99LCS"));
	assert_false(mcr_config_code_in(&l->orgs, "B82002"));
	path_eq(mcr_config_launcher(c, "gp-system")->public_key, "/etc/mcr/gp.pub.pem");
	assert_null(mcr_config_launcher(c, "nobody"));
	assert_null(mcr_config_launcher(c, NULL));
	mcr_config_free(c);
}

/* A relative config path resolves against the current directory's realpath. */
static void test_relative_config_path(void **state)
{
	(void)state;
	char cwd[PATH_MAX];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(data_dir), 0);
	mcr_config *c = NULL;
	int rc = mcr_config_load(&c, "minimal.yaml");
	assert_int_equal(chdir(cwd), 0);
	assert_int_equal(rc, 0);
	path_eq(c->staging_dir, "staging");
	mcr_config_free(c);
}

/* The example config the package installs (jobs/mcr.yaml.example) is valid and
 * uses the package's folders. */
static void test_packaged_example(void **state)
{
	(void)state;
	mcr_config *c = NULL;
	if (mcr_config_load(&c, MCR_SOURCE_DIR "/jobs/mcr.yaml.example") != 0)
		fail_msg("%s", mcr_error_message());
	assert_string_equal(c->store_dir, "/var/lib/mcr/store");
	assert_string_equal(c->audit_path, "/var/lib/mcr/audit/audit.sqlite");
	assert_string_equal(c->log_path, "/var/log/mcr/mcr.log");
	assert_int_equal(c->norgs, 3);
	mcr_config_free(c);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(mcr_org_kind_name(MCR_KIND_GP), "gp");
	assert_string_equal(mcr_org_kind_name(MCR_KIND_LCS), "lcs");
	assert_string_equal(mcr_org_kind_name(MCR_KIND_OOH), "ooh");
	assert_string_equal(mcr_org_dataset(MCR_KIND_OOH), "ooh");
	assert_string_equal(mcr_schedule_name(MCR_SCHEDULE_NIGHTLY), "nightly");
	assert_string_equal(mcr_schedule_name(MCR_SCHEDULE_TWICE_DAILY), "twice-daily");
	setenv("MCR_CONFIG", "/etc/mcr/region.yaml", 1);
	assert_string_equal(mcr_config_default_path(), "/etc/mcr/region.yaml");
	unsetenv("MCR_CONFIG");
	assert_string_equal(mcr_config_default_path(), "./mcr.yaml");
	mcr_config_free(NULL);
}

static void test_missing_file(void **state)
{
	(void)state;
	mcr_config *c = (mcr_config *)1;
	assert_int_equal(mcr_config_load(&c, data("no-such.yaml")), MCR_ECONFIG);
	assert_null(c);
	assert_non_null(strstr(mcr_error_message(), "cannot read "));
	assert_non_null(strstr(mcr_error_message(), "no-such.yaml: No such file or directory"));
}

/* Each bad file and what its message must say: "file:line:column: reason". */
static const struct {
	const char *file;
	const char *message;
} bad[] = {
	{"bad-unknown-key.yaml", ":13:1: unknown key 'colour' in the configuration"},
	{"bad-unknown-nested-key.yaml", ":10:5: unknown key 'postcode' in an organisation"},
	{"bad-duplicate-key.yaml", ":5:3: duplicate key 'store' in paths (first at line 4)"},
	{"bad-missing-region.yaml", ":1:1: missing required key 'region'"},
	{"bad-missing-staging.yaml", ":3:3: missing required key 'staging' in paths"},
	{"bad-missing-store.yaml", ":3:3: missing required key 'store' in paths"},
	{"bad-missing-audit.yaml", ":3:3: missing required key 'audit' in paths"},
	{"bad-missing-organisations.yaml", ":1:1: missing required key 'organisations'"},
	{"bad-missing-roles.yaml", ":11:3: missing required key 'roles' in policy"},
	{"bad-kind.yaml", ":9:11: bad kind 'hospital' for A81001: expected gp, lcs or ooh"},
	{"bad-schedule.yaml", ":10:15: bad schedule 'weekly' for A81001"},
	{"bad-shares-from.yaml", ":10:18: bad shares_from date '2021-02-30' for A81001"},
	{"bad-ods.yaml", ":7:10: bad ODS code 'a81-001'"},
	{"bad-consent-mode.yaml", ":11:29: bad consent_at_point_of_care 'sometimes'"},
	{"bad-section.yaml", ":12:28: unknown section 'gossip' in role 'clinician'"},
	{"bad-staff-nhs.yaml", ":15:12: bad NHS number '9990000019' for staff user 'jbloggs'"},
	{"bad-integer.yaml", ":11:20: ooh_recent_days must be a positive integer, not '-5'"},
	{"bad-zero-integer.yaml", ":3:17: archive_days must be a positive integer, not '0'"},
	{"bad-one-generation.yaml", ":3:16: generations must be at least 2, not 1"},
	{"bad-duplicate-ods.yaml", ":10:5: duplicate organisation A81001 (first at line 7)"},
	{"bad-duplicate-role.yaml", ":13:5: duplicate role 'clinician' (first at line 12)"},
	{"bad-duplicate-staff.yaml", ":16:13: duplicate staff user 'jbloggs' (first at line 14)"},
	{"bad-syntax-error.yaml", ":9:9: YAML syntax error: did not find expected ',' or ']'"},
	{"bad-wrong-type.yaml", ":2:8: paths must be a mapping, not a list"},
	{"bad-code-not-scalar.yaml", ":11:26: a code must be a scalar, not a list"},
	{"bad-encoding.yaml", ":1:12: bad encoding (UTF-8 expected)"},
	{"bad-freshness-hours.yaml", ":11:12: freshness.nightly (hours) must be a positive integer, not '26h'"},
	{"bad-freshness-key.yaml", ":11:3: unknown key 'weekly' in freshness"},
	{"bad-hold-percent.yaml", ":11:22: hold_drop_percent must be a whole number from 0 to 100, not '150'"},
	{"bad-web-port.yaml", ":14:11: bad listen port in '127.0.0.1:70000': expected 0 to 65535"},
	{"bad-web-duplicate-launcher.yaml", ":18:11: duplicate launcher 'lcs' (first at line 15)"},
	{"bad-web-timeouts.yaml", ":14:17: session_idle (900) must not exceed session_max (600)"},
	{"bad-web-unknown-key.yaml", ":18:7: unknown key 'secret' in a launcher"},
	{"bad-backend.yaml", ":11:12: unknown store.backend 'oracle': expected sqlite or postgresql"},
	{"bad-store-unknown-key.yaml", ":12:3: unknown key 'kind' in store"},
	{"bad-pg-no-conninfo.yaml", ":11:12: store.backend postgresql needs postgresql.conninfo"},
	{"bad-pg-password.yaml", ":13:13: postgresql.conninfo must not hold a password"},
	{"bad-pg-uri-password.yaml", ":13:13: postgresql.conninfo must not hold a password"},
	{"bad-pg-query-password.yaml", ":13:13: postgresql.conninfo must not hold a password"},
	{"bad-pg-conninfo.yaml", ":13:13: bad postgresql.conninfo: not a libpq connection string"},
	{"bad-pg-unknown-key.yaml", ":14:3: unknown key 'password' in postgresql"},
	{"bad-unmatched-percent.yaml", ":10:26: max_unmatched_percent must be a whole number from 0 to 100, not '5%'"},
};

static void test_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mcr_config *c = (mcr_config *)1;
		mcr_error_clear();
		int rc = mcr_config_load(&c, data(bad[i].file));
		char want[PATH_MAX * 3];
		snprintf(want, sizeof(want), "%s%s", data(bad[i].file), bad[i].message);
		if (rc != MCR_ECONFIG || !strstr(mcr_error_message(), want))
			fail_msg("%s: rc %d, message \"%s\", expected \"%s\"", bad[i].file, rc,
			         mcr_error_message(), want);
		assert_null(c);
		/* The files that carry a secret never see it repeated in the message. */
		if (strstr(mcr_error_message(), "s3cret"))
			fail_msg("%s: message repeats the secret: %s", bad[i].file, mcr_error_message());
	}
}

/* store.backend and postgresql: sqlite by default, the conninfo kept as written,
 * the password file resolved against the config's folder. */
static void test_backend(void **state)
{
	(void)state;
	mcr_config *c = NULL;
	assert_int_equal(mcr_config_load(&c, data("minimal.yaml")), 0);
	assert_int_equal(c->backend, MCR_BACKEND_SQLITE);
	assert_null(c->pg.conninfo);
	assert_null(c->pg.password_file);
	mcr_config_free(c);

	assert_int_equal(mcr_config_load(&c, data("pg.yaml")), 0);
	assert_int_equal(c->backend, MCR_BACKEND_POSTGRESQL);
	assert_string_equal(c->pg.conninfo, "host=127.0.0.1 port=5432 dbname=mcr user=mcr");
	path_eq(c->pg.password_file, "secrets/pg.password");
	mcr_config_free(c);

	if (mcr_config_load(&c, data("pg-uri.yaml")) != 0)
		fail_msg("%s", mcr_error_message());
	assert_string_equal(c->pg.conninfo, "postgresql://mcr@db1.example.org:5433/mcr?sslmode=verify-full");
	assert_null(c->pg.password_file);
	mcr_config_free(c);

	assert_string_equal(mcr_backend_name(MCR_BACKEND_SQLITE), "sqlite");
	assert_string_equal(mcr_backend_name(MCR_BACKEND_POSTGRESQL), "postgresql");
}

int main(void)
{
	const char *d = getenv("MCR_TEST_DATA");
	snprintf(data_dir, sizeof(data_dir), "%s/config", d ? d : MCR_SOURCE_DIR "/tests/data");
	char *real = realpath(data_dir, NULL);
	if (real) {
		snprintf(data_dir, sizeof(data_dir), "%s", real);
		free(real);
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_web),
		cmocka_unit_test(test_relative_config_path),
		cmocka_unit_test(test_packaged_example),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_backend),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
