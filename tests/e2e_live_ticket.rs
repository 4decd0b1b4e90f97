//! End-to-end tests of the live view's tickets: a browser cannot send `Authorization` on a
//! WebSocket, so it asks `POST …/rollout/live/ticket` for a single-use ticket (30 s, bound to
//! its team, token and one deployment) and connects with `?ticket=`. Against the local Worker
//! (D1, the Rollout object) with a real rollout the CLI started and left running: a fresh
//! ticket opens the socket once; a replay, an expired ticket, one for another deployment, one
//! whose token was revoked and one of another team are refused. A socket asked to wait
//! (`?wait=true`, `clodo deploy`'s) opens before the rollout starts, never for an ended one.
//!
//! `#[ignore]`d under a plain `cargo test`; `tests/e2e.sh` runs them with `--ignored`.

mod e2e_support;

use std::time::Duration;

use e2e_support::shop::{deploy, rollout_team, start_detached, Project};
use e2e_support::{str_of, Api, Team};
use futures::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest, Message};

fn ticket_path(id: &str) -> String {
    format!("/api/v1/deployments/{id}/rollout/live/ticket")
}

/// A new ticket for `id`'s live view, asked by `api`; checks what the answer promises.
async fn ticket(api: &Api, id: &str) -> String {
    let body = api.create(&ticket_path(id), json!({})).await;
    let secret = str_of(&body["secret"]).to_owned();
    assert!(secret.starts_with("clodo_live_"), "{body}");
    assert_eq!(
        body["path"],
        format!("/api/v1/deployments/{id}/rollout/live")
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let ttl = body["expires_at"].as_i64().unwrap() - now;
    assert!(
        (0..=60_000).contains(&ttl),
        "a ticket lives at most 60 s: {ttl} ms"
    );
    secret
}

/// Opens `id`'s live socket with `ticket` and no Authorization header: the first status
/// message, or the HTTP status of the refused upgrade.
async fn connect(base: &str, id: &str, ticket: &str) -> Result<Value, u16> {
    let ws = base.replacen("http://", "ws://", 1);
    let request = format!("{ws}/api/v1/deployments/{id}/rollout/live?ticket={ticket}")
        .into_client_request()
        .unwrap();
    assert!(request.headers().get("authorization").is_none());
    match tokio_tungstenite::connect_async(request).await {
        Ok((mut socket, _)) => {
            let first = tokio::time::timeout(Duration::from_secs(15), socket.next())
                .await
                .expect("a status message within 15 s");
            let _ = socket.close(None).await;
            match first {
                Some(Ok(Message::Text(text))) => Ok(serde_json::from_str(&text).unwrap()),
                other => panic!("expected a status message, got {other:?}"),
            }
        }
        Err(tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("live socket of {id}: {e}"),
    }
}

/// An upgrade request with `ticket` that must be refused: 401 with `needle` in the reason.
/// Sent as plain HTTP with the upgrade headers (a WebSocket client does not read the body of a
/// refused handshake); the ticket is checked before anything is upgraded.
async fn assert_refused(base: &str, id: &str, ticket: &str, needle: &str) {
    let resp = reqwest::Client::new()
        .get(format!("{base}/api/v1/deployments/{id}/rollout/live"))
        .query(&[("ticket", ticket)])
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap();
    assert_eq!(status, 401, "{body}");
    assert!(body.contains(needle), "expected `{needle}` in {body}");
}

#[tokio::test]
#[ignore = "needs the local Worker, the sandbox and wrangler: run through tests/e2e.sh"]
async fn a_live_ticket_opens_one_socket_for_one_deployment_within_its_time() {
    let team: Team = rollout_team().await;
    let base = team.admin.base.clone();
    // A rollout that stays at its first step for the whole test.
    let p = Project::with(
        "[deploy]\nstrategy = \"gradual\"\nsteps = [50, 100]\nstep_wait_secs = 600\n",
    );
    let (code, first, err) = deploy(&p, &team, &["--strategy", "immediate"]);
    assert_eq!(code, 0, "{first}\n{err}");
    let other = str_of(&first["deployment"]["id"]).to_owned();
    let (id, _) = start_detached(&p, &team);
    // A new client: the deploys took long enough for the proxy to drop the pooled connections,
    // and a POST on a dropped connection is not retried.
    let admin = Api::at(&base, &team.admin.token);

    // A viewer may follow a rollout: its ticket opens the socket once, without a header.
    let (viewer, viewer_token_id) = admin.team_token("live-viewer", "viewer").await;
    let fresh = ticket(&viewer, &id).await;
    let status = connect(&base, &id, &fresh)
        .await
        .expect("a fresh ticket opens");
    assert!(
        ["running", "pending", "paused"].contains(&status["phase"].as_str().unwrap_or("")),
        "{status}"
    );
    assert!(status["steps"].is_array(), "{status}");
    // Single use: the same ticket again is refused.
    assert_eq!(connect(&base, &id, &fresh).await, Err(401));
    assert_refused(&base, &id, &fresh, "already used").await;

    // Bound to one deployment: on another deployment's socket it is refused.
    let for_other = ticket(&viewer, &other).await;
    assert_refused(&base, &id, &for_other, "another deployment").await;

    // Not a ticket at all (a token is not a ticket either).
    let forged = "clodo_live_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    assert_refused(&base, &id, forged, "unknown").await;
    assert_refused(&base, &id, &team.admin.token, "unknown").await;

    // A ticket dies with its token.
    let doomed = ticket(&viewer, &id).await;
    admin
        .delete_ok(&format!("/api/v1/tokens/{viewer_token_id}"))
        .await;
    assert_refused(&base, &id, &doomed, "no longer valid").await;

    // Another team cannot ask for a ticket for this deployment (nor learn that it exists).
    let stranger = Team::new_at(&base).await;
    let (status, body) = stranger.admin.post(&ticket_path(&id), json!({})).await;
    assert_eq!(status, 404, "{body}");

    // Asked again with the same Idempotency-Key, the ticket is not handed out a second time:
    // it was never stored with the answer.
    let (status, body) = admin
        .post_with_key(&ticket_path(&id), json!({}), "live-ticket-once")
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, again) = admin
        .post_with_key(&ticket_path(&id), json!({}), "live-ticket-once")
        .await;
    assert_ne!(status, 201, "{again}");
    assert!(
        !again.to_string().contains(str_of(&body["secret"])),
        "{again}"
    );

    // Expired: issued, then not used within its 30 s.
    let late = ticket(&Api::at(&base, &admin.token), &id).await;
    tokio::time::sleep(Duration::from_secs(31)).await;
    assert_refused(&base, &id, &late, "expired").await;

    // The bearer token still opens the socket directly (the CLI's way).
    let ws = base.replacen("http://", "ws://", 1);
    let mut request = format!("{ws}/api/v1/deployments/{id}/rollout/live")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", admin.token).parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert!(matches!(socket.next().await, Some(Ok(Message::Text(_)))));
    let _ = socket.close(None).await;

    // Leave nothing running (a new client again: the wait above outlived the pool's sockets).
    Api::at(&base, &admin.token)
        .expect(
            202,
            "POST",
            &format!("/api/v1/deployments/{id}/rollout/abort"),
            None,
        )
        .await;
}

/// Opens `id`'s live socket with the bearer token and `query`: the socket, or the HTTP status
/// of the refused upgrade.
async fn open_with_token(
    base: &str,
    token: &str,
    id: &str,
    query: &str,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    u16,
> {
    let ws = base.replacen("http://", "ws://", 1);
    let mut request = format!("{ws}/api/v1/deployments/{id}/rollout/live{query}")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("live socket of {id}: {e}"),
    }
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn a_socket_that_waits_opens_before_the_rollout_and_never_for_an_ended_deployment() {
    // `clodo deploy` connects with `?wait=true` while it uploads, so the upgrade's round trip
    // is not between the rollout's start and its first status.
    let team = Team::new().await;
    let base = team.admin.base.clone();
    let token = team.admin.token.clone();
    let dep = team
        .admin
        .create(
            "/api/v1/deployments",
            json!({ "project": "shop", "environment": "production", "git_ref": "main" }),
        )
        .await;
    let id = str_of(&dep["id"]).to_owned();

    // No rollout yet: without `wait` the upgrade is refused as before.
    assert_eq!(
        open_with_token(&base, &token, &id, "").await.err(),
        Some(404)
    );
    // With it the socket opens and stays quiet: nothing has started, so nothing is said.
    let mut waiting = open_with_token(&base, &token, &id, "?wait=true")
        .await
        .expect("a waiting socket opens before the rollout");
    let quiet = tokio::time::timeout(Duration::from_secs(2), waiting.next()).await;
    assert!(quiet.is_err(), "no status before a start: {quiet:?}");
    let _ = waiting.close(None).await;

    // An ended deployment never gets a rollout: `wait` does not keep a socket open for it.
    let (status, cancelled) = team
        .admin
        .post(
            &format!("/api/v1/deployments/{id}/transitions"),
            json!({ "to": "cancelled" }),
        )
        .await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(
        open_with_token(&base, &token, &id, "?wait=true")
            .await
            .err(),
        Some(404)
    );
    // Another team's token opens nothing, waiting or not.
    let other = Team::new().await;
    assert_eq!(
        open_with_token(&base, &other.admin.token, &id, "?wait=true")
            .await
            .err(),
        Some(404)
    );
}
