/* mcr_xml: attack files refused, benign XML read, malformed XML located; each
 * through the reader and again through the SAX2 parse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "mcr/buf.h"
#include "mcr/error.h"
#include "mcr/gz.h"
#include "mcr/xml.h"


#define TMPDIR_NAME "test_xml"
#include "test_tmpdir.h"

static const char *attacks_dir(mcr_buf *b)
{
	const char *d = getenv("MCR_TEST_DATA");
	mcr_buf_reset(b);
	mcr_buf_printf(b, "%s/xml/attacks", d ? d : MCR_SOURCE_DIR "/tests/data");
	return b->ptr;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Which API the shared checks use: the reader (0) or the SAX2 parse (1). */
static int use_sax;

/* What the SAX walk saw. */
static struct {
	int elements;
	char root[64];
} seen;

static int seen_start(void *ctx, const xmlChar *localname, const xmlChar *uri, int nattrs,
                      const xmlChar **attrs)
{
	(void)ctx;
	(void)uri;
	(void)nattrs;
	(void)attrs;
	if (seen.elements++ == 0)
		snprintf(seen.root, sizeof(seen.root), "%s", (const char *)localname);
	return 0;
}

static const mcr_xml_sax seen_sax = { seen_start, NULL, NULL };

static int t_open(mcr_xml **x, const char *path, uint64_t max_out)
{
	memset(&seen, 0, sizeof(seen));
	return use_sax ? mcr_xml_sax_open(x, path, max_out, &seen_sax, NULL) : mcr_xml_open(x, path, max_out);
}

static int t_open_memory(mcr_xml **x, const char *data, size_t len, const char *name)
{
	memset(&seen, 0, sizeof(seen));
	return use_sax ? mcr_xml_sax_open_memory(x, data, len, name, &seen_sax, NULL)
	               : mcr_xml_open_memory(x, data, len, name);
}

/* Walk every node; returns the last mcr_xml_next code (or the SAX run's),
 * counts elements. The SAX root is its local name. */
static int walk(mcr_xml *x, int *elements, char *root, size_t rootlen)
{
	int rc;
	*elements = 0;
	if (use_sax) {
		rc = mcr_xml_sax_run(x);
		*elements = seen.elements;
		if (root)
			snprintf(root, rootlen, "%s", seen.root);
		return rc;
	}
	while ((rc = mcr_xml_next(x)) == 1) {
		xmlTextReaderPtr r = mcr_xml_reader(x);
		if (xmlTextReaderNodeType(r) == XML_READER_TYPE_ELEMENT) {
			if (*elements == 0 && root)
				snprintf(root, rootlen, "%s", (const char *)xmlTextReaderConstName(r));
			(*elements)++;
		}
	}
	return rc;
}

/* Expected first line of the DOCTYPE in each DTD-bearing attack file. */
static int doctype_line(const char *name)
{
	static const struct { const char *name; int line; } t[] = {
		{ "cyclic.xml", 1 }, { "dtd.xml", 2 }, { "dtd_element.xml", 2 },
		{ "external.xml", 1 }, { "external_file.xml", 1 }, { "quadratic.xml", 1 },
		{ "xmlbomb.xml", 1 }, { "xmlbomb2.xml", 1 },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(t[i].name, name) == 0)
			return t[i].line;
	return 0;
}

/* The benign files and their root elements. */
static const char *benign_root(const char *name)
{
	if (!strcmp(name, "simple.xml") || !strcmp(name, "simple-ns.xml"))
		return "root";
	if (!strcmp(name, "xalan_exec.xsl"))
		return "xsl:stylesheet";
	if (!strcmp(name, "schema-include.xsd"))
		return "xsd:schema";
	return NULL;
}

