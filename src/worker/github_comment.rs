//! Clodo's one comment per pull request: created on the first assessment, then edited in
//! place, by the next delivery's assessment and whenever a preview of the head branch is
//! recorded. The row keeps what re-rendering needs (head branch, the assessment part); the
//! previews part is read from the `previews` table each time.

use serde::Deserialize;
use worker::D1Database;

use super::cf_fetch::FetchTransport;
use super::db::{self, now_ms};
use super::github::IntegrationRow;
use super::github_work::Failure;
use crate::integrations::github::client::GithubClient;
use crate::integrations::github::render::{self, PreviewLine};
use crate::outbox::LEASE_MS;

/// Which pull request a delivery's assessment is for.
pub(super) struct PullRequestComment<'a> {
    pub number: u64,
    /// The head branch (previews are recorded under it).
    pub branch: &'a str,
    /// When the delivery arrived: an older delivery's retry never overwrites a newer one's.
    pub received_at: i64,
}

#[derive(Deserialize)]
struct PreviewRow {
    environment: String,
    service: String,
    url: String,
    git_sha: Option<String>,
}

/// The project's previews of `branch`, newest first, in every environment.
async fn previews_of(
    db: &D1Database,
    row: &IntegrationRow,
    branch: &str,
) -> Result<Vec<PreviewLine>, Failure> {
    let rows = db::all::<PreviewRow>(worker::query!(
        db,
        "SELECT e.name AS environment, p.service, p.url, p.git_sha FROM previews p
           JOIN environments e ON e.id = p.environment_id
          WHERE e.project_id = ?1 AND p.team_id = ?2 AND p.branch = ?3
          ORDER BY p.created_at DESC, p.id DESC LIMIT 100",
        &row.project_id,
        &row.team_id,
        &branch
    ))
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| PreviewLine {
            environment: r.environment,
            service: r.service,
            url: r.url,
            git_sha: r.git_sha,
        })
        .collect())
}

#[derive(Deserialize)]
struct CommentRow {
    comment_id: i64,
    received_at: i64,
}

/// Edits the pull request's Clodo comment in place, or creates it (again, if it was deleted).
/// Creating is claimed first in D1 (`comment_id` 0 = being created), so two attempts for one
/// pull request at once never post two comments: the one that lost the claim is retried by the
/// outbox and then edits. A claim older than the outbox lease was abandoned and is taken over.
/// A comment showing a newer delivery's assessment is left alone (a retried older delivery
/// must not overwrite it).
pub(super) async fn upsert(
    db: &D1Database,
    row: &IntegrationRow,
    gh: &GithubClient<'_, FetchTransport>,
    pr: &PullRequestComment<'_>,
    assessment: &str,
) -> Result<(), Failure> {
    let number = pr.number;
    let received_at = pr.received_at;
    let body = render::comment_with_previews(
        assessment,
        pr.branch,
        &previews_of(db, row, pr.branch).await?,
    );
    let pr_number = i64::try_from(number).map_err(|e| Failure::Permanent(e.to_string()))?;
    let existing = db::first::<CommentRow>(worker::query!(
        db,
        "SELECT comment_id, received_at FROM github_pr_comments WHERE project_id = ?1 AND pr_number = ?2",
        &row.project_id,
        &pr_number
    ))
    .await?;
    // The id a takeover may replace: a comment that is gone (-1: none to replace).
    let mut gone = -1_i64;
    if let Some(existing) = existing.filter(|e| e.comment_id > 0) {
        if existing.received_at > received_at {
            return Ok(());
        }
        let id =
            u64::try_from(existing.comment_id).map_err(|e| Failure::Permanent(e.to_string()))?;
        if gh.edit_comment(id, &body).await? {
            db::run(worker::query!(
                db,
                "UPDATE github_pr_comments SET received_at = ?3, updated_at = ?4, head_branch = ?5,
                   assessment_body = ?6
                 WHERE project_id = ?1 AND pr_number = ?2 AND received_at <= ?3",
                &row.project_id,
                &pr_number,
                &received_at,
                &now_ms(),
                &pr.branch,
                &assessment
            ))
            .await?;
            return Ok(());
        }
        gone = existing.comment_id;
    }
    let now = now_ms();
    let claimed = db::run(worker::query!(
        db,
        "INSERT INTO github_pr_comments (project_id, pr_number, comment_id, received_at, updated_at, head_branch, assessment_body)
         VALUES (?1, ?2, 0, ?6, ?3, ?7, ?8)
         ON CONFLICT (project_id, pr_number) DO UPDATE SET comment_id = 0, received_at = excluded.received_at,
           updated_at = excluded.updated_at, head_branch = excluded.head_branch,
           assessment_body = excluded.assessment_body
         WHERE github_pr_comments.comment_id = ?4
            OR (github_pr_comments.comment_id = 0 AND github_pr_comments.updated_at < ?5)",
        &row.project_id,
        &pr_number,
        &now,
        &gone,
        &(now - LEASE_MS),
        &received_at,
        &pr.branch,
        &assessment
    ))
    .await?;
    if claimed == 0 {
        return Err(Failure::Retry(
            "another attempt is creating this pull request's comment".into(),
        ));
    }
    let id = match gh.comment(number, &body).await {
        Ok(id) => i64::try_from(id).map_err(|e| Failure::Permanent(e.to_string()))?,
        Err(e) => {
            // Release the claim so the retry (or the next push) creates it.
            let _ = db::run(worker::query!(
                db,
                "DELETE FROM github_pr_comments WHERE project_id = ?1 AND pr_number = ?2 AND comment_id = 0 AND updated_at = ?3",
                &row.project_id,
                &pr_number,
                &now
            ))
            .await;
            return Err(e.into());
        }
    };
    db::run(worker::query!(
        db,
        "UPDATE github_pr_comments SET comment_id = ?3, updated_at = ?4 WHERE project_id = ?1 AND pr_number = ?2",
        &row.project_id,
        &pr_number,
        &id,
        &now_ms()
    ))
    .await?;
    Ok(())
}

