#!/usr/bin/env python3
"""Bytes one deployment adds to the database: the real schema, synthetic rows.

Applies migrations/*.sql to a SQLite file (D1 is SQLite), creates one team, project,
environment and one enabled notification channel (so the 0010 trigger writes outbox rows
exactly as in D1), then inserts N deployments shaped like the one in docs/scaling.md ("one
deployment, end to end": 1 approval, 3 services, immediate, ended by its rollout) and reports
the bytes per deployment per table and index from SQLite's `dbstat` (pages actually used).

What is real: the tables, indexes and triggers, SQLite's page and record overhead, the JSON
shapes of the events, audit entries and outbox payloads (fields as the code writes them).
What is assumed (edit below): text lengths (emails, git refs, messages, rollout log lines,
the rollout spec) and that the final event keeps 20 log lines of ~70 characters.
Not D1 itself: D1's accounting of database size may differ from the SQLite file.
Plain python3: `python3 bench/row_bytes.py [N]` (default 2000).
"""
import glob
import json
import os
import sqlite3
import sys
import tempfile
import uuid

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000


def new_id(prefix):  # worker/db.rs:new_id
    return f"{prefix}_{uuid.uuid4().hex}"


def main():
    path = os.path.join(tempfile.mkdtemp(), "rows.sqlite")
    db = sqlite3.connect(path)
    for f in sorted(glob.glob(os.path.join(ROOT, "migrations", "*.sql"))):
        db.executescript(open(f, encoding="utf-8").read())
    team, project, env = new_id("team"), new_id("prj"), new_id("env")
    now = 1_780_000_000_000
    db.execute("INSERT INTO teams (id, slug, name, created_at) VALUES (?, 'acme', 'Acme', ?)", (team, now))
    db.execute(
        "INSERT INTO projects (id, team_id, slug, name, created_at) VALUES (?, ?, 'shop', 'Shop', ?)",
        (project, team, now),
    )
    db.execute(
        "INSERT INTO environments (id, team_id, project_id, name, created_at) VALUES (?, ?, ?, 'production', ?)",
        (env, team, project, now),
    )
    events = ",deployment.created,deployment.awaiting_approval,deployment.started,deployment.succeeded,"
    db.execute(
        "INSERT INTO notification_channels (id, team_id, project_id, name, kind, events, settings, secret, created_by, created_at)"
        " VALUES (?, ?, ?, 'deploys', 'webhook', ?, '{}', 'v1.x', 'member:ann@acme.example', ?)",
        (new_id("chn"), team, project, events, now),
    )
    services = [new_id("svc") for _ in range(3)]
    for s in services:
        db.execute(
            "INSERT INTO services (id, team_id, project_id, name, config_path, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (s, team, project, "api-" + s[-6:], "services/api/wrangler.toml", now),
        )
    db.commit()

    def tables():
        return {
            name: size
            for name, size in db.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name")
        }

    before = tables()
    actor, approver = "member:dev@acme.example", "member:lead@acme.example"
    for i in range(N):
        at = now + i * 60_000
        dep = new_id("dep")
        db.execute(
            "INSERT INTO deployments (id, team_id, project_id, environment_id, status, strategy, requested_by,"
            " git_ref, git_sha, message, created_at, started_at, finished_at, required_approvals, requested_by_member)"
            " VALUES (?, ?, ?, ?, 'awaiting_approval', 'immediate', ?, 'refs/heads/main', ?, ?, ?, NULL, NULL, 1, ?)",
            (dep, team, project, env, actor, uuid.uuid4().hex + uuid.uuid4().hex[:8],
             "Checkout: retry the payment call once on 502 (#4812)", at, "dev@acme.example"),
        )

        def event(kind, frm, to, detail):
            db.execute(
                "INSERT INTO deployment_events (deployment_id, at, kind, from_status, to_status, detail) VALUES (?, ?, ?, ?, ?, ?)",
                (dep, at, kind, frm, to, json.dumps(detail) if detail is not None else None),
            )

        def audit(action, who, before_json, after_json):
            db.execute(
                "INSERT INTO audit_log (team_id, at, actor, action, target_type, target_id, before_json, after_json)"
                " VALUES (?, ?, ?, ?, 'deployment', ?, ?, ?)",
                (team, at, who, action, dep,
                 json.dumps(before_json) if before_json is not None else None,
                 json.dumps(after_json) if after_json is not None else None),
            )

        versions = [(s, uuid.uuid4().__str__(), uuid.uuid4().__str__()) for s in services]
        # create
        event("requested", None, "requested", None)
        event("transition", "requested", "awaiting_approval", {"by": actor, "policy": "checked"})
        audit("deployment.create", actor, None, {
            "project": "shop", "environment": "production", "status": "awaiting_approval",
            "git_ref": "refs/heads/main", "git_sha": "0" * 40, "strategy": "immediate",
            "required_approvals": 1, "promoted_from": None})
        # approve
        db.execute(
            "INSERT INTO approvals (id, team_id, deployment_id, actor, role, comment, created_at) VALUES (?, ?, ?, ?, 'approver', 'LGTM', ?)",
            (new_id("apr"), team, dep, approver, at),
        )
        event("approved", None, None, {"by": approver, "comment": "LGTM"})
        audit("deployment.approve", approver, None, {"approvals": 1, "required": 1})
        event("transition", "awaiting_approval", "queued", {"by": approver})
        audit("deployment.transition", approver, {"status": "awaiting_approval"}, {"status": "queued", "detail": None})
        # deploying
        event("transition", "queued", "deploying", {"by": actor})
        audit("deployment.transition", actor, {"status": "queued"}, {"status": "deploying", "detail": None})
        # uploads
        for s, new, prev in versions:
            db.execute(
                "INSERT INTO deployment_services (deployment_id, service_id, version_id, previous_version_id, status,"
                " script_name, already_live, recorded_by, recorded_at) VALUES (?, ?, ?, ?, 'uploaded', ?, 0, ?, ?)",
                (dep, s, new, prev, "shop-api-" + s[-6:], actor, at),
            )
        uploaded = {"services": [{"service": "api-" + s[-6:], "script": "shop-api-" + s[-6:],
                                  "version_id": new, "previous_version_id": prev} for s, new, prev in versions]}
        event("uploaded", None, None, uploaded)
        audit("deployment.uploads", actor, None, uploaded)
        # rollout start
        spec = {"strategy": "immediate", "steps": [100], "hold_secs": 0,
                "services": [{"service": "api-" + s[-6:], "script": "shop-api-" + s[-6:],
                              "previous": prev, "new": new} for s, new, prev in versions],
                "health": [{"url": "https://shop.acme.example/healthz", "expect_status": 200}],
                "analysis": None, "auto_rollback": True}
        db.execute(
            "INSERT INTO rollouts (deployment_id, team_id, account_id, spec, started_by, started_at) VALUES (?, ?, ?, ?, ?, ?)",
            (dep, team, uuid.uuid4().hex, json.dumps(spec), actor, at),
        )
        event("rollout_started", None, None, {"strategy": "immediate", "by": actor})
        audit("rollout.start", actor, None, {"strategy": "immediate"})
        # end, recorded by the rollout: the last 20 log lines travel in the event's detail
        log = [{"seq": k, "at_ms": at + k, "kind": "traffic",
                "message": f"shop-api-{k:02d}: 100% on {uuid.uuid4()}"} for k in range(20)]
        detail = {"message": "rollout succeeded", "rollout": {"phase": "succeeded", "reason": None,
                                                               "ab": None, "log": log}}
        event("transition", "deploying", "succeeded", {"by": "clodo:rollout", "detail": detail})
        audit("deployment.transition", "clodo:rollout", {"status": "deploying"},
              {"status": "succeeded", "detail": detail})
        db.execute("UPDATE deployments SET status = 'succeeded', started_at = ?, finished_at = ? WHERE id = ?",
                   (at, at + 30_000, dep))
        # one delivery attempt per outbox row the trigger wrote
        for (entry,) in db.execute("SELECT id FROM outbox WHERE id NOT IN (SELECT entry_id FROM outbox_attempts)").fetchall():
            db.execute("UPDATE outbox SET state = 'delivered', attempts = 1, last_status = 200, finished_at = ? WHERE id = ?",
                       (at, entry))
            db.execute("INSERT INTO outbox_attempts (entry_id, attempt, at, status, outcome, detail) VALUES (?, 1, ?, 200, 'delivered', NULL)",
                       (entry, at))
    db.commit()
    after = tables()
    outbox_rows = db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    rows = sorted(((after.get(k, 0) - before.get(k, 0)) / N, k) for k in after)
    print(f"{N} deployments; outbox rows written by the trigger: {outbox_rows / N:.1f} per deployment")
    print(f"{'table or index':45} bytes/deployment")
    total = 0.0
    for size, name in reversed(rows):
        if size > 0:
            total += size
            print(f"{name:45} {size:10.0f}")
    print(f"{'total':45} {total:10.0f}")
    print(f"10 GB / total = {10e9 / total:,.0f} deployments")


if __name__ == "__main__":
    main()
