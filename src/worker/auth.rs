//! Authentication: the `Caller` extractor (bearer `clodo_…` token, or a Cloudflare Access
//! assertion through `access` → team, role, actor, the audit entries it writes) and the operator's bootstrap secret (Worker secret
//! `CLODO_BOOTSTRAP_TOKEN`). The routes of teams, tokens and members are in `people`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::Value;
use worker::{D1Database, D1PreparedStatement};

use super::db::{self, now_ms};
use super::routes::AppState;
use crate::api::{ApiError, ErrorCode};
use crate::control::{token, Role};

/// Who is calling: the team the token belongs to, the token, the person (or token) acting,
/// and the token's role. Every handler scopes its queries by `team_id`.
#[derive(Debug, Clone)]
pub struct Caller {
    pub team_id: String,
    pub token_id: String,
    /// `member:<email>` when the token belongs to a member, else `token:<id>`; what audit
    /// entries and approval rules compare.
    pub actor: String,
    pub role: Role,
    /// The member the token acts for, if any.
    pub member_id: Option<String>,
    /// The person accountable for what this token does, as a lower-cased email: the token's
    /// member, or for a token not tied to a member, the member who created it. Approval rules
    /// compare people by it, never token ids.
    pub accountable_email: Option<String>,
}

impl Caller {
    /// Refuses the request unless the caller's role includes `needed`.
    ///
    /// # Errors
    /// `Forbidden`, naming the role needed.
    pub fn require(&self, needed: Role) -> Result<(), ApiError> {
        if self.role.allows(needed) {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorCode::Forbidden,
                format!("this needs the {needed} role; your token has {}", self.role),
            )
            .with_hint("ask a team admin for a token with that role"))
        }
    }

    /// The audit insert of `entry`, done by this caller, for the same batch as the change.
    pub fn audit(&self, db: &D1Database, entry: &Audit<'_>) -> worker::Result<D1PreparedStatement> {
        self.audit_with(db, entry, db::audit_stmt)
    }

    /// Deletes the team's one row of a per-team setting (`delete_sql` binds the team id as
    /// `?1`) with its audit entry `action` in one batch, as an admin; whether there was one.
    pub async fn remove_team_setting(
        &self,
        env: &worker::Env,
        delete_sql: &str,
        action: &str,
    ) -> Result<bool, ApiError> {
        self.require(crate::control::Role::Admin)?;
        let db = db::db(env)?;
        let delete = worker::query!(&db, delete_sql, &self.team_id);
        let entry = Audit::removed(action, ("team", &self.team_id));
        self.commit_if_changed(&db, delete, entry).await
    }

    /// The audit insert of a guarded change, for a batch right after it: written only when
    /// that statement changed a row.
    pub fn audit_if_changed(
        &self,
        db: &D1Database,
        entry: &Audit<'_>,
    ) -> worker::Result<D1PreparedStatement> {
        self.audit_with(db, entry, db::audit_if_changed_stmt)
    }

    /// `entry` as an insert by this caller, through one of the two audit writers of `db`.
    fn audit_with(
        &self,
        db: &D1Database,
        entry: &Audit<'_>,
        write: db::AuditWriter,
    ) -> worker::Result<D1PreparedStatement> {
        write(
            db,
            &self.team_id,
            &self.actor,
            entry.action,
            entry.target_type,
            entry.target_id,
            entry.before.as_ref(),
            entry.after.as_ref(),
        )
    }

    /// Runs `change` and its audit entry as one D1 batch: both commit or neither.
    pub async fn commit(
        &self,
        db: &D1Database,
        change: worker::Result<D1PreparedStatement>,
        entry: Audit<'_>,
    ) -> Result<(), ApiError> {
        let audit = self.audit(db, &entry);
        db::batch(db, vec![change, audit]).await.map(drop)
    }

    /// Runs a guarded `change` (one that may match no row) with its audit entry as one D1
    /// batch; the entry is written only when the change touched a row. Answers whether it did.
    pub async fn commit_if_changed(
        &self,
        db: &D1Database,
        change: worker::Result<D1PreparedStatement>,
        entry: Audit<'_>,
    ) -> Result<bool, ApiError> {
        let audit = self.audit_if_changed(db, &entry);
        let results = db::batch(db, vec![change, audit]).await?;
        Ok(db::changes(&results, 0) > 0)
    }
}

/// One audit entry: what was done (`project.create`) to which target (type, id), with the
/// target before and after the change.
pub struct Audit<'a> {
    action: &'a str,
    target_type: &'a str,
    target_id: &'a str,
    before: Option<Value>,
    after: Option<Value>,
}

impl<'a> Audit<'a> {
    /// A new target, `after` as created.
    #[must_use]
    pub fn created(
        action: &'a str,
        (target_type, target_id): (&'a str, &'a str),
        after: Value,
    ) -> Self {
        Self::changed(action, (target_type, target_id), None, after)
    }

    /// A target that is gone (nothing after it).
    #[must_use]
    pub fn removed(action: &'a str, (target_type, target_id): (&'a str, &'a str)) -> Self {
        Self {
            action,
            target_type,
            target_id,
            before: None,
            after: None,
        }
    }

