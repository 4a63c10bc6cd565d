#!/bin/sh
# man.sh HELP2MAN PROGRAM OUT [NAME]: OUT, the program's man page made by help2man
# from its --help and --version, with NAME as its one-line description.
set -eu
help2man=$1 prog=$2 out=$3 name=${4:-}
[ -n "$name" ] || name="part of the shared care record (mcr)"
mkdir -p "$(dirname "$out")"
"$help2man" --no-info --no-discard-stderr --section=1 --name="$name" --output="$out.tmp" "$prog"
mv "$out.tmp" "$out"
