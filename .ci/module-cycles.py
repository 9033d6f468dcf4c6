#!/usr/bin/env python3
"""Import loops between the modules of one Rust crate, read from its source paths.

Usage: python3 .ci/module-cycles.py SRC_DIR [--strict] [--edges]
  e.g. python3 .ci/module-cycles.py crates/kb-sandbox/src --strict
       python3 .ci/module-cycles.py src --edges

Every file under SRC_DIR is a module (`lib.rs`/`main.rs` the crate root, `x/mod.rs` and `x.rs`
both `x`). A module depends on another when its code names a path into it: `crate::a::b`,
`super::a`, `self::a`, a child's name (`child::item`), a name a `use` bound to a module
(`use crate::mail;` then `mail::send`), `use` groups included (`super::{a, b::c}`), whether in
a `use` line or inline. A path that ends at an item depends on the item's module (the deepest
module the path names). A child that uses an item of its parent (`super::Item`, the usual shape
of a parent module that defines what its children share) is not counted unless `--strict` is
given. Comment lines, strings, and everything from a file's first `#[cfg(test)]` on are skipped
(unless that only declares a test module kept in its own file), and so are files named
`tests.rs` (tests may use anything). Prints each loop (a strongly connected set of modules, with
the edges inside it) and exits 1 if there is one; `--edges` also prints the whole graph. Needs
only Python 3.
"""

import re
import sys
from pathlib import Path

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def module_of(src: Path, path: Path) -> tuple[str, ...]:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "mod" or (len(parts) == 1 and parts[0] in ("lib", "main")):
        parts = parts[:-1]
    return tuple(parts)


def code_of(path: Path) -> str:
    lines = []
    source = path.read_text(encoding="utf-8").splitlines()
    skip = False
    for i, line in enumerate(source):
        stripped = line.strip()
        if skip:
            skip = False
            continue
        if stripped.startswith("#[cfg(test)]"):
            following = source[i + 1].strip() if i + 1 < len(source) else ""
            if re.fullmatch(r"(pub(\(\w+\))? )?mod \w+;", following):
                skip = True  # a test module in its own file: skip the declaration only
                continue
            break  # an inline test module: the rest of the file is tests
        if stripped.startswith("//"):
            continue
        lines.append(line)
    text = "\n".join(lines)
    # Strings and chars never hold module paths; blank them so `"a::b"` is not read as one.
    literal = re.compile(
        r"""\b b?r(\#*)".*?"\1 | "(?:\\.|[^"\\])*" | '(?:\\.|[^'\\])'""", re.S | re.X
    )
    return literal.sub('""', text)


def group_items(text: str, start: int) -> tuple[list[str], int]:
    """The top-level items of the `{…}` group opening at `text[start]`, and the end index."""
    depth, items, current = 0, [], ""
    for i in range(start, len(text)):
        c = text[i]
        if c == "{":
            depth += 1
            if depth == 1:
                continue
        elif c == "}":
            depth -= 1
            if depth == 0:
                items.append(current)
                return [s.strip() for s in items if s.strip()], i
        elif c == "," and depth == 1:
            items.append(current)
            current = ""
            continue
        current += c
    return [], len(text)


def resolve(base: tuple, rest: str, modules: set) -> list:
    """Where the path text `rest` (`a::b::{c, d as e}`) leads from module `base`: one
    `(module, alias)` per leaf, `alias` being the name a `use` of exactly that module binds."""
    here, last, pos = base, None, 0
    while True:
        brace = re.match(r"\s*\{", rest[pos:])
        if brace:
            items, _ = group_items(rest, pos + brace.end() - 1)
            return [leaf for item in items for leaf in resolve(here, item, modules)]
        m = re.match(r"\s*(" + IDENT + r")\s*(::)?", rest[pos:])
        if not m:
            return [(here, None)]
        name = m.group(1)
        if name == "super":
            here, last = here[:-1], None
        elif name == "self":
            last = here[-1] if here else None
        elif here + (name,) in modules:
            here, last = here + (name,), name
        else:
            return [(here, None)]
        pos += m.end()
        if not m.group(2):
            alias = re.match(r"\s*as\s+(" + IDENT + r")", rest[pos:])
            return [(here, alias.group(1) if alias else last)]


def edges_of(src: Path, strict: bool) -> dict:
    paths = [p for p in sorted(src.rglob("*.rs")) if p.name != "tests.rs"]
    if (src / "lib.rs").exists():  # `main.rs` beside it is another crate (the binary)
        paths = [p for p in paths if p != src / "main.rs"]
    files = {module_of(src, p): p for p in paths}
    modules = set(files) | {()}
    edges = {m: set() for m in files}
    start = re.compile(r"(?<![A-Za-z0-9_:])(crate|super|self|" + IDENT + r")\s*::")
    for module, path in files.items():
        code = code_of(path)
        aliases = {}
        for use in re.finditer(r"\buse\s+([^;]+);", code):
            text = use.group(1)
            first = re.match(r"\s*(" + IDENT + r")", text)
            if first and first.group(1) == "crate":
                leaves = resolve((), text[first.end():].lstrip(": "), modules)
            else:
                leaves = resolve(module, text, modules)
            aliases.update({alias: m for m, alias in leaves if alias})
        for m in start.finditer(code):
            first = m.group(1)
            if first == "crate":
                base, rest = (), code[m.end():]
            elif first in ("super", "self") or module + (first,) in modules:
                base, rest = module, code[m.start():]
            elif first in aliases:
                base, rest = aliases[first], code[m.end():]
            else:
                continue
            for target, _ in resolve(base, rest, modules):
                ancestor = module[: len(target)] == target
                if target != module and (strict or not ancestor):
                    edges[module].add(target)
    return edges


def loops(edges: dict) -> list[list]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
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
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def name(module: tuple[str, ...]) -> str:
    return "::".join(("crate",) + module)


def main() -> int:
    args = [a for a in sys.argv[1:] if a not in ("--edges", "--strict")]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    edges = edges_of(Path(args[0]), "--strict" in sys.argv)
    if "--edges" in sys.argv:
        for m in sorted(edges):
            print(f"{name(m)} -> {', '.join(name(t) for t in sorted(edges[m])) or '-'}")
    found = loops(edges)
    for component in found:
        members = set(component)
        print("loop: " + " ".join(name(m) for m in component))
        for m in component:
            inside = sorted(t for t in edges[m] if t in members)
            print(f"  {name(m)} -> {', '.join(name(t) for t in inside)}")
    if not found:
        print(f"no import loops among {len(edges)} modules of {args[0]}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
