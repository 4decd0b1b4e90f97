//! Reliability suite against the built Worker (issue 18): the security sweep (every operation
//! of the served OpenAPI document, called by another team's admin on one team's resources),
//! token revocation at once, secrets never in a response nor in a line of the Worker's log,
//! the deploy lock under 200 concurrent acquires over 20 environments, and 200 concurrent
//! deployment requests over 20 environments run to the end; both lock runs are checked
//! against the audit log (one holder at every instant, FIFO, nothing missing or twice).
//!
//! `#[ignore]`d under a plain `cargo test`; `tests/e2e.sh` runs them with `--ignored`.
//! `CLODO_RELIABILITY_LONG=1` raises both runs to 1,000 over 50 environments.

mod e2e_support;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use e2e_support::lock_audit::{replay, rows_for_chain, settled_rows};
use e2e_support::{str_of, unique, Api, Team};
use serde_json::{json, Value};

/// Most lock requests the concurrency run has open at once (the rest wait their turn in the
/// client; the Worker still sees them interleaved over every environment).
const IN_FLIGHT: usize = 100;

/// The two concurrency runs take turns: side by side on a 2-core machine each would measure
/// the other's load.
static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn long_run() -> bool {
    std::env::var("CLODO_RELIABILITY_LONG").is_ok_and(|v| v == "1")
}

/// Every response text a test saw, to grep for secrets at the end.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

impl Seen {
    async fn call(
        &self,
        api: &Api,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, String) {
        let (status, _, text) = api.raw(method, path, body, &[]).await;
        self.0.lock().unwrap().push(text.clone());
        (status, text)
    }

    /// A call whose answer shows a secret once by design (a token or channel being created):
    /// not recorded, so the grep covers every other answer.
    async fn call_creating_secret(
        api: &Api,
        method: &str,
        path: &str,
        body: Value,
    ) -> (u16, String) {
        let (status, _, text) = api.raw(method, path, Some(body), &[]).await;
        (status, text)
    }

    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    /// Panics if any response seen carries one of `secrets`.
    fn assert_free_of(&self, secrets: &[(&str, String)]) {
        let seen = self.0.lock().unwrap();
        for (what, secret) in secrets {
            assert!(secret.len() >= 8, "{what} is too short to grep for");
            let hits = seen.iter().filter(|t| t.contains(secret.as_str())).count();
            assert_eq!(hits, 0, "{what} appeared in {hits} response bodies");
        }
    }
}

/// Panics if a line the shared Worker (wrangler and workerd) printed so far carries one of
/// `secrets`; the number of lines searched. tests/e2e.sh names the log file; without it the
/// check cannot be made, and that fails too.
fn assert_log_free_of(secrets: &[(&str, String)]) -> usize {
    let path = std::env::var("CLODO_E2E_WORKER_LOG")
        .expect("CLODO_E2E_WORKER_LOG is not set: run these tests through tests/e2e.sh");
    let log = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let lines = log.lines().count();
    assert!(lines > 0, "the Worker's log {path} is empty");
    for (what, secret) in secrets {
        let hits = log.lines().filter(|l| l.contains(secret.as_str())).count();
        assert_eq!(
            hits, 0,
            "{what} appeared in {hits} lines of the Worker's log"
        );
    }
    lines
}

/// Team A's resources the sweep aims at: ids and slugs for the path parameters, and the
/// values that must never show up in team B's answers.
struct Target {
    project: String,
    environment: String,
    ids: HashMap<&'static str, String>,
    /// Values only team A knows (its team id, member email, resource ids not sent in a path).
    markers: Vec<String>,
}

