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
