//! Reliability under faults (issue 18): the sandbox answers 20% of the Cloudflare API calls
//! that hosted assessments and rollouts make with a 5xx, a 429 or no answer within the
//! client's timeout, and every result must still be right or say it is not: an assessment is
//! the verdict it has without faults or explicitly inconclusive (never `ready` when a check was
//! not made, never a finding that is not true); a rollout ends with the sandbox's version split
//! being the one Clodo recorded, or halts with a record of where it stands, never a split
//! Clodo does not know of. Counts (requests subject to faults, faults injected by kind,
//! outcomes) are printed; run with `--nocapture` to see them.
//!
//! Quick part in the test command; `CLODO_RELIABILITY_LONG=1` runs many more of each.
//! `#[ignore]`d under a plain `cargo test`; `tests/e2e.sh` runs them with `--ignored`.

mod e2e_support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use e2e_support::lock_audit::lock_rows;
use e2e_support::shop::{
    clodo, deploy, live_all, live_each, new_version, patch_analytics, rollout_team, sandbox_root,
    splits, Project, ACCOUNT as SHOP_ACCOUNT, SERVICES, SERVICES_TOML,
};
use e2e_support::{str_of, Team};
use futures::stream::{self, StreamExt};
use serde_json::{json, Value};

/// The assessed account and a token of the test seed that only this test uses, so that the
/// fault rules (filtered on it) hit no other test sharing the sandbox.
const ACCOUNT: &str = "acc_test";
const FAULT_TOKEN: &str = "faults-token";

/// A config whose every binding exists in the seeded account: its true verdict is ready.
const PRESENT: &str = include_str!("fixtures/assess/present.toml");

/// The Worker's Cloudflare client gives up on one attempt after 10 s (`RetryPolicy`); a
/// `timeout` fault holds the request longer, so the client's own timeout is what ends it.
const TIMEOUT_MS: u64 = 11_000;

fn long() -> bool {
    std::env::var("CLODO_RELIABILITY_LONG").is_ok_and(|v| v == "1")
}

/// The fault mix: each kind's share of all matching requests (20% together).
fn mix(applied_timeouts: bool) -> Vec<(f64, Value)> {
    let mut kinds = vec![
        (0.04, json!({ "kind": "server_error", "status": 500 })),
        (0.04, json!({ "kind": "server_error", "status": 503 })),
        (0.08, json!({ "kind": "rate_limit", "retry_after": 1 })),
    ];
    if applied_timeouts {
        // Half of the timeouts come after the API carried the request out: the caller cannot
        // know whether its traffic change happened.
        kinds.push((0.02, json!({ "kind": "timeout", "ms": TIMEOUT_MS })));
        kinds.push((
            0.02,
            json!({ "kind": "timeout", "ms": TIMEOUT_MS, "applied": true }),
        ));
    } else {
        kinds.push((0.04, json!({ "kind": "timeout", "ms": TIMEOUT_MS })));
    }
    kinds
}

/// Fault rules for every filter in `filters` (method, path, token), each with the mix. Rules
/// are consulted in order and only the first terminal one answers, so each rule's probability
/// is its share of what the rules before it let through: together exactly 20%.
fn rules(filters: &[Value], mix: &[(f64, Value)]) -> Vec<Value> {
    let mut out = Vec::new();
    for filter in filters {
        let mut left = 1.0;
        for (share, action) in mix {
            let mut rule = action.clone();
            for (k, v) in filter.as_object().unwrap() {
                rule[k] = v.clone();
            }
            rule["probability"] = json!(share / left);
            left -= share;
            out.push(rule);
        }
    }
    out
}

async fn sandbox_admin(method: &str, path: &str, body: Option<Value>) -> Value {
    let mut req = reqwest::Client::new().request(
        method.parse().unwrap(),
        format!("{}/__sandbox{path}", sandbox_root()),
    );
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.expect("the sandbox answers");
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert!(status.is_success(), "{method} /__sandbox{path}: {body}");
    body["result"].clone()
}

