/*
 * mcr-extract-ooh: NHS 111 / out-of-hours CDA R2 documents -> staged file.
 *
 * One document per case, bare or wrapped in an ITK DistributionEnvelope. A
 * document is shared when its patient has a verified NHS number and a clinician
 * gave advice (an author or encounter participant whose role code is in
 * policy.clinician_roles). It is staged as one misc-reports item: title, time,
 * author organisation and each section's title and plain text. Documents of
 * one person are grouped through the per-person spill; one document is in
 * memory at a time.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "extract_common.h"
#include "mcr/consent.h"
#include "mcr/error.h"
#include "mcr/extract.h"
#include "mcr/fhirtime.h"
#include "mcr/fs.h"
#include "mcr/nhs.h"
#include "mcr/xml.h"

#define HL7_NS "urn:hl7-org:v3"
#define ITK_NS "urn:nhs-itk:ns:201005"
#define NHS_VERIFIED_OID "2.16.840.1.113883.2.1.4.1"
#define SNOMED_OID "2.16.840.1.113883.2.1.3.2.4.15"
#define MAX_DOC_TEXT ((size_t)4 << 20)
#define MAX_DEPTH 64

typedef struct ooh_section {
	mcr_buf title, text;
} ooh_section;

typedef struct ooh_doc {
	mcr_buf id, title, time, code, code_system, author_org, nhs_raw;
	int nhs_verified_root; /* an id with the verified NHS number root was seen */
	int record_targets;    /* recordTarget elements: more than one is ambiguous */
	int clinician;
	int line;
	ooh_section *sections;
	size_t nsections, capsections;
	size_t text_bytes;
} ooh_doc;

typedef struct ooh {
	const mcr_config *cfg;
	const mcr_org *org;
	time_t now;
	mcr_ex_map *members;
	mcr_staged_writer *w;
	mcr_ex_spill *spill;
	ooh_doc doc;
	mcr_buf first_refusal; /* the message of the first file refused */
} ooh;

static void doc_reset(ooh_doc *d)
{
	mcr_buf_reset(&d->id);
	mcr_buf_reset(&d->title);
	mcr_buf_reset(&d->time);
	mcr_buf_reset(&d->code);
	mcr_buf_reset(&d->code_system);
	mcr_buf_reset(&d->author_org);
	mcr_buf_reset(&d->nhs_raw);
	d->nhs_verified_root = 0;
	d->record_targets = 0;
	d->clinician = 0;
	d->text_bytes = 0;
	for (size_t i = 0; i < d->nsections; i++) {
		mcr_buf_reset(&d->sections[i].title);
		mcr_buf_reset(&d->sections[i].text);
	}
	d->nsections = 0;
}

static void doc_free(ooh_doc *d)
{
	mcr_buf *bufs[] = {&d->id, &d->title, &d->time, &d->code, &d->code_system, &d->author_org,
	                   &d->nhs_raw};
	for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
		mcr_buf_free(bufs[i]);
	for (size_t i = 0; i < d->capsections; i++) {
		mcr_buf_free(&d->sections[i].title);
		mcr_buf_free(&d->sections[i].text);
	}
	free(d->sections);
}

static int new_section(ooh_doc *d, size_t *idx)
{
	if (d->nsections == d->capsections) {
		size_t cap = d->capsections ? d->capsections * 2 : 8;
		ooh_section *s = realloc(d->sections, cap * sizeof *s);
		if (!s)
			return mcr_error_set(MCR_ENOMEM, "out of memory");
		memset(s + d->capsections, 0, (cap - d->capsections) * sizeof *s);
		d->sections = s;
		d->capsections = cap;
	}
	*idx = d->nsections++;
	return 0;
}

static int is_hl7(xmlTextReaderPtr rd)
{
	const char *ns = (const char *)xmlTextReaderConstNamespaceUri(rd);
	return ns && strcmp(ns, HL7_NS) == 0;
}

/* Append the plain text of the narrative block the reader is on (its start
 * element at depth base): paragraphs, list items, table rows and line breaks
 * on their own lines, cells separated by " | ", white space normalised. */