static void check_attack_file(const char *path, const char *name, int from_memory)
{
	mcr_xml *x = NULL;
	mcr_buf data = MCR_BUF_INIT;
	if (from_memory) {
		FILE *f = fopen(path, "rb");
		assert_non_null(f);
		char b[4096];
		size_t n;
		while ((n = fread(b, 1, sizeof(b), f)) > 0)
			mcr_buf_put(&data, b, n);
		fclose(f);
		assert_int_equal(t_open_memory(&x, data.ptr, data.len, path), 0);
	} else {
		assert_int_equal(t_open(&x, path, 0), 0);
	}
	int elements;
	char root[64] = "";
	double t0 = now_s();
	int rc = walk(x, &elements, root, sizeof(root));
	double dt = now_s() - t0;
	int line = doctype_line(name);
	const char *want_root = benign_root(name);
	if (line) {
		char want[512];
		snprintf(want, sizeof(want), "%s:%d: DOCTYPE not allowed", path, line);
		if (rc != MCR_EFORMAT || strcmp(mcr_error_message(), want) != 0)
			fail_msg("%s: rc %d, message \"%s\", wanted \"%s\"", name, rc,
			         mcr_error_message(), want);
		/* Refused before the root element: nothing was expanded. */
		assert_int_equal(elements, 0);
		/* Fail fast; generous for a loaded shared machine. */
		if (dt > 0.5)
			fail_msg("%s took %.3f s to refuse", name, dt);
	} else if (want_root) {
		if (rc != 0)
			fail_msg("%s: benign file failed: %s", name, mcr_error_message());
		const char *colon = strchr(want_root, ':');
		assert_string_equal(root, use_sax && colon ? colon + 1 : want_root);
		assert_true(elements >= 3);
	} else {
		fail_msg("%s: new file in attacks/: add its expectation to test_xml.c", name);
	}
	if (!from_memory) {
		assert_true(mcr_xml_raw_length(x) > 0);
		assert_string_equal(mcr_xml_path(x), path);
	}
	mcr_xml_close(x);
	mcr_buf_free(&data);
}

static void test_attack_files(void **state)
{
	(void)state;
	mcr_buf dir = MCR_BUF_INIT, path = MCR_BUF_INIT;
	unsigned long calls = mcr_xml_entity_loader_calls();
	DIR *d = opendir(attacks_dir(&dir));
	assert_non_null(d);
	struct dirent *e;
	int files = 0;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		mcr_buf_reset(&path);
		mcr_buf_printf(&path, "%s/%s", dir.ptr, e->d_name);
		check_attack_file(path.ptr, e->d_name, 0);
		check_attack_file(path.ptr, e->d_name, 1);
		files++;
	}
	closedir(d);
	assert_int_equal(files, 12);
	/* libxml2 never even asked to load an external entity or DTD. */
	assert_int_equal(mcr_xml_entity_loader_calls(), calls);
	mcr_buf_free(&dir);
	mcr_buf_free(&path);
}

/* The same attacks gzipped: detection is by content, the refusal the same. */
static void test_attack_gz(void **state)
{
	(void)state;
	mcr_buf dir = MCR_BUF_INIT, src = MCR_BUF_INIT, data = MCR_BUF_INIT;
	const char *names[] = { "xmlbomb.xml", "external_file.xml", "dtd.xml" };
	for (size_t i = 0; i < 3; i++) {
		mcr_buf_reset(&src);
		mcr_buf_printf(&src, "%s/%s", attacks_dir(&dir), names[i]);
		mcr_buf_reset(&data);
		FILE *f = fopen(src.ptr, "rb");
		assert_non_null(f);
		char b[4096];
		size_t n;
		while ((n = fread(b, 1, sizeof(b), f)) > 0)
			mcr_buf_put(&data, b, n);
		fclose(f);
		char gz[128];
		snprintf(gz, sizeof(gz), "%s/%s.gz", tmpdir, names[i]);
		unlink(gz); /* written again for the SAX pass */
		mcr_gz_writer *w = NULL;
		assert_int_equal(mcr_gz_writer_open(&w, gz, -1), 0);
		assert_int_equal(mcr_gz_write(w, data.ptr, data.len), 0);
		assert_int_equal(mcr_gz_writer_finish(w, NULL, NULL), 0);
		mcr_xml *x = NULL;
		assert_int_equal(t_open(&x, gz, 0), 0);
		int elements;
		assert_int_equal(walk(x, &elements, NULL, 0), MCR_EFORMAT);
		char want[256];
		snprintf(want, sizeof(want), "%s:%d: DOCTYPE not allowed", gz, doctype_line(names[i]));
		assert_string_equal(mcr_error_message(), want);
		mcr_xml_close(x);
	}
	mcr_buf_free(&dir);
	mcr_buf_free(&src);
	mcr_buf_free(&data);
}

/* The installed loader refuses a file that exists, and counts the request. */
static void test_loader_refuses(void **state)
{
	(void)state;
	unsigned long before = mcr_xml_entity_loader_calls();
	xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
	assert_non_null(ctxt);
	xmlExternalEntityLoader loader = xmlGetExternalEntityLoader();
	assert_null(loader("file:///etc/hostname", NULL, ctxt));
	assert_null(xmlLoadExternalEntity("/etc/hostname", NULL, ctxt));
	xmlFreeParserCtxt(ctxt);
	assert_int_equal(mcr_xml_entity_loader_calls(), before + 2);
}

