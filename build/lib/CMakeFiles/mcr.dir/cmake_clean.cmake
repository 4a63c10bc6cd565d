file(REMOVE_RECURSE
  "CMakeFiles/mcr.dir/buf.c.o"
  "CMakeFiles/mcr.dir/buf.c.o.d"
  "CMakeFiles/mcr.dir/cli.c.o"
  "CMakeFiles/mcr.dir/cli.c.o.d"
  "CMakeFiles/mcr.dir/consent.c.o"
  "CMakeFiles/mcr.dir/consent.c.o.d"
  "CMakeFiles/mcr.dir/error.c.o"
  "CMakeFiles/mcr.dir/error.c.o.d"
  "CMakeFiles/mcr.dir/fs.c.o"
  "CMakeFiles/mcr.dir/fs.c.o.d"
  "CMakeFiles/mcr.dir/schema_files.c.o"
  "CMakeFiles/mcr.dir/schema_files.c.o.d"
  "CMakeFiles/mcr.dir/vocab.c.o"
  "CMakeFiles/mcr.dir/vocab.c.o.d"
  "libmcr.a"
  "libmcr.pdb"
  "schema_files.c"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/mcr.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
