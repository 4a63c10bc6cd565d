/*
 * Staged file writer: XML text written by hand (escaping below) into a gzip
 * stream under a temporary name, then published payload first, manifest last
 * (docs/STAGED.md, "Write order").
 */
#include "mcr/staged.h"
#include "mcr/buf.h"
#include "mcr/config.h"
#include "mcr/error.h"
#include "mcr/fs.h"
#include "mcr/gz.h"
#include "mcr/nhs.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* XML is collected here and handed to gzip in chunks of about this size. */
#define FLUSH_AT (64 * 1024)

struct mcr_staged_writer {
	mcr_gz_writer *gz;
	mcr_buf xml;
	char *dir, *tmp_path, *payload_path, *manifest_path;
	char stamp[32];
	mcr_staged_manifest m;
	int in_person;
	int person_objects;   /* the open person's objection is in force */
	char person_nhs[11];  /* for messages */
	int failed;           /* a write failed: only abort remains */
};

/* ---- escaping ------------------------------------------------------------ */

/*
 * Length of the UTF-8 sequence at s (1-4), or 0 when it is not well-formed
 * (overlong, surrogate, beyond U+10FFFF, truncated). *cp gets the code point.
 */
static size_t utf8_seq(const unsigned char *s, uint32_t *cp)
{
	unsigned c = s[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	size_t n;
	uint32_t v, min;
	if (c >= 0xC2 && c <= 0xDF) {
		n = 2; v = c & 0x1F; min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3; v = c & 0x0F; min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4; v = c & 0x07; min = 0x10000;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0; /* also stops at the terminating NUL */
		v = (v << 6) | (s[i] & 0x3F);
	}
	if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*cp = v;
	return n;
}

/*
 * Append s to b as XML character data (attr: inside a "..." attribute value).
 * Characters XML 1.0 cannot carry (C0 controls other than tab, newline and
 * carriage return; U+FFFE, U+FFFF) are dropped. In attributes tab, newline and
 * carriage return become character references, which attribute-value
 * normalisation keeps; in text a carriage return does, so it is not turned into
 * a newline on reading. Invalid UTF-8 is refused.
 */
static int xml_escape(mcr_buf *b, const char *s, int attr)
{
	const unsigned char *p = (const unsigned char *)s;
	int rc = 0;
	while (*p && !rc) {
		/* Copy the run of bytes that need nothing. */
		const unsigned char *run = p;
		while (*p >= 0x20 && *p < 0x80 && *p != '&' && *p != '<' && *p != '>' &&
		       *p != '"')
			p++;
		if (p > run && (rc = mcr_buf_put(b, run, (size_t)(p - run))))
			break;
		if (!*p)
			break;
		uint32_t cp;
		size_t n = utf8_seq(p, &cp);
		if (!n)
			return MCR_EFORMAT;
		const char *rep = NULL;
		switch (cp) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = attr ? "&quot;" : "\""; break;
		case '\t': rep = attr ? "&#9;" : "\t"; break;
		case '\n': rep = attr ? "&#10;" : "\n"; break;
		case '\r': rep = "&#13;"; break;
		default:
			if (cp < 0x20 || cp == 0xFFFE || cp == 0xFFFF)
				rep = "";
			break;
		}
		rc = rep ? mcr_buf_puts(b, rep) : mcr_buf_put(b, p, n);
		p += n;
	}
	return rc;
}

static int fail(mcr_staged_writer *w, int rc)
{
	w->failed = 1;
	return rc;
}

/* Append name="value" (nothing when value is NULL). what names it in errors. */
static int put_attr(mcr_staged_writer *w, const char *name, const char *value, const char *what)
{
	if (!value)
		return 0;
	int rc;
	if ((rc = mcr_buf_putc(&w->xml, ' ')) || (rc = mcr_buf_puts(&w->xml, name)) ||
	    (rc = mcr_buf_put(&w->xml, "=\"", 2)))
		return fail(w, rc);
	rc = xml_escape(&w->xml, value, 1);
	if (rc == MCR_EFORMAT)
		return fail(w, mcr_error_set(MCR_EFORMAT, "staged file %s/%s: invalid UTF-8 in %s %s%s%s",
		                             w->m.org, w->m.dataset, what, name,
		                             w->in_person ? " of person " : "",
		                             w->in_person ? w->person_nhs : ""));
	if (rc || (rc = mcr_buf_putc(&w->xml, '"')))
		return fail(w, rc);
	return 0;
}

