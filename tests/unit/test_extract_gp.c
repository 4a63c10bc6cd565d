/* mcr_extract_gp: UK Core examples, every sharing rule, references, bad inputs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <zlib.h>

#include "test_extract_util.h"

/* Each UK Core example stages into its section with its codes. */
static void test_ukcore(void **state)
{
	(void)state;
	assert_int_equal(textract(MCR_KIND_GP, "A81001", tdata("fhir/ukcore")), 0);
	assert_int_equal(tman->people, 1);
	assert_int_equal(tman->members, 1);
	assert_int_equal(tman->items, 6);
	assert_log_has("member 9912003888\n");
	assert_log_has("person 9912003888 family=SMITH given=Richard objection=- consent=-\n");
	assert_log_has("item 9912003888 allergies 372687004 Amoxicillin | reaction=Urticarial rash | severity=mild");
	assert_log_has("item 9912003888 medications 39732311000001104 Amoxicillin 250mg capsules | dose=2 capsules 4 times a day.");
	assert_log_has("item 9912003888 problems 26322001 Bleeding from ear");
	assert_log_has("item 9912003888 immunisations 11278411000001109 Influenza vaccine");
	assert_log_has("item 9912003888 results 75367002 Blood pressure | Systolic blood pressure=142 millimeter of mercury | Diastolic blood pressure=94 millimeter of mercury");
	assert_log_has("item 9912003888 encounters 185212007 Seen in hospital ward | type=Seen in hospital ward");
	for (int s = 0; s < MCR_SECTION_COUNT; s++)
		assert_int_equal(tman->section_items[s],
		                 (s >= MCR_SECTION_ALLERGIES && s <= MCR_SECTION_ENCOUNTERS) ? 1 : 0);
}

/*
 * tests/data/fhir/rules: objection raised then withdrawn (p2) and the reverse
 * (p3); Type 1 opt-out (p1, p6); R and V; entered-in-error; a sensitive code;
 * before shares-from; bad check digit (p4) and no number (p5); references by
 * id, fullUrl and identifier; resources in a file before their Patient's.
 */
static void check_rules(void)
{
	assert_int_equal(tman->people, 4);
	assert_int_equal(tman->members, 4);
	assert_int_equal(tman->items, 5);
	assert_int_equal(tman->objections, 1);
	assert_int_equal(tman->withheld[MCR_REASON_OBJECTION], 3);
	assert_int_equal(tman->withheld[MCR_REASON_CONFIDENTIAL], 2);
	assert_int_equal(tman->withheld[MCR_REASON_SENSITIVE], 1);
	assert_int_equal(tman->withheld[MCR_REASON_ENTERED_IN_ERROR], 1);
	assert_int_equal(tman->withheld[MCR_REASON_BEFORE_SHARES_FROM], 1);
	assert_int_equal(tman->withheld[MCR_REASON_INVALID_NHS], 2);
	assert_int_equal(tman->withheld[MCR_REASON_NO_CONSENT], 0);
	assert_int_equal(tman->withheld[MCR_REASON_UNMATCHED], 0);
	/* p1: by id (file before the Patient), by identifier (spaced form), N shared. */
	assert_log_has("person 9990000018 family=O'Brien given=Siân objection=- consent=-\n");
	assert_log_has("item 9990000018 problems 38341003 Hypertension");
	assert_log_has("item 9990000018 medications 39732311000001104 Amoxicillin 250mg capsules | dose=One capsule three times a day");
	assert_log_has("item 9990000018 results 1000731000000107 Serum potassium | value=4.1 | unit=mmol/L | reference range=3.5-5.3 mmol/L");
	assert_log_has("withheld 9990000018 results confidential 2\n");
	assert_log_has("withheld 9990000018 problems sensitive 1\n");
	assert_log_has("withheld 9990000018 immunisations before-shares-from 1\n");
	assert_log_lacks("entered-in-error");
	assert_log_lacks("Asthma");
	assert_log_lacks("8098009");
	assert_log_lacks("827241000000103");
	assert_log_lacks("416409005");
	assert_log_lacks("417528008");
	/* p2: objection withdrawn by a later consent; allergy by fullUrl, file before. */
	assert_log_has("person 9990000026 family=Smith given=Ann objection=- consent=-\n");
	assert_log_has("item 9990000026 allergies 91936005 Allergy to penicillin | reaction=Eruption of skin | severity=moderate");
	/* p3: consent then a later objection: a marker and nothing else. */
	assert_log_has("person 9990000034 family=- given=- objection=2021-01-01 consent=-\n");
	assert_log_lacks("item 9990000034");
	assert_log_lacks("Jones");
	/* p4, p5: counted, not staged. */
	assert_log_lacks("9990000019");
	assert_log_lacks("Checkdigit");
	/* p6: Type 1 opt-out has no effect. */
	assert_log_has("item 9990000042 encounters 185389009 Follow-up visit");
}

