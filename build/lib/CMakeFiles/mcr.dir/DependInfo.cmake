
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/lib/buf.c" "lib/CMakeFiles/mcr.dir/buf.c.o" "gcc" "lib/CMakeFiles/mcr.dir/buf.c.o.d"
  "/work/main/lib/cli.c" "lib/CMakeFiles/mcr.dir/cli.c.o" "gcc" "lib/CMakeFiles/mcr.dir/cli.c.o.d"
  "/work/main/lib/consent.c" "lib/CMakeFiles/mcr.dir/consent.c.o" "gcc" "lib/CMakeFiles/mcr.dir/consent.c.o.d"
  "/work/main/lib/error.c" "lib/CMakeFiles/mcr.dir/error.c.o" "gcc" "lib/CMakeFiles/mcr.dir/error.c.o.d"
  "/work/main/lib/fs.c" "lib/CMakeFiles/mcr.dir/fs.c.o" "gcc" "lib/CMakeFiles/mcr.dir/fs.c.o.d"
  "/work/main/build/lib/schema_files.c" "lib/CMakeFiles/mcr.dir/schema_files.c.o" "gcc" "lib/CMakeFiles/mcr.dir/schema_files.c.o.d"
  "/work/main/lib/vocab.c" "lib/CMakeFiles/mcr.dir/vocab.c.o" "gcc" "lib/CMakeFiles/mcr.dir/vocab.c.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
