//! The `DeployLock` Durable Object's protocol: one typed operation per request, one typed
//! answer, and `apply`, the whole of what the object does between loading and storing its
//! state, so the object itself is a shell and this is tested natively.
//!
//! Wire form (JSON, Worker ↔ object only): an operation is `{"op": "heartbeat", ...}`; an
//! answer is `{"Ok": {"reply": "renewed", ...}}` or `{"Err": {"code": "not_holder", ...}}`.

use serde::{Deserialize, Serialize};

use super::audit::Cause;
use super::{AcquireOutcome, Claim, DeployLock, Lease, LockError, LockInfo, Requester, Waiter};

/// The actor of the control plane's own calls (a deployment's lifecycle freeing its lock, its
/// rollout renewing it) when the Worker names no caller.
pub const SERVER_ACTOR: &str = "clodo:control-plane";

/// What the Worker sends the object: one operation, the environment it is the lock of (the
/// object's name, which the object cannot read itself; its audit entries target it) and who
/// asked, for those entries. `actor` is set by the Worker from the authenticated caller, never
/// from a request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRequest {
    pub environment_id: String,
    #[serde(default)]
    pub actor: Option<String>,
    pub op: LockOp,
}

impl LockRequest {
    /// Who the audit entries of this request name: the caller the Worker gave, else the
    /// claim's actor or the owner the Worker derived, else the control plane.
    #[must_use]
    pub fn actor(&self) -> String {
        if let Some(actor) = self.actor.as_ref().filter(|a| !a.is_empty()) {
            return actor.clone();
        }
        let owner = |by: &Requester| match by {
            Requester::Owner(o) if !o.is_empty() => o.clone(),
            _ => SERVER_ACTOR.to_owned(),
        };
        match &self.op {
            LockOp::Acquire { claim } if !claim.actor.is_empty() => claim.actor.clone(),
            LockOp::Heartbeat { by, .. }
            | LockOp::Release { by, .. }
            | LockOp::Cancel { by, .. } => owner(by),
            _ => SERVER_ACTOR.to_owned(),
        }
    }

    /// What the audit needs to know about the operation (see `audit::changes`).
    #[must_use]
    pub fn cause<'a>(&'a self, actor: &'a str) -> Cause<'a> {
        Cause::Request {
            actor,
            released: match &self.op {
                LockOp::Release { holder_id, .. } => Some(holder_id),
                _ => None,
            },
            cancelled: match &self.op {
                LockOp::Cancel { holder_id, .. } => Some(holder_id),
                _ => None,
            },
            forced: matches!(self.op, LockOp::ForceUnlock),
        }
    }
}

/// One request to the lock. `by` is set by the Worker: the public routes pass the caller's
/// token as `Requester::Owner`, the control plane's own calls for a deployment (its lifecycle
/// freeing the lock, its rollout renewing it) pass `Requester::Server`. Only the Worker can
/// reach the object, so no client chooses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum LockOp {
    /// Read the holder and the queue (expiring a lease that ran out).
    Info,
    Acquire {
        claim: Claim,
    },
    Heartbeat {
        holder_id: String,
        by: Requester,
    },
    Release {
        holder_id: String,
        by: Requester,
    },
    Cancel {
        holder_id: String,
        by: Requester,
    },
    /// Break the current lease (the admin's audited action; the Worker checks the role).
    ForceUnlock,
}

impl LockOp {
    /// The operation's name, for logs and error messages.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Acquire { .. } => "acquire",
            Self::Heartbeat { .. } => "heartbeat",
            Self::Release { .. } => "release",
            Self::Cancel { .. } => "cancel",
            Self::ForceUnlock => "force-unlock",
        }
    }
}

/// What a successful operation answers, one variant per operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum LockReply {
    Info {
        info: LockInfo,
    },
    Acquired {
        outcome: AcquireOutcome,
    },
    Renewed {
        lease: Lease,
    },
    /// The lease that was released hands over to `next_holder` (promoted from the queue).
    Released {
        next_holder: Option<Lease>,
    },
    Cancelled {
        waiter: Waiter,
    },
    ForceUnlocked {
        broken_lease: Option<Lease>,
    },
}

/// The object's whole answer: a reply, or the refusal with its code.
pub type LockAnswer = Result<LockReply, LockError>;

