-- Load history, <store>/history.sqlite: appended by every mcr-load run, never rebuilt.
CREATE TABLE IF NOT EXISTS load (
  run_id     TEXT PRIMARY KEY,   -- e.g. 20261121T020000Z-12345
  started    TEXT NOT NULL,
  finished   TEXT,
  outcome    TEXT NOT NULL,      -- running | ok | rejected (generation built, file(s) rejected) | failed
  generation INTEGER,            -- generation published, NULL when none
  files      INTEGER NOT NULL DEFAULT 0,
  rejected   INTEGER NOT NULL DEFAULT 0,
  people     INTEGER NOT NULL DEFAULT 0,
  items      INTEGER NOT NULL DEFAULT 0,
  message    TEXT
);
CREATE TABLE IF NOT EXISTS load_file (
  run_id    TEXT NOT NULL REFERENCES load(run_id),
  org       TEXT NOT NULL,
  dataset   TEXT NOT NULL,
  manifest  TEXT NOT NULL,
  extracted TEXT,
  outcome   TEXT NOT NULL,       -- loaded | rejected
  reason    TEXT,                -- why rejected (one line)
  items     INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (run_id, org, dataset, manifest)
);
-- The audit log's head when each load started (DESIGN.md "Audit": the chain head is
-- checkpointed outside the audit database). mcr-report verify-audit checks the log
-- against every row: deleting its newest entries or replacing it is found.
CREATE TABLE IF NOT EXISTS audit_checkpoint (
  run_id TEXT PRIMARY KEY REFERENCES load(run_id),
  taken  TEXT NOT NULL,          -- system clock, ISO 8601 UTC
  seq    INTEGER NOT NULL,       -- entries in the log
  hash   TEXT NOT NULL           -- hash of entry seq (64 zeros when empty)
);
