//! Typed calls from the Worker to its Durable Objects: the generic plumbing (`call`: one
//! operation, one typed answer, a deadline) and `LockClient`, the `DeployLock` object's client.
//!
//! An object's protocol is a pure-core enum of operations implementing `ObjectOp` (e.g.
//! `lock::protocol::LockOp`); the object answers `Result<Reply, Refusal>` as JSON with status
//! 200. A refusal carries a code (`ObjectError::Refused`); anything else that goes wrong on the
//! way (no binding, no answer in time, an answer that is not the protocol) is
//! `ObjectError::Failed` with the `ApiError` the route returns.

use serde::de::DeserializeOwned;
use serde::Serialize;
use worker::{Env, Method, Request, RequestInit, Response};

use super::super::deadline;
use super::DEPLOY_LOCK_BINDING;
use crate::api::ApiError;
use crate::lock::protocol::{LockOp, LockReply, LockRequest};
use crate::lock::{AcquireOutcome, Claim, Lease, LockError, LockInfo, Requester, Waiter};

/// One operation of an object's protocol, with the types of its answer.
pub trait ObjectOp: Serialize {
    /// What the object answers when the operation succeeds.
    type Reply: DeserializeOwned;
    /// Why the object refused, with a code the Worker maps once to an `ApiError`.
    type Refusal: DeserializeOwned;
    /// The operation's name, for logs and error messages.
    fn name(&self) -> &'static str;
}

impl ObjectOp for LockRequest {
    type Reply = LockReply;
    type Refusal = LockError;
    fn name(&self) -> &'static str {
        self.op.name()
    }
}

/// Why a typed object call did not produce a reply.
#[derive(Debug, Clone, PartialEq)]
pub enum ObjectError<E> {
    /// The object refused the operation (its state is unchanged).
    Refused(E),
    /// The call failed on the way; may or may not have been applied when it timed out.
    Failed(ApiError),
}

impl<E: Into<ApiError>> From<ObjectError<E>> for ApiError {
    fn from(err: ObjectError<E>) -> Self {
        match err {
            ObjectError::Refused(refusal) => refusal.into(),
            ObjectError::Failed(err) => err,
        }
    }
}

impl<E> From<ApiError> for ObjectError<E> {
    fn from(err: ApiError) -> Self {
        ObjectError::Failed(err)
    }
}

/// Runs one call to an object (`what` names it for logs: binding, operation, object name)
/// within `deadline::OBJECT_CALL_MS`. No answer in time is a 503 whose hint says the
/// operation may or may not have happened, so the caller reads the state before retrying.
pub(super) async fn within_object_deadline<T>(
    binding: &str,
    op: &str,
    name: &str,
    call: impl std::future::Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    deadline::within(deadline::OBJECT_CALL_MS, call)
        .await
        .unwrap_or_else(|| {
            worker::console_error!(
                "{binding} {op} on {name}: no answer within {} ms",
                deadline::OBJECT_CALL_MS
            );
            Err(ApiError::unavailable(format!(
                "the {binding} object did not answer `{op}` within {} s",
                deadline::OBJECT_CALL_MS / 1000
            ))
            .with_hint("it may or may not have been applied: read the current state, then retry"))
        })
}

/// Sends `op` to the object named `name` of `binding` and decodes its typed answer.
///
/// # Errors
/// `Refused` with the object's refusal; `Failed` with a 503 when it did not answer in time,
/// a 500 when it could not be reached or answered outside the protocol.
pub async fn call<O: ObjectOp>(
    env: &Env,
    binding: &str,
    name: &str,
    op: &O,
) -> Result<O::Reply, ObjectError<O::Refusal>> {
    let op_name = op.name();
    let fail = |e: &dyn std::fmt::Display| ApiError::internal(format!("{binding} {op_name}: {e}"));
    let exchange = async {
        let body = serde_json::to_string(op).map_err(|e| fail(&e))?;
        let object = env
            .durable_object(binding)
            .and_then(|ns| ns.get_by_name(name))
            .map_err(|e| fail(&e))?;
        let headers = worker::Headers::new();
        headers
            .set("content-type", "application/json")
            .map_err(|e| fail(&e))?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_body(Some(body.into()));
        // The path only names the operation in the runtime's logs; the body is the request.
        let req = Request::new_with_init(&format!("https://object.internal/{op_name}"), &init)
            .map_err(|e| fail(&e))?;
        let mut resp = object.fetch_with_request(req).await.map_err(|e| fail(&e))?;
        let text = resp.text().await.map_err(|e| fail(&e))?;
        if resp.status_code() != 200 {
            return Err(fail(&format!("answered {}: {text}", resp.status_code())));
        }
        serde_json::from_str::<Result<O::Reply, O::Refusal>>(&text).map_err(|e| fail(&e))
    };
    within_object_deadline(binding, op_name, name, exchange)
        .await?
        .map_err(ObjectError::Refused)
}

