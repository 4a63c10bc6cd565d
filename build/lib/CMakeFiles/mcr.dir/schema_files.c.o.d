lib/CMakeFiles/mcr.dir/schema_files.c.o: \
 /work/main/build/lib/schema_files.c /usr/include/stdc-predef.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/stddef.h