static int put(mcr_staged_writer *w, const char *s)
{
	int rc = mcr_buf_puts(&w->xml, s);
	return rc ? fail(w, rc) : 0;
}

/* Hand collected XML to gzip once enough has accumulated (or always, at the end). */
static int flush(mcr_staged_writer *w, int force)
{
	if (!w->xml.len || (!force && w->xml.len < FLUSH_AT))
		return 0;
	int rc = mcr_gz_write(w->gz, w->xml.ptr, w->xml.len);
	if (rc)
		return fail(w, rc);
	mcr_buf_reset(&w->xml);
	return 0;
}

static int usable(mcr_staged_writer *w)
{
	if (!w)
		return mcr_error_set(MCR_ERROR, "staged writer: not open");
	if (w->failed)
		return mcr_error_set(MCR_ERROR, "staged file %s/%s: an earlier write failed",
		                     w->m.org, w->m.dataset);
	return 0;
}

/* ---- header checks --------------------------------------------------------- */

static int valid_date_or_empty(const char *s)
{
	time_t t;
	return !s || !*s || (strlen(s) == 10 && mcr_time_parse(s, &t) == 0);
}

/* ---- writer ---------------------------------------------------------------- */

static void writer_free(mcr_staged_writer *w)
{
	mcr_buf_free(&w->xml);
	free(w->dir);
	mcr_fs_temp_untrack(w->tmp_path); /* published or removed by now */
	free(w->tmp_path);
	free(w->payload_path);
	free(w->manifest_path);
	free(w->m.org);
	free(w->m.dataset);
	free(w->m.payload);
	free(w);
}