/* DOCTYPE after a declaration, comments and PIs, at every offset around the
 * input's chunk boundaries: refused with its own line. */
static void test_doctype_positions(void **state)
{
	(void)state;
	mcr_buf doc = MCR_BUF_INIT;
	for (int pad = 0; pad < 4200; pad += (pad > 3900 && pad < 4120) ? 1 : 97) {
		mcr_buf_reset(&doc);
		mcr_buf_puts(&doc, "<?xml version=\"1.0\"?>\n<!-- a <!DOCTYPE in a comment -> - > -->\n"
		                   "<?pi <!DOCTYPE? ?>\n<!--");
		for (int i = 0; i < pad; i++)
			mcr_buf_putc(&doc, 'x');
		mcr_buf_puts(&doc, "-->\n\n<!DOCTYPE r [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>\n<r>&e;</r>\n");
		mcr_xml *x = NULL;
		assert_int_equal(t_open_memory(&x, doc.ptr, doc.len, "pad.xml"), 0);
		int elements;
		int rc = walk(x, &elements, NULL, 0);
		if (rc != MCR_EFORMAT || strcmp(mcr_error_message(), "pad.xml:6: DOCTYPE not allowed"))
			fail_msg("pad %d: rc %d: %s", pad, rc, mcr_error_message());
		mcr_xml_close(x);
	}
	mcr_buf_free(&doc);
}

/* UTF-16 hides the DOCTYPE from the byte scan; the node check still refuses it. */
static void test_doctype_utf16(void **state)
{
	(void)state;
	const char *ascii = "<?xml version=\"1.0\" encoding=\"UTF-16\"?>\n"
	                    "<!DOCTYPE r [<!ENTITY a \"aaaaaaaa\">]>\n<r>&a;</r>\n";
	size_t n = strlen(ascii);
	char *u16 = malloc(2 * n + 2);
	assert_non_null(u16);
	u16[0] = (char)0xff;
	u16[1] = (char)0xfe;
	for (size_t i = 0; i < n; i++) {
		u16[2 + 2 * i] = ascii[i];
		u16[3 + 2 * i] = 0;
	}
	unsigned long calls = mcr_xml_entity_loader_calls();
	mcr_xml *x = NULL;
	assert_int_equal(t_open_memory(&x, u16, 2 * n + 2, "u16.xml"), 0);
	int elements;
	assert_int_equal(walk(x, &elements, NULL, 0), MCR_EFORMAT);
	if (!strstr(mcr_error_message(), "u16.xml:2: DOCTYPE not allowed"))
		fail_msg("%s", mcr_error_message());
	assert_int_equal(elements, 0);
	assert_int_equal(mcr_xml_entity_loader_calls(), calls);
	mcr_xml_close(x);
	free(u16);
}

static void expect_error(const char *doc, const char *name, const char *want)
{
	mcr_xml *x = NULL;
	assert_int_equal(t_open_memory(&x, doc, strlen(doc), name), 0);
	int elements;
	int rc = walk(x, &elements, NULL, 0);
	if (rc != MCR_EFORMAT || strncmp(mcr_error_message(), want, strlen(want)) != 0)
		fail_msg("%s: rc %d, message \"%s\", wanted it to start \"%s\"", name, rc,
		         mcr_error_message(), want);
	/* The error is sticky: no later clean end. */
	assert_int_equal(use_sax ? mcr_xml_sax_run(x) : mcr_xml_next(x), MCR_EFORMAT);
	mcr_xml_close(x);
}

