#!/usr/bin/env python3
"""Prints the SQL the Worker runs for the history list and the DORA metrics, read from its
source (so the query plans bench/queries.sh shows are of the code as it is, not of a copy):

  history  src/worker/deployments.rs `list_deployments` on `SELECT_DEPLOYMENT`
           (src/worker/deployment_store.rs)
  dora     src/worker/metrics.rs `dora_metrics`

Usage: worker_sql.py NAME [VALUE ...]: VALUE i replaces ?i (`NULL`, a number, or text, which
is quoted), because EXPLAIN QUERY PLAN through `wrangler d1 execute` takes no parameters.
Exits 1 when the source no longer has the shape this reads (then the bench row fails).
"""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def rust_string_after(text: str, anchor: str, start_pattern: str) -> str:
    """The first Rust string literal after `anchor` that starts with `start_pattern`."""
    at = text.find(anchor)
    if at < 0:
        sys.exit(f"worker_sql: `{anchor}` not found")
    m = re.compile(r'"(' + start_pattern + r'(?:[^"\\]|\\.)*)"', re.S).search(text, at)
    if not m:
        sys.exit(f"worker_sql: no SQL string after `{anchor}`")
    return m.group(1)


def history() -> str:
    store = (ROOT / "src/worker/deployment_store.rs").read_text()
    select = rust_string_after(store, "const SELECT_DEPLOYMENT", "SELECT ")
    handler = (ROOT / "src/worker/deployments.rs").read_text()
    query = rust_string_after(handler, "async fn list_deployments", r"\{SELECT_DEPLOYMENT\}")
    return query.replace("{SELECT_DEPLOYMENT}", select)


def dora() -> str:
    handler = (ROOT / "src/worker/metrics.rs").read_text()
    return rust_string_after(handler, "async fn dora_metrics", "SELECT ")


def literal(value: str) -> str:
    if value == "NULL" or re.fullmatch(r"-?\d+", value):
        return value
    return "'" + value.replace("'", "''") + "'"


def main() -> None:
    queries = {"history": history, "dora": dora}
    if len(sys.argv) < 2 or sys.argv[1] not in queries:
        sys.exit(f"usage: worker_sql.py {{{'|'.join(queries)}}} [VALUE ...]")
    sql = queries[sys.argv[1]]()
    values = sys.argv[2:]
    used = {int(n) for n in re.findall(r"\?(\d+)", sql)}
    if values and used != set(range(1, len(values) + 1)):
        sys.exit(f"worker_sql: the query takes ?{sorted(used)}, {len(values)} values given")
    for i in sorted(used, reverse=True):
        if values:
            sql = sql.replace(f"?{i}", literal(values[i - 1]))
    print(" ".join(sql.split()))


if __name__ == "__main__":
    main()