#[derive(Deserialize)]
struct BranchComment {
    pr_number: i64,
    comment_id: i64,
    received_at: i64,
    assessment_body: Option<String>,
}

/// How often a refresh re-renders a comment whose assessment changed under it.
const REFRESH_ROUNDS: usize = 3;

/// Re-renders the Clodo comment of every pull request from `branch` with the previews as
/// they are now. A comment being created is retried later (by then it exists); one deleted on
/// GitHub is left for the next push to recreate. When a delivery stored a newer assessment
/// while this edit was on its way, the comment is rendered again from it, so the last edit
/// always shows the newest assessment.
pub(super) async fn refresh(
    db: &D1Database,
    row: &IntegrationRow,
    gh: &GithubClient<'_, FetchTransport>,
    branch: &str,
) -> Result<String, Failure> {
    let select = || {
        worker::query!(
            db,
            "SELECT pr_number, comment_id, received_at, assessment_body FROM github_pr_comments
              WHERE project_id = ?1 AND head_branch = ?2 ORDER BY pr_number",
            &row.project_id,
            &branch
        )
    };
    let comments = db::all::<BranchComment>(select()).await?;
    if comments.is_empty() {
        return Ok(format!(
            "no pull request comment from `{branch}` to refresh"
        ));
    }
    if comments.iter().any(|c| c.comment_id == 0) {
        return Err(Failure::Retry(
            "a pull request comment from this branch is being created".into(),
        ));
    }
    let previews = previews_of(db, row, branch).await?;
    let mut edited = Vec::new();
    for comment in comments {
        let mut shown = comment;
        for _ in 0..REFRESH_ROUNDS {
            let Some(assessment) = shown.assessment_body.as_deref() else {
                break;
            };
            let id =
                u64::try_from(shown.comment_id).map_err(|e| Failure::Permanent(e.to_string()))?;
            let body = render::comment_with_previews(assessment, branch, &previews);
            if !gh.edit_comment(id, &body).await? {
                break;
            }
            edited.push(shown.pr_number);
            let now = db::all::<BranchComment>(select())
                .await?
                .into_iter()
                .find(|c| c.pr_number == shown.pr_number);
            match now {
                Some(now) if now.received_at != shown.received_at && now.comment_id > 0 => {
                    shown = now;
                }
                _ => break,
            }
        }
    }
    edited.dedup();
    Ok(format!(
        "previews of `{branch}` shown on pull request(s) {edited:?}"
    ))
}