/// The object side of `call`: reads the operation from the request body.
///
/// # Errors
/// When the body is not an operation of the protocol (the Worker sees a 500).
pub(super) async fn read_op<O: DeserializeOwned>(req: &mut Request) -> worker::Result<O> {
    req.json().await
}

/// The object side of `call`: the typed answer, always with status 200 (a refusal is part of
/// the answer, not a transport failure).
pub(super) fn answer<T: Serialize, E: Serialize>(
    answer: &Result<T, E>,
) -> worker::Result<Response> {
    Response::from_json(answer)
}

/// What a lock operation answers: its reply, or the refusal with its code, or the failure.
pub type Answer<T> = Result<T, ObjectError<LockError>>;

/// The `DeployLock` object of one environment (named by the environment id).
pub struct LockClient {
    env: Env,
    environment_id: String,
    /// The authenticated caller's audit actor, for the entries the object writes.
    actor: Option<String>,
}

impl LockClient {
    /// `env` is a handle to the Worker's bindings (cloning it is cheap).
    #[must_use]
    pub fn new(env: Env, environment_id: impl Into<String>) -> Self {
        Self {
            env,
            environment_id: environment_id.into(),
            actor: None,
        }
    }

    /// The same lock, for calls made on behalf of `actor` (the authenticated caller's audit
    /// actor, `member:<email>` or `token:<id>`): the object's audit entries name it. Without
    /// it they name the claim's actor, the requesting owner, or the control plane.
    #[must_use]
    pub fn acting_for(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// The environment whose lock this is.
    #[must_use]
    pub fn environment_id(&self) -> &str {
        &self.environment_id
    }

    /// Sends one operation; `LockReply` variants are matched by the methods below.
    ///
    /// # Errors
    /// `Refused` with the lock's refusal, `Failed` when the call failed.
    pub async fn send(&self, op: LockOp) -> Answer<LockReply> {
        let request = LockRequest {
            environment_id: self.environment_id.clone(),
            actor: self.actor.clone(),
            op,
        };
        call(
            &self.env,
            DEPLOY_LOCK_BINDING,
            &self.environment_id,
            &request,
        )
        .await
    }

    /// Holder and queue (a lease that ran out is expired first).
    ///
    /// # Errors
    /// The call failed (the lock never refuses a read).
    pub async fn info(&self) -> Result<LockInfo, ApiError> {
        match self.send(LockOp::Info).await? {
            LockReply::Info { info } => Ok(info),
            other => Err(unexpected("info", &other)),
        }
    }

    /// Grants, renews or queues `claim` (its `owner` set from the caller's token).
    ///
    /// # Errors
    /// `Refused` as `DeployLock::acquire`; `Failed` when the call failed.
    pub async fn acquire(&self, claim: Claim) -> Answer<AcquireOutcome> {
        match self.send(LockOp::Acquire { claim }).await? {
            LockReply::Acquired { outcome } => Ok(outcome),
            other => Err(unexpected("acquire", &other).into()),
        }
    }

    /// Renews the holder's lease.
    ///
    /// # Errors
    /// `Refused(NotHolder)` when `holder_id` no longer holds the lock, `Refused(NotYours)`
    /// when `by` is not its owner; `Failed` when the call failed.
    pub async fn heartbeat(&self, holder_id: &str, by: Requester) -> Answer<Lease> {
        let holder_id = holder_id.to_owned();
        match self.send(LockOp::Heartbeat { holder_id, by }).await? {
            LockReply::Renewed { lease } => Ok(lease),
            other => Err(unexpected("heartbeat", &other).into()),
        }
    }

    /// Releases the lock; answers the next holder. Errors as `heartbeat`.
    pub async fn release(&self, holder_id: &str, by: Requester) -> Answer<Option<Lease>> {
        let holder_id = holder_id.to_owned();
        match self.send(LockOp::Release { holder_id, by }).await? {
            LockReply::Released { next_holder } => Ok(next_holder),
            other => Err(unexpected("release", &other).into()),
        }
    }

    /// Leaves the queue; answers the removed waiter. Refused with `NotQueued` or `NotYours`.
    pub async fn cancel(&self, holder_id: &str, by: Requester) -> Answer<Waiter> {
        let holder_id = holder_id.to_owned();
        match self.send(LockOp::Cancel { holder_id, by }).await? {
            LockReply::Cancelled { waiter } => Ok(waiter),
            other => Err(unexpected("cancel", &other).into()),
        }
    }

    /// Breaks the current lease (the caller checked the admin role); answers the broken lease.
    ///
    /// # Errors
    /// The call failed.
    pub async fn force_unlock(&self) -> Result<Option<Lease>, ApiError> {
        match self.send(LockOp::ForceUnlock).await? {
            LockReply::ForceUnlocked { broken_lease } => Ok(broken_lease),
            other => Err(unexpected("force-unlock", &other)),
        }
    }
}

/// The object answered a reply of another operation: a protocol bug, never a user error.
fn unexpected(op: &str, reply: &LockReply) -> ApiError {
    ApiError::internal(format!("{DEPLOY_LOCK_BINDING} {op}: answered {reply:?}"))
}
