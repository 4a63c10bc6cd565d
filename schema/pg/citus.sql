-- Citus distribution plan for one store generation, for national scale
-- (docs/CITUS.md). Not run by the programs and not run against Citus here: Citus
-- is not in Debian. tests/scripts/test_pg_citus_plan.sh checks the plan against the
-- schema with stand-in functions: every table of a generation is placed once, and
-- every distributed table has nhs in each of its primary and unique keys.
--
-- Run inside the new generation's schema (search_path set to mcr_gen_NNNNNN, as
-- for schema/pg/store.sql), after store.sql and before the COPY: distributing
-- empty tables is instant. schema/pg/store_index.sql afterwards adds item's key
-- (nhs, id) and index on every shard.
--
-- Distributed by NHS number, all co-located with person: one person's rows of
-- every table live on one worker, so a lookup (one nhs) is routed to one shard
-- and carrying an organisation over from the previous generation (INSERT ...
-- SELECT between co-located tables) runs on the workers in parallel.
SELECT create_distributed_table('person', 'nhs');
SELECT create_distributed_table('member', 'nhs', colocate_with => 'person');
SELECT create_distributed_table('objection', 'nhs', colocate_with => 'person');
SELECT create_distributed_table('person_withheld', 'nhs', colocate_with => 'person');
SELECT create_distributed_table('item', 'nhs', colocate_with => 'person');

-- Small, per organisation or per run: a copy on every worker, joined locally.
SELECT create_reference_table('meta');
SELECT create_reference_table('source');
SELECT create_reference_table('source_held');
SELECT create_reference_table('source_section');
SELECT create_reference_table('withheld');
SELECT create_reference_table('load_source');

-- The shared schema mcr (the published pointer, load history, audit log, jti)
-- stays in plain tables on the coordinator: the audit chain's head is one row
-- locked by every append, which a distributed table would turn into a
-- distributed transaction per lookup.
