-- Fixture content for one store generation (schema/store.sql applied first).
-- People (all 999-range test numbers):
--   9990000018 on Riverside's list; GP, social care (consented) and OOH data
--   9990000026 registered at Hillside only (a stale source)
--   9990000034 objection in force (GP); social care consented
--   9990000042 Riverside; on the social care caseload WITHOUT consent (member row only)
--   9990000050 Riverside; unknown to social care; same GP data as ...042
--   9990000069 on the social care caseload only, without consent
--   9990000077 unknown everywhere (no rows)
--   9990000085 Riverside; the member of staff jbloggs's own record
--   9990000093 social care only, consented
PRAGMA user_version = 1;
INSERT INTO meta VALUES ('schema_version', '1'), ('generation', '1'),
  ('built_at', '2026-11-21T03:00:00Z'), ('region', 'Test region');

INSERT INTO source (org, dataset, kind, name, status, extracted, loaded, shares_from, people, members, items) VALUES
  ('A81001', 'gp', 'gp', 'Riverside Surgery', 'current', '2026-11-21T02:00:00Z', '2026-11-21T03:00:00Z', '2012-04-01', 5, 5, 9),
  ('A81002', 'gp', 'gp', 'Hillside Practice', 'stale', '2026-11-19T02:00:00Z', '2026-11-19T03:00:00Z', NULL, 1, 1, 2),
  ('HCC01', 'lcs', 'lcs', 'Hertfordshire Social Care', 'current', '2026-11-21T01:00:00Z', '2026-11-21T03:00:00Z', NULL, 3, 4, 3),
  ('NLO01', 'ooh', 'ooh', 'Herts Urgent Care', 'current', '2026-11-21T00:30:00Z', '2026-11-21T03:00:00Z', NULL, 1, 1, 1);
UPDATE source SET rejected_file = '20261121T020000Z.yaml', rejected_reason = 'payload CRC-32 mismatch'
  WHERE org = 'A81002';

INSERT INTO member (nhs, org) VALUES
  ('9990000018', 'A81001'), ('9990000018', 'HCC01'), ('9990000018', 'NLO01'),
  ('9990000026', 'A81002'),
  ('9990000034', 'A81001'), ('9990000034', 'HCC01'),
  ('9990000042', 'A81001'), ('9990000042', 'HCC01'),
  ('9990000050', 'A81001'),
  ('9990000069', 'HCC01'),
  ('9990000085', 'A81001'),
  ('9990000093', 'HCC01');

INSERT INTO person (nhs, org, family, given, birth_date, gender, address, postcode, phone) VALUES
  ('9990000018', 'A81001', 'O''Brien', 'Siân', '1950-02-03', 'female', '1 High St, Hertford', 'SG14 1AA', '01992 000000'),
  ('9990000018', 'HCC01', 'O''Brien', 'Sian', '1950-02-03', NULL, NULL, NULL, NULL),
  ('9990000026', 'A81002', 'Hill', 'Tom', '1971-07-07', 'male', '2 Low Rd, Ware', 'SG12 2BB', NULL),
  ('9990000034', 'A81001', NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  ('9990000034', 'HCC01', 'Objector', 'Olive', '1980-01-01', NULL, NULL, NULL, NULL),
  ('9990000042', 'A81001', 'Same', 'Sam', '1990-05-05', 'male', '3 Mill Lane, Hertford', 'SG14 3CC', NULL),
  ('9990000050', 'A81001', 'Same', 'Sam', '1990-05-05', 'male', '3 Mill Lane, Hertford', 'SG14 3CC', NULL),
  ('9990000085', 'A81001', 'Bloggs', 'Joe', '1975-03-03', 'male', NULL, NULL, NULL),
  ('9990000093', 'HCC01', 'Carer', 'Cara', '2001-09-09', NULL, NULL, NULL, NULL);

INSERT INTO objection (nhs, org, since) VALUES ('9990000034', 'A81001', '2024-03-01');

INSERT INTO item (id, nhs, org, section, date, system, code, display, status, source_id, details) VALUES
  (1, '9990000018', 'A81001', 'allergies', '2019-06-01', 'http://snomed.info/sct', '91936005', 'Penicillin allergy', 'active', 'a1', '[["reaction","Anaphylaxis"],["severity","severe"]]'),
  (2, '9990000018', 'A81001', 'allergies', '2021-03-04', 'http://snomed.info/sct', '294505008', 'Amoxicillin allergy', 'active', 'a2', '[["reaction","Rash"]]'),
  (3, '9990000018', 'A81001', 'medications', '2025-10-01', 'https://dmd.nhs.uk', '322236009', 'Paracetamol 500mg tablets', 'active', 'm1', '[["dosage","1-2 four times a day"]]'),
  (4, '9990000018', 'A81001', 'problems', '2015-02-02', 'http://snomed.info/sct', '38341003', 'Hypertension', 'active', 'p1', NULL),
  (5, '9990000018', 'A81001', 'results', '2025-11-01T09:30:00Z', 'http://loinc.org', '2345-7', 'Glucose <fasting> & "random"', 'final', 'r1', '[["value","5.4 mmol/L"]]'),
  (6, '9990000026', 'A81002', 'allergies', '2018-01-01', 'http://snomed.info/sct', '300916003', 'Latex allergy', 'active', 'h1', NULL),
  (7, '9990000026', 'A81002', 'medications', '2024-01-01', 'https://dmd.nhs.uk', '39732311000001104', 'Amlodipine 5mg tablets', 'active', 'h2', NULL),
  -- defence in depth: an objector's item the loader would never store must not show
  (8, '9990000034', 'A81001', 'problems', '2020-01-01', 'http://snomed.info/sct', '35489007', 'Depressive disorder', 'active', 'x1', NULL),
  (9, '9990000042', 'A81001', 'allergies', '2022-02-02', 'http://snomed.info/sct', '91935009', 'Peanut allergy', 'active', 's1', NULL),
  (10, '9990000050', 'A81001', 'allergies', '2022-02-02', 'http://snomed.info/sct', '91935009', 'Peanut allergy', 'active', 's1', NULL),
  (11, '9990000085', 'A81001', 'problems', '2010-10-10', 'http://snomed.info/sct', '195967001', 'Asthma', 'active', 'j1', NULL),
  (12, '9990000018', 'HCC01', 'social-care', '2023-04-01', NULL, NULL, 'Care Package', 'open', 'i1', '[["team","Adults East"],["worker","Ann Worker"],["phone","01992 111111"]]'),
  (13, '9990000034', 'HCC01', 'social-care', '2022-06-01', NULL, NULL, 'Assessment', 'closed', 'i2', NULL),
  (14, '9990000093', 'HCC01', 'social-care', '2024-01-15', NULL, NULL, 'Child in Need', 'open', 'i3', NULL),
  (15, '9990000018', 'NLO01', 'misc-reports', '2026-11-20T22:15:00Z', NULL, NULL, 'NHS 111 call: chest pain', NULL, 'c1', '[["Advice","Attend ED\r\nCall 999 if worse"],["Note","Escape \u001b[31m test"]]');

INSERT INTO person_withheld (nhs, org, section, reason, count) VALUES
  ('9990000018', 'A81001', 'problems', 'sensitive', 1),
  ('9990000018', 'A81001', 'problems', 'confidential', 1),
  ('9990000018', 'A81001', 'medications', 'before-shares-from', 1);
