-- PostgreSQL backend: item's key and index for one generation, built by
-- mcr_pg_generation_index() after the bulk COPY (faster than maintaining them row
-- by row), in the generation's schema, before the generation is published.
ALTER TABLE item ADD PRIMARY KEY (nhs, id);
CREATE INDEX item_by_person ON item (nhs, section);
