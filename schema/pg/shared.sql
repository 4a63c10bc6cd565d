-- PostgreSQL backend (store.backend: postgresql): the shared schema "mcr", version 1.
--
-- Everything every node and every load shares: the published-generation pointer,
-- the load history (schema/history.sql), the audit log (schema/audit.sql) and the
-- launch-token jti store. Each store generation is a schema of its own,
-- mcr_gen_NNNNNN (schema/pg/store.sql). Run by mcr_pg_schema_shared() under an
-- advisory lock, so it is idempotent and safe when several nodes start at once.
--
-- Types follow the SQLite originals so views and reports come out byte-identical:
-- TEXT stays text with the "C" collation (SQLite compares text as bytes; a
-- database's own locale would sort differently), INTEGER is bigint, times stay
-- ISO 8601 UTC text.
CREATE SCHEMA IF NOT EXISTS mcr;

CREATE TABLE IF NOT EXISTS mcr.meta (       -- schema_version
  key   text COLLATE "C" PRIMARY KEY,
  value text COLLATE "C" NOT NULL
);
INSERT INTO mcr.meta (key, value) VALUES ('schema_version', '1') ON CONFLICT (key) DO NOTHING;

-- The published generation: one row, flipped by an UPDATE in the transaction that
-- publishes. A reader takes it once per lookup (old or new, never a mix). NULL
-- until the first load publishes.
CREATE TABLE IF NOT EXISTS mcr.published (
  id          integer PRIMARY KEY CHECK (id = 1),
  generation  bigint,
  schema_name text COLLATE "C",          -- mcr_gen_NNNNNN
  CHECK ((generation IS NULL) = (schema_name IS NULL))
);
INSERT INTO mcr.published (id, generation, schema_name) VALUES (1, NULL, NULL)
  ON CONFLICT (id) DO NOTHING;

-- Load history (schema/history.sql): appended by every mcr-load run, never rebuilt.
CREATE TABLE IF NOT EXISTS mcr.load (
  run_id     text COLLATE "C" PRIMARY KEY,
  started    text COLLATE "C" NOT NULL,
  finished   text COLLATE "C",
  outcome    text COLLATE "C" NOT NULL,  -- running | ok | rejected | failed
  generation bigint,
  files      bigint NOT NULL DEFAULT 0,
  rejected   bigint NOT NULL DEFAULT 0,
  people     bigint NOT NULL DEFAULT 0,
  items      bigint NOT NULL DEFAULT 0,
  message    text COLLATE "C"
);
CREATE TABLE IF NOT EXISTS mcr.load_file (
  run_id    text COLLATE "C" NOT NULL REFERENCES mcr.load(run_id),
  org       text COLLATE "C" NOT NULL,
  dataset   text COLLATE "C" NOT NULL,
  manifest  text COLLATE "C" NOT NULL,
  extracted text COLLATE "C",
  outcome   text COLLATE "C" NOT NULL,   -- loaded | rejected
  reason    text COLLATE "C",
  items     bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (run_id, org, dataset, manifest)
);
CREATE TABLE IF NOT EXISTS mcr.audit_checkpoint (
  run_id text COLLATE "C" PRIMARY KEY REFERENCES mcr.load(run_id),
  taken  text COLLATE "C" NOT NULL,
  seq    bigint NOT NULL,
  hash   text COLLATE "C" NOT NULL
);

-- Audit log (schema/audit.sql, docs/AUDIT.md): one table and one hash chain for
-- every node. An appender locks mcr.audit_head (SELECT ... FOR UPDATE) in its
-- transaction, so appends from any number of processes and nodes serialise on the
-- chain head: no forks, no gaps. "user" is quoted: it is a reserved word here.
CREATE TABLE IF NOT EXISTS mcr.audit (
  seq        bigint PRIMARY KEY,        -- 1, 2, 3 ... without gaps
  at         text COLLATE "C" NOT NULL,
  "user"     text COLLATE "C" NOT NULL,
  org        text COLLATE "C" NOT NULL,
  role       text COLLATE "C" NOT NULL,
  nhs        text COLLATE "C" NOT NULL,
  sections   text COLLATE "C" NOT NULL,
  basis      text COLLATE "C" NOT NULL,
  reason     text COLLATE "C",
  outcome    text COLLATE "C" NOT NULL,
  detail     text COLLATE "C",
  generation bigint,
  prev_hash  text COLLATE "C" NOT NULL,
  hash       text COLLATE "C" NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_nhs ON mcr.audit (nhs, at);
CREATE INDEX IF NOT EXISTS audit_by_user ON mcr.audit ("user", at);
CREATE INDEX IF NOT EXISTS audit_by_basis ON mcr.audit (basis, at);
CREATE INDEX IF NOT EXISTS audit_by_outcome ON mcr.audit (outcome, at);
CREATE TABLE IF NOT EXISTS mcr.audit_head (
  id        integer PRIMARY KEY CHECK (id = 1),
  last_seq  bigint NOT NULL,
  last_hash text COLLATE "C" NOT NULL
);
INSERT INTO mcr.audit_head (id, last_seq, last_hash)
  VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000')
  ON CONFLICT (id) DO NOTHING;
CREATE TABLE IF NOT EXISTS mcr.audit_meta (
  key   text COLLATE "C" PRIMARY KEY,
  value bigint NOT NULL
);
-- Append-only: no UPDATE, DELETE or TRUNCATE of entries or of the chain scheme.
CREATE OR REPLACE FUNCTION mcr.audit_append_only() RETURNS trigger
  LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;
CREATE OR REPLACE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON mcr.audit
  FOR EACH ROW EXECUTE FUNCTION mcr.audit_append_only();
CREATE OR REPLACE TRIGGER audit_no_truncate BEFORE TRUNCATE ON mcr.audit
  FOR EACH STATEMENT EXECUTE FUNCTION mcr.audit_append_only();
CREATE OR REPLACE TRIGGER audit_meta_no_change BEFORE UPDATE OR DELETE ON mcr.audit_meta
  FOR EACH ROW EXECUTE FUNCTION mcr.audit_append_only();
CREATE OR REPLACE TRIGGER audit_meta_no_truncate BEFORE TRUNCATE ON mcr.audit_meta
  FOR EACH STATEMENT EXECUTE FUNCTION mcr.audit_append_only();

-- Launch-token ids (web jti store, lib/launch.c): a replay is refused on every node.
CREATE TABLE IF NOT EXISTS mcr.jti (
  iss     text COLLATE "C" NOT NULL,
  jti     text COLLATE "C" NOT NULL,
  expires bigint NOT NULL,               -- Unix time
  PRIMARY KEY (iss, jti)
);
CREATE INDEX IF NOT EXISTS jti_expires ON mcr.jti (expires);