/// What the faults of one phase did, added up over the phases of a test.
#[derive(Default, Debug)]
struct FaultCount {
    /// Requests that passed a filter (each is counted once: by the first rule of its filter).
    requests: u64,
    /// Injected faults by kind (`server_error 503`, `timeout (applied)`, ...).
    injected: BTreeMap<String, u64>,
}

impl FaultCount {
    fn total(&self) -> u64 {
        self.injected.values().sum()
    }
}

/// Prints a part's counts (the figures of docs/reliability.md) and fails on any wrong result.
fn print_counts(
    part: &str,
    what: &str,
    count: &FaultCount,
    outcomes: &BTreeMap<String, u32>,
    wrong: &[String],
) {
    println!(
        "faults/{part}: {what}; {} requests subject to faults, {} faults injected {:?}; outcomes {outcomes:?}; wrong results {}",
        count.requests,
        count.total(),
        count.injected,
        wrong.len()
    );
    assert!(
        wrong.is_empty(),
        "wrong results under faults:\n{}",
        wrong.join("\n")
    );
}

/// Installs the rules; returns their ids.
async fn install(rules: Vec<Value>) -> Vec<String> {
    let added = sandbox_admin("POST", "/faults", Some(json!(rules))).await;
    added
        .as_array()
        .unwrap()
        .iter()
        .map(|r| str_of(&r["id"]).to_owned())
        .collect()
}

/// Reads what the rules `ids` did into `count`, then removes them.
async fn uninstall(ids: &[String], per_filter: usize, count: &mut FaultCount) {
    let listed = sandbox_admin("GET", "/faults", None).await;
    for (i, id) in ids.iter().enumerate() {
        let rule = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id.as_str())
            .unwrap_or_else(|| panic!("rule {id} gone: {listed}"));
        if i % per_filter == 0 {
            count.requests += rule["matched"].as_u64().unwrap();
        }
        let kind = match (str_of(&rule["kind"]), rule["applied"] == true) {
            ("server_error", _) => format!("server_error {}", rule["status"]),
            ("timeout", true) => "timeout, request applied".to_owned(),
            (kind, _) => kind.to_owned(),
        };
        *count.injected.entry(kind).or_default() += rule["fired"].as_u64().unwrap();
        sandbox_admin("DELETE", &format!("/faults/{id}"), None).await;
    }
}

// ---------------------------------------------------------------------------------------
// Assessments
// ---------------------------------------------------------------------------------------

/// What identifies a finding across runs (messages may carry counts and timings).
fn finding_keys(report: &Value, verified_only: bool) -> BTreeSet<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| !(verified_only && f["unverified"] == true))
        .map(|f| {
            format!(
                "{} {} {} {}",
                str_of(&f["kind"]),
                str_of(&f["severity"]),
                f["service"].as_str().unwrap_or("-"),
                f["location"]["key_path"].as_str().unwrap_or("-")
            )
        })
        .collect()
}

/// How an assessment under faults compares with the same config's assessment without them.
fn judge(baseline: &Value, report: &Value) -> Result<&'static str, String> {
    let ready = report["ready"] == true;
    let unverified = report["unverified"].as_u64().unwrap_or(0);
    let truth = finding_keys(baseline, false);
    if unverified == 0 {
        // Every check was made: the very same verdict and findings as without faults.
        if ready == (baseline["ready"] == true) && finding_keys(report, false) == truth {
            return Ok("same verdict");
        }
        return Err("every check made, yet a different verdict or findings".into());
    }
    if ready {
        return Err(format!("ready with {unverified} check(s) not made"));
    }
    // Inconclusive: what it did check must be true (a finding of the fault-free run).
    let wrong: Vec<String> = finding_keys(report, true)
        .difference(&truth)
        .cloned()
        .collect();
    if !wrong.is_empty() {
        return Err(format!("findings that are not true: {wrong:?}"));
    }
    Ok("inconclusive")
}

async fn assess(team: &Team, config: &str) -> (u16, Value) {
    team.admin
        .post(
            "/api/v1/assessments",
            json!({ "config": config, "project": "shop", "environment": "production" }),
        )
        .await
}