static void test_rules(void **state)
{
	(void)state;
	assert_int_equal(textract(MCR_KIND_GP, "A81001", tdata("fhir/rules")), 0);
	check_rules();
}

/* The same with a tiny spill limit: the bucketed grouping gives the same file content. */
static void test_rules_bucketed(void **state)
{
	(void)state;
	mcr_extract_set_spill_limit(64);
	int rc = textract(MCR_KIND_GP, "A81001", tdata("fhir/rules"));
	mcr_extract_set_spill_limit(0);
	assert_int_equal(rc, 0);
	check_rules();
	/* No temporary file is left beside the staged file. */
	mcr_buf cmd = MCR_BUF_INIT;
	mcr_buf_printf(&cmd, "test -z \"$(find '%s/staging' -name '.*' -type f)\"", tdir);
	assert_int_equal(system(cmd.ptr), 0);
	mcr_buf_free(&cmd);
}

static const char patient_and[] =
	"<Bundle xmlns=\"http://hl7.org/fhir\"><type value=\"collection\"/>\n"
	"<entry><resource><Patient xmlns=\"http://hl7.org/fhir\"><id value=\"p1\"/><identifier>"
	"<system value=\"https://fhir.nhs.uk/Id/nhs-number\"/><value value=\"9990000018\"/></identifier>"
	"</Patient></resource></entry>\n";

static void patient_entry(mcr_buf *b, const char *id, const char *nhs, const char *birth);

/*
 * Resources whose subject matches no Patient: each named by file and line and
 * counted unmatched, the rest staged; above policy.max_unmatched_percent (5) of
 * the clinical resources, a broken export: refused, nothing staged.
 */
static void write_orphans(int matched, int orphans)
{
	mcr_buf b = MCR_BUF_INIT;
	mcr_buf_puts(&b, patient_and);
	for (int i = 0; i < orphans; i++)
		mcr_buf_printf(&b, "<entry><resource>\n<Condition xmlns=\"http://hl7.org/fhir\"><id value=\"c9-%d\"/>"
		               "<code><coding><system value=\"http://snomed.info/sct\"/><code value=\"38341003\"/></coding></code>"
		               "<subject><reference value=\"Patient/nobody\"/></subject></Condition></resource></entry>\n", i);
	/* An objection entry for nobody is unmatched too. */
	mcr_buf_puts(&b, "<entry><resource>\n<Observation xmlns=\"http://hl7.org/fhir\"><id value=\"o9\"/>"
	             "<code><coding><system value=\"http://snomed.info/sct\"/><code value=\"416409005\"/></coding></code>"
	             "<subject><identifier><system value=\"https://fhir.nhs.uk/Id/nhs-number\"/><value value=\"9990000026\"/>"
	             "</identifier></subject><effectiveDateTime value=\"2020-01-01\"/></Observation></resource></entry>\n");
	for (int i = 0; i < matched; i++)
		mcr_buf_printf(&b, "<entry><resource><Condition xmlns=\"http://hl7.org/fhir\"><id value=\"c%d\"/>"
		               "<code><coding><system value=\"http://snomed.info/sct\"/><code value=\"38341003\"/></coding></code>"
		               "<subject><reference value=\"Patient/p1\"/></subject></Condition></resource></entry>\n", i);
	mcr_buf_puts(&b, "</Bundle>\n");
	twrite("in/unresolved.xml", b.ptr);
	mcr_buf_free(&b);
}

static void test_unresolved(void **state)
{
	(void)state;
	char in[128];
	snprintf(in, sizeof in, "%s/in", tdir);
	/* 2 of 41 (4.9%): staged, named, counted. */
	write_orphans(39, 1);
	assert_int_equal(textract(MCR_KIND_GP, "A81001", in), 0);
	assert_int_equal(tman->items, 39);
	assert_int_equal(tman->withheld[MCR_REASON_UNMATCHED], 2);
	assert_int_equal(tman->objections, 0);
	assert_int_equal(tnotes_n, 2);
	assert_notice_has("unresolved.xml:4: Condition c9-0: subject Patient/nobody matches no Patient in the export; not staged (unmatched)");
	assert_notice_has("unresolved.xml:6: Observation o9: subject an NHS number identifier matches no Patient");
	assert_false(strstr(mcr_buf_cstr(&tnotes), "9990000026"));
	/* 3 of 41: more than 5%: the export is broken. */
	mcr_buf cmd = MCR_BUF_INIT;
	mcr_buf_printf(&cmd, "rm -rf '%s/staging'", tdir);
	assert_int_equal(system(cmd.ptr), 0);
	mcr_buf_free(&cmd);
	write_orphans(38, 2);
	assert_int_equal(textract(MCR_KIND_GP, "A81001", in), MCR_EFORMAT);
	assert_error_has("3 of 41 clinical resources match no Patient");
	assert_error_has("max_unmatched_percent (5%)");
	assert_error_has("refused (one is ");
	assert_error_has("unresolved.xml:8)");
	assert_false(staged_files_left());
}