static void test_malformed(void **state)
{
	(void)state;
	expect_error("<a>\n<b>\n</a>\n", "mismatch.xml", "mismatch.xml:3: Opening and ending tag mismatch");
	expect_error("<a>\n  <b>text\n", "truncated.xml",
	             "truncated.xml:3: document ends before its elements are closed");
	expect_error("<a>\n  <b>text</b>\n  <c x=\"1", "truncated2.xml", "truncated2.xml:3:");
	/* libxml2 says "Extra content at the end of the document" for these three. */
	expect_error("", "empty.xml", "empty.xml: empty file (no XML document)");
	expect_error("<?xml version=\"1.0\"?>\n<!-- nothing -->\n  \n", "prolog.xml",
	             "prolog.xml:4: no root element (the file holds no XML element");
	expect_error("<a>", "cut.xml", "cut.xml:1: document ends before its elements are closed");
	expect_error("<a/>\n<b/>\n", "two-roots.xml", "two-roots.xml:2: Extra content");
	expect_error("<a x='1' x='2'/>", "dupattr.xml", "dupattr.xml:1: Attribute x redefined");
	expect_error("<a>\n\n<b>&nosuch;</b></a>", "undeclared.xml", "undeclared.xml:3: Entity 'nosuch' not defined");
	expect_error("<a>\xff\xfe</a>", "badutf8.xml", "badutf8.xml:1:");
	expect_error("<p:a/>", "ns.xml", "ns.xml:1: Namespace prefix p");
	expect_error("text only", "text.xml", "text.xml:1:");
}

/* Truncated .xml.gz: the gzip layer's message wins and names the file. */
static void test_gz_xml(void **state)
{
	(void)state;
	mcr_buf doc = MCR_BUF_INIT;
	mcr_buf_puts(&doc, "<?xml version=\"1.0\"?>\n<list xmlns=\"urn:test\">\n");
	for (int i = 0; i < 3000; i++)
		mcr_buf_printf(&doc, "  <item n=\"%d\">value %d</item>\n", i, i * 31);
	mcr_buf_puts(&doc, "</list>\n");
	char gz[128];
	snprintf(gz, sizeof(gz), "%s/list.xml.gz", tmpdir);
	mcr_gz_writer *w = NULL;
	uint64_t len;
	uint32_t crc;
	assert_int_equal(mcr_gz_writer_open(&w, gz, -1), 0);
	assert_int_equal(mcr_gz_write(w, doc.ptr, doc.len), 0);
	assert_int_equal(mcr_gz_writer_finish(w, &len, &crc), 0);

	mcr_xml *x = NULL;
	assert_int_equal(mcr_xml_open(&x, gz, 0), 0);
	int items = 0, rc, last_line = 0;
	while ((rc = mcr_xml_next(x)) == 1) {
		xmlTextReaderPtr r = mcr_xml_reader(x);
		if (xmlTextReaderNodeType(r) == XML_READER_TYPE_ELEMENT &&
		    strcmp((const char *)xmlTextReaderConstLocalName(r), "item") == 0) {
			assert_string_equal((const char *)xmlTextReaderConstNamespaceUri(r), "urn:test");
			char want[16];
			snprintf(want, sizeof(want), "%d", items);
			assert_string_equal(mcr_xml_attr(x, "n"), want);
			assert_null(mcr_xml_attr(x, "missing"));
			last_line = mcr_xml_line(x);
			items++;
		}
	}
	assert_int_equal(rc, 0);
	assert_int_equal(items, 3000);
	assert_int_equal(last_line, 3002);
	assert_int_equal(mcr_xml_raw_length(x), len);
	assert_int_equal(mcr_xml_raw_crc32(x), crc);
	assert_int_equal(mcr_xml_next(x), 0);
	mcr_xml_close(x);

	/* Cut the file short. */
	FILE *f = fopen(gz, "rb");
	assert_non_null(f);
	mcr_buf raw = MCR_BUF_INIT;
	char b[4096];
	size_t n;
	while ((n = fread(b, 1, sizeof(b), f)) > 0)
		mcr_buf_put(&raw, b, n);
	fclose(f);
	char cut[128];
	snprintf(cut, sizeof(cut), "%s/cut.xml.gz", tmpdir);
	f = fopen(cut, "wb");
	assert_non_null(f);
	fwrite(raw.ptr, 1, raw.len / 2, f);
	fclose(f);
	assert_int_equal(mcr_xml_open(&x, cut, 0), 0);
	while ((rc = mcr_xml_next(x)) == 1)
		;
	assert_int_equal(rc, MCR_EFORMAT);
	assert_non_null(strstr(mcr_error_message(), cut));
	assert_non_null(strstr(mcr_error_message(), "truncated"));
	mcr_xml_close(x);

	/* Over the decompressed-size cap. */
	assert_int_equal(mcr_xml_open(&x, gz, 1000), 0);
	while ((rc = mcr_xml_next(x)) == 1)
		;
	assert_int_equal(rc, MCR_ELIMIT);
	mcr_xml_close(x);

	/* Missing file. */
	snprintf(cut, sizeof(cut), "%s/none.xml", tmpdir);
	assert_int_equal(mcr_xml_open(&x, cut, 0), MCR_ENOTFOUND);
	assert_null(x);
	mcr_xml_close(NULL);
	mcr_buf_free(&doc);
	mcr_buf_free(&raw);
}

