-- Store generation schema, version 1 (PRAGMA user_version).
--
-- One SQLite file per generation: <store>/gen-NNNNNN.sqlite (NNNNNN = generation
-- number, zero-padded). The published generation is the symlink <store>/current,
-- replaced by rename (never renaming over an open database). Readers open the
-- file it names read-only. The load history is in <store>/history.sqlite
-- (schema/history.sql), not here. All times are ISO 8601 UTC text.

CREATE TABLE meta (              -- schema_version, generation, built_at, region
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE source (            -- one row per configured organisation
  org         TEXT PRIMARY KEY,  -- ODS code
  dataset     TEXT NOT NULL,     -- gp | lcs | ooh
  kind        TEXT NOT NULL,     -- gp | lcs | ooh
  name        TEXT NOT NULL,
  status      TEXT NOT NULL,     -- current: loaded from a staged file in this run
                                 -- unchanged: no newer staged file; data carried over
                                 -- stale: newest staged file rejected; last good data carried over
                                 -- held: newest staged file held by the night-on-night guard
                                 --   (far fewer people or items, source_held); data carried over
                                 -- never: no good staged file has ever been loaded
  extracted   TEXT,              -- extract time of the data held ("as of")
  loaded      TEXT,              -- when that data was first loaded
  shares_from TEXT,
  manifest    TEXT,              -- staged manifest the data came from
  rejected_file   TEXT,          -- newest rejected file in this run, and why
  rejected_reason TEXT,
  people      INTEGER NOT NULL DEFAULT 0,
  members     INTEGER NOT NULL DEFAULT 0,
  items       INTEGER NOT NULL DEFAULT 0,
  objections  INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE source_held (       -- a source's newest staged file, held (not loaded) by the
                                 -- night-on-night guard until mcr-load --accept ORG; the data
                                 -- held is the source row's. Absent from generations built
                                 -- before it existed: readers treat that as nothing held.
  org       TEXT PRIMARY KEY,
  manifest  TEXT NOT NULL,       -- the held file's manifest (it stays in staging)
  extracted TEXT,                -- its extract time
  people    INTEGER NOT NULL,    -- its manifest's counts, against source.people and items
  items     INTEGER NOT NULL,
  reason    TEXT NOT NULL        -- one line: the fall and the configured limit
) WITHOUT ROWID;

CREATE TABLE source_section (    -- people and items by section, for coverage
  org     TEXT NOT NULL,
  section TEXT NOT NULL,
  people  INTEGER NOT NULL,
  items   INTEGER NOT NULL,
  PRIMARY KEY (org, section)
) WITHOUT ROWID;

CREATE TABLE withheld (          -- suppressions by organisation and reason (extractor + loader)
  org    TEXT NOT NULL,
  reason TEXT NOT NULL,          -- mcr_reason_name()
  count  INTEGER NOT NULL,
  PRIMARY KEY (org, reason)
) WITHOUT ROWID;

CREATE TABLE member (            -- each organisation's own list: legitimate relationship only, never displayed
  nhs TEXT NOT NULL,
  org TEXT NOT NULL,
  PRIMARY KEY (nhs, org)
) WITHOUT ROWID;

CREATE TABLE person (            -- demographics as each source holds them
  nhs        TEXT NOT NULL,
  org        TEXT NOT NULL,
  family     TEXT, given TEXT, birth_date TEXT, gender TEXT,
  address    TEXT, postcode TEXT, phone TEXT,
  PRIMARY KEY (nhs, org)
) WITHOUT ROWID;

CREATE TABLE objection (         -- withdrawn-consent marker: no health data for this person
  nhs   TEXT NOT NULL,
  org   TEXT NOT NULL,           -- the source that holds the objection
  since TEXT,
  PRIMARY KEY (nhs, org)
) WITHOUT ROWID;

CREATE TABLE item (              -- rows inserted in person order per source
  id        INTEGER PRIMARY KEY,
  nhs       TEXT NOT NULL,
  org       TEXT NOT NULL,       -- source organisation; its extract time is source.extracted
  section   TEXT NOT NULL,       -- mcr_section_name()
  date      TEXT,
  system    TEXT,
  code      TEXT,
  display   TEXT,
  status    TEXT,
  source_id TEXT,
  details   TEXT                 -- JSON array of [name, value] pairs in display order, or NULL
);

CREATE TABLE person_withheld (   -- per person: items the sharing rules withheld (counts only)
  nhs     TEXT NOT NULL,
  org     TEXT NOT NULL,
  section TEXT NOT NULL,
  reason  TEXT NOT NULL,
  count   INTEGER NOT NULL,
  PRIMARY KEY (nhs, org, section, reason)
) WITHOUT ROWID;

CREATE TABLE load_source (       -- loader bookkeeping per organisation (docs/STORE.md)
  org            TEXT PRIMARY KEY,
  payload_length INTEGER,        -- the staged payload the data came from: an identical file
  payload_crc32  INTEGER,        -- next night is "unchanged", a different older one a replay
  item_first     INTEGER,        -- this organisation's item ids lie in [item_first, item_last]
  item_last      INTEGER         -- (rows are contiguous per source; carried over by range)
) WITHOUT ROWID;

-- Built after the bulk insert (PERF-NOTES.md).
CREATE INDEX item_by_person ON item (nhs, section);
