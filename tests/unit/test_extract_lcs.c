/* mcr_extract_lcs: opt-in consent, caseload, CSV quoting, bad rows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_extract_util.h"

#define PERSONS_HEAD "\xEF\xBB\xBFperson_id,nhs_number,family_name,given_name,birth_date,service,share_consent,consent_date\r\n"
#define INV_HEAD "\xEF\xBB\xBFperson_id,involvement_id,type,start_date,end_date,team,worker_name,worker_phone,summary\r\n"

/* P1 Y open+closed; P2 N open; P3 empty closed; P4 Y bad number open; P5 Y spaced
 * number, no involvement; P6 Y involvement before shares-from. */
static const char persons[] = PERSONS_HEAD
	"P0000001,9990000018,\"O'Brien, Jr\",Siân,2012-05-06,children,Y,2024-01-02\r\n"
	"P0000002,9990000026,Smith,Ann,1950-01-01,adults,N,2024-01-02\r\n"
	"P0000003,9990000034,Jones,Bob,1960-01-01,adults,,\r\n"
	"P0000004,9990000019,Bad,Number,1960-01-01,adults,Y,2024-01-02\r\n"
	"P0000005,999 000 0042,Khan,Ali,1970-01-01,adults,Y,2024-01-02\r\n"
	"P0000006,9990000050,Old,Case,1970-01-01,adults,Y,2024-01-02\r\n";

static const char involvements[] = INV_HEAD
	"P0000001,INV00000001,Child in Need,2023-01-01,,Family Support North,Jo Worker,01632 960001,\"Weekly visits, school \"\"liaison\"\"\nsecond line\"\r\n"
	"P0000001,INV00000002,Assessment,2022-01-01,2022-03-01,Duty,Al Worker,01632 960002,Closed\r\n"
	"P0000002,INV00000003,Care Package,2021-01-01,,Adults East,Ben Worker,01632 960003,Home care\r\n"
	"P0000003,INV00000004,Assessment,2021-01-01,2021-02-01,Adults East,Ben Worker,01632 960003,Done\r\n"
	"P0000004,INV00000005,Assessment,2021-01-01,,Adults East,Ben Worker,01632 960003,Open\r\n"
	"P0000006,INV00000006,Assessment,2009-01-01,2009-02-01,Adults East,Ben Worker,01632 960003,Old\r\n";

static void test_rules(void **state)
{
	(void)state;
	twrite("lcs/persons.csv", persons);
	const char *p = twrite("lcs/involvements.csv", involvements);
	(void)p;
	char in[128];
	snprintf(in, sizeof in, "%s/lcs", tdir);
	assert_int_equal(textract(MCR_KIND_LCS, "LA919", in), 0);
	assert_int_equal(tman->people, 3);     /* P1, P5, P6 */
	assert_int_equal(tman->members, 2);    /* open: P1, P2 (P4 invalid) */
	assert_int_equal(tman->items, 2);      /* P1's two */
	assert_int_equal(tman->section_items[MCR_SECTION_SOCIAL_CARE], 2);
	assert_int_equal(tman->withheld[MCR_REASON_INVALID_NHS], 1);
	assert_int_equal(tman->withheld[MCR_REASON_NO_CONSENT], 2);
	assert_int_equal(tman->withheld[MCR_REASON_BEFORE_SHARES_FROM], 1);
	assert_log_has("member 9990000018\n");
	assert_log_has("member 9990000026\n");
	assert_log_has("person 9990000018 family=O'Brien, Jr given=Siân objection=- consent=Y\n");
	assert_log_has("person 9990000042 family=Khan given=Ali objection=- consent=Y\n");
	assert_log_has("item 9990000018 social-care - Child in Need | type=Child in Need | start=2023-01-01 | team=Family Support North | worker=Jo Worker | phone=01632 960001 | summary=Weekly visits, school \"liaison\"\nsecond line\n");
	assert_log_has("item 9990000018 social-care - Assessment | type=Assessment | start=2022-01-01 | end=2022-03-01");
	assert_log_has("withheld 9990000050 social-care before-shares-from 1\n");
	/* Without consent nothing is staged: not their names, not their involvements. */
	assert_log_lacks("Smith");
	assert_log_lacks("Home care");
	assert_log_lacks("person 9990000026");
	assert_log_lacks("Jones");
	assert_log_lacks("9990000019");
}

static void expect_bad(const char *p_csv, const char *i_csv, const char *want)
{
	twrite("bad/persons.csv", p_csv);
	twrite("bad/involvements.csv", i_csv);
	char in[128];
	snprintf(in, sizeof in, "%s/bad", tdir);
	assert_int_not_equal(textract(MCR_KIND_LCS, "LA919", in), 0);
	assert_error_has(want);
	assert_false(staged_files_left());
}

static void test_bad(void **state)
{
	(void)state;
	expect_bad(PERSONS_HEAD "P1,9990000018,A,B,2000-01-01,adults,maybe,\r\n", INV_HEAD,
	           "persons.csv:2: bad share_consent");
	expect_bad(PERSONS_HEAD "P1,9990000018,A,B,2000-13-01,adults,Y,\r\n", INV_HEAD,
	           "persons.csv:2: bad birth_date");
	expect_bad(PERSONS_HEAD "P1,9990000018,A,B,2000-01-01,elderly,Y,\r\n", INV_HEAD,
	           "persons.csv:2: bad service");
	expect_bad(PERSONS_HEAD "P1,9990000018,A,B,2000-01-01,adults,Y,\r\n",
	           INV_HEAD "P1,I1,Assessment,2020-01-01,,t,w,p,s\r\nP9,I2,Assessment,2020-01-01,,t,w,p,s\r\n",
	           "involvements.csv:3: involvement for unknown person_id 'P9'");
	expect_bad(PERSONS_HEAD "P1,9990000018,A,B,2000-01-01,adults,Y,\r\n",
	           INV_HEAD "P1,I1,Assessment,01/02/2020,,t,w,p,s\r\n", "involvements.csv:2: bad start_date");
	expect_bad(PERSONS_HEAD "P1,9990000018,A,\"B,2000-01-01,adults,Y,\r\n", INV_HEAD, "persons.csv");
	expect_bad("person_id,nhs_number\r\nP1,9990000018\r\n", INV_HEAD, "missing column");
	expect_bad(PERSONS_HEAD "P1,9990000018,A,B,2000-01-01,adults,Y,\r\nP1,9990000026,C,D,2000-01-01,adults,Y,\r\n",
	           INV_HEAD, "persons.csv:3: duplicate person_id");
	/* Exports that stage nothing: a failed export, never an empty organisation. */
	expect_bad(PERSONS_HEAD, INV_HEAD, "persons.csv: no person rows (only a header): refusing an empty export");
	expect_bad(PERSONS_HEAD "P1,9990000019,A,B,2000-01-01,adults,Y,\r\nP2,,C,D,2000-01-01,adults,Y,\r\n",
	           INV_HEAD, "persons.csv: none of its 2 persons has a valid NHS number");
	/* A stray file in the folder is named, not skipped. */
	twrite("bad/persons.csv.bak", "old\n");
	expect_bad(PERSONS_HEAD "P1,9990000018,A,B,2000-01-01,adults,Y,\r\n", INV_HEAD,
	           "persons.csv.bak: not a file this extractor reads (persons.csv or involvements.csv)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rules, tsetup, tteardown),
		cmocka_unit_test_setup_teardown(test_bad, tsetup, tteardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