/* Move to the next element named name; fails the test if there is none. */
static void to_element(mcr_xml *x, const char *name)
{
	while (mcr_xml_next(x) == 1) {
		xmlTextReaderPtr r = mcr_xml_reader(x);
		if (xmlTextReaderNodeType(r) == XML_READER_TYPE_ELEMENT &&
		    strcmp((const char *)xmlTextReaderConstName(r), name) == 0)
			return;
	}
	fail_msg("no element %s: %s", name, mcr_error_message());
}

static void test_text_and_skip(void **state)
{
	(void)state;
	const char *doc =
		"<r>\n"
		"<a>one<b>two<![CDATA[<three> & ]]></b> <c/>four &amp; &lt;&#x41;&#66;</a>\n"
		"<after/>\n"
		"<e/><e2></e2>\n"
		"<skip><x><y>deep</y><skip>nested same name</skip></x>text</skip><keep k='v'/>\n"
		"<big>0123456789</big><tail/>\n"
		"</r>\n";
	mcr_xml *x = NULL;
	assert_int_equal(mcr_xml_open_memory(&x, doc, strlen(doc), "text.xml"), 0);
	xmlTextReaderPtr r = mcr_xml_reader(x);
	char *t = NULL;

	to_element(x, "a");
	assert_int_equal(mcr_xml_line(x), 2);
	assert_int_equal(mcr_xml_text(x, 1000, &t), 0);
	assert_string_equal(t, "onetwo<three> &  four & <AB");
	free(t);
	/* Left on </a>; the next element is <after>. */
	assert_int_equal(xmlTextReaderNodeType(r), XML_READER_TYPE_END_ELEMENT);
	assert_string_equal((const char *)xmlTextReaderConstName(r), "a");
	to_element(x, "after");
	assert_int_equal(mcr_xml_line(x), 3);

	to_element(x, "e");
	assert_int_equal(mcr_xml_text(x, 10, &t), 0);
	assert_string_equal(t, "");
	free(t);
	to_element(x, "e2");
	assert_int_equal(mcr_xml_text(x, 10, &t), 0);
	assert_string_equal(t, "");
	free(t);

	to_element(x, "skip");
	assert_int_equal(mcr_xml_skip(x), 0);
	assert_int_equal(mcr_xml_next(x), 1);
	assert_string_equal((const char *)xmlTextReaderConstName(r), "keep");
	assert_string_equal(mcr_xml_attr(x, "k"), "v");

	to_element(x, "big");
	assert_int_equal(mcr_xml_text(x, 9, &t), MCR_ELIMIT);
	assert_null(t);
	assert_non_null(strstr(mcr_error_message(), "text.xml:6:"));
	assert_non_null(strstr(mcr_error_message(), "<big>"));
	mcr_xml_close(x);

	/* Exactly at the cap is fine. */
	assert_int_equal(mcr_xml_open_memory(&x, doc, strlen(doc), "text.xml"), 0);
	to_element(x, "big");
	assert_int_equal(mcr_xml_text(x, 10, &t), 0);
	assert_string_equal(t, "0123456789");
	free(t);
	to_element(x, "tail");
	mcr_xml_close(x);

	/* Text that runs into an error reports the error. */
	mcr_buf bad = MCR_BUF_INIT;
	mcr_buf_puts(&bad, "<r><a>\n");
	for (int i = 0; i < 200; i++) /* past what the reader parses ahead */
		mcr_buf_puts(&bad, "text text text text text text\n");
	mcr_buf_puts(&bad, "<b></a></r>");
	assert_int_equal(mcr_xml_open_memory(&x, bad.ptr, bad.len, "bad.xml"), 0);
	to_element(x, "a");
	assert_int_equal(mcr_xml_text(x, 100000, &t), MCR_EFORMAT);
	assert_null(t);
	assert_non_null(strstr(mcr_error_message(), "bad.xml:202: Opening and ending tag mismatch"));
	mcr_buf_free(&bad);
	mcr_xml_close(x);
}

/* The shared checks again through the SAX2 parse. */
static void test_sax_attacks_and_errors(void **state)
{
	use_sax = 1;
	test_attack_files(state);
	test_attack_gz(state);
	test_doctype_positions(state);
	test_doctype_utf16(state);
	test_malformed(state);
	use_sax = 0;
}

