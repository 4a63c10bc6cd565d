/* mcr_extract_ooh: public CDA examples, verified numbers, the clinician rule,
 * envelopes, recent cases, sections as plain text, bad inputs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_extract_util.h"

#define VERIFIED "2.16.840.1.113883.2.1.4.1"
#define UNVERIFIED "2.16.840.1.113883.2.1.3.2.4.18.23"

/* One NHS 111 report as the IUC post-event report writes it. */
static void cda(mcr_buf *b, const char *id, const char *root, const char *nhs, const char *author,
                const char *participant, const char *time, int envelope)
{
	mcr_buf_reset(b);
	const char *p = envelope ? "hl7:" : "";
	if (envelope)
		mcr_buf_puts(b, "<itk:DistributionEnvelope xmlns:itk=\"urn:nhs-itk:ns:201005\"><itk:header service=\"urn:nhs-itk:services:201005:SendNHS111Report-v2-0\"/>"
		                "<itk:payloads count=\"1\"><itk:payload id=\"p1\">\n"
		                "<hl7:ClinicalDocument xmlns:hl7=\"urn:hl7-org:v3\" xmlns:npfitlc=\"NPFIT:HL7:Localisation\">\n");
	else
		mcr_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ClinicalDocument xmlns=\"urn:hl7-org:v3\" xmlns:npfitlc=\"NPFIT:HL7:Localisation\">\n");
	mcr_buf_printf(b, "<npfitlc:messageType root=\"2.16.840.1.113883.2.1.3.2.4.18.17\" extension=\"POCD_MT200001GB02\"/>"
	               "<%sid root=\"%s\"/><%scode code=\"1066271000000101\" codeSystem=\"2.16.840.1.113883.2.1.3.2.4.15\"/>"
	               "<%stitle>NHS 111 Report</%stitle><%seffectiveTime value=\"%s\"/>"
	               "<%sconfidentialityCode code=\"N\" codeSystem=\"2.16.840.1.113883.1.11.16926\"/>\n",
	               p, id, p, p, p, p, time, p);
	mcr_buf_printf(b, "<%srecordTarget><%spatientRole><%sid root=\"2.16.840.1.113883.2.1.3.2.4.18.24\" extension=\"L1\"/>",
	               p, p, p);
	if (nhs)
		mcr_buf_printf(b, "<%sid root=\"%s\" extension=\"%s\"/>", p, root, nhs);
	mcr_buf_printf(b, "<%spatient><%sname><%sgiven>Ann</%sgiven><%sfamily>Case</%sfamily></%sname></%spatient></%spatientRole></%srecordTarget>\n",
	               p, p, p, p, p, p, p, p, p, p);
	mcr_buf_printf(b, "<%sauthor><%stime value=\"%s\"/><%sassignedAuthor><%scode code=\"%s\" codeSystem=\"2.16.840.1.113883.2.1.3.2.4.17.196\"/>"
	               "<%srepresentedOrganization><%sname>Herts Urgent Care</%sname></%srepresentedOrganization></%sassignedAuthor></%sauthor>\n",
	               p, p, time, p, p, author, p, p, p, p, p, p);
	mcr_buf_printf(b, "<%scomponentOf><%sencompassingEncounter><%sencounterParticipant typeCode=\"CON\"><%sassignedEntity>"
	               "<%scode code=\"%s\" codeSystem=\"2.16.840.1.113883.2.1.3.2.4.17.196\"/></%sassignedEntity></%sencounterParticipant>"
	               "</%sencompassingEncounter></%scomponentOf>\n",
	               p, p, p, p, p, participant, p, p, p, p);
	mcr_buf_printf(b, "<%scomponent><%sstructuredBody>"
	               "<%scomponent><%ssection><%stitle>Reason for Call</%stitle><%stext><%sparagraph>Chest   pain\n since this morning.</%sparagraph></%stext></%ssection></%scomponent>\n"
	               "<%scomponent><%ssection><%stitle>Advice Given</%stitle><%stext><%slist><%sitem>Rest.</%sitem><%sitem>Call 999 if worse.</%sitem></%slist>"
	               "<%stable><%str><%sth>Outcome</%sth><%std>Home</%std></%str></%stable></%stext></%ssection></%scomponent>\n"
	               "</%sstructuredBody></%scomponent>\n",
	               p, p, p, p, p, p, p, p, p, p, p, p, p, p, p, p, p, p, p, p, p, p, p, p, p, p, p, p, p, p, p, p,
	               p, p, p, p);
	mcr_buf_printf(b, "</%sClinicalDocument>\n", p);
	if (envelope)
		mcr_buf_puts(b, "</itk:payload></itk:payloads></itk:DistributionEnvelope>\n");
}

static void put_case(const char *name, const char *id, const char *root, const char *nhs,
                     const char *author, const char *participant, const char *time, int envelope)
{
	mcr_buf b = MCR_BUF_INIT, n = MCR_BUF_INIT;
	cda(&b, id, root, nhs, author, participant, time, envelope);
	mcr_buf_printf(&n, "ooh/%s", name);
	twrite(n.ptr, b.ptr);
	mcr_buf_free(&b);
	mcr_buf_free(&n);
}

