//! End-to-end: the server-side rollback route and the Slack app against the local Worker (real
//! D1, Durable Objects and outbox), the sandbox (real wrangler deploys the example shop) and a
//! fake Slack API this test starts on loopback, configured as the team's Slack `api_base_url`.
//! Slash commands and button clicks are signed here with the hmac crate, independently of the
//! code under test.
//!
//! `#[ignore]`d under a plain `cargo test`; `tests/e2e.sh` runs them with `--ignored`.

mod e2e_support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::Uri;
use axum::{Json, Router};
use e2e_support::shop::{deploy, live_all, shop_setup, Project, SERVICES};
use e2e_support::{base_url, str_of, unique, Team};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};

const ROLLBACK: &str = "/api/v1/projects/shop/environments/staging/rollback";
const LOCK: &str = "/api/v1/projects/shop/environments/staging/lock";

/// Changes every service's code, so the next deploy uploads new versions.
fn change_code(p: &Project, mark: &str) {
    for s in SERVICES {
        let file = p.dir.join(s).join("src/index.js");
        let mut text = std::fs::read_to_string(&file).unwrap();
        text.push_str(&format!("\n// {mark}\n"));
        std::fs::write(file, text).unwrap();
    }
}

/// Two successful deploys of the shop to staging: the Workers live after the first, the second
/// deployment's id.
async fn two_releases(team: &Team, p: &Project) -> (Vec<String>, String, String) {
    let (code, first, err) = deploy(p, team, &[]);
    assert_eq!(code, 0, "{first}\n{err}");
    let before = live_all(p).await;
    change_code(p, "release 2");
    let (code, second, err) = deploy(p, team, &[]);
    assert_eq!(code, 0, "{second}\n{err}");
    assert_ne!(
        live_all(p).await,
        before,
        "the second release moved traffic"
    );
    (
        before,
        str_of(&first["deployment"]["id"]).to_owned(),
        str_of(&second["deployment"]["id"]).to_owned(),
    )
}