static int narrative(mcr_xml *x, int base, ooh_doc *d, mcr_buf *out)
{
	xmlTextReaderPtr rd = mcr_xml_reader(x);
	mcr_buf raw = MCR_BUF_INIT;
	int rc = 0, cell = 0;
	if (xmlTextReaderIsEmptyElement(rd))
		return 0;
	for (;;) {
		if ((rc = mcr_xml_next(x)) <= 0) {
			if (rc == 0)
				rc = mcr_error_set(MCR_EFORMAT, "%s:%d: document ends inside a section text",
				                   mcr_xml_path(x), mcr_xml_line(x));
			break;
		}
		int type = xmlTextReaderNodeType(rd);
		int depth = xmlTextReaderDepth(rd);
		if (type == XML_READER_TYPE_END_ELEMENT && depth == base) {
			rc = 0;
			break;
		}
		const char *ln = (const char *)xmlTextReaderConstLocalName(rd);
		int block = ln && (strcmp(ln, "paragraph") == 0 || strcmp(ln, "item") == 0 ||
		                   strcmp(ln, "tr") == 0 || strcmp(ln, "list") == 0 ||
		                   strcmp(ln, "table") == 0 || strcmp(ln, "caption") == 0 ||
		                   strcmp(ln, "br") == 0);
		if (type == XML_READER_TYPE_ELEMENT || type == XML_READER_TYPE_END_ELEMENT) {
			if (block)
				mcr_buf_putc(&raw, '\n');
			if (ln && strcmp(ln, "tr") == 0)
				cell = 0;
			if (type == XML_READER_TYPE_ELEMENT && ln &&
			    (strcmp(ln, "td") == 0 || strcmp(ln, "th") == 0)) {
				if (cell++)
					mcr_buf_puts(&raw, " | ");
			}
		} else if (type == XML_READER_TYPE_TEXT || type == XML_READER_TYPE_CDATA ||
		           type == XML_READER_TYPE_WHITESPACE ||
		           type == XML_READER_TYPE_SIGNIFICANT_WHITESPACE) {
			const char *v = (const char *)xmlTextReaderConstValue(rd);
			/* Line breaks inside text are white space; only the markup makes lines. */
			mcr_buf_putc(&raw, ' ');
			for (; v && *v; v++)
				mcr_buf_putc(&raw, (*v == '\n' || *v == '\r' || *v == '\t') ? ' ' : *v);
			mcr_buf_putc(&raw, ' ');
		}
		if (raw.len + d->text_bytes > MAX_DOC_TEXT) {
			rc = mcr_error_set(MCR_ELIMIT, "%s:%d: document text larger than %zu bytes",
			                   mcr_xml_path(x), mcr_xml_line(x), MAX_DOC_TEXT);
			break;
		}
	}
	if (rc == 0 && raw.len) {
		/* Each line squeezed; empty lines dropped. */
		char *s = raw.ptr;
		while (s && *s) {
			char *nl = strchr(s, '\n');
			if (nl)
				*nl = '\0';
			mcr_ex_squeeze(s);
			if (*s) {
				if (out->len)
					mcr_buf_putc(out, '\n');
				mcr_buf_puts(out, s);
			}
			s = nl ? nl + 1 : NULL;
		}
		d->text_bytes += out->len;
	}
	mcr_buf_free(&raw);
	return rc;
}

static int elem_text(mcr_xml *x, mcr_buf *out)
{
	char *t = NULL;
	int rc = mcr_xml_text(x, 64 * 1024, &t);
	if (rc)
		return rc;
	mcr_ex_squeeze(t);
	mcr_buf_reset(out);
	mcr_buf_puts(out, t);
	free(t);
	return 0;
}