/* The public UK Core clinical examples without their Patient: every one
 * unmatched, far above the limit: refused. */
static void test_orphans_public(void **state)
{
	(void)state;
	mcr_buf cmd = MCR_BUF_INIT;
	mcr_buf_printf(&cmd, "mkdir -p '%s/uk' && cp '%s'/*.xml '%s/uk/' && rm '%s'/uk/UKCore-Patient-*",
	               tdir, tdata("fhir/ukcore"), tdir, tdir);
	assert_int_equal(system(cmd.ptr), 0);
	mcr_buf_reset(&cmd);
	mcr_buf_printf(&cmd, "%s/uk", tdir);
	assert_int_equal(textract(MCR_KIND_GP, "A81001", cmd.ptr), MCR_EFORMAT);
	/* No Patient at all: refused before anything else. */
	assert_error_has("no Patient with a valid NHS number in the export (0 Patients)");
	assert_false(staged_files_left());
	mcr_buf_free(&cmd);
}

/*
 * Exports that are not exports: an OperationOutcome, a Composition, a folder of
 * them, an empty Bundle, Patients without valid NHS numbers, a stray file: each
 * an error naming the file; nothing staged (the loader never sees an empty file).
 */
static void test_not_an_export(void **state)
{
	(void)state;
	static const struct {
		const char *name, *text, *error;
	} cases[] = {
		{"oo/outcome.xml",
		 "<OperationOutcome xmlns=\"http://hl7.org/fhir\"><issue><severity value=\"error\"/>"
		 "<code value=\"exception\"/></issue></OperationOutcome>\n",
		 "outcome.xml:1: root OperationOutcome is not a Bundle or a resource this extractor reads "
		 "(an OperationOutcome: the export failed at source)"},
		{"comp/c1.xml", "<Composition xmlns=\"http://hl7.org/fhir\"><status value=\"final\"/></Composition>\n",
		 "c1.xml:1: root Composition is not a Bundle"},
		{"empty/bundle.xml", "<Bundle xmlns=\"http://hl7.org/fhir\"><type value=\"collection\"/></Bundle>\n",
		 "no Patient with a valid NHS number in the export (0 Patients)"},
		{"invalid/bundle.xml",
		 "<Bundle xmlns=\"http://hl7.org/fhir\"><entry><resource><Patient xmlns=\"http://hl7.org/fhir\">"
		 "<id value=\"a\"/><identifier><system value=\"https://fhir.nhs.uk/Id/nhs-number\"/>"
		 "<value value=\"9990000019\"/></identifier></Patient></resource></entry><entry><resource>"
		 "<Patient xmlns=\"http://hl7.org/fhir\"><id value=\"b\"/></Patient></resource></entry></Bundle>\n",
		 "no Patient with a valid NHS number in the export (2 Patients)"},
		{"jsonoo/outcome.json", "{\"resourceType\": \"OperationOutcome\", \"issue\": []}\n",
		 "outcome.json:1: root OperationOutcome is not a Bundle"},
		{"ndoo/errors.ndjson", "{\"resourceType\": \"OperationOutcome\", \"issue\": []}\n",
		 "errors.ndjson:1: root OperationOutcome is not a Bundle"},
		{"stray/export.csv", "a,b\n",
		 "export.csv: not a file this extractor reads (.xml, .xml.gz, .json, .json.gz, .ndjson or .ndjson.gz)"},
		{"stray2/notes.txt", "hello\n", "notes.txt: not a file this extractor reads"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		const char *p = twrite(cases[i].name, cases[i].text);
		char dir[256];
		snprintf(dir, sizeof dir, "%s", p);
		*strrchr(dir, '/') = '\0';
		if (strncmp(cases[i].name, "stray", 5) == 0) {
			mcr_buf b = MCR_BUF_INIT;
			patient_entry(&b, "p1", "9990000018", NULL);
			mcr_buf good = MCR_BUF_INIT;
			mcr_buf_printf(&good, "<Bundle xmlns=\"http://hl7.org/fhir\">%s</Bundle>\n", b.ptr);
			char gname[64];
			snprintf(gname, sizeof gname, "%.*s/good.xml",
			         (int)(strchr(cases[i].name, '/') - cases[i].name), cases[i].name);
			twrite(gname, good.ptr);
			mcr_buf_free(&good);
			mcr_buf_free(&b);
		}
		assert_int_equal(textract(MCR_KIND_GP, "A81001", dir), MCR_EFORMAT);
		assert_error_has(cases[i].error);
		assert_false(staged_files_left());
	}
}

/* One Patient entry, and one Condition entry with an onset date (and more XML). */
static void patient_entry(mcr_buf *b, const char *id, const char *nhs, const char *birth)
{
	mcr_buf_printf(b, "<entry><resource><Patient xmlns=\"http://hl7.org/fhir\"><id value=\"%s\"/><identifier>"
	               "<system value=\"https://fhir.nhs.uk/Id/nhs-number\"/><value value=\"%s\"/></identifier>"
	               "<name><family value=\"Fam%s\"/></name>%s%s%s</Patient></resource></entry>\n",
	               id, nhs, id, birth ? "<birthDate value=\"" : "", birth ? birth : "", birth ? "\"/>" : "");
}

static void condition_entry(mcr_buf *b, const char *id, const char *patient, const char *code,
                            const char *onset, const char *more)
{
	mcr_buf_printf(b, "<entry><resource><Condition xmlns=\"http://hl7.org/fhir\"><id value=\"%s\"/>"
	               "<code><coding><system value=\"http://snomed.info/sct\"/><code value=\"%s\"/>"
	               "<display value=\"Term %s\"/></coding></code><subject><reference value=\"Patient/%s\"/>"
	               "</subject><onsetDateTime value=\"%s\"/>%s</Condition></resource></entry>\n",
	               id, code, id, patient, onset, more ? more : "");
}

/*
 * Dates as instants: partial dates against shares-from (2012-04-01), invalid
 * dates withheld and named, offsets honoured, staged in UTC; objection against
 * consent across time zones, both ways and tied.
 */
static void test_dates(void **state)
{
	(void)state;
	mcr_buf b = MCR_BUF_INIT;
	mcr_buf_puts(&b, "<Bundle xmlns=\"http://hl7.org/fhir\"><type value=\"collection\"/>\n");
	patient_entry(&b, "p1", "9990000018", "2023-02-30");
	static const struct {
		const char *id, *onset, *more;
	} items[] = {
		{"y2010", "2010", NULL},                       /* before */
		{"m2010", "2010-05", NULL},                    /* before */
		{"y2012", "2012", NULL},                       /* may be before April: before */
		{"m2012", "2012-04", NULL},                    /* shared */
		{"early", "2012-04-01T00:30:00+01:00", NULL},  /* 2012-03-31T23:30Z: before */
		{"late", "2012-03-31T23:30:00-01:00", NULL},   /* 2012-04-01T00:30Z: shared */
		{"feb30", "2023-02-30", NULL},                 /* invalid */
		{"month13", "2023-13-01", NULL},               /* invalid */
		{"words", "yesterday", NULL},                  /* invalid */
		{"hour24", "2023-01-01T24:00:00Z", NULL},      /* invalid */
		{"abate", "2020-01-01", "<abatementDateTime value=\"2021-02-29\"/>"}, /* a detail date: invalid */
		{"fine", "2020-06-10T10:00:00+01:00", NULL},   /* shared, staged as 09:00Z */
	};
	for (size_t i = 0; i < sizeof items / sizeof *items; i++)
		condition_entry(&b, items[i].id, "p1", "38341003", items[i].onset, items[i].more);
	/* p2: objection 09:30Z after a consent at 10:00+01:00 (09:00Z): in force. */
	patient_entry(&b, "p2", "9990000026", NULL);
	condition_entry(&b, "o2", "p2", "416409005", "2024-06-10T09:30:00Z", NULL);
	condition_entry(&b, "k2", "p2", "417528008", "2024-06-10T10:00:00+01:00", NULL);
	condition_entry(&b, "x2", "p2", "38341003", "2020-01-01", NULL);
	/* p3: the reverse: consent 09:30Z after an objection at 10:00+01:00: shared. */
	patient_entry(&b, "p3", "9990000034", NULL);
	condition_entry(&b, "o3", "p3", "416409005", "2024-06-10T10:00:00+01:00", NULL);
	condition_entry(&b, "k3", "p3", "417528008", "2024-06-10T09:30:00Z", NULL);
	condition_entry(&b, "x3", "p3", "38341003", "2020-01-01", NULL);
	/* p4: a tie (the same instant): the objection. */
	patient_entry(&b, "p4", "9990000042", NULL);
	condition_entry(&b, "k4", "p4", "417528008", "2024-06-10T10:00:00+01:00", NULL);
	condition_entry(&b, "o4", "p4", "416409005", "2024-06-10T09:00:00Z", NULL);
	condition_entry(&b, "x4", "p4", "38341003", "2020-01-01", NULL);
	/* p5: objection on a day, consent later that day as a dateTime: the objection. */
	patient_entry(&b, "p5", "9990000050", NULL);
	condition_entry(&b, "o5", "p5", "416409005", "2024-06-10", NULL);
	condition_entry(&b, "k5", "p5", "417528008", "2024-06-10T18:00:00Z", NULL);
	condition_entry(&b, "x5", "p5", "38341003", "2020-01-01", NULL);
	mcr_buf_puts(&b, "</Bundle>\n");
	const char *p = twrite("dates/export.xml", b.ptr);
	mcr_buf_free(&b);
	assert_int_equal(textract(MCR_KIND_GP, "A81001", p), 0);
	assert_int_equal(tman->withheld[MCR_REASON_BEFORE_SHARES_FROM], 4);
	assert_int_equal(tman->withheld[MCR_REASON_INVALID_DATE], 6); /* 5 items + the birthDate */
	assert_int_equal(tman->withheld[MCR_REASON_OBJECTION], 3);    /* x2, x4, x5 */
	assert_int_equal(tman->objections, 3);
	assert_log_has("withheld 9990000018 problems before-shares-from 4\n");
	assert_log_has("withheld 9990000018 problems invalid-date 5\n");
	assert_log_has("item 9990000018 problems 38341003 Term m2012");
	assert_log_has("item 9990000018 problems 38341003 Term late");
	assert_log_has("item 9990000018 problems 38341003 Term fine");
	assert_log_has("date 9990000018 fine 2020-06-10T09:00:00Z\n");
	assert_log_has("date 9990000018 m2012 2012-04\n");
	assert_log_has("date 9990000018 late 2012-04-01T00:30:00Z\n");
	assert_log_lacks("Term feb30");
	assert_log_lacks("Term abate");
	assert_log_lacks("2023-02-30");
	assert_log_has("person 9990000026 family=- given=- objection=2024-06-10T09:30:00Z consent=-\n");
	assert_log_has("item 9990000034 problems 38341003 Term x3");
	assert_log_has("person 9990000042 family=- given=- objection=2024-06-10T09:00:00Z consent=-\n");
	assert_log_has("person 9990000050 family=- given=- objection=2024-06-10 consent=-\n");
	/* Each refusal named by file and line, and what was wrong; no values. */
	assert_int_equal(tnotes_n, 6);
	assert_notice_has("export.xml:2: Patient p1: birthDate is not a date");
	assert_notice_has("export.xml:9: Condition feb30: onsetDateTime is not a date");
	assert_notice_has("export.xml:13: Condition abate: abatementDateTime is not a date");
}

/* Malformed XML, a foreign root and a truncated gzip: errors naming the file, nothing staged. */
static void test_malformed(void **state)
{
	(void)state;
	mcr_buf b = MCR_BUF_INIT;
	mcr_buf_printf(&b, "%s<entry><resource><Condition xmlns=\"http://hl7.org/fhir\">\n<id value=\"c1\">"
	               "</Condition></resource></entry></Bundle>\n", patient_and);
	const char *p = twrite("bad/malformed.xml", b.ptr);
	assert_int_equal(textract(MCR_KIND_GP, "A81001", p), MCR_EFORMAT);
	assert_error_has("malformed.xml:");
	assert_false(staged_files_left());

	p = twrite("bad2/foreign.xml", "<Bundle xmlns=\"urn:not-fhir\"/>\n");
	assert_int_equal(textract(MCR_KIND_GP, "A81001", p), MCR_EFORMAT);
	assert_error_has("foreign.xml");
	assert_error_has("not a FHIR");
	assert_false(staged_files_left());

	/* A good bundle gzipped and cut short. */
	mcr_buf_reset(&b);
	mcr_buf_printf(&b, "%s", patient_and);
	for (int i = 0; i < 200; i++)
		mcr_buf_printf(&b, "<entry><resource><Condition xmlns=\"http://hl7.org/fhir\"><id value=\"c%d\"/>"
		               "<code><coding><system value=\"http://snomed.info/sct\"/><code value=\"38341003\"/>"
		               "</coding></code><subject><reference value=\"Patient/p1\"/></subject>"
		               "</Condition></resource></entry>\n", i);
	mcr_buf_puts(&b, "</Bundle>\n");
	char gz[256];
	snprintf(gz, sizeof gz, "%s/gz/cut.xml.gz", tdir);
	twrite("gz/placeholder.txt", "");
	gzFile g = gzopen(gz, "wb");
	assert_non_null(g);
	assert_int_equal(gzwrite(g, b.ptr, (unsigned)b.len), (int)b.len);
	assert_int_equal(gzclose(g), Z_OK);
	assert_int_equal(textract(MCR_KIND_GP, "A81001", gz), 0); /* whole: fine */
	assert_int_equal(tman->items, 200);
	mcr_buf cmd = MCR_BUF_INIT;
	mcr_buf_printf(&cmd, "rm -rf '%s/staging' && truncate -s -20 '%s'", tdir, gz);
	assert_int_equal(system(cmd.ptr), 0);
	assert_int_not_equal(textract(MCR_KIND_GP, "A81001", gz), 0);
	assert_error_has("cut.xml.gz");
	assert_false(staged_files_left());
	mcr_buf_free(&cmd);
	mcr_buf_free(&b);
}

/* Every file of the XML attack samples is refused with a message naming it: the
 * DTD-bearing ones by the parser, the benign ones because their root is not FHIR. */
static void test_hostile(void **state)
{
	(void)state;
	const char *files[] = {"xmlbomb.xml", "xmlbomb2.xml", "external.xml", "external_file.xml",
	                       "quadratic.xml", "dtd.xml", "dtd_element.xml", "cyclic.xml",
	                       "simple.xml", "simple-ns.xml", "xalan_exec.xsl", "schema-include.xsd"};
	for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
		char p[64];
		snprintf(p, sizeof p, "xml/attacks/%s", files[i]);
		assert_int_not_equal(textract(MCR_KIND_GP, "A81001", tdata(p)), 0);
		assert_error_has(files[i]);
		assert_false(staged_files_left());
	}
}