#[tokio::test]
#[ignore = "needs the local Worker and sandbox: run through tests/e2e.sh"]
async fn assessments_under_faults_are_right_or_explicitly_inconclusive() {
    let team = Team::new().await;
    team.bind(ACCOUNT).await;
    team.add_credential(ACCOUNT, "faults", FAULT_TOKEN).await;
    let not_ready = format!(
        "{PRESENT}\n[[r2_buckets]]\nbinding = \"FILES\"\nbucket_name = \"no-such-bucket\"\n\n[[d1_databases]]\nbinding = \"OTHER\"\ndatabase_name = \"nope-db\"\ndatabase_id = \"22222222-2222-4222-8222-222222222222\"\n"
    );
    let configs = [PRESENT.to_owned(), not_ready];

    // The truth: each config assessed without faults.
    let mut baselines = Vec::new();
    for config in &configs {
        let (status, created) = assess(&team, config).await;
        assert_eq!(status, 201, "{created}");
        baselines.push(created["report"].clone());
    }
    assert_eq!(baselines[0]["ready"], true, "{}", baselines[0]);
    assert_eq!(baselines[0]["unverified"], 0, "{}", baselines[0]);
    assert_eq!(baselines[1]["ready"], false, "{}", baselines[1]);
    assert_eq!(baselines[1]["unverified"], 0, "{}", baselines[1]);

    // Every call the Worker makes with this team's credential, whatever the path.
    let filters = [json!({ "token": FAULT_TOKEN, "path": "/client/v4/*" })];
    let mix = mix(false);
    let ids = install(rules(&filters, &mix)).await;
    let runs = if long() { 300 } else { 40 };
    let started = Instant::now();
    let results: Vec<(usize, u16, Value)> = stream::iter(0..runs)
        .map(|i| {
            let team = &team;
            let config = &configs[i % 2];
            async move {
                let (status, body) = assess(team, config).await;
                (i % 2, status, body)
            }
        })
        .buffer_unordered(10)
        .collect()
        .await;
    let took = started.elapsed();
    let mut count = FaultCount::default();
    uninstall(&ids, mix.len(), &mut count).await;

    let mut outcomes: BTreeMap<String, u32> = BTreeMap::new();
    let mut wrong = Vec::new();
    let mut api_calls = 0;
    for (which, status, body) in &results {
        let name = ["ready config", "not-ready config"][*which];
        if *status != 201 {
            // Clodo refusing to answer is explicit, not wrong; it must say why.
            assert!(body["error"]["code"].is_string(), "{status}: {body}");
            *outcomes
                .entry(format!("{name}: error {status}"))
                .or_default() += 1;
            continue;
        }
        let report = &body["report"];
        api_calls += report["api_calls"].as_u64().unwrap_or(0);
        match judge(&baselines[*which], report) {
            Ok(kind) => *outcomes.entry(format!("{name}: {kind}")).or_default() += 1,
            Err(why) => wrong.push(format!("{name}: {why}: {report}")),
        }
    }
    let what = format!(
        "{runs} assessments (10 at a time) in {:.1} s; {api_calls} Cloudflare API calls by the Worker (retries included)",
        took.as_secs_f64()
    );
    print_counts("assessments", &what, &count, &outcomes, &wrong);
    assert!(count.total() > 0, "no fault was injected: {count:?}");
}

// ---------------------------------------------------------------------------------------
// Rollouts
// ---------------------------------------------------------------------------------------

/// How a rollout is driven once it has started.
#[derive(Clone, Copy, Debug)]
enum Drive {
    /// Three short steps with a health check: left to finish on its own.
    Complete,
    /// Held at its first step, then promoted by a person.
    Promote,
    /// Held at its first step, then aborted (rolled back) by a person.
    Abort,
    /// Past its first step, Cloudflare refuses every change of the api Worker's traffic
    /// (a sustained outage, no random faults): the rollout gives the step up and rolls back
    /// (`auto_rollback`), and the api Worker, which it cannot restore, is recorded failed with
    /// its reason; then a person runs `clodo rollback`, which puts that one back and leaves the
    /// restored ones where they are (twice: the second has nothing to do).
    Outage,
    /// The same outage with `auto_rollback = false`: the Workers that took the refused step
    /// are put back, and the rollout pauses on the split it recorded; once the outage is over
    /// a person aborts it and it ends rolled back.
    OutagePaused,
}

