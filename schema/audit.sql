-- Audit log: <paths.audit>, append-only, separate from the store, never rebuilt.
-- hash = hex SHA-256 of a canonical encoding of prev_hash and the fields below from
-- seq to generation, each with its SQLite type (NULL, INTEGER, TEXT, BLOB) and
-- length (scheme 2; scheme 1, for entries before audit_meta.chain_v2_from, joined
-- the fields as text). The first entry's prev_hash is 64 zeros. docs/AUDIT.md.
CREATE TABLE IF NOT EXISTS audit (
  seq        INTEGER PRIMARY KEY,  -- 1, 2, 3 ... without gaps
  at         TEXT NOT NULL,        -- ISO 8601 UTC
  user       TEXT NOT NULL,
  org        TEXT NOT NULL,        -- the viewing organisation
  role       TEXT NOT NULL,
  nhs        TEXT NOT NULL,        -- whose record
  sections   TEXT NOT NULL,        -- comma-separated section names requested/shown
  basis      TEXT NOT NULL,        -- implied | consent-given | consent-refused | break-glass
  reason     TEXT,                 -- break-glass reason
  outcome    TEXT NOT NULL,        -- shown | denied | self-access | no-record
  detail     TEXT,                 -- why denied, in one line
  generation INTEGER,              -- store generation read
  prev_hash  TEXT NOT NULL,
  hash       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_nhs ON audit (nhs, at);
CREATE INDEX IF NOT EXISTS audit_by_user ON audit (user, at);
-- For the break-glass report, which reads only break-glass and self-access entries.
CREATE INDEX IF NOT EXISTS audit_by_basis ON audit (basis, at);
CREATE INDEX IF NOT EXISTS audit_by_outcome ON audit (outcome, at);
-- The head record: the last entry appended (one row, id 1), updated in the same
-- transaction as each append, so deleting the last entries (truncation) is found
-- by verification. New entries chain from the head, never from max(seq).
CREATE TABLE IF NOT EXISTS audit_head (
  id        INTEGER PRIMARY KEY CHECK (id = 1),
  last_seq  INTEGER NOT NULL,
  last_hash TEXT NOT NULL
);
-- The chain scheme: key chain_v2_from = the first entry hashed under scheme 2
-- (1 for a log created with it; the next entry for an older log when first opened).
CREATE TABLE IF NOT EXISTS audit_meta (
  key   TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
-- Append-only: the log's own connection never updates or deletes entries.
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_meta_no_update BEFORE UPDATE ON audit_meta
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_meta_no_delete BEFORE DELETE ON audit_meta
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