/* A JSON Bundle: property order free (resourceType late, fullUrl after its
 * resource), arrays, a number, a primitive's extension (_birthDate), a
 * datatype id and the narrative are read as the XML model reads them. */
static const char json_bundle[] =
	"{\"id\":\"b1\",\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":[\n"
	" {\"resource\":{\"id\":\"p1\",\"resourceType\":\"Patient\",\"text\":{\"status\":\"generated\",\"div\":\"<div>x</div>\"},\n"
	"   \"identifier\":[{\"id\":\"ignored\",\"system\":\"https://fhir.nhs.uk/Id/nhs-number\",\"value\":\"9990000018\"}],\n"
	"   \"name\":[{\"use\":\"official\",\"family\":\"O'Brien\",\"given\":[\"Si\\u00e2n\",\"Mary\"]}],\"birthDate\":\"1970-01-02\",\n"
	"   \"_birthDate\":{\"extension\":[{\"url\":\"http://example.org/t\",\"valueDateTime\":\"1970-01-02T10:00:00Z\"}]}},\n"
	"  \"fullUrl\":\"urn:uuid:aaa\"},\n"
	" {\"fullUrl\":\"urn:uuid:c1\",\"resource\":{\"resourceType\":\"Condition\",\"id\":\"c1\",\n"
	"   \"code\":{\"coding\":[{\"system\":\"http://snomed.info/sct\",\"code\":\"38341003\",\"display\":\"Hypertension\"}]},\n"
	"   \"subject\":{\"reference\":\"urn:uuid:aaa\"},\"onsetDateTime\":\"2020-01-01\"}},\n"
	" {\"resource\":{\"resourceType\":\"Observation\",\"id\":\"o1\",\"status\":\"final\",\n"
	"   \"code\":{\"coding\":[{\"system\":\"http://snomed.info/sct\",\"code\":\"1000731000000107\",\"display\":\"Serum potassium\"}]},\n"
	"   \"subject\":{\"reference\":\"Patient/p1\"},\"effectiveDateTime\":\"2020-02-02\",\n"
	"   \"valueQuantity\":{\"value\":4.1,\"unit\":\"mmol/L\"}}}\n"
	"]}\n";

static void check_json_bundle(void)
{
	assert_int_equal(tman->people, 1);
	assert_int_equal(tman->items, 2);
	assert_log_has("person 9990000018 family=O'Brien given=Siân Mary objection=- consent=-\n");
	assert_log_has("item 9990000018 problems 38341003 Hypertension");
	assert_log_has("item 9990000018 results 1000731000000107 Serum potassium | value=4.1 | unit=mmol/L");
}

static void test_json_bundle(void)
{
	assert_int_equal(textract(MCR_KIND_GP, "A81001", twrite("in/bundle.json", json_bundle)), 0);
	check_json_bundle();
}

/* The same as NDJSON, gzipped, one resource a line. */
static void test_ndjson_gz(void)
{
	const char *lines =
		"{\"resourceType\":\"Observation\",\"id\":\"o1\",\"status\":\"final\",\"code\":{\"coding\":[{\"system\":"
		"\"http://snomed.info/sct\",\"code\":\"1000731000000107\",\"display\":\"Serum potassium\"}]},\"subject\":"
		"{\"reference\":\"Patient/p1\"},\"effectiveDateTime\":\"2020-02-02\",\"valueQuantity\":{\"value\":4.1,\"unit\":\"mmol/L\"}}\n"
		"\n"
		"{\"resourceType\":\"Patient\",\"id\":\"p1\",\"identifier\":[{\"system\":\"https://fhir.nhs.uk/Id/nhs-number\","
		"\"value\":\"9990000018\"}],\"name\":[{\"use\":\"official\",\"family\":\"O'Brien\",\"given\":[\"Siân\",\"Mary\"]}]}\n"
		"{\"id\":\"c1\",\"code\":{\"coding\":[{\"system\":\"http://snomed.info/sct\",\"code\":\"38341003\",\"display\":"
		"\"Hypertension\"}]},\"subject\":{\"reference\":\"Patient/p1\"},\"onsetDateTime\":\"2020-01-01\",\"resourceType\":\"Condition\"}\n";
	char gz[256];
	twrite("nd/placeholder.txt", "");
	snprintf(gz, sizeof gz, "%s/nd/export.ndjson.gz", tdir);
	gzFile g = gzopen(gz, "wb");
	assert_non_null(g);
	assert_int_equal(gzputs(g, lines), (int)strlen(lines));
	assert_int_equal(gzclose(g), Z_OK);
	assert_int_equal(textract(MCR_KIND_GP, "A81001", gz), 0);
	check_json_bundle();
}

static void test_json(void **state)
{
	(void)state;
	test_json_bundle();
	mcr_buf cmd = MCR_BUF_INIT;
	mcr_buf_printf(&cmd, "rm -rf '%s/staging'", tdir); /* the same extract time again */
	assert_int_equal(system(cmd.ptr), 0);
	mcr_buf_free(&cmd);
	test_ndjson_gz();
}

/* A Synthea Bulk Data export: US identifiers, so no Patient has a valid NHS
 * number: not a practice's export; refused, never staged as an empty practice. */
static void test_ndjson_bulk(void **state)
{
	(void)state;
	assert_int_equal(textract(MCR_KIND_GP, "A81001", tdata("fhir/bulk-ndjson")), MCR_EFORMAT);
	assert_error_has("no Patient with a valid NHS number in the export (13 Patients)");
	assert_false(staged_files_left());
}

/* Bad JSON: file, line and column named; nothing staged. */
static void test_json_malformed(void **state)
{
	(void)state;
	static const struct {
		const char *name, *text, *error;
	} cases[] = {
		{"j1/bad.json", "{\"resourceType\":\"Bundle\",\"entry\":[\n {\"resource\":{\"resourceType\":\"Patient\",\n \"id\": x}}]}\n",
		 "bad.json:3:"},
		{"j2/cut.json", "{\"resourceType\":\"Patient\",\"id\":\"a\"", "cut.json:1:"},
		{"j3/two.ndjson", "{\"resourceType\":\"Patient\",\"id\":\"a\"} {\"resourceType\":\"Patient\",\"id\":\"b\"}\n",
		 "two.ndjson:1:"},
		{"j4/array.json", "[{\"resourceType\":\"Patient\"}]", "array.json:1:"},
		{"j5/notype.ndjson", "{\"resourceType\":\"Patient\",\"id\":\"a\"}\n{\"id\":\"b\"}\n", "notype.ndjson:2:"},
		{"j6/empty.json", "", "empty.json"},
		{"j7/utf8.json", "{\"resourceType\":\"Patient\",\"id\":\"\xff\"}", "utf8.json:1:"},
		{"j8/deep.json", "{\"resourceType\":\"Patient\",\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
		                 "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]}", "deep.json:1:"},
		{"j0/slash.json", "{\"resourceType\":\"Condition\",\"subject/reference\":\"Patient/x\"}", "slash.json:1:"},
		{"j9/contained.json", "{\"resourceType\":\"Condition\",\"contained\":[{\"id\":\"x\"}]}", "contained.json:1:"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		mcr_buf b = MCR_BUF_INIT;
		mcr_buf_printf(&b, "%s%s", patient_and, "</Bundle>\n");
		twrite(cases[i].name, cases[i].text);
		char dir[16];
		snprintf(dir, sizeof dir, "%.2s", cases[i].name);
		char xml[32];
		snprintf(xml, sizeof xml, "%s/good.xml", dir);
		twrite(xml, b.ptr); /* a good XML file beside it: mixed inputs, refused as a whole */
		mcr_buf_free(&b);
		char in[256];
		snprintf(in, sizeof in, "%s/%s", tdir, dir);
		assert_int_equal(textract(MCR_KIND_GP, "A81001", in) < 0, 1);
		assert_error_has(cases[i].error);
		assert_false(staged_files_left());
	}
}

/* The NHS immunisation API examples: an Immunization whose Patient is
 * contained ("#Pat1"); both examples carry the same NHS number. */
static void test_contained_json(void **state)
{
	(void)state;
	assert_int_equal(textract(MCR_KIND_GP, "A81001", tdata("fhir/immunisation-json")), 0);
	assert_int_equal(tman->people, 1);
	assert_int_equal(tman->members, 1);
	assert_int_equal(tman->items, 2);
	assert_int_equal(tman->section_items[MCR_SECTION_IMMUNISATIONS], 2);
	assert_log_has("member 9990548609\n");
	assert_log_has("person 9990548609 family=Taylor given=Sarah objection=- consent=-\n");
	assert_log_has("item 9990548609 immunisations 39566211000001103 Supemtek Quadrivalent vaccine");
	assert_log_has("item 9990548609 immunisations 39114911000001105 COVID-19 Vaccine Vaxzevria");
}

/* Contained Patients in XML: "#Pat1" is local to its resource (two resources
 * with a contained Pat1 are two people); one without a valid NHS number is
 * counted and its resource counts nowhere. */
static void contained_imm(mcr_buf *b, const char *nhs, const char *code)
{
	mcr_buf_printf(b, "<entry><resource><Immunization><id value=\"i%s\"/><contained><Patient><id value=\"Pat1\"/>"
	               "<identifier><system value=\"https://fhir.nhs.uk/Id/nhs-number\"/><value value=\"%s\"/></identifier>"
	               "<name><family value=\"F%s\"/></name></Patient></contained><status value=\"completed\"/>"
	               "<vaccineCode><coding><system value=\"http://snomed.info/sct\"/><code value=\"%s\"/>"
	               "<display value=\"Vaccine %s\"/></coding></vaccineCode><patient><reference value=\"#Pat1\"/></patient>"
	               "<occurrenceDateTime value=\"2021-02-14\"/></Immunization></resource></entry>\n", code, nhs, nhs, code, code);
}

static void test_contained_xml(void **state)
{
	(void)state;
	mcr_buf b = MCR_BUF_INIT;
	mcr_buf_puts(&b, "<Bundle xmlns=\"http://hl7.org/fhir\"><type value=\"collection\"/>\n");
	contained_imm(&b, "9990000018", "111");
	contained_imm(&b, "9990000026", "222");
	contained_imm(&b, "9990000019", "333"); /* bad check digit */
	mcr_buf_puts(&b, "</Bundle>\n");
	const char *p = twrite("in/contained.xml", b.ptr);
	mcr_buf_free(&b);
	assert_int_equal(textract(MCR_KIND_GP, "A81001", p), 0);
	assert_int_equal(tman->people, 2);
	assert_int_equal(tman->items, 2);
	assert_int_equal(tman->withheld[MCR_REASON_INVALID_NHS], 1);
	assert_log_has("person 9990000018 family=F9990000018 given=- objection=- consent=-\n");
	assert_log_has("item 9990000018 immunisations 111 Vaccine 111");
	assert_log_has("item 9990000026 immunisations 222 Vaccine 222");
	assert_log_lacks("Vaccine 333");
}

/* A missing input and an organisation of the wrong kind. */
static void test_bad_args(void **state)
{
	(void)state;
	char p[128];
	snprintf(p, sizeof p, "%s/nothing-here", tdir);
	assert_int_equal(textract(MCR_KIND_GP, "A81001", p), MCR_EIO);
	assert_error_has("nothing-here");
	assert_int_equal(textract(MCR_KIND_GP, "LA919", tdata("fhir/ukcore")), MCR_ECONFIG);
	assert_false(staged_files_left());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ukcore, tsetup, tteardown),
		cmocka_unit_test_setup_teardown(test_rules, tsetup, tteardown),
		cmocka_unit_test_setup_teardown(test_rules_bucketed, tsetup, tteardown),
		cmocka_unit_test_setup_teardown(test_unresolved, tsetup, tteardown),
		cmocka_unit_test_setup_teardown(test_dates, tsetup, tteardown),
		cmocka_unit_test_setup_teardown(test_orphans_public, tsetup, tteardown),
		cmocka_unit_test_setup_teardown(test_not_an_export, tsetup, tteardown),
		cmocka_unit_test_setup_teardown(test_malformed, tsetup, tteardown),
		cmocka_unit_test_setup_teardown(test_hostile, tsetup, tteardown),
		cmocka_unit_test_setup_teardown(test_bad_args, tsetup, tteardown),
		cmocka_unit_test_setup_teardown(test_json, tsetup, tteardown),
		cmocka_unit_test_setup_teardown(test_ndjson_bulk, tsetup, tteardown),
		cmocka_unit_test_setup_teardown(test_json_malformed, tsetup, tteardown),
		cmocka_unit_test_setup_teardown(test_contained_json, tsetup, tteardown),
		cmocka_unit_test_setup_teardown(test_contained_xml, tsetup, tteardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
