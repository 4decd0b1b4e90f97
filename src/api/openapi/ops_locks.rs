//! OpenAPI operations of the environment deploy lock and its queue.

use schemars::SchemaGenerator;
use serde_json::{json, Value};

use super::schema::*;
use super::Op;

pub(super) fn op_lock_info(_g: &mut SchemaGenerator) -> Op {
    Op {
        ok: 200,
        ok_body: Some(sref("LockInfo")),
        ..Op::default()
    }
}

pub(super) fn op_lock_acquire(_g: &mut SchemaGenerator) -> Op {
    Op {
        body: Some(closed(
            &["holder_id"],
            json!({
                "holder_id": holder_id(),
                "purpose": nullable(string(0, 500)),
                "lease_ms": { "type": ["integer", "null"], "minimum": 5000, "maximum": 3_600_000 },
            }),
        )),
        ok: 200,
        ok_body: Some(sref("AcquireOutcome")),
        // 403: the holder id is another token's entry; 429: the queue is full.
        errors: &[403, 409, 429],
        ..Op::default()
    }
}

pub(super) fn holder_body() -> Value {
    closed(&["holder_id"], json!({ "holder_id": holder_id() }))
}

pub(super) fn op_lock_heartbeat(_g: &mut SchemaGenerator) -> Op {
    Op {
        body: Some(holder_body()),
        ok: 200,
        ok_body: Some(sref("Lease")),
        errors: &[403, 409],
        ..Op::default()
    }
}

pub(super) fn op_lock_release(_g: &mut SchemaGenerator) -> Op {
    Op {
        body: Some(holder_body()),
        ok: 200,
        ok_body: Some(open(
            &["next_holder"],
            json!({ "next_holder": nullable(sref("Lease")) }),
        )),
        errors: &[403, 409],
        ..Op::default()
    }
}

pub(super) fn op_lock_cancel(_g: &mut SchemaGenerator) -> Op {
    Op {
        body: Some(holder_body()),
        ok: 200,
        ok_body: Some(sref("Waiter")),
        errors: &[403, 409],
        ..Op::default()
    }
}

pub(super) fn op_lock_force_unlock(_g: &mut SchemaGenerator) -> Op {
    Op {
        body: Some(closed(
            &["reason"],
            json!({ "reason": json!({ "type": "string", "minLength": 1, "maxLength": 1000, "pattern": "\\S", "description": "why (kept in the audit log); 1-1000 bytes after trimming" }) }),
        )),
        ok: 200,
        ok_body: Some(open(
            &["broken_lease", "lock", "reason"],
            json!({ "broken_lease": nullable(sref("Lease")), "lock": sref("LockInfo"), "reason": text() }),
        )),
        ..Op::default()
    }
}
