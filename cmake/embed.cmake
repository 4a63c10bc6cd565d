# Turns every file in schema/ into a C string so installed programs never look
# for schema files on disk: schema/staged.xsd -> const char mcr_schema_staged_xsd[],
# schema/pg/store.sql -> mcr_schema_pg_store_sql[].
file(GLOB_RECURSE files RELATIVE ${SCHEMA_DIR} ${SCHEMA_DIR}/*)
list(SORT files)
set(out "/* Generated from schema/ by cmake/embed.cmake. */\n#include <stddef.h>\n")
foreach(f ${files})
  string(MAKE_C_IDENTIFIER "mcr_schema_${f}" sym)
  file(READ ${SCHEMA_DIR}/${f} hex HEX)
  string(LENGTH "${hex}" hexlen)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  math(EXPR len "${hexlen} / 2")
  string(APPEND out "const char ${sym}[] = {${bytes}0x00};\nconst size_t ${sym}_len = ${len};\n")
endforeach()
file(WRITE ${OUTPUT}.tmp "${out}")
file(COPY_FILE ${OUTPUT}.tmp ${OUTPUT} ONLY_IF_DIFFERENT)