#[tokio::test]
#[ignore = "needs the local Worker, the sandbox and wrangler: run through tests/e2e.sh"]
async fn the_server_rolls_an_environment_back_once_and_never_past_a_held_lock() {
    let (team, p) = shop_setup().await;
    let (before, first, second) = two_releases(&team, &p).await;

    // A viewer may not roll back.
    let (viewer, _) = team.admin.team_token("viewer", "viewer").await;
    let (status, _) = viewer.post(ROLLBACK, json!({})).await;
    assert_eq!(status, 403);

    // While another holder has the lock, the rollback is refused and names it.
    team.admin.acquire(LOCK, "ci-job-7", None).await;
    let (status, body) = team
        .admin
        .post(ROLLBACK, json!({ "reason": "bad release" }))
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(body.to_string().contains("ci-job-7"), "{body}");
    let (status, body) = team.admin.lock_op(LOCK, "release", "ci-job-7").await;
    assert_eq!(status, 200, "{body}");

    // The rollback: the first release's versions serve 100% again, recorded as a deployment.
    let (status, done) = team
        .admin
        .post_with_key(ROLLBACK, json!({ "reason": "bad release" }), "rb-1")
        .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["changed"], true, "{done}");
    assert_eq!(done["from_deployment"], second.as_str(), "{done}");
    assert_eq!(done["to_deployment"], first.as_str(), "{done}");
    assert_eq!(done["deployment"]["status"], "succeeded", "{done}");
    assert_eq!(live_all(&p).await, before);
    let services = done["services"].as_array().unwrap();
    assert_eq!(services.len(), 3, "{done}");
    assert!(services.iter().all(|s| s["outcome"] == "moved"), "{done}");
    let rollback_id = str_of(&done["deployment"]["id"]).to_owned();

    // The same request again (Idempotency-Key) replays the answer.
    let (status, replay) = team
        .admin
        .post_with_key(ROLLBACK, json!({ "reason": "bad release" }), "rb-1")
        .await;
    assert_eq!((status, &replay), (200, &done));
    // A second rollback without a key answers what happened and moves nothing.
    let (status, again) = team.admin.post(ROLLBACK, json!({})).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["changed"], false, "{again}");
    assert_eq!(again["deployment"]["id"], rollback_id.as_str(), "{again}");
    assert_eq!(live_all(&p).await, before);
    let list = team
        .admin
        .read("/api/v1/deployments?project=shop&environment=staging")
        .await;
    let rollbacks: Vec<&Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| {
            d["message"]
                .as_str()
                .unwrap_or_default()
                .starts_with("rollback of")
        })
        .collect();
    assert_eq!(rollbacks.len(), 1, "{list}");

    // The lock is free again, and the audit log has the rollback's deployment.
    let lock = team.admin.read(LOCK).await;
    assert_eq!(lock["held"], false, "{lock}");
    let audit = team.audit("deployment.create").await;
    assert!(
        audit.iter().any(|a| a.to_string().contains(&rollback_id)),
        "{audit:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Slack.

const SIGNING_SECRET: &str = "e2e-slack-signing-secret-0123456789";
const POLICY: &str = "/api/v1/projects/shop/environments/staging/policy";

/// What the fake Slack received: (path, JSON body), in order.
type Received = Arc<Mutex<Vec<(String, Value)>>>;

async fn fake_slack_handler(State(got): State<Received>, uri: Uri, body: String) -> Json<Value> {
    let value: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    got.lock().unwrap().push((uri.path().to_owned(), value));
    // The Web API answers `ok`; a `response_url` answers too (its body is not read).
    Json(json!({ "ok": true, "channel": "C0TEST", "ts": "1700000000.000100" }))
}

/// A loopback fake of Slack's Web API (`/api/chat.postMessage`, `/api/chat.update`) and of
/// `response_url`s (`/respond/...`): its base URL and what it received.
async fn fake_slack() -> (String, Received) {
    let got: Received = Arc::default();
    let app = Router::new()
        .fallback(fake_slack_handler)
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

/// Waits for a request whose path starts with `prefix` and whose body contains `needle`.
async fn wait_for(got: &Received, prefix: &str, needle: &str) -> Value {
    let start = Instant::now();
    loop {
        let found = got
            .lock()
            .unwrap()
            .iter()
            .find(|(p, b)| p.starts_with(prefix) && b.to_string().contains(needle))
            .map(|(_, b)| b.clone());
        if let Some(b) = found {
            return b;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no {prefix} containing {needle:?}: {:#?}",
            got.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn count(got: &Received, prefix: &str, needle: &str) -> usize {
    got.lock()
        .unwrap()
        .iter()
        .filter(|(p, b)| p.starts_with(prefix) && b.to_string().contains(needle))
        .count()
}

/// Signs `body` as Slack does, at `ts` (Unix seconds), with the hmac crate.
fn signature(secret: &str, ts: i64, body: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("v0:{ts}:{body}").as_bytes());
    let bytes = mac.finalize().into_bytes();
    format!(
        "v0={}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// POSTs a form body to `path` with the given timestamp and signature: status and body text.
async fn post_signed(path: &str, body: &str, ts: i64, sig: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", base_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts.to_string())
        .header("x-slack-signature", sig)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

struct Slack {
    fake: String,
    n: Mutex<u32>,
    /// `?team=ID`: the tests' apps share one signing secret, so each names its team (as
    /// docs/slack.md asks of a Worker serving several teams).
    team: String,
}

impl Slack {
    fn response_url(&self) -> String {
        let mut n = self.n.lock().unwrap();
        *n += 1;
        format!("{}/respond/{n}", self.fake)
    }

    /// `/clodo TEXT` from `user`, signed now: status and the answer.
    async fn command(&self, user: &str, text: &str) -> (u16, Value) {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("team_id", "T0TEST")
            .append_pair("channel_id", "C0TEST")
            .append_pair("user_id", user)
            .append_pair("command", "/clodo")
            .append_pair("text", text)
            .append_pair("response_url", &self.response_url())
            .finish();
        let ts = now_secs();
        let (status, text) = post_signed(
            &format!("/integrations/slack/commands?team={}", self.team),
            &body,
            ts,
            &signature(SIGNING_SECRET, ts, &body),
        )
        .await;
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A click on `action` of deployment `id`'s message by `user`, signed now: the status and
    /// the response_url Clodo answers on.
    async fn click(&self, user: &str, action: &str, id: &str) -> (u16, String) {
        let url = self.response_url();
        let payload = json!({
            "type": "block_actions",
            "user": { "id": user },
            "team": { "id": "T0TEST" },
            "container": { "type": "message", "channel_id": "C0TEST", "message_ts": "1700000000.000100" },
            "response_url": url,
            "actions": [ { "action_id": action, "value": id, "type": "button", "action_ts": now_secs().to_string() } ],
        });
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", &payload.to_string())
            .finish();
        let ts = now_secs();
        let (status, _) = post_signed(
            &format!("/integrations/slack/interactions?team={}", self.team),
            &body,
            ts,
            &signature(SIGNING_SECRET, ts, &body),
        )
        .await;
        (status, url.trim_start_matches(&self.fake).to_owned())
    }
}

/// A fake Slack API on loopback and the team's Slack app pointed at it (signing secret
/// `SIGNING_SECRET`, never echoed back): the signer of commands and clicks, and what the fake
/// received.
async fn connected_slack(team: &Team) -> (Slack, Received) {
    let (fake, got) = fake_slack().await;
    let app = team
        .admin
        .put(
            "/api/v1/slack",
            json!({ "signing_secret": SIGNING_SECRET, "bot_token": "xoxb-e2e-bot-token",
                    "channel": "C0TEST", "api_base_url": format!("{fake}/api") }),
        )
        .await;
    assert_eq!(app.0, 200, "{}", app.1);
    assert!(!app.1.to_string().contains(SIGNING_SECRET), "{}", app.1);
    let slack = Slack {
        fake,
        n: Mutex::new(0),
        team: team.team_id.clone(),
    };
    (slack, got)
}

#[tokio::test]
#[ignore = "needs the local Worker, the sandbox and wrangler: run through tests/e2e.sh"]
async fn slack_commands_and_buttons_act_as_linked_members_only_once() {
    let (team, p) = shop_setup().await;
    let (slack, got) = connected_slack(&team).await;

    // Verification: a tampered body, a stale timestamp and a replay do nothing.
    let body = "team_id=T0TEST&user_id=U0ANN&command=%2Fclodo&text=help&response_url=x";
    let ts = now_secs();
    let sig = signature(SIGNING_SECRET, ts, body);
    let (status, _) = post_signed(
        "/integrations/slack/commands",
        &body.replace("help", "status"),
        ts,
        &sig,
    )
    .await;
    assert_eq!(status, 401);
    let old = now_secs() - 400;
    let (status, _) = post_signed(
        "/integrations/slack/commands",
        body,
        old,
        &signature(SIGNING_SECRET, old, body),
    )
    .await;
    assert_eq!(status, 401);
    let (status, first) = post_signed("/integrations/slack/commands", body, ts, &sig).await;
    assert_eq!(status, 200, "{first}");
    assert!(first.contains("/clodo rollback"), "{first}");
    let (status, replay) = post_signed("/integrations/slack/commands", body, ts, &sig).await;
    assert_eq!(status, 200);
    assert!(replay.contains("already handled"), "{replay}");

    // An unlinked user is refused with the way to link.
    let (status, answer) = slack.command("U0BOB", "status staging").await;
    assert_eq!(status, 200);
    assert!(
        str_of(&answer["text"]).contains("clodo slack link"),
        "{answer}"
    );

    // Ann (approver) links her Slack user with a one-time code.
    let (ann, _) = team.person("ann", "approver").await;
    let code = ann.create("/api/v1/slack/link-codes", json!({})).await;
    let command = str_of(&code["command"])
        .trim_start_matches("/clodo ")
        .to_owned();
    let (_, linked) = slack.command("U0ANN", &command).await;
    assert!(
        str_of(&linked["text"]).contains("member:ann@example.test"),
        "{linked}"
    );
    let (_, again) = slack.command("U0EVE", &command).await;
    assert!(str_of(&again["text"]).contains("already used"), "{again}");
    let (_, status_answer) = slack.command("U0ANN", "status staging").await;
    assert!(
        str_of(&status_answer["text"]).contains("shop/staging"),
        "{status_answer}"
    );
    let (_, deploy_answer) = slack.command("U0ANN", "deploy staging").await;
    assert!(
        str_of(&deploy_answer["text"]).contains("clodo deploy"),
        "{deploy_answer}"
    );

    // Two releases, then a deployment that awaits approval: its message has three buttons.
    let (before, _, _) = two_releases(&team, &p).await;
    team.admin
        .put(POLICY, json!({ "required_approvals": 1 }))
        .await;
    let pending = team
        .admin
        .create(
            "/api/v1/deployments",
            json!({ "project": "shop", "environment": "staging", "git_ref": "main" }),
        )
        .await;
    let id = str_of(&pending["id"]).to_owned();
    assert_eq!(pending["status"], "awaiting_approval", "{pending}");
    let posted = wait_for(&got, "/api/chat.postMessage", &id).await;
    assert_eq!(posted["channel"], "C0TEST", "{posted}");
    let buttons = posted["blocks"][1]["elements"].as_array().unwrap();
    let actions: Vec<&str> = buttons.iter().map(|b| str_of(&b["action_id"])).collect();
    assert_eq!(actions, ["clodo.approve", "clodo.reject", "clodo.rollback"]);
    assert!(buttons.iter().all(|b| b["confirm"].is_object()), "{posted}");

    // An unlinked user's click does nothing.
    let (status, url) = slack.click("U0BOB", "clodo.approve", &id).await;
    assert_eq!(status, 200);
    let told = wait_for(&got, &url, "not linked").await;
    assert_eq!(told["replace_original"], false, "{told}");

    // Ann's click approves it, once; the message is updated to say who.
    let (status, _) = slack.click("U0ANN", "clodo.approve", &id).await;
    assert_eq!(status, 200);
    let updated = wait_for(&got, "/api/chat.update", "Approved (1/1)").await;
    assert_eq!(updated["ts"], "1700000000.000100", "{updated}");
    assert!(updated.to_string().contains("<@U0ANN>"), "{updated}");
    assert!(!updated.to_string().contains("clodo.approve"), "{updated}");
    let record = team.admin.read(&format!("/api/v1/deployments/{id}")).await;
    assert_eq!(record["status"], "queued", "{record}");
    let (status, url) = slack.click("U0ANN", "clodo.approve", &id).await;
    assert_eq!(status, 200);
    let second = wait_for(&got, &url, "Nothing was done").await;
    assert_eq!(second["replace_original"], false, "{second}");
    let record = team.admin.read(&format!("/api/v1/deployments/{id}")).await;
    assert_eq!(
        record["approvals"].as_array().map(Vec::len),
        Some(1),
        "{record}"
    );
    assert_eq!(count(&got, "/api/chat.update", "Approved"), 1);
    let audit = team.audit("deployment.approve").await;
    assert_eq!(
        audit.iter().filter(|a| a.to_string().contains(&id)).count(),
        1,
        "{audit:?}"
    );

    // The Roll back button rolls the environment back through the sandbox.
    team.admin
        .post(
            &format!("/api/v1/deployments/{id}/transitions"),
            json!({ "to": "cancelled" }),
        )
        .await;
    team.admin.put(POLICY, json!({})).await;
    let (status, url) = slack.click("U0ANN", "clodo.rollback", &id).await;
    assert_eq!(status, 200);
    let done = wait_for(&got, &url, "rolled back from").await;
    assert_eq!(done["replace_original"], true, "{done}");
    assert!(done.to_string().contains("<@U0ANN>"), "{done}");
    assert_eq!(live_all(&p).await, before);
    // A second rollback from Slack answers the first.
    let (_, ack) = slack.command("U0ANN", "rollback staging").await;
    assert!(
        str_of(&ack["text"]).contains("Rolling shop/staging back"),
        "{ack}"
    );
    wait_for(&got, "/respond/", "already rolled back").await;
    assert_eq!(live_all(&p).await, before);
}

#[tokio::test]
#[ignore = "needs the local Worker and sandbox: run through tests/e2e.sh"]
async fn approvals_and_rejections_made_outside_slack_update_the_message() {
    let team = Team::new().await;
    let (fake, got) = fake_slack().await;
    // Its own secret: a command signed for the other test must not verify as this team's.
    let secret = unique("outside-slack-signing-secret");
    let (status, body) = team
        .admin
        .put(
            "/api/v1/slack",
            json!({ "signing_secret": secret, "bot_token": "xoxb-e2e-bot-token",
                    "channel": "C0TEST", "api_base_url": format!("{fake}/api") }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    team.set_policy(json!({ "required_approvals": 1 })).await;
    let (ann, _) = team.person("ann", "approver").await;

    // Approved through the API: the message loses its buttons and names who approved.
    let first = team.admin.request_deployment(json!({})).await;
    let first_id = str_of(&first["id"]).to_owned();
    assert_eq!(first["status"], "awaiting_approval", "{first}");
    wait_for(&got, "/api/chat.postMessage", &first_id).await;
    ann.create(
        &format!("/api/v1/deployments/{first_id}/approvals"),
        json!({ "comment": "looks good" }),
    )
    .await;
    let updated = wait_for(&got, "/api/chat.update", "Approved (1/1)").await;
    let text = updated.to_string();
    assert!(text.contains(&first_id), "{text}");
    assert!(text.contains("member:ann@example.test"), "{text}");
    assert!(!text.contains("clodo.approve"), "{text}");

    // Rejected (cancelled) through the API: the same.
    let second = team.admin.request_deployment(json!({})).await;
    let second_id = str_of(&second["id"]).to_owned();
    wait_for(&got, "/api/chat.postMessage", &second_id).await;
    let (status, body) = team.admin.transition(&second_id, "cancelled").await;
    assert_eq!(status, 200, "{body}");
    let rejected = wait_for(&got, "/api/chat.update", "Rejected (cancelled)").await;
    assert!(rejected.to_string().contains(&second_id), "{rejected}");
    // Once per act.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(count(&got, "/api/chat.update", "Approved (1/1)"), 1);
    assert_eq!(count(&got, "/api/chat.update", "Rejected (cancelled)"), 1);
}

#[tokio::test]
#[ignore = "needs the local Worker, the sandbox and wrangler: run through tests/e2e.sh"]
async fn slack_lock_unlock_and_history_act_as_the_linked_member() {
    let (team, _p) = shop_setup().await;
    let (slack, _got) = connected_slack(&team).await;
    // Dan and Erin (deployers) and Vic (viewer) link their Slack users.
    for (name, role, user) in [
        ("dan", "deployer", "U0DAN"),
        ("erin", "deployer", "U0ERIN"),
        ("vic", "viewer", "U0VIC"),
    ] {
        let (person, _) = team.person(name, role).await;
        let code = person.create("/api/v1/slack/link-codes", json!({})).await;
        let command = str_of(&code["command"])
            .trim_start_matches("/clodo ")
            .to_owned();
        let (_, linked) = slack.command(user, &command).await;
        assert!(
            str_of(&linked["text"]).contains(&format!("member:{name}@example.test")),
            "{linked}"
        );
    }
    let text = |answer: &Value| str_of(&answer["text"]).to_owned();

    // Dan locks staging: the API shows the lock held from Slack with his reason.
    let (status, locked) = slack.command("U0DAN", "lock staging db maintenance").await;
    assert_eq!(status, 200);
    assert!(text(&locked).contains("is locked by"), "{locked}");
    let lock = team.admin.read(LOCK).await;
    assert_eq!(lock["held"], true, "{lock}");
    assert!(lock.to_string().contains("db maintenance"), "{lock}");
    let holder = lock["holder"]["holder_id"].clone();

    // Erin cannot take it (and does not stay queued), cannot free it, and Vic may not try.
    let (_, refused) = slack.command("U0ERIN", "lock staging").await;
    assert!(
        text(&refused).contains("try again when it is free"),
        "{refused}"
    );
    let (_, not_hers) = slack.command("U0ERIN", "unlock staging").await;
    assert!(
        text(&not_hers).contains("nothing was changed"),
        "{not_hers}"
    );
    let (_, viewer) = slack.command("U0VIC", "unlock staging").await;
    assert!(!text(&viewer).contains("is unlocked"), "{viewer}");
    let lock = team.admin.read(LOCK).await;
    assert_eq!(lock["held"], true, "{lock}");
    assert_eq!(lock["holder"]["holder_id"], holder, "{lock}");
    assert_eq!(
        lock["queue"].as_array().map_or(0, Vec::len),
        0,
        "nobody waits: {lock}"
    );

    // `/clodo status` names the holder; Dan unlocks; the lock is free.
    let (_, status_answer) = slack.command("U0VIC", "status staging").await;
    assert!(
        text(&status_answer).contains("locked by"),
        "{status_answer}"
    );
    let (_, unlocked) = slack.command("U0DAN", "unlock staging").await;
    assert!(text(&unlocked).contains("is unlocked"), "{unlocked}");
    assert_eq!(team.admin.read(LOCK).await["held"], false);

    // History lists the environment's deployments, newest first.
    team.admin
        .put(POLICY, json!({ "required_approvals": 1 }))
        .await;
    let mut ids = Vec::new();
    for git_ref in ["main", "hotfix"] {
        let d = team
            .admin
            .create(
                "/api/v1/deployments",
                json!({ "project": "shop", "environment": "staging", "git_ref": git_ref }),
            )
            .await;
        ids.push(str_of(&d["id"]).to_owned());
    }
    let (_, history) = slack.command("U0VIC", "history staging").await;
    let history = text(&history);
    let (first, second) = (
        history.find(&ids[0]).unwrap_or(usize::MAX),
        history.find(&ids[1]).unwrap_or(usize::MAX),
    );
    assert!(second < first && first < usize::MAX, "{history}");
}
