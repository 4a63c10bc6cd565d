/*
 * The care view: what one lookup shows, as data, and its two renderings (text
 * for a terminal, HTML for a browser). The lookup (lib/lookup.c) decides and
 * fills an mcr_view; mcr-lookup and mcr-serve render the same view with the same
 * code, so what a clinician sees does not depend on the door they came in by.
 *
 * An mcr_view borrows every string: whoever fills it keeps them alive until it
 * is rendered. Rendering only reads it, so one view may be rendered by several
 * threads; the functions are otherwise pure.
 */
#ifndef MCR_VIEW_H
#define MCR_VIEW_H

#include <stddef.h>
#include <time.h>

#include "mcr/buf.h"
#include "mcr/vocab.h"

typedef struct mcr_view_detail {
	const char *name, *value; /* value may hold several lines */
} mcr_view_detail;

/* One entry of a section. In demographics: display is the person's name and
 * the details are born, gender, address...; date, code and status are NULL. */
typedef struct mcr_view_item {
	const char *date;        /* as the source gave it: YYYY, YYYY-MM, a date or an instant; NULL undated */
	const char *display;     /* NULL: "(no description)" */
	const char *system;      /* code system by name ("SNOMED CT") or as given; may be NULL */
	const char *code, *status;
	const mcr_view_detail *details;
	size_t ndetails;
	int details_bad;         /* the stored details could not be read */
	const char *source_name, *source_org, *as_of; /* as_of: the source's extract time, NULL unknown */
	long repeats;            /* identical entries from the same source shown as this one (0: none) */
} mcr_view_item;

typedef struct mcr_view_section {
	mcr_section section;
	const char *not_shown;   /* why the section shows nothing (e.g. an objection), or NULL */
	const mcr_view_item *items; /* newest first, undated last */
	size_t nitems;
	long withheld;           /* items not shared by policy (counts only, never content) */
} mcr_view_section;

/* Warnings, shown before anything else: the text view in the order given, the
 * HTML view by kind (this order), then as given. */
typedef enum mcr_view_warning_kind {
	MCR_VIEW_WARN_OBJECTION, /* withdrawn consent: since = the objection's date */
	MCR_VIEW_WARN_REJECTED,  /* the source's latest file was rejected: as_of = data held */
	MCR_VIEW_WARN_HELD,      /* the source's latest file is held for an operator: as_of = data held */
	MCR_VIEW_WARN_OLD,       /* the source's data is older than its schedule allows: as_of */
	MCR_VIEW_WARN_NEVER,     /* the source has never shared */
	MCR_VIEW_WARN_COUNT
} mcr_view_warning_kind;

typedef struct mcr_view_warning {
	mcr_view_warning_kind kind;
	const char *source_name; /* the source concerned (NULL for an objection) */
	const char *when;        /* as_of or since (ISO 8601); may be NULL */
	const char *text;        /* NULL: the standard sentence of the kind; else this sentence */
} mcr_view_warning;

typedef struct mcr_view_source {
	const char *name, *org, *as_of;
} mcr_view_source;

typedef struct mcr_view {
	char nhs[11];            /* 10 digits */
	/* Patient banner: from the first health source holding a name, else social
	 * care; all NULL with shown == 0 when demographics is not among the sections. */
	int person_shown;
	const char *given, *family, *birth_date, *gender;
	/* Who is looking, when (the audit entry's time) and on what basis. */
	const char *user, *role, *org, *at;
	const char *basis;       /* "implied consent, legitimate relationship", "break-glass: REASON"... */
	const mcr_view_source *sources; /* the sources whose data the view shows */
	size_t nsources;
	const mcr_view_warning *warnings;
	size_t nwarnings;
	const mcr_view_section *sections; /* the sections shown, in vocabulary order */
	size_t nsections;
} mcr_view;

/* How the HTML page is delivered (see include/mcr/html.h). */
typedef struct mcr_view_html {
	int served;              /* 1: stylesheet linked (mcr-serve); 0: self-contained file */
	const char *nav_html;    /* served: trusted markup for the page's top bar (e.g. an end-session form); may be NULL */
} mcr_view_html;

/* Append the view as text for a terminal (control characters in content become '?'). */
int mcr_view_render_text(const mcr_view *v, mcr_buf *out);

/* Append the view as an HTML page. 0 or MCR_ENOMEM. */
int mcr_view_render_html(const mcr_view *v, const mcr_view_html *how, mcr_buf *out);

/* Fold identical entries of one source in a section: items[0..*n) newest first;
 * an entry equal in every field to an earlier one of the same source is removed
 * and counted in that one's repeats. *n is updated. */
void mcr_view_fold(mcr_view_item *items, size_t *n);

#endif
