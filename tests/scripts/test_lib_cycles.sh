#!/usr/bin/env bash
# No file cycles in lib/ (docs/CONVENTIONS.md: a file never depends on one that
# depends back on it; a backend never calls into the neutral code that picks it).
# Reads the built library's symbols: file A depends on file B when A's object uses
# a global symbol B's object defines. Fails naming each cycle and the symbols.
# Usage: test_lib_cycles.sh BIN_DIR   (the library is BIN_DIR/../lib/libmcr.a)
set -u
lib=${1:?usage: test_lib_cycles.sh BIN_DIR}/../lib/libmcr.a
[ -f "$lib" ] || { echo "FAIL: no library at $lib"; exit 1; }
nm -A "$lib" >"${TMPDIR:-/tmp}/mcr-nm.$$" || { echo "FAIL: nm $lib"; exit 1; }
trap 'rm -f "${TMPDIR:-/tmp}/mcr-nm.$$"' EXIT
python3 - "${TMPDIR:-/tmp}/mcr-nm.$$" <<'PY'
import sys
defs, uses = {}, {}
for line in open(sys.argv[1]):
    # "libmcr.a:audit.c.o:0000000000000000 T mcr_audit_open"
    name, sep, rest = line.rstrip("\n").partition(".o:")
    if not sep:
        continue
    obj = name.rsplit(":", 1)[-1].removesuffix(".c")
    parts = rest.split()
    uses.setdefault(obj, set())
    if len(parts) == 3 and parts[1] in "TDBRCGSV":
        defs[parts[2]] = obj
    elif len(parts) == 2 and parts[0] == "U":
        uses[obj].add(parts[1])
graph = {f: {defs[s] for s in u if defs.get(s, f) != f} for f, u in uses.items()}
index, low, stack, on, cycles = {}, {}, [], set(), []
def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v); on.add(v)
    for w in graph[v]:
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v:
                break
        if len(comp) > 1:
            cycles.append(sorted(comp))
sys.setrecursionlimit(10000)
for v in sorted(graph):
    if v not in index:
        visit(v)
for comp in cycles:
    print("FAIL: file cycle in lib/: " + " ".join(comp))
    for a in comp:
        for b in sorted(graph[a] & set(comp)):
            print("  lib/%s.c uses lib/%s.c: %s" % (a, b, " ".join(sorted(s for s in uses[a] if defs.get(s) == b))))
if cycles:
    sys.exit(1)
print("ok: test_lib_cycles (%d files)" % len(graph))
PY