/* Read the ClinicalDocument whose start element the reader is on (depth base). */
static int read_document(ooh *o, mcr_xml *x, int base)
{
	xmlTextReaderPtr rd = mcr_xml_reader(x);
	ooh_doc *d = &o->doc;
	doc_reset(d);
	d->line = mcr_xml_line(x);
	if (xmlTextReaderIsEmptyElement(rd))
		return 0;
	char path[1024];
	size_t plen_at[MAX_DEPTH + 1];
	size_t plen = 0;
	/* Open sections: for each, its depth and its index in d->sections. */
	int sec_depth[MAX_DEPTH];
	size_t sec_idx[MAX_DEPTH];
	int nsec = 0;
	path[0] = '\0';
	for (;;) {
		int rc = mcr_xml_next(x);
		if (rc < 0)
			return rc;
		if (rc == 0)
			return mcr_error_set(MCR_EFORMAT, "%s:%d: document ends inside ClinicalDocument",
			                     mcr_xml_path(x), mcr_xml_line(x));
		int type = xmlTextReaderNodeType(rd);
		int rel = xmlTextReaderDepth(rd) - base;
		if (type == XML_READER_TYPE_END_ELEMENT) {
			if (rel == 0)
				return 0;
			if (nsec && sec_depth[nsec - 1] == rel)
				nsec--;
			if (rel <= MAX_DEPTH)
				plen = plen_at[rel];
			path[plen] = '\0';
			continue;
		}
		if (type != XML_READER_TYPE_ELEMENT)
			continue;
		if (rel >= MAX_DEPTH)
			return mcr_error_set(MCR_ELIMIT, "%s:%d: elements nested deeper than %d",
			                     mcr_xml_path(x), mcr_xml_line(x), MAX_DEPTH);
		int empty = xmlTextReaderIsEmptyElement(rd);
		if (!is_hl7(rd)) {
			if (!empty && (rc = mcr_xml_skip(x)) != 0)
				return rc;
			continue;
		}
		const char *ln = (const char *)xmlTextReaderConstLocalName(rd);
		size_t n = strlen(ln);
		plen_at[rel] = plen;
		if (plen + n + 2 >= sizeof path)
			return mcr_error_set(MCR_ELIMIT, "%s:%d: element path too long", mcr_xml_path(x),
			                     mcr_xml_line(x));
		if (plen)
			path[plen++] = '/';
		memcpy(path + plen, ln, n);
		plen += n;
		path[plen] = '\0';
		int consumed = 0; /* the reader is on this element's end */
		if (strcmp(ln, "section") == 0) {
			size_t idx = 0;
			if ((rc = new_section(d, &idx)) != 0)
				return rc;
			if (!empty) {
				sec_depth[nsec] = rel;
				sec_idx[nsec] = idx;
				nsec++;
			}
		} else if (nsec && sec_depth[nsec - 1] == rel - 1 && strcmp(ln, "title") == 0) {
			if ((rc = elem_text(x, &d->sections[sec_idx[nsec - 1]].title)) != 0)
				return rc;
			consumed = 1;
		} else if (nsec && sec_depth[nsec - 1] == rel - 1 && strcmp(ln, "text") == 0) {
			if ((rc = narrative(x, xmlTextReaderDepth(rd), d, &d->sections[sec_idx[nsec - 1]].text)) != 0)
				return rc;
			consumed = 1;
		} else if (strcmp(path, "id") == 0) {
			const char *root = mcr_xml_attr(x, "root");
			mcr_buf_puts(&d->id, root ? root : "");
			const char *ext = mcr_xml_attr(x, "extension");
			if (ext && *ext) {
				mcr_buf_putc(&d->id, '^');
				mcr_buf_puts(&d->id, ext);
			}
		} else if (strcmp(path, "code") == 0) {
			const char *c = mcr_xml_attr(x, "code");
			mcr_buf_puts(&d->code, c ? c : "");
			c = mcr_xml_attr(x, "codeSystem");
			mcr_buf_puts(&d->code_system, c ? c : "");
		} else if (strcmp(path, "title") == 0) {
			if ((rc = elem_text(x, &d->title)) != 0)
				return rc;
			consumed = 1;
		} else if (strcmp(path, "effectiveTime") == 0) {
			const char *v = mcr_xml_attr(x, "value");
			mcr_buf_reset(&d->time);
			mcr_buf_puts(&d->time, v ? v : "");
		} else if (strcmp(path, "recordTarget") == 0) {
			d->record_targets++;
		} else if (strcmp(path, "recordTarget/patientRole/id") == 0) {
			const char *root = mcr_xml_attr(x, "root");
			if (root && strcmp(root, NHS_VERIFIED_OID) == 0 && !d->nhs_verified_root) {
				const char *ext = mcr_xml_attr(x, "extension");
				d->nhs_verified_root = 1;
				mcr_buf_puts(&d->nhs_raw, ext ? ext : "");
			}
		} else if (strcmp(path, "author/assignedAuthor/code") == 0 ||
		           strcmp(path, "componentOf/encompassingEncounter/encounterParticipant/assignedEntity/code") == 0) {
			const char *c = mcr_xml_attr(x, "code");
			if (c && mcr_config_code_in(&o->cfg->clinician_roles, c))
				d->clinician = 1;
		} else if (strcmp(path, "author/assignedAuthor/representedOrganization/name") == 0 &&
		           !d->author_org.len) {
			if ((rc = elem_text(x, &d->author_org)) != 0)
				return rc;
			consumed = 1;
		}
		if (empty || consumed) {
			plen = plen_at[rel];
			path[plen] = '\0';
		}
	}
}