/* The public NHS 111 report (a 9-digit unverified number) and the US C-CDA
 * documents (no NHS number) are unmatched: counted, nothing staged. */
static void test_public(void **state)
{
	(void)state;
	assert_int_equal(textract(MCR_KIND_OOH, "NLO11", tdata("cda/public")), 0);
	assert_int_equal(tman->people, 0);
	assert_int_equal(tman->members, 0);
	assert_int_equal(tman->items, 0);
	assert_int_equal(tman->withheld[MCR_REASON_UNMATCHED], 4);
	assert_int_equal(mcr_buf_cstr(&tlog)[0], '\0');
}

static void test_rules(void **state)
{
	(void)state;
	/* MCR_NOW is 2026-11-21T06:00:00Z: recent = on or after 2026-08-23T06:00Z. */
	put_case("c1.xml", "D1", VERIFIED, "9990000018", "R8000", "R8010", "20261101093000+0000", 0);
	put_case("c2.xml", "D2", VERIFIED, "9990000018", "R8010", "R8001", "20250101120000+0100", 1);
	put_case("c3.xml", "D3", VERIFIED, "9990000026", "R8010", "R8008", "20261102100000+0000", 0);
	put_case("c4.xml", "D4", UNVERIFIED, "9990000034", "R8000", "R8000", "20261103100000+0000", 0);
	put_case("c5.xml", "D5", VERIFIED, "9990000019", "R8000", "R8000", "20261103100000+0000", 1);
	put_case("c6.xml", "D6", VERIFIED, NULL, "R8000", "R8000", "20261103100000+0000", 0);
	put_case("c7.xml", "D7", VERIFIED, "9990000042", "R8003", "R8010", "20140101100000+0000", 0);
	char in[128];
	snprintf(in, sizeof in, "%s/ooh", tdir);
	assert_int_equal(textract(MCR_KIND_OOH, "NLO11", in), 0);
	/* 9990000018: two shared cases (clinician author; enveloped, clinician participant). */
	assert_int_equal(tman->people, 1);
	assert_int_equal(tman->items, 2);
	assert_int_equal(tman->section_items[MCR_SECTION_MISC_REPORTS], 2);
	/* Recent cases, shared or not, verified only: 9990000018 (c1), 9990000026 (c3). */
	assert_int_equal(tman->members, 2);
	assert_log_has("member 9990000018\n");
	assert_log_has("member 9990000026\n");
	assert_int_equal(tman->withheld[MCR_REASON_NO_CLINICAL_CONTACT], 1); /* c3 */
	assert_int_equal(tman->withheld[MCR_REASON_UNMATCHED], 3);           /* c4, c5, c6 */
	assert_int_equal(tman->withheld[MCR_REASON_BEFORE_SHARES_FROM], 1);  /* c7 */
	assert_log_has("item 9990000018 misc-reports 1066271000000101 NHS 111 Report | author organisation=Herts Urgent Care"
	               " | Reason for Call=Chest pain since this morning. | Advice Given=Rest.\nCall 999 if worse.\nOutcome | Home\n");
	assert_log_lacks("9990000026 misc");
	assert_log_lacks("9990000042");
	assert_log_lacks("person 9990000034");
}

/* A bare document's text without its XML declaration, for an envelope. */
static const char *body(mcr_buf *b)
{
	const char *p = strstr(b->ptr, "<ClinicalDocument");
	assert_non_null(p);
	return p;
}

/*
 * Every payload of an envelope is handled; a document with two recordTargets is
 * unmatched; a malformed file is named and counted and the others staged;
 * effectiveTime as an instant (offsets) for recent cases, invalid ones withheld.
 */