/// Creates team A's resources: a project of its own slug (team B has none of that name), an
/// environment, a service, a deployment holding the lock, a webhook channel, a credential, a
/// token, a member, a schedule. Returns the target and the secrets created.
async fn team_a(seen: &Seen) -> (Team, Target, Vec<(&'static str, String)>) {
    let a = Team::new().await;
    let project = unique("pa");
    let environment = "prod-a".to_owned();
    let mut ids = HashMap::new();
    let mut secrets = vec![("team A's admin token", a.admin.token.clone())];
    let mut markers = vec![a.team_id.clone()];

    let ok = |what: &str, status: u16, text: &str| {
        assert!((200..300).contains(&status), "{what}: {status} {text}");
        serde_json::from_str::<Value>(text).unwrap_or(Value::Null)
    };
    let (s, t) = seen
        .call(
            &a.admin,
            "POST",
            "/api/v1/projects",
            Some(json!({ "slug": project })),
        )
        .await;
    ok("project", s, &t);
    let env_base = format!("/api/v1/projects/{project}/environments");
    let (s, t) = seen
        .call(
            &a.admin,
            "POST",
            &env_base,
            Some(json!({ "name": environment })),
        )
        .await;
    ok("environment", s, &t);
    let (s, t) = seen
        .call(
            &a.admin,
            "POST",
            &format!("/api/v1/projects/{project}/services"),
            Some(json!({ "name": "web" })),
        )
        .await;
    ok("service", s, &t);

    // The channel first, so the deployment's `deployment.created` queues a delivery of it.
    let (s, t) = Seen::call_creating_secret(
        &a.admin,
        "POST",
        "/api/v1/channels",
        json!({ "project": project, "name": "hook-a", "kind": "webhook",
                "url": "http://127.0.0.1:9/hook", "events": ["deployment.created"] }),
    )
    .await;
    let channel = ok("channel", s, &t);
    ids.insert("channel_id", str_of(&channel["channel"]["id"]).to_owned());
    secrets.push((
        "channel signing secret",
        str_of(&channel["secret"]).to_owned(),
    ));

    let (s, t) = seen
        .call(
            &a.admin,
            "POST",
            "/api/v1/deployments",
            Some(json!({ "project": project, "environment": environment, "git_sha": "0123456789abcdef0123456789abcdef01234567" })),
        )
        .await;
    let dep = ok("deployment", s, &t);
    let dep_id = str_of(&dep["id"]).to_owned();
    ids.insert("deployment_id", dep_id.clone());
    ids.insert("other_deployment_id", dep_id.clone());
    // The deployment holds A's lock, so a release or heartbeat by B would have a target.
    let (s, t) = seen
        .call(
            &a.admin,
            "POST",
            &format!("{env_base}/{environment}/lock/acquire"),
            Some(json!({ "holder_id": dep_id, "lease_ms": 600_000 })),
        )
        .await;
    ok("lock", s, &t);

    let cf_token = format!("cfat-{}", unique("secret"));
    let (s, t) = seen
        .call(
            &a.admin,
            "POST",
            "/api/v1/credentials",
            Some(json!({ "account_id": "0123456789abcdef0123456789abcdef", "name": "cf-a", "api_token": cf_token })),
        )
        .await;
    // The credential's token is a secret whether or not the sandbox accepted it.
    secrets.push(("Cloudflare credential token", cf_token));
    if (200..300).contains(&s) {
        let cred: Value = serde_json::from_str(&t).unwrap();
        ids.insert("credential_id", str_of(&cred["id"]).to_owned());
    } else {
        eprintln!("credential not stored ({s}): {t}");
    }

    let email = format!("{}@a.example.test", unique("m"));
    markers.push(email.clone());
    let (s, t) = seen
        .call(
            &a.admin,
            "POST",
            "/api/v1/members",
            Some(json!({ "email": email, "role": "deployer" })),
        )
        .await;
    let member = ok("member", s, &t);
    ids.insert("member_id", str_of(&member["id"]).to_owned());
    let (s, t) = Seen::call_creating_secret(
        &a.admin,
        "POST",
        "/api/v1/tokens",
        json!({ "name": "ci-a", "role": "deployer", "member_email": email }),
    )
    .await;
    let token = ok("token", s, &t);
    ids.insert("token_id", str_of(&token["id"]).to_owned());
    secrets.push((
        "team A's deployer token",
        str_of(&token["secret"]).to_owned(),
    ));

    let (s, t) = seen
        .call(
            &a.admin,
            "POST",
            &format!("{env_base}/{environment}/schedules"),
            Some(json!({ "cron": "0 9 * * wed" })),
        )
        .await;
    if (200..300).contains(&s) {
        let schedule: Value = serde_json::from_str(&t).unwrap();
        ids.insert("schedule_id", str_of(&schedule["id"]).to_owned());
    } else {
        eprintln!("schedule not created ({s}): {t}");
    }

    // A stored assessment (no project: nothing to ask Cloudflare).
    let (s, t) = seen
        .call(
            &a.admin,
            "POST",
            "/api/v1/assessments",
            Some(json!({ "config": "name = \"a\"\nmain = \"index.js\"\ncompatibility_date = \"2024-01-01\"\n" })),
        )
        .await;
    if (200..300).contains(&s) {
        let created: Value = serde_json::from_str(&t).unwrap();
        if let Some(id) = created["id"].as_str() {
            ids.insert("assessment_id", id.to_owned());
        } else {
            eprintln!("assessment answer has no id: {t}");
        }
    } else {
        eprintln!("assessment not created ({s}): {t}");
    }

    // A delivery of A's channel (the deployment's `deployment.created` event), if queued yet.
    let (_, t) = seen
        .call(&a.admin, "GET", "/api/v1/deliveries?limit=5", None)
        .await;
    if let Some(id) = serde_json::from_str::<Value>(&t).ok().and_then(|v| {
        v["items"].as_array()?.first()?["id"]
            .as_str()
            .map(str::to_owned)
    }) {
        ids.insert("delivery_id", id);
    }

    // The ids are markers; the generic path values below (`web`, `promote`) are not.
    markers.push(project.clone());
    markers.extend(ids.values().cloned());
    ids.insert("project", project.clone());
    ids.insert("environment", environment.clone());
    ids.insert("service", "web".to_owned());
    ids.insert("command", "promote".to_owned());
    markers.sort();
    markers.dedup();
    (
        a,
        Target {
            project,
            environment,
            ids,
            markers,
        },
        secrets,
    )
}

/// Secrets team B's own settings are given in the sweep (none may come back in an answer).
const B_CF_TOKEN: &str = "cfat-team-b-credential-7f3e9a1c";
const B_SLACK_SIGNING: &str = "slack-signing-team-b-4d2c8e6f0a1b";
const B_SLACK_BOT: &str = "xoxb-team-b-bot-9a8b7c6d5e4f";

/// A minimal valid body for `method path` (what the schema requires), aimed at team A where
/// the body names a project.
fn body_for(method: &str, template: &str, t: &Target) -> Option<Value> {
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let b = match (method, template) {
        ("PUT", "/api/v1/access") => {
            json!({ "team_domain": "https://b.cloudflareaccess.com", "audience": unique("aud") })
        }
        ("POST", "/api/v1/assessments") => {
            json!({ "config": "name = \"b\"\nmain = \"index.js\"\n", "project": t.project, "environment": t.environment })
        }
        ("POST", "/api/v1/bootstrap" | "/api/v1/teams") => {
            let slug = unique("x");
            json!({ "slug": slug, "name": "X", "admin_email": format!("admin@{slug}.test") })
        }
        ("POST", "/api/v1/channels") => {
            json!({ "project": t.project, "name": "hook-b", "kind": "webhook", "url": "http://127.0.0.1:9/b" })
        }
        ("POST", "/api/v1/credentials") => {
            json!({ "account_id": "fedcba9876543210fedcba9876543210", "name": "cf-b", "api_token": B_CF_TOKEN })
        }
        ("POST", "/api/v1/deployments") => {
            json!({ "project": t.project, "environment": t.environment, "git_sha": sha })
        }
        ("POST", p) if p.ends_with("/approvals") => json!({ "comment": "b" }),
        ("POST", p) if p.ends_with("/migrations") => {
            json!({ "service": "web", "database_id": "db", "database_name": "db",
            "bookmark": "bm", "migrations": ["0001_init.sql"], "destructive": false, "state": "applied" })
        }
        ("POST", p) if p.ends_with("/pages") => {
            json!({ "service": "web", "project": "pages-b", "pages_deployment_id": "p1",
            "url": "https://p1.pages-b.pages.dev", "branch": "main", "preview": false })
        }
        ("POST", "/api/v1/deployments/{deployment_id}/rollout") => json!({}),
        ("POST", p) if p.ends_with("/rollout/{command}") => {
            json!({ "version": "00000000-0000-4000-8000-000000000000" })
        }
        ("POST", p) if p.ends_with("/services") && p.starts_with("/api/v1/deployments") => {
            json!({ "services": [{ "service": "web", "version_id": "v-b-1" }] })
        }
        ("POST", p) if p.ends_with("/transitions") => json!({ "to": "cancelled" }),
        ("POST", "/api/v1/members") => {
            json!({ "email": format!("{}@b.example.test", unique("m")), "role": "viewer" })
        }
        ("POST", "/api/v1/projects") => json!({ "slug": unique("pb") }),
        ("POST", "/api/v1/projects/{project}/environments") => json!({ "name": "from-b" }),
        ("PATCH", _) => json!({ "cloudflare_account_id": "0123456789abcdef0123456789abcdef" }),
        ("POST", p) if p.ends_with("/lock/acquire") => {
            json!({ "holder_id": "b-job", "lease_ms": 60_000 })
        }
        ("POST", p) if p.ends_with("/lock/force-unlock") => json!({ "reason": "team b" }),
        ("POST", p) if p.contains("/lock/") => json!({ "holder_id": t.ids["deployment_id"] }),
        ("PUT", p) if p.ends_with("/policy") => json!({}),
        ("POST", p) if p.ends_with("/previews") => {
            json!({ "service": "web", "project": "pages-b", "pages_deployment_id": "p2",
            "url": "https://p2.pages-b.pages.dev", "branch": "feature" })
        }
        ("POST", p) if p.ends_with("/promotions") => json!({ "from": "production" }),
        ("POST", p) if p.ends_with("/rollback") => json!({ "reason": "b" }),
        ("POST", p) if p.ends_with("/schedules") => json!({ "cron": "0 9 * * thu" }),
        ("PUT", p) if p.ends_with("/services/{service}") => json!({ "script": "b-script" }),
        ("PUT", p) if p.ends_with("/github") => {
            json!({ "repository": "b/b", "webhook_secret": "b-webhook-secret-123456", "api_token": "ghp_b_token_123456" })
        }
        ("POST", "/api/v1/projects/{project}/services") => json!({ "name": "from-b" }),
        ("PUT", "/api/v1/slack") => {
            json!({ "signing_secret": B_SLACK_SIGNING, "bot_token": B_SLACK_BOT })
        }
        ("POST", "/api/v1/tokens") => {
            json!({ "name": "b-for-a", "role": "admin", "member_email": t.markers.iter().find(|m| m.contains('@')).unwrap() })
        }
        ("POST", _) => json!({}),
        _ => return None,
    };
    Some(b)
}

/// Operations with no path parameter that still name team A in their body: B must be refused.
fn names_a_in_body(method: &str, template: &str) -> bool {
    matches!(
        (method, template),
        (
            "POST",
            "/api/v1/deployments"
                | "/api/v1/assessments"
                | "/api/v1/channels"
                | "/api/v1/tokens"
                | "/api/v1/teams"
                | "/api/v1/bootstrap"
        )
    )
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn every_operation_refuses_another_teams_resources_and_no_secret_is_ever_answered() {
    let seen = Seen::default();
    let (a, target, mut secrets) = team_a(&seen).await;
    let b = Team::new().await;
    secrets.push(("team B's admin token", b.admin.token.clone()));
    secrets.push((
        "team B's Cloudflare credential token",
        B_CF_TOKEN.to_owned(),
    ));
    secrets.push(("team B's Slack signing secret", B_SLACK_SIGNING.to_owned()));
    secrets.push(("team B's Slack bot token", B_SLACK_BOT.to_owned()));

    let (status, text) = seen
        .call(&b.admin, "GET", "/api/v1/openapi.json", None)
        .await;
    assert_eq!(status, 200, "{text}");
    let doc: Value = serde_json::from_str(&text).unwrap();
    let mut operations = Vec::new();
    for (template, item) in doc["paths"].as_object().unwrap() {
        for (method, _) in item.as_object().unwrap() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                operations.push((method.to_uppercase(), template.clone()));
            }
        }
    }
    assert!(
        operations.len() >= 80,
        "only {} operations in the document",
        operations.len()
    );

    let mut failures = Vec::new();
    let mut by_status: BTreeMap<u16, usize> = BTreeMap::new();
    let mut aimed_at_a = 0;
    let mut placeholder = 0;
    for (method, template) in &operations {
        let mut path = template.clone();
        let mut sent = Vec::new();
        let mut has_params = false;
        while let Some(start) = path.find('{') {
            has_params = true;
            let end = path[start..].find('}').unwrap() + start;
            let name = &path[start + 1..end];
            let value = match target.ids.get(name) {
                Some(v) => v.clone(),
                None => {
                    println!("  no A resource for `{name}` in {template}: a made-up id");
                    placeholder += 1;
                    "00000000-0000-4000-8000-000000000000".to_owned()
                }
            };
            sent.push(value.clone());
            path.replace_range(start..=end, &value);
        }
        let body = body_for(method, template, &target);
        if let Some(b) = &body {
            sent.push(b.to_string());
        }
        // The routes that take a project filter are asked about A's project.
        if method == "GET"
            && (template == "/api/v1/deployments" || template == "/api/v1/metrics/dora")
        {
            path.push_str(&format!(
                "?project={}&environment={}",
                target.project, target.environment
            ));
            sent.push(target.project.clone());
        }
        // The live status socket is asked with the upgrade headers, so what refuses it is
        // the team check, not the missing upgrade.
        let (status, text) = if template.ends_with("/rollout/live") {
            let headers = [
                ("upgrade", "websocket"),
                ("connection", "Upgrade"),
                ("sec-websocket-version", "13"),
                ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ];
            let (status, _, text) = b.admin.raw(method, &path, None, &headers).await;
            seen.0.lock().unwrap().push(text.clone());
            (status, text)
        } else {
            seen.call(&b.admin, method, &path, body).await
        };
        *by_status.entry(status).or_default() += 1;
        if !(200..300).contains(&status) && status != 404 {
            // Refusals other than "not found" are listed, to see what refused them.
            println!(
                "  {method} {template}: {status} {}",
                text.chars().take(160).collect::<String>()
            );
        }
        let must_refuse = has_params || names_a_in_body(method, template);
        if must_refuse {
            aimed_at_a += 1;
            if (200..300).contains(&status) {
                failures.push(format!(
                    "{method} {path}: {status} (expected a refusal): {text}"
                ));
            } else if !matches!(status, 401 | 403 | 404 | 405 | 409 | 400 | 422) {
                failures.push(format!("{method} {path}: unexpected {status}: {text}"));
            }
        }
        // Whatever it answered, nothing of A that B did not send itself.
        for marker in &target.markers {
            if text.contains(marker.as_str()) && !sent.iter().any(|s| s.contains(marker.as_str())) {
                failures.push(format!(
                    "{method} {path}: {status} carries team A's `{marker}`: {text}"
                ));
            }
        }
    }

    // A is untouched: its deployment, its lock holder, its token, its channel.
    let dep = &target.ids["deployment_id"];
    let (s, t) = seen
        .call(&a.admin, "GET", &format!("/api/v1/deployments/{dep}"), None)
        .await;
    assert_eq!(s, 200, "{t}");
    let (s, t) = seen
        .call(
            &a.admin,
            "GET",
            &format!(
                "/api/v1/projects/{}/environments/{}/lock",
                target.project, target.environment
            ),
            None,
        )
        .await;
    assert_eq!(s, 200, "{t}");
    let lock: Value = serde_json::from_str(&t).unwrap();
    assert_eq!(
        lock["holder"]["holder_id"],
        dep.as_str(),
        "A's lock holder changed: {lock}"
    );
    let deployer_a = Api::at(
        &a.admin.base,
        &secrets
            .iter()
            .find(|(w, _)| w.contains("deployer"))
            .unwrap()
            .1,
    );
    let (s, t) = seen.call(&deployer_a, "GET", "/api/v1/me", None).await;
    assert_eq!(s, 200, "A's token stopped working: {t}");
    let (_, t) = seen.call(&a.admin, "GET", "/api/v1/channels", None).await;
    assert!(
        t.contains(target.ids["channel_id"].as_str()),
        "A's channel is gone: {t}"
    );

    let secret_refs: Vec<(&str, String)> = secrets.iter().map(|(w, s)| (*w, s.clone())).collect();
    seen.assert_free_of(&secret_refs);
    let log_lines = assert_log_free_of(&secret_refs);
    println!(
        "security sweep: {} operations, {} aimed at team A's resources ({} path values without an A resource), {} requests in all, statuses {:?}, {} secrets checked in every body and in {log_lines} lines of the Worker's log",
        operations.len(),
        aimed_at_a,
        placeholder,
        seen.count(),
        by_status,
        secrets.len()
    );
    assert!(
        failures.is_empty(),
        "{} cross-team problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn a_revoked_token_is_refused_on_the_very_next_request() {
    let team = Team::new().await;
    let seen = Seen::default();
    let (token, id) = team.admin.team_token("short-lived", "deployer").await;
    for _ in 0..3 {
        let (s, t) = seen.call(&token, "GET", "/api/v1/me", None).await;
        assert_eq!(s, 200, "{t}");
    }
    let (s, t) = seen
        .call(&team.admin, "DELETE", &format!("/api/v1/tokens/{id}"), None)
        .await;
    assert!((200..300).contains(&s), "{s} {t}");
    // The very next request, a read and a write, and again after a moment (no cache window).
    for (method, path, body) in [
        ("GET", "/api/v1/me".to_owned(), None),
        (
            "POST",
            format!("{}/acquire", team.lock()),
            Some(json!({ "holder_id": "after-revoke" })),
        ),
        ("GET", "/api/v1/deployments".to_owned(), None),
    ] {
        let (s, t) = seen.call(&token, method, &path, body).await;
        assert_eq!(s, 401, "{method} {path} with a revoked token: {t}");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (s, _) = seen.call(&token, "GET", "/api/v1/me", None).await;
    assert_eq!(s, 401);
    let (_, lock) = team.admin.get(&team.lock()).await;
    assert!(
        lock["holder"].is_null(),
        "the revoked token's acquire took the lock: {lock}"
    );
    let secret = [("the revoked token", token.token.clone())];
    seen.assert_free_of(&secret);
    assert_log_free_of(&secret);
    println!(
        "revocation: refused on the first request after DELETE; {} requests",
        seen.count()
    );
}

/// The concurrency tests' setup: a team with 20 environments named `{prefix}00`… (50 in the
/// long run), and how many requests each gets (10; 20 in the long run). Every request of its
/// admin has a deadline, so an answer that never comes fails the test instead of hanging it
/// (the long run once waited forever on one); the tests also keep at most IN_FLIGHT requests
/// open at once: the long run's 1,000 connections at once through `wrangler dev`'s proxy left
/// answers the Worker had sent undelivered to the client.
async fn crowd(prefix: &str) -> (Team, Vec<String>, usize) {
    let (envs, per_env) = if long_run() { (50, 20) } else { (20, 10) };
    let mut team = Team::new().await;
    team.admin.http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let names: Vec<String> = (0..envs).map(|i| format!("{prefix}{i:02}")).collect();
    for name in &names {
        team.add_environment(json!({ "name": name })).await;
    }
    (team, names, per_env)
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn concurrent_acquires_over_many_environments_keep_one_holder_fifo_and_lose_nothing() {
    let _alone = HEAVY.lock().await;
    let (team, names, per_env) = crowd("r").await;
    let envs = names.len();
    let gate = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let lock_of = |env: &str| format!("/api/v1/projects/shop/environments/{env}/lock");

    // Every acquire at once.
    let calls = names
        .iter()
        .flat_map(|env| (0..per_env).map(move |i| (env.clone(), format!("{env}-job-{i:02}"))));
    let tasks: Vec<_> = calls
        .map(|(env, holder)| {
            let api = team.admin.clone();
            let path = format!("{}/acquire", lock_of(&env));
            let gate = gate.clone();
            tokio::spawn(async move {
                let _turn = gate.acquire_owned().await.unwrap();
                let (s, body) = api
                    .post(&path, json!({ "holder_id": holder, "lease_ms": 600_000 }))
                    .await;
                (env, holder, s, body)
            })
        })
        .collect();
    let started = std::time::Instant::now();
    // A bound, so a stalled answer fails the test instead of hanging the harness.
    let answers: Vec<_> =
        tokio::time::timeout(Duration::from_secs(300), futures::future::join_all(tasks))
            .await
            .expect("the concurrent acquires were not all answered within 5 minutes")
            .into_iter()
            .map(Result::unwrap)
            .collect();
    let acquire_time = started.elapsed();
    assert_eq!(answers.len(), envs * per_env, "an acquire was lost");

    // Per environment: one grant, places 1..per_env-1, in the order the object answered.
    let mut order: HashMap<String, Vec<String>> = HashMap::new();
    for env in &names {
        let mine: Vec<_> = answers.iter().filter(|(e, ..)| e == env).collect();
        for (_, holder, s, body) in &mine {
            assert_eq!(*s, 200, "{holder}: {body}");
        }
        let granted: Vec<_> = mine
            .iter()
            .filter(|(.., b)| b["outcome"] == "granted")
            .collect();
        assert_eq!(granted.len(), 1, "{env}: {} holders granted", granted.len());
        let mut queued: Vec<(u64, String)> = mine
            .iter()
            .filter(|(.., b)| b["outcome"] == "queued")
            .map(|(_, h, _, b)| (b["position"].as_u64().unwrap(), h.clone()))
            .collect();
        queued.sort();
        assert_eq!(
            queued.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
            (1..per_env as u64).collect::<Vec<_>>(),
            "{env}: places"
        );
        let mut chain = vec![granted[0].1.clone()];
        chain.extend(queued.into_iter().map(|(_, h)| h));
        let info = team.admin.read(&lock_of(env)).await;
        assert_eq!(
            info["holder"]["holder_id"],
            chain[0].as_str(),
            "{env}: {info}"
        );
        let stored: Vec<&str> = info["queue"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| str_of(&w["holder_id"]))
            .collect();
        assert_eq!(
            stored,
            chain[1..].iter().map(String::as_str).collect::<Vec<_>>(),
            "{env}: stored queue"
        );
        order.insert(env.clone(), chain);
    }

    // Releases in every environment at once (each environment's chain in turn), while a
    // poller reads the locks: each read shows one holder, never an earlier one again.
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let observed: Arc<Mutex<HashMap<String, Vec<String>>>> = Arc::default();
    // One reader per environment, all the time the releases run.
    let pollers: Vec<_> = names
        .iter()
        .map(|env| {
            let api = team.admin.clone();
            let env = env.clone();
            let done = done.clone();
            let observed = observed.clone();
            tokio::spawn(async move {
                let mut reads = 0usize;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    // Reads are spaced, so they do not starve the releases they watch.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    let info = api
                        .read(&format!("/api/v1/projects/shop/environments/{env}/lock"))
                        .await;
                    reads += 1;
                    if let Some(h) = info["holder"]["holder_id"].as_str() {
                        let mut o = observed.lock().unwrap();
                        let seen = o.entry(env.clone()).or_default();
                        if seen.last().map(String::as_str) != Some(h) {
                            seen.push(h.to_owned());
                        }
                    }
                }
                reads
            })
        })
        .collect();
    let releases: Vec<_> = order
        .iter()
        .map(|(env, chain)| {
            let api = team.admin.clone();
            let path = format!("{}/release", lock_of(env));
            let chain = chain.clone();
            let env = env.clone();
            tokio::spawn(async move {
                for (i, holder) in chain.iter().enumerate() {
                    let body = api.post_ok(&path, json!({ "holder_id": holder })).await;
                    let next = body["next_holder"]["holder_id"].as_str();
                    assert_eq!(
                        next,
                        chain.get(i + 1).map(String::as_str),
                        "{env}: hand-over after {holder}: {body}"
                    );
                }
            })
        })
        .collect();
    let released = tokio::time::timeout(
        Duration::from_secs(300),
        futures::future::join_all(releases),
    )
    .await
    .expect("the releases did not all finish within 5 minutes");
    for r in released {
        r.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let reads: usize =
        tokio::time::timeout(Duration::from_secs(300), futures::future::join_all(pollers))
            .await
            .expect("the lock pollers did not stop within 5 minutes")
            .into_iter()
            .map(Result::unwrap)
            .sum();

    let observed = observed.lock().unwrap().clone();
    for (env, seen) in observed.iter() {
        // Every holder the poller saw is in the grant order, each once, in that order.
        let chain = &order[env];
        let mut at = 0;
        for h in seen {
            let pos = chain
                .iter()
                .position(|c| c == h)
                .unwrap_or_else(|| panic!("{env}: unknown holder {h}"));
            assert!(
                pos >= at,
                "{env}: {h} held the lock again after a later holder ({seen:?})"
            );
            at = pos;
        }
    }
    for env in &names {
        let info = team.admin.read(&lock_of(env)).await;
        assert!(
            info["holder"].is_null(),
            "{env} still held at the end: {info}"
        );
        assert_eq!(
            info["queue"].as_array().map(Vec::len),
            Some(0),
            "{env}: {info}"
        );
    }

    // The audit log, written by each lock's object: replayed per environment, one holder at
    // every instant, granted in the FIFO order the callers were told, no entry missing or
    // twice. The objects flush their entries from an alarm, so the last ones may lag.
    let mut env_ids = HashMap::new();
    for env in &names {
        let info = team
            .admin
            .read(&format!("/api/v1/projects/shop/environments/{env}"))
            .await;
        env_ids.insert(str_of(&info["id"]).to_owned(), env.clone());
    }
    let want = rows_for_chain(per_env);
    let rows = settled_rows(&team.admin, &env_ids.keys().collect::<Vec<_>>(), want).await;
    assert_eq!(rows.len(), envs, "lock audit rows of other environments");
    let mut audit_rows = 0;
    for (id, env) in &env_ids {
        let mine = &rows[id];
        assert_eq!(mine.len(), want, "{env}: audit rows");
        let grants = replay(mine).unwrap_or_else(|e| panic!("{env}: {e}"));
        assert_eq!(grants, order[env], "{env}: holders in the audit log");
        audit_rows += mine.len();
    }
    println!(
        "lock concurrency: {} acquires over {envs} environments in {:?} (at most {IN_FLIGHT} in flight), {} releases, {reads} concurrent lock reads, {} holders observed by the poller, {audit_rows} audit rows replayed (one holder at every instant, FIFO, none missing or twice), 0 lost",
        envs * per_env,
        acquire_time,
        envs * per_env,
        observed.values().map(Vec::len).sum::<usize>()
    );
}

/// One deployment request run to the end as the CLI runs it: requested, the environment's
/// lock acquired with the deployment's id (waiting for its turn when queued), then
/// `deploying`, `verifying` and `succeeded`, which frees the lock for the next. Every request
/// goes through `gate`. The place it was told when queued (0 when granted at once) and the
/// lock reads it made while waiting.
async fn run_one_deployment(
    api: &Api,
    gate: &tokio::sync::Semaphore,
    env: &str,
    id_slot: &Mutex<Vec<(String, String)>>,
) -> (u64, usize) {
    let lock = format!("/api/v1/projects/shop/environments/{env}/lock");
    let dep = {
        let _turn = gate.acquire().await.unwrap();
        api.create(
            "/api/v1/deployments",
            json!({ "project": "shop", "environment": env, "git_ref": "main", "git_sha": "abc123" }),
        )
        .await
    };
    let id = str_of(&dep["id"]).to_owned();
    id_slot.lock().unwrap().push((env.to_owned(), id.clone()));
    let held = {
        let _turn = gate.acquire().await.unwrap();
        api.acquire(&lock, &id, Some(600_000)).await
    };
    let place = held["position"].as_u64().unwrap_or(0);
    let mut reads = 0;
    if held["outcome"] != "granted" {
        assert_eq!(held["outcome"], "queued", "{id}: {held}");
        loop {
            // Waiters far back in the queue look less often.
            tokio::time::sleep(Duration::from_millis(300 * place.min(4))).await;
            let info = {
                let _turn = gate.acquire().await.unwrap();
                api.read(&lock).await
            };
            reads += 1;
            if info["holder"]["holder_id"] == id.as_str() {
                break;
            }
        }
    }
    for to in ["deploying", "verifying", "succeeded"] {
        let _turn = gate.acquire().await.unwrap();
        let (status, body) = api.transition(&id, to).await;
        assert_eq!(status, 200, "{id} → {to}: {body}");
    }
    (place, reads)
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn concurrent_deployment_requests_run_one_at_a_time_per_environment_in_fifo_order() {
    let _alone = HEAVY.lock().await;
    let (team, names, per_env) = crowd("d").await;
    let envs = names.len();
    let gate = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let ids: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let started = std::time::Instant::now();
    let runs: Vec<_> = names
        .iter()
        .flat_map(|env| std::iter::repeat_n(env.clone(), per_env))
        .map(|env| {
            let (api, gate, ids) = (team.admin.clone(), gate.clone(), ids.clone());
            tokio::spawn(async move { run_one_deployment(&api, &gate, &env, &ids).await })
        })
        .collect();
    let done: Vec<(u64, usize)> =
        tokio::time::timeout(Duration::from_secs(1800), futures::future::join_all(runs))
            .await
            .expect("the deployments did not all finish within 30 minutes")
            .into_iter()
            .map(Result::unwrap)
            .collect();
    let took = started.elapsed();
    let ids = ids.lock().unwrap().clone();
    assert_eq!(ids.len(), envs * per_env, "a deployment request was lost");
    let granted_at_once = done.iter().filter(|(place, _)| *place == 0).count();
    assert_eq!(
        granted_at_once, envs,
        "one deployment per environment held at once"
    );

    // Every deployment ended `succeeded`; no lock is held or queued.
    for (_, id) in &ids {
        team.admin.assert_status(id, "succeeded").await;
    }
    let mut env_ids = HashMap::new();
    for env in &names {
        let info = team
            .admin
            .read(&format!("/api/v1/projects/shop/environments/{env}/lock"))
            .await;
        assert!(info["holder"].is_null(), "{env} still held: {info}");
        assert_eq!(info["queue"].as_array().map(Vec::len), Some(0), "{env}");
        let e = team
            .admin
            .read(&format!("/api/v1/projects/shop/environments/{env}"))
            .await;
        env_ids.insert(str_of(&e["id"]).to_owned(), env.clone());
    }

    // The audit log: per environment one holder at every instant, each deployment granted
    // once, in the order they queued, none missing.
    let want = rows_for_chain(per_env);
    let rows = settled_rows(&team.admin, &env_ids.keys().collect::<Vec<_>>(), want).await;
    let mut audit_rows = 0;
    for (env_id, env) in &env_ids {
        let mine = rows.get(env_id).cloned().unwrap_or_default();
        assert_eq!(mine.len(), want, "{env}: audit rows {mine:#?}");
        let grants = replay(&mine).unwrap_or_else(|e| panic!("{env}: {e}"));
        let mut queued: Vec<String> = mine
            .iter()
            .filter(|r| r["action"] == "lock.queue" || r["action"] == "lock.acquire")
            .map(|r| str_of(&r["after"]["holder_id"]).to_owned())
            .collect();
        assert_eq!(grants, queued, "{env}: granted in the order queued");
        queued.sort();
        let mut requested: Vec<String> = ids
            .iter()
            .filter(|(e, _)| e == env)
            .map(|(_, id)| id.clone())
            .collect();
        requested.sort();
        assert_eq!(
            queued, requested,
            "{env}: every deployment held the lock once"
        );
        audit_rows += mine.len();
    }
    println!(
        "deployment requests: {} over {envs} environments (request, acquire, deploying, verifying, succeeded) in {took:?}, at most {IN_FLIGHT} requests in flight; {} lock reads by waiters; {audit_rows} audit rows replayed (one holder at every instant, FIFO); 0 lost, 0 locks held at the end",
        envs * per_env,
        done.iter().map(|(_, r)| r).sum::<usize>()
    );
}