impl Drive {
    fn outage(self) -> bool {
        matches!(self, Drive::Outage | Drive::OutagePaused)
    }
}

/// The clodo.toml `[deploy]` part of a way of driving.
fn deploy_settings(drive: Drive) -> String {
    match drive {
        Drive::Complete => format!(
            "[deploy]\nstrategy = \"gradual\"\nsteps = [25, 50, 100]\nstep_wait_secs = 1\n\n[[health_checks]]\nname = \"api healthz\"\nservice = \"api\"\nurl = \"{}/__sandbox/workers/{{API}}/healthz\"\nexpect_body_contains = \"ok\"\nmax_latency_ms = 5000\n",
            sandbox_root()
        ),
        Drive::Promote | Drive::Abort => {
            "[deploy]\nstrategy = \"gradual\"\nsteps = [10, 50, 100]\nstep_wait_secs = 600\n"
                .to_owned()
        }
        // Five seconds on the first step: the test installs the outage in that time.
        Drive::Outage | Drive::OutagePaused => format!(
            "[deploy]\nstrategy = \"gradual\"\nsteps = [25, 50, 100]\nstep_wait_secs = 5\nauto_rollback = {}\n",
            matches!(drive, Drive::Outage)
        ),
    }
}

fn set_deploy_settings(p: &Project, drive: Drive) {
    let text =
        format!("{SERVICES_TOML}\n{}", deploy_settings(drive)).replace("{API}", &p.script("api"));
    std::fs::write(p.dir.join("clodo.toml"), text).unwrap();
}

