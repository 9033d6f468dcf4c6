#!/usr/bin/env python3
"""Lists import loops between the modules of a Rust crate (`.ci/module-cycles.py [SRC_DIR]`).

A module is a file (`a/b.rs` or `a/b/mod.rs` is `a::b`). Module A depends on module B when A's
code names B: through `use crate::…`, `use super::…`, an inline `crate::b::item` path, or a name
it imported (`use crate::mail;` … `mail::outbox::enqueue`). A path goes to the longest module it
names (`crate::db::tenant::TenantTx` → `db::tenant`); an item a module re-exports (`pub use`) goes
to the module that defines it. Not dependencies: comments, `mod` declarations, `pub use`
re-exports themselves, `#[cfg(test)]` modules. A parent's own code is a module like any other:
`web` (the router) using `web::pages::team`, which uses `web::AppState`, is a loop unless
`AppState` lives in a module of its own (re-exported as `web::AppState`).

Prints each loop (a strongly connected group of modules) with the edges that close it and exits
with 1 if there is any; prints nothing and exits 0 otherwise. Standard library only.
"""

import os
import re
import sys
from collections import defaultdict

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
RAW = re.compile(r'r(#*)"')


def module_files(src):
    """Maps module path (tuple) → file, for every .rs file below `src`."""
    files = {}
    for root, _dirs, names in os.walk(src):
        for name in names:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(root, name)
            rel = os.path.relpath(path, src)[: -len(".rs")].split(os.sep)
            if rel[-1] in ("mod", "lib", "main"):
                rel = rel[:-1]
            files[tuple(rel)] = path
    return files


def strip_code(text):
    """The file without comments, string and char contents and trailing `#[cfg(test)]` modules."""
    out, i, n = [], 0, len(text)
    while i < n:
        ch = text[i]
        if text.startswith("//", i):
            i = text.find("\n", i)
            i = n if i < 0 else i
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif ch == "r" and RAW.match(text, i) and not (i and (text[i - 1].isalnum() or text[i - 1] == "_")):
            hashes = RAW.match(text, i).group(1)
            end = text.find('"' + hashes, i + 2 + len(hashes))
            out.append('""')
            i = n if end < 0 else end + 1 + len(hashes)
        elif ch == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            out.append('""')
            i += 1
        elif ch == "'" and i + 1 < n and text[i + 1] == "\\":
            end = text.find("'", i + 3)
            out.append("' '")
            i = n if end < 0 else end + 1
        elif ch == "'" and i + 2 < n and text[i + 2] == "'":
            out.append("' '")
            i += 3
        else:
            out.append(ch)
            i += 1
    text = "".join(out)
    cut = re.search(r"#\[cfg\(test\)\]\s*(pub(\([a-z]+\))?\s+)?mod\s+\w+\s*\{", text)
    return text[: cut.start()] if cut else text


def test_only_children(text):
    return set(re.findall(r"#\[cfg\(test\)\]\s*(?:pub(?:\([a-z]+\))?\s+)?mod\s+(\w+)\s*;", text))


def flatten_use(tree):
    """`a::{b, c::{d, self}}` → ['a::b', 'a::c::d', 'a::c::self'] (aliases dropped)."""
    tree = re.sub(r"\s+", "", tree)
    depth, start, parts = 0, None, []
    for i, ch in enumerate(tree):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}":
            depth -= 1
    if "{" not in tree:
        return [re.sub(r"as\w+$", "", tree)] if tree else []
    start = tree.index("{")
    end = tree.rindex("}")
    prefix, inner = tree[:start], tree[start + 1 : end]
    depth, last = 0, 0
    for i, ch in enumerate(inner):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(inner[last:i])
            last = i + 1
    parts.append(inner[last:])
    out = []
    for part in parts:
        for leaf in flatten_use(part):
            out.append(prefix + leaf)
    return out


def alias_of(path):
    last = path.split("::")[-1]
    return None if last in ("*", "self") else last


