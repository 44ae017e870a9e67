#!/usr/bin/env python3
"""Checks that the supervisor's C files call only downwards.

Compiles every .c file under src/supervisor (same flags as the Makefile) to
an object file, reads which functions and variables each one defines and
which it uses (nm), and draws an arrow from a file to every file that
defines something it uses.  Then:

  - circles: groups of files that reach each other along the arrows
    (strongly connected components of more than one file, plus files that
    call themselves through nobody else are not counted);
  - layers: every file listed in src/supervisor/layers.txt ("layer file"
    lines) may use only files of a lower layer, or of its own layer when
    no circle results; a file missing from the table is an error;
  - leaves (layer 0) include only headers of layer 0 and the C library.

  scripts/supervisor-layers.py [--no-table] [--sup DIR]   exit 0 when all hold, 1 otherwise

--sup DIR checks another copy of src/supervisor (the test's broken copy).

Needs gcc, nm and the generated native/vdso_syms.h (npm run build).
"""
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUP = os.path.join(ROOT, "src", "supervisor")
if "--sup" in sys.argv:
    SUP = os.path.abspath(sys.argv[sys.argv.index("--sup") + 1])
NATIVE = os.path.join(ROOT, "native")


def sources():
    out = []
    for d, _, files in os.walk(SUP):
        for f in files:
            if f.endswith(".c") and f not in ("vdso.c", "statshim.c"):  # the substitute vDSO and the stat shim run in the build, not the supervisor
                out.append(os.path.relpath(os.path.join(d, f), SUP))
    return sorted(out)


def symbols(objdir, srcs):
    defined, used = {}, {}
    for s in srcs:
        obj = os.path.join(objdir, s.replace("/", "_") + ".o")
        subprocess.run(["gcc", "-O0", "-D_GNU_SOURCE", "-I" + NATIVE, "-I" + SUP, "-c", os.path.join(SUP, s),
                        "-o", obj], check=True)
        text = subprocess.run(["nm", obj], check=True, capture_output=True, text=True).stdout
        defined[s], used[s] = set(), set()
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == "U":
                used[s].add(parts[1])
            elif len(parts) == 3 and parts[1] in "TDBRC":
                defined[s].add(parts[2])
    return defined, used


def graph(defined, used):
    owner = {}
    for f, syms in defined.items():
        for sym in syms:
            owner[sym] = f
    edges = {f: {} for f in defined}
    for f, syms in used.items():
        for sym in syms:
            g = owner.get(sym)
            if g and g != f:
                edges[f].setdefault(g, []).append(sym)
    return edges


def circles(edges):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def read_table():
    path = os.path.join(SUP, "layers.txt")
    table = {}
    if not os.path.exists(path):
        return None
    for line in open(path):
        line = line.split("#", 1)[0].strip()
        if line:
            layer, name = line.split()
            table[name] = int(layer)
    return table


def main():
    srcs = sources()
    with tempfile.TemporaryDirectory() as tmp:
        defined, used = symbols(tmp, srcs)
    edges = graph(defined, used)
    bad = 0
    comps = circles(edges)
    in_circle = sum(len(c) for c in comps)
    print(f"files: {len(srcs)}, arrows: {sum(len(e) for e in edges.values())}, "
          f"circles: {len(comps)} ({in_circle} files in circles)")
    for c in comps:
        print("  circle: " + " ".join(c))
        bad = 1
    table = None if "--no-table" in sys.argv else read_table()
    if table is None:
        return bad
    for f in srcs:
        if f not in table:
            print(f"  not in layers.txt: {f}")
            bad = 1
    for f, targets in sorted(edges.items()):
        for g, syms in sorted(targets.items()):
            if f in table and g in table and table[g] > table[f]:
                print(f"  upward: {f} (layer {table[f]}) uses {g} (layer {table[g]}): {', '.join(sorted(syms)[:4])}")
                bad = 1
    leaf_headers = {os.path.splitext(f)[0] + ".h" for f, l in table.items() if l == 0}
    leaf_headers |= {"shared.h", "exitcodes.h"}
    for f, l in sorted(table.items()):
        if l != 0 or not os.path.exists(os.path.join(SUP, f)):
            continue
        for inc in re.findall(r'^#include "([^"]+)"', open(os.path.join(SUP, f)).read(), re.M):
            if os.path.normpath(os.path.join(os.path.dirname(f), inc)) not in leaf_headers:
                print(f"  leaf {f} includes {inc}")
                bad = 1
    if not bad:
        print("arrows point down only")
    return bad


if __name__ == "__main__":
    sys.exit(main())