typedef struct sax_probe {
	mcr_xml *x;
	const xmlChar *v_name, *value_name;
	mcr_buf values, text;
	int v_line[4];
	int nv, ends, stop_at;
} sax_probe;

static int probe_start(void *ctx, const xmlChar *localname, const xmlChar *uri, int nattrs,
                       const xmlChar **attrs)
{
	sax_probe *p = ctx;
	(void)uri;
	if (strcmp((const char *)localname, "v") != 0)
		return 0;
	/* Interned: the callback's pointer is the dictionary's. */
	assert_ptr_equal(localname, p->v_name);
	if (p->nv < 4)
		p->v_line[p->nv] = mcr_xml_line(p->x);
	if (++p->nv == p->stop_at)
		return mcr_error_set(MCR_ELIMIT, "stopped at v %d", p->nv);
	for (int i = 0; i < nattrs; i++)
		if (attrs[5 * i] == p->value_name && !attrs[5 * i + 2]) {
			assert_int_equal(mcr_xml_sax_value(&p->values, attrs[5 * i + 3], attrs[5 * i + 4]), 0);
			mcr_buf_putc(&p->values, '|');
		}
	return 0;
}

static int probe_end(void *ctx, const xmlChar *localname, const xmlChar *uri)
{
	sax_probe *p = ctx;
	(void)localname;
	(void)uri;
	p->ends++;
	return 0;
}

static int probe_text(void *ctx, const xmlChar *s, int len)
{
	sax_probe *p = ctx;
	return mcr_buf_put(&p->text, s, (size_t)len);
}

/* Values decoded ('&' arrives as "&#38;"), names interned, lines, text, and a
 * callback's error stopping the parse. */
static void test_sax(void **state)
{
	(void)state;
	static const mcr_xml_sax h = { probe_start, probe_end, probe_text };
	const char *doc = "<r xmlns=\"urn:x\" xmlns:o=\"urn:o\">\n"
	                  "<v value=\"a &amp; b &#38; c &lt;&#x26;#38; &quot;\"/>\n"
	                  "<v o:value=\"other\" value=\"\"/>\n"
	                  "<v>t &amp; <![CDATA[<c>]]></v>\n"
	                  "<v value=\"&#38;&#38;x&amp;\"/></r>\n";
	sax_probe p;
	memset(&p, 0, sizeof(p));
	assert_int_equal(mcr_xml_sax_open_memory(&p.x, doc, strlen(doc), "probe.xml", &h, &p), 0);
	p.v_name = mcr_xml_intern(p.x, "v");
	p.value_name = mcr_xml_intern(p.x, "value");
	assert_non_null(p.v_name);
	assert_int_equal(mcr_xml_sax_run(p.x), 0);
	assert_string_equal(p.values.ptr, "a & b & c <&#38; \"||&&x&|");
	assert_int_equal(p.nv, 4);
	assert_int_equal(p.ends, 5);
	assert_int_equal(p.v_line[0], 2);
	assert_int_equal(p.v_line[3], 5);
	assert_non_null(strstr(p.text.ptr, "t & <c>"));
	mcr_xml_close(p.x);

	/* A callback's error is the parse's, and nothing more is delivered. */
	mcr_buf_free(&p.values);
	mcr_buf_free(&p.text);
	memset(&p, 0, sizeof(p));
	p.stop_at = 2;
	assert_int_equal(mcr_xml_sax_open_memory(&p.x, doc, strlen(doc), "probe.xml", &h, &p), 0);
	p.v_name = mcr_xml_intern(p.x, "v");
	p.value_name = mcr_xml_intern(p.x, "value");
	assert_int_equal(mcr_xml_sax_run(p.x), MCR_ELIMIT);
	assert_string_equal(mcr_error_message(), "stopped at v 2");
	assert_int_equal(p.nv, 2);
	assert_int_equal(p.ends, 1);
	mcr_xml_close(p.x);
	mcr_buf_free(&p.values);
	mcr_buf_free(&p.text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_attack_files),
		cmocka_unit_test(test_attack_gz),
		cmocka_unit_test(test_loader_refuses),
		cmocka_unit_test(test_doctype_positions),
		cmocka_unit_test(test_doctype_utf16),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_gz_xml),
		cmocka_unit_test(test_text_and_skip),
		cmocka_unit_test(test_sax_attacks_and_errors),
		cmocka_unit_test(test_sax),
	};
	return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