static void test_batch(void **state)
{
	(void)state;
	mcr_buf a = MCR_BUF_INIT, b = MCR_BUF_INIT, env = MCR_BUF_INIT;
	/* An envelope with two reports of two people. */
	cda(&a, "E1", VERIFIED, "9990000018", "R8000", "R8000", "20261101093000+0000", 0);
	cda(&b, "E2", VERIFIED, "9990000026", "R8000", "R8000", "20261102093000+0000", 0);
	mcr_buf_printf(&env, "<itk:DistributionEnvelope xmlns:itk=\"urn:nhs-itk:ns:201005\"><itk:header/>"
	               "<itk:payloads count=\"2\"><itk:payload id=\"p1\">%s</itk:payload>\n"
	               "<itk:payload id=\"p2\">%s</itk:payload></itk:payloads></itk:DistributionEnvelope>\n",
	               body(&a), body(&b));
	twrite("ooh/batch/env.xml", env.ptr);
	/* Two recordTargets: whose record is it? Not staged. */
	cda(&a, "T1", VERIFIED, "9990000034", "R8000", "R8000", "20261101093000+0000", 0);
	const char *rt = strstr(a.ptr, "</recordTarget>\n");
	assert_non_null(rt);
	mcr_buf two = MCR_BUF_INIT;
	mcr_buf_printf(&two, "%.*s</recordTarget>\n<recordTarget><patientRole><id root=\"%s\" extension=\"9990000042\"/>"
	               "</patientRole></recordTarget>\n%s", (int)(rt - a.ptr), a.ptr, VERIFIED, rt + 16);
	twrite("ooh/batch/two-targets.xml", two.ptr);
	/* A malformed file among good ones; a truncated one. */
	cda(&a, "M1", VERIFIED, "9990000050", "R8000", "R8000", "20261101093000+0000", 0);
	a.ptr[a.len / 2] = '\0';
	twrite("ooh/batch/broken.xml", a.ptr);
	twrite("ooh/batch/foreign.xml", "<Bundle xmlns=\"http://hl7.org/fhir\"/>\n");
	/* Recent cases (on or after 2026-08-23T06:00Z) by instant: 05:59Z is not, 06:59Z is. */
	put_case("batch/r-early.xml", "R1", VERIFIED, "9990000069", "R8000", "R8000", "20260823065900+0100", 0);
	put_case("batch/r-late.xml", "R2", VERIFIED, "9990000077", "R8000", "R8000", "20260823055900-0100", 0);
	/* Invalid effectiveTimes: withheld, named. */
	const char *bad_times[] = {"2026-11-01", "20230230", "20231301", "yesterday", "20261101250000+0000"};
	for (size_t i = 0; i < sizeof bad_times / sizeof *bad_times; i++) {
		char name[64];
		snprintf(name, sizeof name, "batch/t%zu.xml", i);
		put_case(name, "T", VERIFIED, "9990000085", "R8000", "R8000", bad_times[i], 0);
	}
	char in[128];
	snprintf(in, sizeof in, "%s/ooh/batch", tdir);
	assert_int_equal(textract(MCR_KIND_OOH, "NLO11", in), 0);
	assert_log_has("item 9990000018 misc-reports");
	assert_log_has("date 9990000018 E1 2026-11-01T09:30:00Z\n");
	assert_log_has("item 9990000026 misc-reports");
	assert_log_has("date 9990000026 E2 2026-11-02T09:30:00Z\n");
	assert_log_lacks("9990000034");
	assert_log_lacks("9990000042");
	assert_log_lacks("9990000050");
	assert_log_lacks("member 9990000069");
	assert_log_has("member 9990000077\n");
	assert_log_has("date 9990000069 R1 2026-08-23T05:59:00Z\n");
	assert_log_lacks("9990000085 misc");
	assert_int_equal(tman->items, 4);                                   /* E1, E2, R1, R2 */
	assert_int_equal(tman->withheld[MCR_REASON_UNMATCHED], 1);          /* two-targets */
	assert_int_equal(tman->withheld[MCR_REASON_MALFORMED], 2);          /* broken, foreign */
	assert_int_equal(tman->withheld[MCR_REASON_INVALID_DATE], 5);
	assert_int_equal(tnotes_n, 8);
	assert_notice_has("two-targets.xml:2: ClinicalDocument has 2 recordTargets: ambiguous; not staged (unmatched)");
	assert_notice_has("broken.xml:");
	assert_notice_has("1 document not staged (malformed)");
	assert_notice_has("foreign.xml:1: root <Bundle>");
	assert_notice_has("t0.xml:2: effectiveTime is not an HL7 date/time; document withheld (invalid-date)");
	mcr_buf_free(&a);
	mcr_buf_free(&b);
	mcr_buf_free(&env);
	mcr_buf_free(&two);
}

static void test_bad(void **state)
{
	(void)state;
	char in[128];
	snprintf(in, sizeof in, "%s/bad", tdir);
	twrite("bad/a.xml", "<ClinicalDocument xmlns=\"urn:hl7-org:v3\"><title>x</title>\n<recordTarget>\n</ClinicalDocument>\n");
	assert_int_not_equal(textract(MCR_KIND_OOH, "NLO11", in), 0);
	assert_error_has("a.xml:3");
	assert_false(staged_files_left());

	twrite("bad/a.xml", "<Bundle xmlns=\"http://hl7.org/fhir\"/>\n");
	assert_int_equal(textract(MCR_KIND_OOH, "NLO11", in), MCR_EFORMAT);
	assert_error_has("a.xml");
	assert_error_has("not a CDA ClinicalDocument");

	mcr_buf b = MCR_BUF_INIT;
	mcr_buf_free(&b);

	const char *hostile[] = {"xmlbomb.xml", "external_file.xml", "simple.xml", "xalan_exec.xsl"};
	for (size_t i = 0; i < sizeof hostile / sizeof *hostile; i++) {
		char p[64];
		snprintf(p, sizeof p, "xml/attacks/%s", hostile[i]);
		assert_int_not_equal(textract(MCR_KIND_OOH, "NLO11", tdata(p)), 0);
		assert_error_has(hostile[i]);
		assert_false(staged_files_left());
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_public, tsetup, tteardown),
		cmocka_unit_test_setup_teardown(test_rules, tsetup, tteardown),
		cmocka_unit_test_setup_teardown(test_batch, tsetup, tteardown),
		cmocka_unit_test_setup_teardown(test_bad, tsetup, tteardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