/// Polls the rollout until `done` or `limit`; the last status.
async fn poll(team: &Team, id: &str, limit: Duration, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let s = team
            .admin
            .read(&format!("/api/v1/deployments/{id}/rollout"))
            .await;
        if done(&s) || started.elapsed() > limit {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The split the sandbox serves for `script` now (its newest deployment), sorted.
async fn live_split(script: &str) -> Vec<(String, f64)> {
    let mut split = splits(script).await.into_iter().next().unwrap_or_default();
    split.sort_by(|a, b| a.0.cmp(&b.0));
    split
}

fn sorted(mut split: Vec<(String, f64)>) -> Vec<(String, f64)> {
    split.sort_by(|a, b| a.0.cmp(&b.0));
    split
}

/// The split Clodo's record says a service serves, when the record says it exactly.
fn recorded_split(status: &Value, service: &Value) -> Option<Vec<(String, f64)>> {
    let new = str_of(&service["new_version"]).to_owned();
    let previous = service["previous_version"].as_str().map(str::to_owned);
    match (str_of(&status["phase"]), previous) {
        ("succeeded", _) => Some(vec![(new, 100.0)]),
        ("rolled_back", Some(previous)) => Some(vec![(previous, 100.0)]),
        ("rolled_back", None) => Some(vec![(new, 100.0)]),
        // `traffic_percent` is the last applied step's (a step not applied leaves the one
        // before live); none applied yet, the previous version serves it all.
        ("running" | "paused", Some(previous)) => match status["traffic_percent"].as_f64() {
            None => Some(vec![(previous, 100.0)]),
            Some(pct) if pct >= 100.0 => Some(vec![(new, 100.0)]),
            Some(pct) => Some(sorted(vec![(new, pct), (previous, 100.0 - pct)])),
        },
        _ => None,
    }
}

/// Checks one rollout's end against the sandbox: `Ok(outcome)` or what is wrong.
async fn check_rollout(team: &Team, id: &str, before: &[String]) -> Result<String, String> {
    let status = team
        .admin
        .read(&format!("/api/v1/deployments/{id}/rollout"))
        .await;
    let record = team.admin.read(&format!("/api/v1/deployments/{id}")).await;
    let phase = str_of(&status["phase"]).to_owned();
    let mut problems = Vec::new();
    for service in status["services"].as_array().unwrap() {
        let script = str_of(&service["script"]);
        let known: BTreeSet<&str> = [
            service["new_version"].as_str(),
            service["previous_version"].as_str(),
        ]
        .into_iter()
        .flatten()
        .collect();
        let live = live_split(script).await;
        // Never a version Clodo has no record of for this deployment.
        if live.iter().any(|(v, _)| !known.contains(v.as_str())) {
            problems.push(format!(
                "{script}: live {live:?} has a version outside {known:?}"
            ));
        }
        match recorded_split(&status, service) {
            Some(want) if want != live => {
                problems.push(format!("{script}: live {live:?}, recorded {want:?}"))
            }
            Some(_) => {}
            None if phase == "failed" => {
                // A restore that did not go through: the record must say so and why.
                if status["reason"].as_str().is_none_or(str::is_empty) {
                    problems.push(format!("{script}: failed without a reason"));
                }
            }
            None => problems.push(format!(
                "{script}: live {live:?} but the record ({phase}, step_applied {}) names no split",
                status["step_applied"]
            )),
        }
    }
    let terminal = ["succeeded", "rolled_back", "failed"].contains(&phase.as_str());
    if terminal {
        if status["recorded"] != true {
            problems.push("ended but its deployment status is not written".into());
        }
        if record["status"] != phase.as_str() {
            problems.push(format!("phase {phase} but deployment {}", record["status"]));
        }
        let (_, lock) = team
            .admin
            .get("/api/v1/projects/shop/environments/staging/lock")
            .await;
        if lock["holder"]["holder_id"] == id {
            problems.push("ended but still holds the environment's lock".into());
        }
    }
    if phase == "rolled_back" {
        // Back on what served before this deployment (`before` is in `SERVICES` order).
        for service in status["services"].as_array().unwrap() {
            let name = str_of(&service["service"]);
            let i = SERVICES.iter().position(|s| *s == name).unwrap();
            if service["previous_version"] != before[i].as_str() {
                problems.push(format!(
                    "{name}: rolled back to {}, before it was {}",
                    service["previous_version"], before[i]
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(phase)
    } else {
        Err(format!("{id}: {}\nstatus: {status}", problems.join("; ")))
    }
}

/// One rollout under faults, driven as `drive`: its outcome.
async fn one_rollout(
    team: &Team,
    p: &Project,
    drive: Drive,
    count: &mut FaultCount,
) -> Result<String, String> {
    set_deploy_settings(p, drive);
    let before = live_all(p).await;
    let prefix = format!(
        "/client/v4/accounts/{SHOP_ACCOUNT}/workers/scripts/{}-*",
        p.prefix
    );
    // What the control plane's rollout calls: the Workers' deployments (the split it reads
    // and sets) and their versions (checked before any traffic moves). wrangler's upload
    // (`POST …/versions`) is left alone so that most runs reach the rollout itself.
    let filters = [
        json!({ "path": format!("{prefix}/deployments") }),
        json!({ "method": "GET", "path": format!("{prefix}/versions/*") }),
    ];
    let mix = if drive.outage() {
        Vec::new()
    } else {
        mix(true)
    };
    let ids = install(rules(&filters, &mix)).await;
    let (code, report, err) = deploy(p, team, &["--detach"]);
    let id = report["deployment_id"]
        .as_str()
        .or(report["deployment"]["id"].as_str())
        .map(str::to_owned);
    let Some(id) = id else {
        uninstall(&ids, mix.len(), count).await;
        // No rollout was started: nothing may have moved, and a deployment the CLI created
        // must not be left holding the environment.
        let now = live_all(p).await;
        if now != before {
            return Err(format!(
                "deploy failed (exit {code}) yet live moved: {now:?} from {before:?}\n{err}"
            ));
        }
        let (_, lock) = team
            .admin
            .get("/api/v1/projects/shop/environments/staging/lock")
            .await;
        if !lock["holder"].is_null() {
            return Err(format!(
                "deploy failed (exit {code}) but the lock is held: {lock}\n{err}"
            ));
        }
        // The whole refusal, for whoever reads a run's output: the outcome keeps one line.
        eprintln!("{drive:?}: deploy exited {code} before the rollout:\n{report}\n{err}");
        let why: String = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .chars()
            .take(100)
            .collect();
        return Ok(format!(
            "{drive:?}: deploy refused before the rollout ({why})"
        ));
    };
    let settle = Duration::from_secs(if long() { 240 } else { 120 });
    let ended = |s: &Value| s["recorded"] == true;
    let mut steered = None;
    let mut outage = Vec::new();
    let mut status = match drive {
        Drive::Complete => poll(team, &id, settle, |s| ended(s) || s["phase"] == "paused").await,
        Drive::Promote | Drive::Abort => {
            let s = poll(team, &id, settle, |s| {
                ended(s) || s["phase"] == "paused" || s["step_applied"] == true
            })
            .await;
            if s["phase"] == "running" {
                let verb = if matches!(drive, Drive::Promote) {
                    "promote"
                } else {
                    "abort"
                };
                let (code, out, err) = clodo(&p.dir, &team.admin.token, &[verb, &id]);
                steered = Some(format!("{verb}: exit {code}"));
                if code != 0 {
                    eprintln!("{verb} {id}: {out}{err}");
                }
                poll(team, &id, settle, |s| ended(s) || s["phase"] == "paused").await
            } else {
                s
            }
        }
        Drive::Outage | Drive::OutagePaused => {
            let s = poll(team, &id, settle, |s| {
                ended(s) || s["phase"] == "paused" || s["step_applied"] == true
            })
            .await;
            if s["phase"] == "running" {
                outage = install(vec![json!({
                    "method": "POST",
                    "path": format!("/client/v4/accounts/{SHOP_ACCOUNT}/workers/scripts/{}/deployments", p.script("api")),
                    "kind": "server_error",
                    "status": 503,
                    "probability": 1.0,
                })])
                .await;
                steered = Some("outage from step 2".to_owned());
                poll(team, &id, settle, |s| ended(s) || s["phase"] == "paused").await
            } else {
                s
            }
        }
    };
    uninstall(&ids, mix.len(), count).await;
    // The outage is over before a person steps in (the paused case) or the check is made.
    uninstall(&outage, 1, count).await;
    // A rollout that halted (paused for a human) must name where it stands; then a person
    // aborts it, without faults, and it must end rolled back.
    let mut outcome = String::new();
    if status["phase"] == "paused" {
        check_rollout(team, &id, &before).await?;
        outcome = format!(
            "paused ({}), then ",
            status["reason"].as_str().unwrap_or("no reason given")
        );
        let (code, out, err) = clodo(&p.dir, &team.admin.token, &["abort", &id]);
        assert_eq!(code, 0, "{out}{err}");
        status = poll(team, &id, settle, ended).await;
    }
    if status["recorded"] != true {
        return Err(format!("{id} did not end within {settle:?}: {status}"));
    }
    let phase = check_rollout(team, &id, &before).await?;
    if phase == "failed" {
        // What a person does once the outage is over: `clodo rollback`. The services the
        // rollout restored already serve what they served before and must stay there (going
        // one good version further back was the old rule's mistake); the ones it could not
        // restore are put back. A second `clodo rollback` then has nothing to do: exit 0,
        // nothing moved.
        let unrestored: Vec<&str> = SERVICES
            .iter()
            .zip(&before)
            .zip(live_each(p).await)
            .filter(|((_, was), now)| now.as_deref() != Some(was.as_str()))
            .map(|((s, _), _)| *s)
            .collect();
        let rollback = ["rollback", "--env", "staging", "--yes"];
        for attempt in ["first", "second"] {
            let (code, out, err) = clodo(&p.dir, &team.admin.token, &rollback);
            if code != 0 {
                return Err(format!(
                    "{id} failed ({unrestored:?} not restored); the {attempt} clodo rollback exited {code}: {out}{err}"
                ));
            }
            let now = live_all(p).await;
            if now != before {
                return Err(format!(
                    "{id} failed ({unrestored:?} not restored); after the {attempt} clodo rollback live is {now:?}, before the deploy {before:?}: {out}{err}"
                ));
            }
            if attempt == "second" && !err.contains("nothing to roll back") {
                return Err(format!(
                    "{id}: the second clodo rollback did something: {out}{err}"
                ));
            }
        }
        return Ok(format!(
            "{drive:?}{}: failed ({}), then clodo rollback put back {unrestored:?} and left the rest, twice",
            steered.map(|s| format!(" ({s})")).unwrap_or_default(),
            status["reason"].as_str().unwrap_or("no reason given")
        ));
    }
    if phase == "succeeded" {
        // It ended on what the deploy uploaded.
        for (i, s) in SERVICES.iter().enumerate() {
            let want = new_version(&report, s);
            let live = live_all(p).await;
            if live[i] != want {
                return Err(format!("{id}: {s} live {} but uploaded {want}", live[i]));
            }
        }
    }
    Ok(format!(
        "{drive:?}{}: {outcome}{phase}",
        steered.map(|s| format!(" ({s})")).unwrap_or_default()
    ))
}

#[tokio::test]
#[ignore = "needs the local Worker, the sandbox and wrangler: run through tests/e2e.sh"]
async fn rollouts_under_faults_end_on_the_split_clodo_recorded() {
    let team = rollout_team().await;
    let p = Project::with("");
    // Traffic on the Workers, so the health and step checks have data.
    let scripts: serde_json::Map<String, Value> = SERVICES
        .iter()
        .map(|s| (p.script(s), json!(60000.0)))
        .collect();
    patch_analytics(json!({ "scripts": scripts })).await;
    // The first release, without faults: every Worker exists with a version at 100%.
    let (code, report, err) = deploy(&p, &team, &["--strategy", "immediate"]);
    assert_eq!(code, 0, "{report}\n{err}");

    let drives = [
        Drive::Complete,
        Drive::Promote,
        Drive::Abort,
        Drive::Outage,
        Drive::OutagePaused,
    ];
    let rounds = if long() { 4 } else { 1 };
    let mut count = FaultCount::default();
    let mut outcomes: BTreeMap<String, u32> = BTreeMap::new();
    let mut wrong = Vec::new();
    let started = Instant::now();
    for _ in 0..rounds {
        for drive in drives {
            match one_rollout(&team, &p, drive, &mut count).await {
                Ok(outcome) => *outcomes.entry(outcome).or_default() += 1,
                Err(why) => wrong.push(why),
            }
        }
    }
    let what = format!(
        "{} rollouts in {:.1} s",
        rounds * drives.len(),
        started.elapsed().as_secs_f64()
    );
    print_counts("rollouts", &what, &count, &outcomes, &wrong);
    assert!(
        count.requests > 0,
        "no request met the fault rules: {count:?}"
    );
    // The outages must reach the ends they exist for, or the checks of a failed and of a
    // paused rollout ran on nothing.
    let reached = |prefix: &str, end: &str| -> u32 {
        outcomes
            .iter()
            .filter(|(o, _)| o.starts_with(prefix) && o.contains(end))
            .map(|(_, n)| n)
            .sum()
    };
    let rounds = u32::try_from(rounds).unwrap();
    assert_eq!(
        reached("Outage ", "and left the rest, twice"),
        rounds,
        "{outcomes:?}"
    );
    assert_eq!(reached("OutagePaused ", "paused ("), rounds, "{outcomes:?}");
}

/// What a lost answer does to `clodo deploy`: the control plane did the work, a proxy between
/// it and the CLI threw the answer away (what `wrangler dev`'s proxy does when its connection
/// to the Worker drops, and what failed a fresh-clone CI run with `api_unexpected_answer`).
/// The CLI sends the call again with the same `Idempotency-Key` and gets the first answer:
/// the deploy succeeds with one deployment record and one lock acquisition, not two.
#[tokio::test]
#[ignore = "needs the local Worker, the sandbox and wrangler: run through tests/e2e.sh"]
async fn a_deploy_whose_answers_a_proxy_loses_is_done_once() {
    use e2e_support::lossy_proxy::{Lose, LossyProxy};
    use e2e_support::shop::clodo_at;

    let team = rollout_team().await;
    let p = Project::with("");
    let lose = |method, suffix: &str| Lose {
        method,
        suffix: suffix.to_owned(),
    };
    let proxy = LossyProxy::start(
        &e2e_support::base_url(),
        vec![
            lose("POST", "/api/v1/deployments"),
            lose("POST", "/environments/staging/lock/acquire"),
            lose("POST", "/transitions"),
            lose("PUT", "/environments/staging/services/web"),
        ],
    );
    let args = [
        "deploy",
        "--env",
        "staging",
        "--strategy",
        "immediate",
        "--yes",
        "--json",
    ];
    let (code, out, err) = clodo_at(&proxy.url, &p.dir, &team.admin.token, &args);
    let seen = proxy.seen();
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}\nseen: {seen:#?}");
    assert!(
        proxy.unused().is_empty(),
        "never asked: {:?}",
        proxy.unused()
    );
    let report: Value = serde_json::from_str(&out).unwrap();
    let id = report["deployment_id"]
        .as_str()
        .or(report["deployment"]["id"].as_str())
        .unwrap_or_default()
        .to_owned();
    assert!(id.starts_with("dep_"), "{report}");

    // Each lost call was sent again: a POST with its key, answered from the stored answer; the
    // lock's acquire (it names its holder, so the CLI sends it without a key) and the PUT as
    // they were, the lock's own rules making the repeat harmless (checked in the audit below).
    let lost: Vec<&e2e_support::lossy_proxy::Seen> = seen.iter().filter(|s| s.lost).collect();
    assert_eq!(lost.len(), 4, "{seen:#?}");
    let mut replayed = 0;
    for first in &lost {
        let again: Vec<_> = seen
            .iter()
            .filter(|s| s.method == first.method && s.path == first.path && !s.lost)
            .collect();
        assert!(
            !again.is_empty(),
            "{} {} not sent again: {seen:#?}",
            first.method,
            first.path
        );
        if let Some(key) = &first.key {
            let repeat = again
                .iter()
                .find(|s| s.key.as_deref() == Some(key.as_str()))
                .unwrap_or_else(|| {
                    panic!(
                        "{} {} not sent again with its key: {seen:#?}",
                        first.method, first.path
                    )
                });
            assert!(repeat.replayed, "{repeat:?} ran again instead of replaying");
            replayed += 1;
        }
    }
    // The deployment's creation and its first transition.
    assert_eq!(replayed, 2, "{seen:#?}");

    // One deployment record, succeeded; one lock acquisition, released.
    let (_, list) = team
        .admin
        .get("/api/v1/deployments?project=shop&environment=staging")
        .await;
    let records = list["items"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{list}");
    assert_eq!(records[0]["id"], id.as_str());
    assert_eq!(records[0]["status"], "succeeded", "{list}");
    // The lock's audit rows lag (the object flushes them from an alarm): wait for the release.
    let started = Instant::now();
    let rows = loop {
        let rows: Vec<Value> = lock_rows(&team.admin)
            .await
            .into_values()
            .flatten()
            .collect();
        let released = rows.iter().any(|r| r["action"] == "lock.release");
        if released || started.elapsed() > Duration::from_secs(60) {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let count = |action: &str| rows.iter().filter(|r| r["action"] == action).count();
    assert_eq!(
        (count("lock.acquire"), count("lock.release")),
        (1, 1),
        "{rows:#?}"
    );
    let (_, lock) = team
        .admin
        .get("/api/v1/projects/shop/environments/staging/lock")
        .await;
    assert!(lock["holder"].is_null(), "{lock}");
    println!(
        "faults/lost answers: {} requests through the proxy, {} answers lost, each repeated and answered once",
        seen.len(),
        lost.len()
    );
}