/// Applies one operation to the lock at `now_ms`. The object stores the state after an
/// `Ok` and leaves it untouched after a refusal (as before: a refused operation changes
/// nothing that must be kept; a lease it expired on the way expires again next time).
///
/// # Errors
/// The lock's refusal (`LockError`), as each `DeployLock` operation documents.
pub fn apply(lock: &mut DeployLock, op: LockOp, now_ms: i64) -> LockAnswer {
    Ok(match op {
        LockOp::Info => {
            lock.expire(now_ms);
            LockReply::Info { info: lock.info() }
        }
        LockOp::Acquire { claim } => LockReply::Acquired {
            outcome: lock.acquire(claim, now_ms)?,
        },
        LockOp::Heartbeat { holder_id, by } => LockReply::Renewed {
            lease: lock.heartbeat(&holder_id, &by, now_ms)?,
        },
        LockOp::Release { holder_id, by } => LockReply::Released {
            next_holder: lock.release(&holder_id, &by, now_ms)?,
        },
        LockOp::Cancel { holder_id, by } => LockReply::Cancelled {
            waiter: lock.cancel(&holder_id, &by)?,
        },
        LockOp::ForceUnlock => LockReply::ForceUnlocked {
            broken_lease: lock.force_unlock(now_ms),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::{test_claim as claim, LockErrorCode};

    fn owner(name: &str) -> Requester {
        Requester::Owner(name.to_owned())
    }

    /// One error of every kind, in `LockErrorCode::ALL` order.
    fn every_error() -> Vec<LockError> {
        vec![
            LockError::LeaseOutOfRange(10),
            LockError::InvalidHolderId,
            LockError::NotHolder("a".to_owned()),
            LockError::NotQueued("a".to_owned()),
            LockError::NotYours("a".to_owned()),
            LockError::QueueFull,
        ]
    }

    #[test]
    fn every_operation_survives_the_wire() {
        let ops = [
            LockOp::Info,
            LockOp::Acquire {
                claim: claim("dep-1", "token:t"),
            },
            LockOp::Heartbeat {
                holder_id: "dep-1".to_owned(),
                by: Requester::Server,
            },
            LockOp::Release {
                holder_id: "dep-1".to_owned(),
                by: owner("token:t"),
            },
            LockOp::Cancel {
                holder_id: "dep-1".to_owned(),
                by: owner("token:t"),
            },
            LockOp::ForceUnlock,
        ];
        let mut names = std::collections::BTreeSet::new();
        for op in ops {
            let json = serde_json::to_string(&op).unwrap();
            assert!(json.contains(&format!("\"op\":\"{}\"", op.name().replace('-', "_"))));
            assert_eq!(serde_json::from_str::<LockOp>(&json).unwrap(), op);
            names.insert(op.name());
        }
        assert_eq!(names.len(), 6, "each operation has its own name");
        // The requester is explicit on the wire: the server never becomes an owner by accident.
        let server = serde_json::to_value(LockOp::Heartbeat {
            holder_id: "d".to_owned(),
            by: Requester::Server,
        })
        .unwrap();
        assert_eq!(server["by"], "server");
        assert!(serde_json::from_str::<LockOp>(r#"{"op":"heartbeat","holder_id":"d"}"#).is_err());
    }

    #[test]
    fn a_request_names_its_actor_from_the_worker_else_from_the_operation() {
        let with = |actor: Option<&str>, op: LockOp| LockRequest {
            environment_id: "env_1".into(),
            actor: actor.map(str::to_owned),
            op,
        };
        let release = LockOp::Release {
            holder_id: "d".into(),
            by: owner("token:t"),
        };
        assert_eq!(
            with(Some("member:ana"), release.clone()).actor(),
            "member:ana"
        );
        assert_eq!(with(None, release).actor(), "token:t");
        let acquire = LockOp::Acquire {
            claim: claim("d", "token:t"),
        };
        assert_eq!(with(None, acquire).actor(), "ci");
        let server = LockOp::Cancel {
            holder_id: "d".into(),
            by: Requester::Server,
        };
        assert_eq!(with(None, server).actor(), SERVER_ACTOR);
        let request = with(
            None,
            LockOp::Release {
                holder_id: "d".into(),
                by: Requester::Server,
            },
        );
        let json = serde_json::to_string(&request).unwrap();
        assert_eq!(serde_json::from_str::<LockRequest>(&json).unwrap(), request);
        assert!(matches!(
            request.cause("x"),
            Cause::Request {
                released: Some("d"),
                cancelled: None,
                forced: false,
                ..
            }
        ));
    }

    #[test]
    fn every_error_maps_to_its_own_code_and_back() {
        let errors = every_error();
        let codes: Vec<LockErrorCode> = errors.iter().map(LockError::code).collect();
        assert_eq!(codes, LockErrorCode::ALL);
        for error in errors {
            let answer: LockAnswer = Err(error.clone());
            let json = serde_json::to_value(&answer).unwrap();
            let code = serde_json::to_value(error.code()).unwrap();
            assert_eq!(json["Err"]["code"], code, "{error:?}");
            let back: LockAnswer = serde_json::from_value(json).unwrap();
            assert_eq!(back, Err(error.clone()));
            let code_back: LockErrorCode = serde_json::from_value(code).unwrap();
            assert_eq!(code_back, error.code());
        }
    }

    #[test]
    fn apply_answers_each_operation_and_round_trips_the_reply() {
        let mut lock = DeployLock::default();
        let steps = [
            (
                LockOp::Acquire {
                    claim: claim("a", "token:t"),
                },
                0,
            ),
            (
                LockOp::Acquire {
                    claim: claim("b", "token:t"),
                },
                1,
            ),
            (
                LockOp::Acquire {
                    claim: claim("c", "token:u"),
                },
                2,
            ),
            (
                LockOp::Heartbeat {
                    holder_id: "a".to_owned(),
                    by: owner("token:t"),
                },
                3,
            ),
            (
                LockOp::Cancel {
                    holder_id: "c".to_owned(),
                    by: owner("token:u"),
                },
                4,
            ),
            (
                LockOp::Release {
                    holder_id: "a".to_owned(),
                    by: Requester::Server,
                },
                5,
            ),
            (LockOp::ForceUnlock, 6),
            (LockOp::Info, 7),
        ];
        let mut replies = Vec::new();
        for (op, at) in steps {
            let answer = apply(&mut lock, op, at);
            let json = serde_json::to_string(&answer).unwrap();
            assert_eq!(serde_json::from_str::<LockAnswer>(&json).unwrap(), answer);
            replies.push(answer.unwrap());
        }
        assert!(matches!(
            &replies[0],
            LockReply::Acquired {
                outcome: AcquireOutcome::Granted { .. }
            }
        ));
        assert!(matches!(
            &replies[2],
            LockReply::Acquired {
                outcome: AcquireOutcome::Queued { position: 2, .. }
            }
        ));
        assert!(
            matches!(&replies[3], LockReply::Renewed { lease } if lease.lease_until_ms == 30_003)
        );
        assert!(
            matches!(&replies[4], LockReply::Cancelled { waiter } if waiter.claim.holder_id == "c")
        );
        assert!(matches!(
            &replies[5],
            LockReply::Released { next_holder: Some(next) } if next.claim.holder_id == "b"
        ));
        assert!(matches!(
            &replies[6],
            LockReply::ForceUnlocked { broken_lease: Some(broken) } if broken.claim.holder_id == "b"
        ));
        assert_eq!(
            replies[7],
            LockReply::Info {
                info: LockInfo {
                    held: false,
                    holder: None,
                    queue: vec![]
                }
            }
        );
    }

    #[test]
    fn apply_refuses_with_the_cores_error_and_info_expires_old_leases() {
        let mut lock = DeployLock::default();
        apply(
            &mut lock,
            LockOp::Acquire {
                claim: claim("a", "token:t"),
            },
            0,
        )
        .unwrap();
        let refused = apply(
            &mut lock,
            LockOp::Heartbeat {
                holder_id: "a".to_owned(),
                by: owner("token:mallory"),
            },
            1,
        );
        assert_eq!(refused, Err(LockError::NotYours("a".to_owned())));
        let refused = apply(
            &mut lock,
            LockOp::Release {
                holder_id: "b".to_owned(),
                by: Requester::Server,
            },
            1,
        );
        assert_eq!(refused.map_err(|e| e.code()), Err(LockErrorCode::NotHolder));
        match apply(&mut lock, LockOp::Info, 30_000).unwrap() {
            LockReply::Info { info } => assert!(!info.held && info.holder.is_none()),
            other => panic!("{other:?}"),
        }
    }
}