static int dup_printf(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int dup_printf(char **out, const char *fmt, ...)
{
	mcr_buf b = MCR_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	int rc = mcr_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (rc) {
		mcr_buf_free(&b);
		return rc;
	}
	*out = mcr_buf_detach(&b);
	return *out ? 0 : MCR_ENOMEM;
}

int mcr_staged_writer_open(mcr_staged_writer **out, const char *staging_dir,
                           const mcr_staged_header *h)
{
	*out = NULL;
	if (!mcr_org_ods_valid(h->org))
		return mcr_error_set(MCR_ERROR, "staged file: bad ODS code '%s'",
		                     h->org ? h->org : "(null)");
	if (mcr_org_kind_parse(h->dataset, NULL) != 0)
		return mcr_error_set(MCR_ERROR, "staged file: bad dataset '%s'",
		                     h->dataset ? h->dataset : "(null)");
	if (!valid_date_or_empty(h->shares_from))
		return mcr_error_set(MCR_ERROR, "staged file: bad shares-from date '%s'", h->shares_from);
	mcr_staged_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return mcr_error_set(MCR_ENOMEM, "out of memory opening a staged file");
	w->m.schema_version = MCR_STAGED_SCHEMA_VERSION;
	w->m.extracted = h->extracted;
	if (h->shares_from)
		snprintf(w->m.shares_from, sizeof(w->m.shares_from), "%s", h->shares_from);
	mcr_time_stamp(h->extracted, w->stamp);
	int rc;
	if ((rc = dup_printf(&w->m.org, "%s", h->org)) ||
	    (rc = dup_printf(&w->m.dataset, "%s", h->dataset)) ||
	    (rc = dup_printf(&w->m.payload, "%s.xml.gz", w->stamp)) ||
	    (rc = dup_printf(&w->dir, "%s/%s/%s", staging_dir, h->org, h->dataset)) ||
	    (rc = dup_printf(&w->payload_path, "%s/%s.xml.gz", w->dir, w->stamp)) ||
	    (rc = dup_printf(&w->manifest_path, "%s/%s.yaml", w->dir, w->stamp)) ||
	    /* The pid keeps two runs of the same second from sharing a temporary file. */
	    (rc = dup_printf(&w->tmp_path, "%s/.%s.%ld.xml.gz.tmp", w->dir, w->stamp,
	                     (long)getpid())))
		goto fail;
	/* A run killed outright left its temporary files here: remove them. */
	if ((rc = mcr_fs_mkdirs(w->dir)) || (rc = mcr_fs_remove_stale_temps(w->dir, NULL)))
		goto fail;
	if (mcr_fs_exists(w->payload_path) || mcr_fs_exists(w->manifest_path)) {
		rc = mcr_error_set(MCR_EIO, "already staged: %s", w->payload_path);
		goto fail;
	}
	if ((rc = mcr_fs_temp_track(w->tmp_path)))
		goto fail;
	if ((rc = mcr_gz_writer_open(&w->gz, w->tmp_path, 1)))
		goto fail;
	char iso[32];
	mcr_time_iso(h->extracted, iso);
	if ((rc = put(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<staged xmlns=\"" MCR_STAGED_NS "\"")) ||
	    (rc = put_attr(w, "org", w->m.org, "header")) ||
	    (rc = put_attr(w, "dataset", w->m.dataset, "header")) ||
	    (rc = put_attr(w, "extracted", iso, "header")) ||
	    (rc = put_attr(w, "sharesFrom", w->m.shares_from, "header")) ||
	    (rc = put(w, ">\n")))
		goto fail;
	*out = w;
	return 0;
fail:
	mcr_gz_writer_abort(w->gz);
	writer_free(w);
	return rc;
}

/* A valid NHS number, or a programming error in the caller. */
static int check_nhs(mcr_staged_writer *w, const char *nhs, char out[11])
{
	if (!nhs || mcr_nhs_validate(nhs, out) != 0)
		return fail(w, mcr_error_set(MCR_ERROR, "staged file %s/%s: invalid NHS number '%s'",
		                             w->m.org, w->m.dataset, nhs ? nhs : "(null)"));
	return 0;
}

int mcr_staged_write_member(mcr_staged_writer *w, const char *nhs)
{
	int rc = usable(w);
	char digits[11];
	if (rc || (rc = check_nhs(w, nhs, digits)))
		return rc;
	if (w->in_person)
		return fail(w, mcr_error_set(MCR_ERROR, "staged file: member written inside a person"));
	if ((rc = put(w, "<member")) || (rc = put_attr(w, "nhs", digits, "member")) ||
	    (rc = put(w, "/>\n")))
		return rc;
	w->m.members++;
	return flush(w, 0);
}

int mcr_staged_person_begin(mcr_staged_writer *w, const mcr_staged_person *p)
{
	int rc = usable(w);
	if (rc || (rc = check_nhs(w, p->nhs, w->person_nhs)))
		return rc;
	if (w->in_person)
		return fail(w, mcr_error_set(MCR_ERROR, "staged file: person %s begun inside person",
		                             w->person_nhs));
	if (p->consent && strcmp(p->consent, "Y") != 0)
		return fail(w, mcr_error_set(MCR_ERROR, "staged file: person %s: consent must be \"Y\"",
		                             w->person_nhs));
	w->in_person = 1;
	if ((rc = put(w, "<person")) ||
	    (rc = put_attr(w, "nhs", w->person_nhs, "person")) ||
	    (rc = put_attr(w, "family", p->family, "person")) ||
	    (rc = put_attr(w, "given", p->given, "person")) ||
	    (rc = put_attr(w, "birthDate", p->birth_date, "person")) ||
	    (rc = put_attr(w, "gender", p->gender, "person")) ||
	    (rc = put_attr(w, "address", p->address, "person")) ||
	    (rc = put_attr(w, "postcode", p->postcode, "person")) ||
	    (rc = put_attr(w, "phone", p->phone, "person")) ||
	    (rc = put_attr(w, "objection", p->objection, "person")) ||
	    (rc = put_attr(w, "consent", p->consent, "person")) ||
	    (rc = put(w, ">\n")))
		return rc;
	w->person_objects = p->objection != NULL;
	w->m.people++;
	if (w->person_objects)
		w->m.objections++;
	return 0;
}

int mcr_staged_write_item(mcr_staged_writer *w, const mcr_staged_item *it)
{
	int rc = usable(w);
	if (rc)
		return rc;
	if (!w->in_person)
		return fail(w, mcr_error_set(MCR_ERROR, "staged file: item written outside a person"));
	if (w->person_objects)
		return fail(w, mcr_error_set(MCR_ERROR,
		                             "staged file: item for person %s whose objection is in force",
		                             w->person_nhs));
	const char *section = mcr_section_name(it->section);
	if (!section)
		return fail(w, mcr_error_set(MCR_ERROR, "staged file: item with no valid section"));
	if ((rc = put(w, "  <item")) ||
	    (rc = put_attr(w, "section", section, "item")) ||
	    (rc = put_attr(w, "id", it->id, "item")) ||
	    (rc = put_attr(w, "date", it->date, "item")) ||
	    (rc = put_attr(w, "system", it->system, "item")) ||
	    (rc = put_attr(w, "code", it->code, "item")) ||
	    (rc = put_attr(w, "display", it->display, "item")) ||
	    (rc = put_attr(w, "status", it->status, "item")) ||
	    (rc = put_attr(w, "confidentiality", it->confidentiality, "item")))
		return rc;
	if (!it->ndetails) {
		if ((rc = put(w, "/>\n")))
			return rc;
	} else {
		if ((rc = put(w, ">\n")))
			return rc;
		for (size_t i = 0; i < it->ndetails; i++) {
			const mcr_staged_detail *d = &it->details[i];
			if ((rc = put(w, "    <detail")) ||
			    (rc = put_attr(w, "name", d->name ? d->name : "", "detail")) ||
			    (rc = put(w, ">")))
				return rc;
			rc = xml_escape(&w->xml, d->value ? d->value : "", 0);
			if (rc == MCR_EFORMAT)
				return fail(w, mcr_error_set(MCR_EFORMAT,
				                             "staged file %s/%s: invalid UTF-8 in detail %s of person %s",
				                             w->m.org, w->m.dataset, d->name ? d->name : "",
				                             w->person_nhs));
			if (rc || (rc = put(w, "</detail>\n")))
				return rc ? fail(w, rc) : rc;
		}
		if ((rc = put(w, "  </item>\n")))
			return rc;
	}
	w->m.items++;
	w->m.section_items[it->section]++;
	return flush(w, 0);
}

int mcr_staged_write_withheld(mcr_staged_writer *w, mcr_section s, mcr_reason r, long count)
{
	int rc = usable(w);
	if (rc)
		return rc;
	if (!w->in_person)
		return fail(w, mcr_error_set(MCR_ERROR, "staged file: withheld written outside a person"));
	if (w->person_objects)
		return fail(w, mcr_error_set(MCR_ERROR,
		                             "staged file: withheld items for person %s whose objection is in force",
		                             w->person_nhs));
	if (!mcr_section_name(s) || !mcr_reason_name(r) || count < 0)
		return fail(w, mcr_error_set(MCR_ERROR, "staged file: bad withheld entry for person %s",
		                             w->person_nhs));
	if (count == 0)
		return 0;
	char n[32];
	snprintf(n, sizeof(n), "%ld", count);
	if ((rc = put(w, "  <withheld")) ||
	    (rc = put_attr(w, "section", mcr_section_name(s), "withheld")) ||
	    (rc = put_attr(w, "reason", mcr_reason_name(r), "withheld")) ||
	    (rc = put_attr(w, "count", n, "withheld")) ||
	    (rc = put(w, "/>\n")))
		return rc;
	w->m.withheld[r] += count;
	return 0;
}

int mcr_staged_person_end(mcr_staged_writer *w)
{
	int rc = usable(w);
	if (rc)
		return rc;
	if (!w->in_person)
		return fail(w, mcr_error_set(MCR_ERROR, "staged file: person end without a person"));
	w->in_person = 0;
	if ((rc = put(w, "</person>\n")))
		return rc;
	return flush(w, 0);
}

void mcr_staged_count_withheld(mcr_staged_writer *w, mcr_reason r, long count)
{
	if (w && mcr_reason_name(r) && count > 0)
		w->m.withheld[r] += count;
}

const mcr_staged_manifest *mcr_staged_writer_counts(const mcr_staged_writer *w)
{
	return &w->m;
}

/* The manifest's YAML text (docs/STAGED.md, "Manifest"). */
static int manifest_text(const mcr_staged_manifest *m, mcr_buf *b)
{
	char iso[32];
	mcr_time_iso(m->extracted, iso);
	int rc = mcr_buf_printf(b,
		"# mcr staged file manifest (docs/STAGED.md); written after its payload\n"
		"schema_version: %d\n"
		"organisation: %s\n"
		"dataset: %s\n"
		"extracted: %s\n"
		"shares_from: \"%s\"\n"
		"payload: %s\n"
		"payload_length: %" PRIu64 "\n"
		"payload_crc32: %08" PRIx32 "\n"
		"counts:\n"
		"  people: %ld\n"
		"  members: %ld\n"
		"  items: %ld\n"
		"  objections: %ld\n"
		"  sections:\n",
		m->schema_version, m->org, m->dataset, iso, m->shares_from, m->payload,
		m->payload_length, m->payload_crc32, m->people, m->members, m->items,
		m->objections);
	for (int s = 0; s < MCR_SECTION_COUNT && !rc; s++)
		rc = mcr_buf_printf(b, "    %s: %ld\n", mcr_section_name((mcr_section)s),
		                    m->section_items[s]);
	if (!rc)
		rc = mcr_buf_puts(b, "withheld:\n");
	for (int r = 0; r < MCR_REASON_COUNT && !rc; r++)
		rc = mcr_buf_printf(b, "  %s: %ld\n", mcr_reason_name((mcr_reason)r), m->withheld[r]);
	return rc;
}

/*
 * Give the finished temporary file its final name without ever replacing a
 * staged file of the same stamp: link() fails if the name exists.
 */
static int publish_payload(mcr_staged_writer *w)
{
	if (link(w->tmp_path, w->payload_path) == 0) {
		unlink(w->tmp_path);
		return 0;
	}
	int err = errno;
	if (err == EEXIST) {
		unlink(w->tmp_path);
		return mcr_error_set(MCR_EIO, "already staged: %s", w->payload_path);
	}
	if (err != EPERM && err != ENOTSUP && err != EXDEV) {
		unlink(w->tmp_path);
		errno = err;
		return mcr_error_set_errno(MCR_EIO, "cannot link %s to %s", w->tmp_path, w->payload_path);
	}
	/* A file system without hard links: check, then rename. */
	if (mcr_fs_exists(w->payload_path)) {
		unlink(w->tmp_path);
		return mcr_error_set(MCR_EIO, "already staged: %s", w->payload_path);
	}
	if (rename(w->tmp_path, w->payload_path) != 0) {
		int rc = mcr_error_set_errno(MCR_EIO, "cannot rename %s to %s", w->tmp_path,
		                             w->payload_path);
		unlink(w->tmp_path);
		return rc;
	}
	return 0;
}

int mcr_staged_writer_commit(mcr_staged_writer *w, char **manifest_path)
{
	if (manifest_path)
		*manifest_path = NULL;
	int rc = usable(w);
	mcr_buf text = MCR_BUF_INIT;
	if (rc)
		goto out;
	if (w->in_person) {
		rc = mcr_error_set(MCR_ERROR, "staged file %s/%s: commit inside person %s",
		                   w->m.org, w->m.dataset, w->person_nhs);
		goto out;
	}
	if ((rc = put(w, "</staged>\n")) || (rc = flush(w, 1)))
		goto out;
	if (mcr_fs_exists(w->manifest_path)) {
		rc = mcr_error_set(MCR_EIO, "already staged: %s", w->manifest_path);
		goto out;
	}
	rc = mcr_gz_writer_finish(w->gz, &w->m.payload_length, &w->m.payload_crc32);
	w->gz = NULL; /* finish frees it and removes the file on failure */
	if (rc)
		goto out;
	if ((rc = publish_payload(w)))
		goto out;
	if ((rc = mcr_fs_fsync_dir(w->dir)) || (rc = manifest_text(&w->m, &text)) ||
	    (rc = mcr_fs_write_atomic(w->manifest_path, text.ptr, text.len))) {
		/* No manifest: take the payload back so nothing is left behind. */
		unlink(w->payload_path);
		goto out;
	}
	if (manifest_path) {
		*manifest_path = w->manifest_path;
		w->manifest_path = NULL;
	}
out:
	mcr_buf_free(&text);
	if (w) {
		mcr_gz_writer_abort(w->gz);
		writer_free(w);
	}
	return rc;
}

void mcr_staged_writer_abort(mcr_staged_writer *w)
{
	if (!w)
		return;
	mcr_gz_writer_abort(w->gz);
	writer_free(w);
}