/* Decide and stage (or count) the document just read. */
static int stage_document(ooh *o, const char *file)
{
	ooh_doc *d = &o->doc;
	char nhs[11];
	if (d->record_targets > 1) {
		/* Whose record it is cannot be told: never the first person's. */
		mcr_ex_notice("%s:%d: ClinicalDocument has %d recordTargets: ambiguous; not staged "
		              "(unmatched)", file, d->line, d->record_targets);
		mcr_staged_count_withheld(o->w, MCR_REASON_UNMATCHED, 1);
		return 0;
	}
	if (!d->nhs_verified_root || mcr_nhs_validate(mcr_buf_cstr(&d->nhs_raw), nhs) != 0) {
		mcr_error_clear();
		mcr_staged_count_withheld(o->w, MCR_REASON_UNMATCHED, 1);
		return 0;
	}
	char iso[32] = "";
	mcr_fhirtime t;
	int dated = d->time.len > 0;
	if (dated && mcr_fhirtime_parse_hl7(d->time.ptr, &t) != 0) {
		mcr_ex_notice("%s:%d: effectiveTime is not an HL7 date/time; document withheld (invalid-date)",
		          file, d->line);
		return mcr_ex_spill_withheld(o->spill, nhs, MCR_SECTION_MISC_REPORTS, MCR_REASON_INVALID_DATE);
	}
	if (dated)
		mcr_fhirtime_format(&t, iso);
	/* The organisation's own list: recent cases, shared or not, by the earliest
	 * instant the case may be from. */
	if (dated && mcr_fhirtime_seconds(&t) >= (int64_t)o->now - (int64_t)o->cfg->ooh_recent_days * 86400) {
		int rc = mcr_ex_map_put(o->members, nhs, 10, 0, NULL);
		if (rc < 0)
			return rc;
		if (rc == 1 && (rc = mcr_staged_write_member(o->w, nhs)) != 0)
			return rc;
	}
	if (!d->clinician) {
		mcr_staged_count_withheld(o->w, MCR_REASON_NO_CLINICAL_CONTACT, 1);
		return 0;
	}
	mcr_item_facts f = {0};
	f.date = dated ? iso : NULL;
	int reason = mcr_consent_item_withhold_reason(o->cfg, o->org, &f);
	if (reason >= 0)
		return mcr_ex_spill_withheld(o->spill, nhs, MCR_SECTION_MISC_REPORTS, (mcr_reason)reason);
	size_t nd = 0;
	mcr_staged_detail *det = calloc(d->nsections + 1, sizeof *det);
	if (!det)
		return mcr_error_set(MCR_ENOMEM, "out of memory");
	if (d->author_org.len) {
		det[nd].name = "author organisation";
		det[nd].value = d->author_org.ptr;
		nd++;
	}
	for (size_t i = 0; i < d->nsections; i++) {
		ooh_section *s = &d->sections[i];
		if (!s->text.len)
			continue;
		det[nd].name = s->title.len ? s->title.ptr : "Section";
		det[nd].value = s->text.ptr;
		nd++;
	}
	mcr_buf system = MCR_BUF_INIT;
	if (d->code_system.len) {
		if (strcmp(d->code_system.ptr, SNOMED_OID) == 0)
			mcr_buf_puts(&system, "http://snomed.info/sct");
		else
			mcr_buf_printf(&system, "urn:oid:%s", d->code_system.ptr);
	}
	mcr_staged_item it = {0};
	it.section = MCR_SECTION_MISC_REPORTS;
	it.id = d->id.len ? d->id.ptr : NULL;
	it.date = f.date;
	it.system = system.len ? system.ptr : NULL;
	it.code = d->code.len ? d->code.ptr : NULL;
	it.display = d->title.len ? d->title.ptr : "Out of hours report";
	it.details = det;
	it.ndetails = nd;
	int rc = mcr_ex_spill_item(o->spill, nhs, &it);
	free(det);
	mcr_buf_free(&system);
	return rc;
}