    /// A changed target, from `before` (none when it did not exist) to `after`.
    #[must_use]
    pub fn changed(
        action: &'a str,
        (target_type, target_id): (&'a str, &'a str),
        before: Option<Value>,
        after: Value,
    ) -> Self {
        Self {
            action,
            target_type,
            target_id,
            before,
            after: Some(after),
        }
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, message)
        .with_hint("send `Authorization: Bearer clodo_…`; create tokens with POST /api/v1/tokens or `clodo login`")
}

/// The bearer value of the Authorization header.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

#[derive(Deserialize)]
struct TokenRow {
    id: String,
    team_id: String,
    secret_hash: String,
    role: String,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    last_used_at: Option<i64>,
    member_id: Option<String>,
    email: Option<String>,
    creator_email: Option<String>,
}

/// How stale `last_used_at` may get before a request rewrites it: one write a minute per token
/// rather than one per request.
const LAST_USED_GRANULARITY_MS: i64 = 60_000;

/// The token row of a presented token's hash (`?1`), with its member's and creator's emails.
fn token_stmt(db: &D1Database, hash: &str) -> worker::Result<D1PreparedStatement> {
    worker::query!(
        db,
        "SELECT t.id, t.team_id, t.secret_hash, t.role, t.expires_at, t.revoked_at, t.last_used_at,
                t.member_id, m.email, c.email AS creator_email
         FROM api_tokens t LEFT JOIN members m ON m.id = t.member_id
              LEFT JOIN members c ON c.id = t.created_by_member_id
         WHERE t.secret_hash = ?1",
        &hash
    )
}

/// Checks a presented token (known, not revoked, not expired) and says who is calling. Also
/// run by the idempotency layer before it answers anything from storage.
pub(super) async fn authenticate(env: &worker::Env, presented: &str) -> Result<Caller, ApiError> {
    let hash = presented_hash(presented)?;
    let db = db::db(env)?;
    let row = db::first::<TokenRow>(token_stmt(&db, &hash)).await?;
    caller_of(&db, row, &hash).await
}

/// `authenticate`, with one more read in the same D1 round trip (a batch): `extra` gets the
/// presented token's hash to bind, so its lookup can be scoped to the token's team in SQL.
/// Its first row is returned only once the token checked out, so a revoked token learns
/// nothing from it; revocation still takes effect at once (nothing is cached).
pub(super) async fn authenticate_with<T: serde::de::DeserializeOwned>(
    env: &worker::Env,
    presented: &str,
    extra: impl FnOnce(&D1Database, &str) -> worker::Result<D1PreparedStatement>,
) -> Result<(Caller, Option<T>), ApiError> {
    let hash = presented_hash(presented)?;
    let db = db::db(env)?;
    let results = db::batch(&db, vec![token_stmt(&db, &hash), extra(&db, &hash)]).await?;
    let mut rows = results.iter();
    let token_rows = rows.next().map(worker::D1Result::results::<TokenRow>);
    let row = token_rows
        .transpose()
        .map_err(db::d1)?
        .and_then(|r| r.into_iter().next());
    let caller = caller_of(&db, row, &hash).await?;
    let extra = rows
        .next()
        .map(worker::D1Result::results::<T>)
        .transpose()
        .map_err(db::d1)?
        .and_then(|r| r.into_iter().next());
    Ok((caller, extra))
}

/// `authenticate` in the same D1 round trip as `after`, statements that need the presented
/// token's row (they bind the presented hash, from `presented_hash`, themselves). They run
/// before the token is checked here, so each must select only a usable token in SQL (see
/// `USABLE_TOKEN_SQL`). Answers the caller (or why the token is refused) and `after`'s
/// results, in order; the batch failing is the outer error.
pub(super) async fn authenticate_batched(
    db: &D1Database,
    hash: &str,
    after: Vec<worker::Result<D1PreparedStatement>>,
) -> Result<(Result<Caller, ApiError>, Vec<worker::D1Result>), ApiError> {
    let mut stmts = vec![token_stmt(db, hash)];
    stmts.extend(after);
    let mut results = db::batch(db, stmts).await?;
    if results.is_empty() {
        return Err(ApiError::internal("D1 answered a batch with no results"));
    }
    let token = results.remove(0);
    let row = token
        .results::<TokenRow>()
        .map_err(db::d1)?
        .into_iter()
        .next();
    Ok((caller_of(db, row, hash).await, results))
}

/// The condition, on `api_tokens` (unaliased) with the presented hash as `?1` and now as
/// `?2`, that holds for a token `caller_of` accepts (`token::check_usable`).
pub(super) const USABLE_TOKEN_SQL: &str = "secret_hash = ?1 AND (revoked_at IS NULL OR revoked_at > ?2) AND (expires_at IS NULL OR expires_at > ?2)";

pub(super) fn presented_hash(presented: &str) -> Result<String, ApiError> {
    if !token::well_formed(presented) {
        return Err(unauthorized("the bearer token is not a Clodo API token"));
    }
    Ok(token::hash(presented))
}

