//! OpenAPI operations of the environment deploy lock and its queue. Every schema comes from
//! the contract types (`api::contract::locks`), so the document and the server agree.

use schemars::SchemaGenerator;

use super::Op;
use crate::api::contract::locks::{
    AcquireOutcome, AcquireRequest, ForceUnlockRequest, ForceUnlocked, HolderRequest, Lease,
    LockInfo, Released, Waiter,
};

pub(super) fn op_lock_info(g: &mut SchemaGenerator) -> Op {
    Op {
        ok: 200,
        ok_body: Some(g.subschema_for::<LockInfo>().to_value()),
        ..Op::default()
    }
}

pub(super) fn op_lock_acquire(g: &mut SchemaGenerator) -> Op {
    Op {
        body: Some(g.subschema_for::<AcquireRequest>().to_value()),
        ok: 200,
        ok_body: Some(g.subschema_for::<AcquireOutcome>().to_value()),
        // 403: the holder id is another token's entry; 429: the queue is full.
        errors: &[403, 409, 429],
        ..Op::default()
    }
}

/// Heartbeat, release and cancel: a holder id in, `T` out.
fn holder_op<T: schemars::JsonSchema>(g: &mut SchemaGenerator) -> Op {
    Op {
        body: Some(g.subschema_for::<HolderRequest>().to_value()),
        ok: 200,
        ok_body: Some(g.subschema_for::<T>().to_value()),
        errors: &[403, 409],
        ..Op::default()
    }
}

pub(super) fn op_lock_heartbeat(g: &mut SchemaGenerator) -> Op {
    holder_op::<Lease>(g)
}

pub(super) fn op_lock_release(g: &mut SchemaGenerator) -> Op {
    holder_op::<Released>(g)
}

pub(super) fn op_lock_cancel(g: &mut SchemaGenerator) -> Op {
    holder_op::<Waiter>(g)
}

pub(super) fn op_lock_force_unlock(g: &mut SchemaGenerator) -> Op {
    Op {
        body: Some(g.subschema_for::<ForceUnlockRequest>().to_value()),
        ok: 200,
        ok_body: Some(g.subschema_for::<ForceUnlocked>().to_value()),
        ..Op::default()
    }
}
