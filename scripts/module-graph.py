#!/usr/bin/env python3
"""The import graph of a crate's top-level modules, from `crate::<module>` paths in its sources
(comments and `#[cfg(test)] mod tests` left out), and its cycles. Exits 1 when there is a cycle.

Usage: python3 scripts/module-graph.py crates/core/src
"""
import glob
import os
import re
import sys


def graph(root):
    mods = {}
    for path in glob.glob(os.path.join(root, "**", "*.rs"), recursive=True):
        top = os.path.relpath(path, root).split(os.sep)[0].removesuffix(".rs")
        if top == "lib":
            continue
        mods.setdefault(top, set())
        text = open(path, encoding="utf-8").read()
        text = re.sub(r"//[^\n]*", "", text)
        text = re.sub(r"#\[cfg\(test\)\]\s*mod tests\s*\{.*", "", text, flags=re.S)
        found = set(re.findall(r"crate::([a-z_]+)", text))
        for group in re.findall(r"use crate::\{([^}]*)\}", text):
            found.update(re.findall(r"(?:^|,)\s*([a-z_]+)", group))
        mods[top].update(found - {top})
    return {name: sorted(deps & set(mods)) for name, deps in mods.items()}


def cycles(edges):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

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
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in edges[v]:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def main():
    edges = graph(sys.argv[1])
    for name in sorted(edges):
        print(f"{name} -> {', '.join(edges[name]) or '(nothing)'}")
    found = cycles(edges)
    if found:
        print(f"import cycles: {found}")
        sys.exit(1)
    print("no import cycles")


if __name__ == "__main__":
    main()