/// The caller of a token row looked up by `hash`: refused unless it is usable now. Writes
/// `last_used_at` when it is more than a minute old (one write a minute per token).
async fn caller_of(db: &D1Database, row: Option<TokenRow>, hash: &str) -> Result<Caller, ApiError> {
    let row = row
        .filter(|row| token::constant_time_eq(row.secret_hash.as_bytes(), hash.as_bytes()))
        .ok_or_else(|| unauthorized("unknown API token"))?;
    let now = now_ms();
    token::check_usable(row.expires_at, row.revoked_at, now)
        .map_err(|problem| unauthorized(&problem.to_string()))?;
    let role: Role = row.role.parse().map_err(ApiError::internal)?;
    if row
        .last_used_at
        .is_none_or(|at| now - at > LAST_USED_GRANULARITY_MS)
    {
        // Conditional, so concurrent first requests of the minute write it once.
        db::run(worker::query!(
            db,
            "UPDATE api_tokens SET last_used_at = ?1 WHERE id = ?2
               AND (last_used_at IS NULL OR last_used_at < ?3)",
            &now,
            &row.id,
            &(now - LAST_USED_GRANULARITY_MS)
        ))
        .await?;
    }
    let actor = match &row.email {
        Some(email) => format!("member:{email}"),
        None => format!("token:{}", row.id),
    };
    let accountable_email = row
        .email
        .as_ref()
        .or(row.creator_email.as_ref())
        .map(|e| e.to_lowercase());
    Ok(Caller {
        team_id: row.team_id,
        token_id: row.id,
        actor,
        role,
        member_id: row.member_id.filter(|_| row.email.is_some()),
        accountable_email,
    })
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // Already authenticated by the idempotency layer for this request (only server code
        // can put a `Caller` in the extensions; a client cannot).
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        let credential = Credential::of(&parts.headers)
            .ok_or_else(|| unauthorized("missing bearer token (or Cloudflare Access assertion)"))?;
        if matches!(credential, Credential::Access(_)) {
            require_no_cross_site_write(&parts.method, &parts.headers)?;
        }
        let env = state.env.clone();
        // D1 futures are JS promises (!Send); the Worker is single-threaded, so asserting
        // Send here is sound and lets axum accept the extractor.
        worker::send::SendFuture::new(async move { credential.authenticate(&env).await }).await
    }
}

/// Access signs a browser in from its cookie, which a browser attaches to any request to the
/// API, even one a foreign page makes it send (a plain HTML form cannot set headers but can
/// POST). A change signed in by Access must carry `Idempotency-Key`: the dashboard always sends
/// it, and a cross-site page can only set it after a CORS preflight, which the Worker grants to
/// `DASHBOARD_ORIGINS` alone.
fn require_no_cross_site_write(
    method: &axum::http::Method,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    use axum::http::Method;
    if [Method::GET, Method::HEAD, Method::OPTIONS].contains(method)
        || headers.contains_key("idempotency-key")
    {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::Forbidden,
        "a change signed in through Cloudflare Access must carry an Idempotency-Key header",
    )
    .with_hint("the dashboard sends one with every change; other clients send `Authorization: Bearer clodo_…`"))
}

/// What a request presents to sign in: a bearer token, else the assertion Cloudflare Access
/// adds when the API sits behind it. A bearer token wins when both are present.
#[derive(Debug, Clone)]
pub enum Credential {
    Bearer(String),
    Access(String),
}

impl Credential {
    #[must_use]
    pub fn of(headers: &HeaderMap) -> Option<Self> {
        if let Some(token) = bearer(headers) {
            return Some(Self::Bearer(token.to_owned()));
        }
        headers
            .get(super::access::ASSERTION_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(|v| Self::Access(v.to_owned()))
    }

    /// Who is calling (see `authenticate` and `access::authenticate`).
    pub async fn authenticate(&self, env: &worker::Env) -> Result<Caller, ApiError> {
        match self {
            Self::Bearer(token) => authenticate(env, token).await,
            Self::Access(assertion) => super::access::authenticate(&db::db(env)?, assertion).await,
        }
    }
}

fn secret_text(env: &worker::Env, name: &str) -> Option<String> {
    env.secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok()
        .filter(|s| !s.is_empty())
}

/// Checks the operator secret `CLODO_BOOTSTRAP_TOKEN` (constant-time).
pub(super) fn require_bootstrap_secret(
    env: &worker::Env,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    let Some(secret) = secret_text(env, "CLODO_BOOTSTRAP_TOKEN") else {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "bootstrap is disabled on this deployment",
        )
        .with_hint("set it with `wrangler secret put CLODO_BOOTSTRAP_TOKEN`"));
    };
    let presented = bearer(headers).unwrap_or_default();
    if token::constant_time_eq(
        token::hash(presented).as_bytes(),
        token::hash(&secret).as_bytes(),
    ) {
        Ok(())
    } else {
        Err(unauthorized("the bootstrap secret does not match")
            .with_hint("send `Authorization: Bearer <CLODO_BOOTSTRAP_TOKEN>`"))
    }
}