/* The file just read was refused: name it (the message set by the read) and
 * count its documents (at least one) as malformed. */
static void file_refused(ooh *o, int ndocs)
{
	const char *why = mcr_error_message();
	if (!o->first_refusal.len)
		mcr_buf_puts(&o->first_refusal, why);
	mcr_ex_notice("%s; %d document%s not staged (malformed)", why, ndocs > 1 ? ndocs : 1,
	              ndocs > 1 ? "s" : "");
	mcr_staged_count_withheld(o->w, MCR_REASON_MALFORMED, ndocs > 1 ? ndocs : 1);
	mcr_error_clear();
}

/* A document read: staged when stage is set (else only checked). */
static int document_done(ooh *o, const char *path, int stage)
{
	return stage ? stage_document(o, path) : 0;
}

/*
 * One file: a ClinicalDocument, or an ITK DistributionEnvelope with one or more
 * (every payload is handled). With stage 0 the file is only read and checked;
 * *ndocs gets the documents begun. Errors: MCR_EFORMAT / MCR_ELIMIT for a file
 * that is not well formed or not a CDA document or envelope (message set).
 */
static int read_file(ooh *o, const char *path, int stage, int *ndocs)
{
	mcr_xml *x = NULL;
	*ndocs = 0;
	int rc = mcr_xml_open(&x, path, 0);
	if (rc)
		return rc;
	xmlTextReaderPtr rd = mcr_xml_reader(x);
	while ((rc = mcr_xml_next(x)) == 1 && xmlTextReaderNodeType(rd) != XML_READER_TYPE_ELEMENT)
		;
	if (rc == 0)
		rc = mcr_error_set(MCR_EFORMAT, "%s: no root element", path);
	if (rc < 0)
		goto out;
	const char *ns = (const char *)xmlTextReaderConstNamespaceUri(rd);
	const char *root = (const char *)xmlTextReaderConstLocalName(rd);
	if (is_hl7(rd) && strcmp(root, "ClinicalDocument") == 0) {
		*ndocs = 1;
		if ((rc = read_document(o, x, 0)) == 0)
			rc = document_done(o, path, stage);
	} else if (ns && strcmp(ns, ITK_NS) == 0 && strcmp(root, "DistributionEnvelope") == 0) {
		while ((rc = mcr_xml_next(x)) == 1) {
			rc = 0;
			if (xmlTextReaderNodeType(rd) != XML_READER_TYPE_ELEMENT || !is_hl7(rd) ||
			    strcmp((const char *)xmlTextReaderConstLocalName(rd), "ClinicalDocument") != 0)
				continue;
			++*ndocs;
			if ((rc = read_document(o, x, xmlTextReaderDepth(rd))) != 0 ||
			    (rc = document_done(o, path, stage)) != 0)
				break;
		}
		if (rc == 0 && !*ndocs)
			rc = mcr_error_set(MCR_EFORMAT, "%s: DistributionEnvelope holds no ClinicalDocument", path);
	} else {
		rc = mcr_error_set(MCR_EFORMAT, "%s:%d: root <%s> (namespace %s) is not a CDA ClinicalDocument or ITK DistributionEnvelope",
		                   path, mcr_xml_line(x), root, ns ? ns : "none");
	}
	/* Read to the end so a truncated or malformed tail is found. */
	while (rc == 0 && (rc = mcr_xml_next(x)) == 1)
		rc = 0;
out:
	mcr_xml_close(x);
	return rc;
}