class Crate:
    def __init__(self, src, exclude):
        self.files = {
            m: f for m, f in module_files(src).items() if not (m and m[0] in exclude)
        }
        self.text = {m: strip_code(open(f, encoding="utf-8").read()) for m, f in self.files.items()}
        raw = {m: open(f, encoding="utf-8").read() for m, f in self.files.items()}
        for m, text in raw.items():
            for child in test_only_children(text):
                self.files.pop(m + (child,), None)
                self.text.pop(m + (child,), None)
        self.reexports = {}  # (module, name) -> module
        for m, text in self.text.items():
            children = self.children(m, text)
            for tree in re.findall(r"\bpub(?:\([a-z]+\))?\s+use\s+([^;]+);", text):
                for path in flatten_use(tree):
                    segs = path.split("::")
                    target = self.resolve(m, ["self"] + segs if segs[0] in children else segs)
                    name = alias_of(path)
                    if target and name:
                        self.reexports[(m, name)] = target

    def children(self, here, text):
        """The file modules `here` declares (`mod x;`), by name."""
        names = re.findall(r"\bmod\s+(\w+)\s*;", text)
        return {c: here + (c,) for c in names if here + (c,) in self.files}

    def absolute(self, here, segs):
        """Turns a path's first segments (`crate`, `super`, `self`) into an absolute path."""
        if segs[0] == "crate":
            return list(segs[1:])
        if segs[0] in ("super", "self"):
            base = list(here)
            while segs and segs[0] in ("super", "self"):
                if segs[0] == "super":
                    base = base[:-1]
                segs = segs[1:]
            return base + list(segs)
        return None

    def resolve(self, here, segs):
        """The module an absolute-or-relative path points into, following re-exports."""
        path = self.absolute(here, segs)
        if path is None:
            return None
        path = [s for s in path if s not in ("self", "*")]
        for n in range(len(path), -1, -1):
            module = tuple(path[:n])
            if module in self.files:
                rest = path[n:]
                if rest and (module, rest[0]) in self.reexports:
                    return self.reexports[(module, rest[0])]
                return module
        return None

    def edges(self):
        deps = defaultdict(set)
        for here, text in self.text.items():
            aliases = self.children(here, text)
            targets = set()
            for is_pub, tree in re.findall(r"\b(pub(?:\([a-z]+\))?\s+)?use\s+([^;]+);", text):
                for path in flatten_use(tree):
                    segs = path.split("::")
                    if segs[0] in aliases:
                        segs = ["self"] + segs
                    target = self.resolve(here, segs)
                    if target is None:
                        continue
                    name = alias_of(path)
                    full = self.absolute(here, segs)
                    if name and tuple(x for x in full if x != "self") in self.files:
                        aliases[name] = tuple(x for x in full if x != "self")
                    if not is_pub:
                        targets.add(target)
            body = re.sub(r"\buse\s+[^;]+;", "", text)
            for match in re.finditer(rf"\b({IDENT})((?:::{IDENT})+)", body):
                first, rest = match.group(1), match.group(2).split("::")[1:]
                if first in ("crate", "super", "self"):
                    target = self.resolve(here, [first] + rest)
                elif first in aliases:
                    target = self.resolve((), ["crate", *aliases[first], *rest])
                else:
                    continue
                if target is not None:
                    targets.add(target)
            for target in targets:
                if target != here:
                    deps[here].add(target)
        return deps


def loops(deps):
    """Strongly connected groups with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in deps.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in list(deps):
        if v not in index:
            visit(v)
    return out


def main():
    args = sys.argv[1:]
    exclude = set()
    while "--exclude" in args:
        i = args.index("--exclude")
        exclude.add(args[i + 1])
        del args[i : i + 2]
    src = args[0] if args else "src"
    crate = Crate(src, exclude)
    deps = crate.edges()
    found = loops(deps)
    name = lambda m: "::".join(m) or "crate"
    for group in found:
        members = set(group)
        print("loop: " + ", ".join(name(m) for m in group))
        for m in group:
            for t in sorted(deps[m] & members):
                print(f"  {name(m)} -> {name(t)}")
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
