#!/usr/bin/env python3
"""What a wasm module is made of: the size of each section, and, when the module has its name
section (a build with CLODO_KEEP_WASM_NAMES=1), the code size per crate and the biggest
functions. Used by bench/wasm-size.sh --profile; plain Python, no tool to install.

Usage: wasm_profile.py MODULE.wasm [TOP]
"""

import collections
import re
import sys
import zlib

SECTIONS = {0: "custom", 1: "type", 2: "import", 3: "function", 4: "table", 5: "memory",
            6: "global", 7: "export", 8: "start", 9: "element", 10: "code", 11: "data",
            12: "datacount", 13: "tag"}


class Reader:
    def __init__(self, data: bytes, pos: int = 0):
        self.data, self.pos = data, pos

    def byte(self) -> int:
        self.pos += 1
        return self.data[self.pos - 1]

    def uleb(self) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return result

    def name(self) -> str:
        n = self.uleb()
        self.pos += n
        return self.data[self.pos - n:self.pos].decode("utf-8", "replace")


def imported_functions(r: Reader, end: int) -> int:
    funcs = 0
    for _ in range(r.uleb()):
        r.name()
        r.name()
        kind = r.byte()
        if kind == 0:
            r.uleb()
            funcs += 1
        elif kind == 1:
            r.byte()
            limits(r)
        elif kind == 2:
            limits(r)
        elif kind == 3:
            r.byte()
            r.byte()
        elif kind == 4:
            r.byte()
            r.uleb()
    assert r.pos == end, "import section misread"
    return funcs


def limits(r: Reader) -> None:
    flags = r.byte()
    r.uleb()
    if flags & 1:
        r.uleb()


def crate_of(name: str) -> str:
    """The crate a legacy-mangled Rust symbol belongs to (for `<T as Trait>::f`, T's crate)."""
    if not name.startswith("_ZN"):
        return "(not Rust: " + re.sub(r"[^A-Za-z_].*", "", name)[:30] + ")"
    m = re.match(r"_ZN(\d+)", name)
    first = name[m.end():m.end() + int(m.group(1))]
    if first.startswith("_$LT$"):
        first = first[5:]
        first = re.sub(r"^(\$RF\$|mut\$u20\$|\$u5b\$|dyn\$u20\$)+", "", first)
        first = first.split("..")[0].split("$")[0]
    return first or "(other)"


def main() -> None:
    path = sys.argv[1]
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    data = open(path, "rb").read()
    r = Reader(data, 8)
    sections = []
    n_imports = 0
    bodies = []
    names = {}
    while r.pos < len(data):
        sid = r.byte()
        size = r.uleb()
        start, end = r.pos, r.pos + size
        label = SECTIONS.get(sid, str(sid))
        if sid == 0:
            label = "custom: " + Reader(data, start).name()
        sections.append((label, size, len(zlib.compress(data[start:end], 9))))
        if sid == 2:
            n_imports = imported_functions(Reader(data, start), end)
        elif sid == 10:
            c = Reader(data, start)
            for _ in range(c.uleb()):
                n = c.uleb()
                bodies.append((c.pos, n))
                c.pos += n
        elif label == "custom: name":
            c = Reader(data, start)
            c.name()
            while c.pos < end:
                sub, sub_size = c.byte(), c.uleb()
                sub_end = c.pos + sub_size
                if sub == 1:
                    for _ in range(c.uleb()):
                        idx = c.uleb()
                        names[idx] = c.name()
                c.pos = sub_end
        r.pos = end
    print(f"{path}: {len(data)} bytes, {len(zlib.compress(data, 9))} deflated")
    print(f"{'section':<28} {'bytes':>10} {'deflated':>10}")
    for label, size, gz in sections:
        print(f"{label:<28} {size:>10} {gz:>10}")
    if not names:
        print("(no name section: build with CLODO_KEEP_WASM_NAMES=1 for code per crate)")
        return
    per_crate = collections.Counter()
    funcs = []
    for i, (pos, n) in enumerate(bodies):
        name = names.get(n_imports + i, f"func{n_imports + i}")
        per_crate[crate_of(name)] += n
        funcs.append((n, name))
    total = sum(n for _, n in bodies)
    print(f"\ncode per crate (function bodies, {total} bytes in {len(bodies)} functions)")
    for crate, n in per_crate.most_common(top):
        print(f"{crate:<40} {n:>10} {100 * n / total:>6.1f}%")
    print(f"\nbiggest functions")
    for n, name in sorted(funcs, reverse=True)[:top]:
        print(f"{n:>8}  {name[:150]}")


if __name__ == "__main__":
    main()
