#!/usr/bin/env python3
"""Counts, per Rust function, the storage and object calls written in the Worker's source.

For each `fn` in src/worker/**/*.rs and src/rollout/driver.rs (src/lock is the pure
queue, no I/O) it counts what
appears *textually* inside the function body:

  rd   `worker::query!` whose SQL starts with SELECT/WITH (a D1 read statement)
  wr   `worker::query!` whose SQL starts with INSERT/UPDATE/DELETE/REPLACE (a D1 write)
  sql? `worker::query!` whose SQL is neither a literal nor `&format!("{SELECT_...}")`
  batch  `db::batch(` / `.batch(` calls (one round trip, one transaction)
  do     Durable Object calls: LockClient ops (`.acquire(` `.release(` `.heartbeat(` `.cancel(`
         `.info()` `.force_unlock(`), `outbox::kick`, `schedules::arm`, `*_object::arm`,
         `client::call(`
  st     DO storage operations: `.get::<` / `.put(` / `.put_multiple(` / `.set_alarm(` /
         `.delete_alarm(` / `.get_alarm(` on `storage()`
  calls  helpers of this table the function calls (one level; not followed)

Limits (read them before quoting a number):
  * textual: a statement inside a loop counts once; a branch not taken counts anyway;
  * one level only: `db::environment` (2 reads) called by a handler shows in `calls`, not in
    the handler's own counts; the per-request totals in docs/scaling.md add them up by hand;
  * SQLite triggers (migrations/0010, 0014: an outbox row per enabled channel on each
    deployment event) are statements D1 runs inside the batch and are not seen here;
  * statements built by helper macros in db.rs (`audit_stmt`, ...) count where the macro is
    expanded (in db.rs), not where they are called.
Plain python3, no dependencies: `python3 bench/count_statements.py [--all]` (default: only
functions with at least one count).
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FILES = []
for base, _, names in os.walk(os.path.join(ROOT, "src", "worker")):
    FILES += [os.path.join(base, n) for n in names if n.endswith(".rs")]
FILES.append(os.path.join(ROOT, "src", "rollout", "driver.rs"))

FN = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:async\s+)?fn\s+([A-Za-z_][A-Za-z0-9_]*)")
QUERY = re.compile(r"worker::query!\(\s*[^,]+,\s*(r#?\"|\"|&format!\(\s*\"|&?[A-Za-z_])", re.S)
DO_CALL = re.compile(
    r"\b(?:lock|self\.lock\([^)]*\))\.(acquire|release|heartbeat|cancel|info|force_unlock)\("
    r"|outbox::kick\(|schedules::arm\(|_object::arm\(|client::call\(|\.heartbeat\(owner"
)
STORAGE = re.compile(r"\.(get::<|put\(|put_multiple\(|set_alarm\(|delete_alarm\(|get_alarm\()")
BATCH = re.compile(r"\bdb::batch\(|\bdb\.batch\(")


def functions(path):
    """(name, first line, body text) for each fn, by brace matching from its signature."""
    text = open(path, encoding="utf-8").read()
    # Unit tests are not the product: stop at the first `#[cfg(test)]`.
    text = text.split("#[cfg(test)]")[0]
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        m = FN.match(lines[i])
        if not m or lines[i].strip().startswith("//"):
            i += 1
            continue
        depth, started, body, j = 0, False, [], i
        while j < len(lines):
            line = re.sub(r"//.*$", "", lines[j]) if "\"" not in lines[j] else lines[j]
            body.append(lines[j])
            depth += line.count("{") - line.count("}")
            if "{" in line:
                started = True
            if started and depth <= 0:
                break
            if not started and line.rstrip().endswith(";"):
                break  # a trait method's declaration
            j += 1
        yield m.group(1), i + 1, "\n".join(body)
        i = j + 1 if started else i + 1


def classify(body):
    rd = wr = unknown = 0
    for m in re.finditer(r"worker::query!\(", body):
        rest = body[m.end(): m.end() + 400]
        # A literal, or `&format!("{SELECT_X} ...")` whose constant names its verb.
        sql = re.search(r"\"\s*\{?([A-Za-z]+)", rest)
        literal = re.match(r"\s*&?[\w.()]+\s*,\s*(?:&format!\(\s*)?(?:r#)?\"", rest)
        if not literal or not sql:
            unknown += 1
            continue
        word = sql.group(1).upper()
        if word in ("SELECT", "WITH"):
            rd += 1
        elif word in ("INSERT", "UPDATE", "DELETE", "REPLACE"):
            wr += 1
        else:
            unknown += 1
    return rd, wr, unknown


def main():
    show_all = "--all" in sys.argv
    rows = []
    for path in sorted(FILES):
        for name, line, body in functions(path):
            rd, wr, unknown = classify(body)
            batch = len(BATCH.findall(body)) - (1 if name == "batch" else 0)
            do = len(DO_CALL.findall(body))
            st = len(STORAGE.findall(body)) if "storage()" in body or ".storage" in body else 0
            rows.append([os.path.relpath(path, ROOT), line, name, rd, wr, unknown, max(batch, 0), do, st, body])
    names = {r[2] for r in rows if any(r[3:9])}
    out = []
    for r in rows:
        body = r[9]
        calls = sorted(n for n in names if n != r[2] and re.search(r"(?<![A-Za-z0-9_])" + n + r"\(", body))
        if show_all or any(r[3:9]) or calls:
            out.append(r[:9] + [",".join(calls)])
    print(f"{'file:line':42} {'fn':28} {'rd':>3} {'wr':>3} {'sql?':>4} {'batch':>5} {'do':>3} {'st':>3}  calls")
    for f, line, name, rd, wr, unk, batch, do, st, calls in out:
        print(f"{f + ':' + str(line):42} {name:28} {rd:3} {wr:3} {unk:4} {batch:5} {do:3} {st:3}  {calls}")
    total = [sum(r[i] for r in out) for i in range(3, 9)]
    print(f"{'total (textual)':71} {total[0]:3} {total[1]:3} {total[2]:4} {total[3]:5} {total[4]:3} {total[5]:3}")


if __name__ == "__main__":
    main()
