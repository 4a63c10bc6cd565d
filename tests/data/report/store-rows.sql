-- Rows of a store generation for mcr-report's script tests (after schema/store.sql).
PRAGMA user_version = 1;
INSERT INTO meta VALUES ('schema_version','1'),('generation','1'),('built_at','2026-11-21T02:10:00Z');
INSERT INTO source VALUES
 ('A81001','gp','gp','Riverside Surgery','current','2026-11-21T01:00:00Z','2026-11-21T02:10:00Z',
  '2012-04-01','staging/A81001/gp/20261121T010000Z.yaml',NULL,NULL,120,130,5400,2),
 ('A81002','gp','gp','Hillside Practice','stale','2026-11-19T01:00:00Z','2026-11-19T02:10:00Z',
  '2012-04-01','staging/A81002/gp/20261119T010000Z.yaml',
  'staging/A81002/gp/20261121T010000Z.yaml','payload CRC-32 mismatch',80,85,3100,1),
 ('E10000015','lcs','lcs','Herts Social Care & Health','current','2026-11-20T22:00:00Z',
  '2026-11-21T02:10:00Z',NULL,'staging/E10000015/lcs/20261120T220000Z.yaml',NULL,NULL,40,60,95,0),
 ('NLO01','ooh','ooh','Urgent Care <OOH>','never',NULL,NULL,NULL,NULL,NULL,NULL,0,0,0,0);
INSERT INTO source_section VALUES
 ('A81001','allergies',60,90),('A81001','medications',110,2100),('A81001','problems',115,1500),
 ('A81001','immunisations',100,700),('A81001','results',90,800),('A81001','encounters',70,210),
 ('A81002','allergies',40,55),('A81002','medications',75,1200),('A81002','problems',78,1000),
 ('A81002','results',50,845),('E10000015','social-care',40,95);
INSERT INTO withheld VALUES
 ('A81001','objection',12),('A81001','sensitive',3),('A81001','confidential',2),
 ('A81002','before-shares-from',40),('E10000015','no-consent',20);
