//! The deploy lock's audit rows (written by the `DeployLock` object, flushed to `audit_log`)
//! read back through `GET /api/v1/audit` and replayed: the check that an environment had
//! exactly one holder at every instant, handed over in FIFO order, with no entry missing or
//! written twice.

use serde_json::Value;

use super::{items, str_of, Api};

/// The team's `lock.*` audit rows, oldest first (every page), grouped by environment id.
pub async fn lock_rows(api: &Api) -> std::collections::HashMap<String, Vec<Value>> {
    let mut by_env: std::collections::HashMap<String, Vec<Value>> = Default::default();
    let mut cursor = String::new();
    loop {
        let page = api.read(&format!("/api/v1/audit?limit=200{cursor}")).await;
        for row in items(&page["items"]) {
            if str_of(&row["action"]).starts_with("lock.") {
                let env = str_of(&row["target_id"]).to_owned();
                by_env.entry(env).or_default().push(row.clone());
            }
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return by_env,
        }
    }
}

/// The `lock.*` rows of each of `env_ids` once every one has `want` rows (the objects flush
/// their entries from an alarm, so the last ones may lag), or as they are after 120 s.
pub async fn settled_rows(
    api: &Api,
    env_ids: &[&String],
    want: usize,
) -> std::collections::HashMap<String, Vec<Value>> {
    let started = std::time::Instant::now();
    loop {
        let rows = lock_rows(api).await;
        let complete = env_ids
            .iter()
            .all(|id| rows.get(*id).map_or(0, Vec::len) >= want);
        if complete || started.elapsed() > std::time::Duration::from_secs(120) {
            return rows;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// How many rows a lock run writes when `n` holders acquire an idle lock in turn (the first
/// granted, the rest queued) and each releases, handing over to the next.
pub fn rows_for_chain(n: usize) -> usize {
    1 + (n - 1) + n + (n - 1)
}

fn holder(row: &Value, side: &str) -> String {
    str_of(&row[side]["holder_id"]).to_owned()
}

/// Replays one environment's rows in order against a model of the lock (holder and queue):
/// every grant must find the lock free, every hand-over must go to the queue's head, every
/// release or expiry must end the current hold, every queued place must be the next one. A
/// row missing or written twice breaks one of these. The holders in the order granted, or
/// what broke.
pub fn replay(rows: &[Value]) -> Result<Vec<String>, String> {
    let mut held: Option<String> = None;
    let mut queue: std::collections::VecDeque<String> = Default::default();
    let mut grants = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let action = str_of(&row["action"]);
        let fail = |what: &str| Err(format!("row {i} ({action}): {what}: {row}"));
        match action {
            "lock.acquire" => {
                if let Some(h) = &held {
                    return fail(&format!("granted while {h} holds"));
                }
                held = Some(holder(row, "after"));
                grants.push(holder(row, "after"));
            }
            "lock.handover" => {
                if held.is_some() {
                    return fail("handed over while a holder remains");
                }
                let next = holder(row, "after");
                if queue.front() != Some(&next) {
                    return fail(&format!("not the queue's head ({queue:?})"));
                }
                queue.pop_front();
                held = Some(next.clone());
                grants.push(next);
            }
            "lock.release" | "lock.expire" => {
                if held.as_deref() != Some(holder(row, "before").as_str()) {
                    return fail(&format!("ends a hold that is not current ({held:?})"));
                }
                held = None;
            }
            "lock.queue" => {
                let who = holder(row, "after");
                if held.is_none() || queue.contains(&who) {
                    return fail("queued while the lock is free, or queued twice");
                }
                queue.push_back(who);
                if row["after"]["position"].as_u64() != Some(queue.len() as u64) {
                    return fail(&format!("place is not {}", queue.len()));
                }
            }
            "lock.cancel" | "lock.drop" => {
                let who = holder(row, "before");
                let Some(at) = queue.iter().position(|w| *w == who) else {
                    return fail("not queued");
                };
                queue.remove(at);
            }
            _ => return fail("unknown lock action"),
        }
    }
    if let Some(h) = held {
        return Err(format!("{h} still holds after the last row"));
    }
    if !queue.is_empty() {
        return Err(format!("still queued after the last row: {queue:?}"));
    }
    Ok(grants)
}
