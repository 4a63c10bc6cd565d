-- An audit log of 5 entries written by the scheme-1 code (commit 546f27b, before the
-- typed canonical encoding): sqlite3 .dump. Synthetic, test NHS number. Loaded by
-- tests/unit/test_audit.c to check that older logs verify under their recorded scheme.
PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE audit (
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
INSERT INTO audit VALUES(1,'2026-11-20T09:00:00Z','user1','A81001','clinician','9990000018','allergies,medications','implied',NULL,'shown',NULL,3,'0000000000000000000000000000000000000000000000000000000000000000','36eafd0f0cb83f69a24a3765b7f04e1166d698cc50ceba57de5f41726a3a7b1d');
INSERT INTO audit VALUES(2,'2026-11-20T09:05:00Z','user2','A81001','clinician','9990000018','allergies,medications','implied',NULL,'shown',NULL,3,'36eafd0f0cb83f69a24a3765b7f04e1166d698cc50ceba57de5f41726a3a7b1d','4cdd57f9beb0d3e825e1079eb7b93ec9703ec39b19618090b172a2406c284a00');
INSERT INTO audit VALUES(3,'2026-11-21T00:00:00Z','user3','A81001','clinician','9990000018','allergies,medications','break-glass','unconscious in ED','shown',NULL,3,'4cdd57f9beb0d3e825e1079eb7b93ec9703ec39b19618090b172a2406c284a00','59ca715140f3426215cfe491fe6dfcd0b73429f6412e772849232a1e3cf8eca9');
INSERT INTO audit VALUES(4,'2026-11-21T08:00:00Z','user4','A81001','clinician','9990000018','allergies,medications','implied',NULL,'denied','no legitimate relationship',3,'59ca715140f3426215cfe491fe6dfcd0b73429f6412e772849232a1e3cf8eca9','3800f66aa4d8a01f304b5304ba179e617f8af223c1a882e544293e4fbf49183e');
INSERT INTO audit VALUES(5,'2026-11-21T08:30:00Z','user5','A81001','clinician','9990000018','allergies,medications','implied',NULL,'shown',NULL,NULL,'3800f66aa4d8a01f304b5304ba179e617f8af223c1a882e544293e4fbf49183e','aa031631d287c536d4eb4c87583b74f83f4bedf469ed62885a7924ea23a0c188');
CREATE TABLE audit_head (
  id        INTEGER PRIMARY KEY CHECK (id = 1),
  last_seq  INTEGER NOT NULL,
  last_hash TEXT NOT NULL
);
INSERT INTO audit_head VALUES(1,5,'aa031631d287c536d4eb4c87583b74f83f4bedf469ed62885a7924ea23a0c188');
CREATE INDEX audit_by_nhs ON audit (nhs, at);
CREATE INDEX audit_by_user ON audit (user, at);
CREATE INDEX audit_by_basis ON audit (basis, at);
CREATE INDEX audit_by_outcome ON audit (outcome, at);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
COMMIT;