/*
 * One file, as a unit: read and checked whole first, so a malformed one (bad
 * XML, truncated, not CDA, an oversized document) is named and counted
 * `malformed` and nothing of it is staged; then read again and staged document
 * by document. The other files go on. Returns 0, 1 when the file was refused,
 * or a negative error that stops the extract (out of memory, I/O).
 */
static int extract_file(ooh *o, const char *path)
{
	int ndocs = 0;
	int rc = read_file(o, path, 0, &ndocs);
	if (rc == MCR_EFORMAT || rc == MCR_ELIMIT) {
		file_refused(o, ndocs);
		return 1;
	}
	if (rc == 0)
		rc = read_file(o, path, 1, &ndocs);
	return rc;
}

int mcr_extract_ooh(const mcr_config *cfg, const mcr_org *org, const char *input,
                    const char *staging_dir, char **manifest_path)
{
	if (manifest_path)
		*manifest_path = NULL;
	if (org->kind != MCR_KIND_OOH)
		return mcr_error_set(MCR_ECONFIG, "organisation %s is not an out-of-hours provider", org->ods);
	if (!staging_dir)
		staging_dir = cfg->staging_dir;
	ooh o = {0};
	o.cfg = cfg;
	o.org = org;
	o.now = mcr_time_now();
	char **files = NULL;
	size_t nfiles = 0;
	mcr_buf folder = MCR_BUF_INIT;
	int rc = mcr_ex_list_xml_files(input, &files, &nfiles);
	if (rc == 0)
		rc = mcr_ex_map_new(&o.members);
	if (rc == 0)
		rc = mcr_ex_stage_folder(&folder, staging_dir, org);
	mcr_staged_header h = {org->ods, mcr_org_dataset(org->kind), o.now, org->shares_from};
	if (rc == 0)
		rc = mcr_staged_writer_open(&o.w, staging_dir, &h);
	if (rc == 0)
		rc = mcr_ex_spill_open(&o.spill, folder.ptr);
	if (rc == 0 && nfiles == 0)
		rc = mcr_error_set(MCR_EFORMAT, "%s: no .xml or .xml.gz files", input);
	size_t refused = 0;
	for (size_t i = 0; rc == 0 && i < nfiles; i++) {
		rc = extract_file(&o, files[i]);
		if (rc == 1) {
			refused++;
			rc = 0;
		}
	}
	/* Nothing readable at all is a failed extract, not an empty provider. */
	if (rc == 0 && refused == nfiles)
		rc = mcr_error_set(MCR_EFORMAT, "every file was refused (%zu); the first: %s", nfiles,
		                   mcr_buf_cstr(&o.first_refusal));
	if (rc == 0)
		rc = mcr_ex_spill_emit(o.spill, o.w);
	mcr_ex_spill_close(o.spill);
	if (rc == 0) {
		rc = mcr_staged_writer_commit(o.w, manifest_path);
		o.w = NULL;
	}
	mcr_staged_writer_abort(o.w);
	mcr_ex_map_free(o.members);
	mcr_ex_files_free(files, nfiles);
	doc_free(&o.doc);
	mcr_buf_free(&o.first_refusal);
	mcr_buf_free(&folder);
	return rc;
}
