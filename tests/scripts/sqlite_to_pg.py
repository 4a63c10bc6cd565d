#!/usr/bin/env python3
"""Copy an SQLite store generation (and optionally the load history) into
PostgreSQL, as SQL for psql on stdout: the PostgreSQL reader's tests and the
two-node benchmark read exactly the rows a normal night wrote with SQLite.

    sqlite_to_pg.py SCHEMA_DIR GEN_FILE [HISTORY_FILE] | psql -v ON_ERROR_STOP=1 ...

SCHEMA_DIR is the source tree's schema/ (pg/shared.sql, pg/store.sql,
pg/store_index.sql). The generation becomes schema mcr_gen_NNNNNN (its number
from its meta table) and is published (mcr.published); rows go in with COPY in
text format. Not a test itself, and not a migration tool: the loader writes
PostgreSQL generations itself.
"""
import os
import sqlite3
import sys

STORE_TABLES = ["meta", "source", "source_held", "source_section", "withheld", "member",
                "person", "objection", "item", "person_withheld", "load_source"]
HISTORY_TABLES = ["load", "load_file", "audit_checkpoint"]


def escape(v):
    if v is None:
        return "\\N"
    s = str(v)
    return (s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            .replace("\r", "\\r"))


def copy_table(out, db, src, dst, pg_columns):
    cols = [r[1] for r in db.execute(f"PRAGMA table_info({src})")]
    if not cols:
        return  # a table this generation predates
    cols = [c for c in cols if c in pg_columns] if pg_columns else cols
    out.write(f"COPY {dst} ({', '.join(cols)}) FROM STDIN;\n")
    for row in db.execute(f"SELECT {', '.join(cols)} FROM {src}"):
        out.write("\t".join(escape(v) for v in row) + "\n")
    out.write("\\.\n")


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: sqlite_to_pg.py SCHEMA_DIR GEN_FILE [HISTORY_FILE]")
    schema_dir, gen_file = sys.argv[1], sys.argv[2]
    history = sys.argv[3] if len(sys.argv) == 4 else None
    out = sys.stdout
    db = sqlite3.connect(f"file:{gen_file}?mode=ro", uri=True)
    gen = int(db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])
    schema = "mcr_gen_%06d" % gen
    with open(os.path.join(schema_dir, "pg", "shared.sql")) as f:
        out.write(f.read() + "\n")
    out.write("BEGIN;\n")
    out.write(f"DROP SCHEMA IF EXISTS {schema} CASCADE;\nCREATE SCHEMA {schema};\n")
    out.write(f"SET LOCAL search_path TO {schema};\n")
    with open(os.path.join(schema_dir, "pg", "store.sql")) as f:
        out.write(f.read() + "\n")
    for t in STORE_TABLES:
        copy_table(out, db, t, t, None)
    with open(os.path.join(schema_dir, "pg", "store_index.sql")) as f:
        out.write(f.read() + "\n")
    out.write(f"UPDATE mcr.published SET generation = {gen}, schema_name = '{schema}' WHERE id = 1;\n")
    out.write("COMMIT;\n")
    if history:
        h = sqlite3.connect(f"file:{history}?mode=ro", uri=True)
        out.write("BEGIN;\nTRUNCATE mcr.audit_checkpoint, mcr.load_file, mcr.load;\n")
        for t in HISTORY_TABLES:
            copy_table(out, h, t, f"mcr.{t}", None)
        out.write("COMMIT;\n")


if __name__ == "__main__":
    main()
