-- PostgreSQL backend: the tables of one store generation (schema/store.sql), run
-- by mcr_pg_generation_create() inside the new schema mcr_gen_NNNNNN (search_path
-- set to it for the transaction), so the names here are unqualified.
--
-- Types follow schema/store.sql (text "C" collation, bigint for INTEGER; see
-- schema/pg/shared.sql). Every table Citus would distribute (item, person, member,
-- objection, person_withheld; schema/pg/citus.sql) has nhs in its primary key.
-- item's primary key and index are in schema/pg/store_index.sql, built after the
-- bulk COPY; the other keys stay here because the loader's rules rely on them
-- while it inserts (ON CONFLICT for objection and person_withheld, refusal of a
-- duplicate person or member).
CREATE TABLE meta (
  key   text COLLATE "C" PRIMARY KEY,
  value text COLLATE "C" NOT NULL
);

CREATE TABLE source (
  org             text COLLATE "C" PRIMARY KEY,
  dataset         text COLLATE "C" NOT NULL,
  kind            text COLLATE "C" NOT NULL,
  name            text COLLATE "C" NOT NULL,
  status          text COLLATE "C" NOT NULL,  -- current | unchanged | stale | held | never
  extracted       text COLLATE "C",
  loaded          text COLLATE "C",
  shares_from     text COLLATE "C",
  manifest        text COLLATE "C",
  rejected_file   text COLLATE "C",
  rejected_reason text COLLATE "C",
  people          bigint NOT NULL DEFAULT 0,
  members         bigint NOT NULL DEFAULT 0,
  items           bigint NOT NULL DEFAULT 0,
  objections      bigint NOT NULL DEFAULT 0
);

CREATE TABLE source_held (
  org       text COLLATE "C" PRIMARY KEY,
  manifest  text COLLATE "C" NOT NULL,
  extracted text COLLATE "C",
  people    bigint NOT NULL,
  items     bigint NOT NULL,
  reason    text COLLATE "C" NOT NULL
);

CREATE TABLE source_section (
  org     text COLLATE "C" NOT NULL,
  section text COLLATE "C" NOT NULL,
  people  bigint NOT NULL,
  items   bigint NOT NULL,
  PRIMARY KEY (org, section)
);

CREATE TABLE withheld (
  org    text COLLATE "C" NOT NULL,
  reason text COLLATE "C" NOT NULL,
  count  bigint NOT NULL,
  PRIMARY KEY (org, reason)
);

CREATE TABLE member (
  nhs text COLLATE "C" NOT NULL,
  org text COLLATE "C" NOT NULL,
  PRIMARY KEY (nhs, org)
);

CREATE TABLE person (
  nhs        text COLLATE "C" NOT NULL,
  org        text COLLATE "C" NOT NULL,
  family     text COLLATE "C", given text COLLATE "C", birth_date text COLLATE "C",
  gender     text COLLATE "C", address text COLLATE "C", postcode text COLLATE "C",
  phone      text COLLATE "C",
  PRIMARY KEY (nhs, org)
);

CREATE TABLE objection (
  nhs   text COLLATE "C" NOT NULL,
  org   text COLLATE "C" NOT NULL,
  since text COLLATE "C",
  PRIMARY KEY (nhs, org)
);

-- id: the SQLite rowid, assigned by the loader (rows in person order per source;
-- views list a person's items by id). Primary key (nhs, id) in store_index.sql.
CREATE TABLE item (
  id        bigint NOT NULL,
  nhs       text COLLATE "C" NOT NULL,
  org       text COLLATE "C" NOT NULL,
  section   text COLLATE "C" NOT NULL,
  date      text COLLATE "C",
  system    text COLLATE "C",
  code      text COLLATE "C",
  display   text COLLATE "C",
  status    text COLLATE "C",
  source_id text COLLATE "C",
  details   text COLLATE "C"
);

CREATE TABLE person_withheld (
  nhs     text COLLATE "C" NOT NULL,
  org     text COLLATE "C" NOT NULL,
  section text COLLATE "C" NOT NULL,
  reason  text COLLATE "C" NOT NULL,
  count   bigint NOT NULL,
  PRIMARY KEY (nhs, org, section, reason)
);

CREATE TABLE load_source (
  org            text COLLATE "C" PRIMARY KEY,
  payload_length bigint,
  payload_crc32  bigint,
  item_first     bigint,
  item_last      bigint
);
