//! Queues and their consumers: views, lookups, lists, creation and consumer updates.

use super::*;

pub fn queue_json(q: &Queue) -> Value {
    json!({
        "queue_id": q.queue_id,
        "queue_name": q.queue_name,
        "created_on": q.created_on,
        "modified_on": q.created_on,
        "producers": q.producers,
        "producers_total_count": q.producers.len(),
        "consumers": q.consumers,
        "consumers_total_count": q.consumers.len(),
        "settings": { "delivery_delay": 0 },
    })
}

pub fn queue_find<'a>(st: &'a State, a: &str, id: &str) -> Result<&'a Queue, SandboxError> {
    st.queues
        .iter()
        .find(|q| q.account_id == a && q.queue_id == id)
        .ok_or_else(|| SandboxError::not_found(11000, "Queue does not exist"))
}

pub fn queue_list(st: &State, t: &Token, req: &ApiRequest, a: &str) -> Result<Reply, SandboxError> {
    account_scope(st, t, req, a, Product::Queues, Access::Read)?;
    let request = page_request(&req.query, 20, 1000)?;
    let names = req.query.get_all("name");
    let items: Vec<Value> = st
        .queues
        .iter()
        .filter(|q| q.account_id == a)
        .filter(|q| names.is_empty() || names.contains(&q.queue_name.as_str()))
        .map(queue_json)
        .collect();
    let (page, info) = paginate(&items, request);
    Ok(Reply::page(Value::Array(page), info))
}

#[derive(Deserialize)]
pub struct NewQueue {
    queue_name: String,
}

pub async fn queue_create(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
) -> Result<Reply, SandboxError> {
    let body: NewQueue = req.json()?;
    store
        .mutate(|st| {
            account_scope(st, t, req, a, Product::Queues, Access::Edit)?;
            if !valid_resource_name(&body.queue_name) {
                return Err(SandboxError::rejected(400, 11003, "Invalid queue name"));
            }
            if st
                .queues
                .iter()
                .any(|q| q.account_id == a && q.queue_name == body.queue_name)
            {
                return Err(SandboxError::rejected(
                    409,
                    11009,
                    "A queue with this name already exists",
                ));
            }
            let queue = Queue {
                queue_id: hex_id(),
                account_id: a.to_string(),
                queue_name: body.queue_name.clone(),
                created_on: now_rfc3339(),
                consumers: vec![],
                producers: vec![],
            };
            let out = queue_json(&queue);
            st.queues.push(queue);
            Ok(Reply::ok(out))
        })
        .await
}

/// A Worker consumer as wrangler sends it (`POST`/`PUT …/queues/{id}/consumers`).
#[derive(Deserialize)]
pub struct NewConsumer {
    #[serde(rename = "type", default = "worker_type")]
    kind: String,
    script_name: Option<String>,
    dead_letter_queue: Option<String>,
    #[serde(default)]
    settings: Value,
}

pub fn worker_type() -> String {
    "worker".to_owned()
}

/// Adds a consumer (`consumer` None) or replaces one. A queue has at most one Worker
/// consumer per script, as on Cloudflare; a second POST for the same script is refused.
pub async fn consumer_put(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
    queue_id: &str,
    consumer: Option<&str>,
) -> Result<Reply, SandboxError> {
    let body: NewConsumer = req.json()?;
    if body.kind != "worker" {
        return Err(SandboxError::rejected(
            400,
            11003,
            "the sandbox models Worker consumers only (type \"worker\")",
        ));
    }
    let script = body
        .script_name
        .filter(|s| !s.is_empty())
        .ok_or_else(|| SandboxError::rejected(400, 11003, "script_name is required"))?;
    store
        .mutate(|st| {
            account_scope(st, t, req, a, Product::Queues, Access::Edit)?;
            let qid = queue_find(st, a, queue_id)?.queue_id.clone();
            let queue = st
                .queues
                .iter_mut()
                .find(|q| q.queue_id == qid)
                .expect("found above");
            let existing = queue.consumers.iter().position(|c| match consumer {
                Some(id) => c["consumer_id"] == id,
                None => c["script"] == script.as_str(),
            });
            let consumer_id = match (consumer, existing) {
                (Some(_), None) => {
                    return Err(SandboxError::not_found(11000, "Consumer does not exist"))
                }
                (None, Some(_)) => {
                    return Err(SandboxError::rejected(
                        409,
                        11004,
                        format!("Worker `{script}` already consumes this queue"),
                    ))
                }
                (_, Some(i)) => queue.consumers[i]["consumer_id"].clone(),
                (None, None) => Value::String(hex_id()),
            };
            let record = json!({
                "consumer_id": consumer_id,
                "type": "worker",
                "script": script,
                "queue_name": queue.queue_name,
                "dead_letter_queue": body.dead_letter_queue,
                "settings": body.settings,
                "created_on": now_rfc3339(),
            });
            match existing {
                Some(i) => queue.consumers[i] = record.clone(),
                None => queue.consumers.push(record.clone()),
            }
            Ok(Reply::ok(record))
        })
        .await
}
