use serde_json::Value;

use super::render::{render, standard_payload};
use super::signature::{decode_secret, encode_secret, sign, verify, VerifyError};
use super::*;

// The Standard Webhooks specification's published test vector (the reference libraries'
// tests): secret, message id, timestamp, body and the signature they produce.
const VECTOR_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const VECTOR_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const VECTOR_TS: i64 = 1_614_265_330;
const VECTOR_BODY: &str = r#"{"test": 2432232314}"#;
const VECTOR_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

fn vector_key() -> Vec<u8> {
    decode_secret(VECTOR_SECRET).unwrap()
}

#[test]
fn signing_reproduces_the_standard_webhooks_reference_vector() {
    assert_eq!(
        sign(&vector_key(), VECTOR_ID, VECTOR_TS, VECTOR_BODY),
        VECTOR_SIGNATURE
    );
    // The prefix is optional when decoding (some tools show the bare base64).
    assert_eq!(
        decode_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap(),
        vector_key()
    );
}

#[test]
fn the_reference_delivery_verifies_and_tampering_does_not() {
    let key = vector_key();
    let ok = |header: &str, body: &str, id: &str, ts: i64| {
        verify(&key, id, ts, header, body, VECTOR_TS + 10)
    };
    assert_eq!(
        ok(VECTOR_SIGNATURE, VECTOR_BODY, VECTOR_ID, VECTOR_TS),
        Ok(())
    );
    // Several signatures (key rotation): any matching one passes.
    let rotated = format!("v1,bm90IGl0 {VECTOR_SIGNATURE}");
    assert_eq!(ok(&rotated, VECTOR_BODY, VECTOR_ID, VECTOR_TS), Ok(()));
    // A tampered body, id or timestamp fails.
    let tampered = r#"{"test": 2432232315}"#;
    assert_eq!(
        ok(VECTOR_SIGNATURE, tampered, VECTOR_ID, VECTOR_TS),
        Err(VerifyError::NoMatch)
    );
    assert_eq!(
        ok(VECTOR_SIGNATURE, VECTOR_BODY, "msg_other", VECTOR_TS),
        Err(VerifyError::NoMatch)
    );
    assert_eq!(
        ok(VECTOR_SIGNATURE, VECTOR_BODY, VECTOR_ID, VECTOR_TS + 1),
        Err(VerifyError::NoMatch)
    );
    // Another version tag, or garbage, is no signature.
    let v1a = VECTOR_SIGNATURE.replace("v1,", "v1a,");
    assert_eq!(
        ok(&v1a, VECTOR_BODY, VECTOR_ID, VECTOR_TS),
        Err(VerifyError::NoMatch)
    );
    assert_eq!(
        ok("v1,!!!", VECTOR_BODY, VECTOR_ID, VECTOR_TS),
        Err(VerifyError::NoMatch)
    );
}

#[test]
fn a_wrong_secret_does_not_verify() {
    let other = decode_secret(&encode_secret(&[7u8; 32])).unwrap();
    assert_eq!(
        verify(
            &other,
            VECTOR_ID,
            VECTOR_TS,
            VECTOR_SIGNATURE,
            VECTOR_BODY,
            VECTOR_TS
        ),
        Err(VerifyError::NoMatch)
    );
}

#[test]
fn a_stale_or_future_timestamp_is_refused_before_the_signature() {
    let key = vector_key();
    let at = |now| {
        verify(
            &key,
            VECTOR_ID,
            VECTOR_TS,
            VECTOR_SIGNATURE,
            VECTOR_BODY,
            now,
        )
    };
    assert_eq!(at(VECTOR_TS + 300), Ok(()));
    assert_eq!(at(VECTOR_TS + 301), Err(VerifyError::Stale));
    assert_eq!(at(VECTOR_TS - 301), Err(VerifyError::Stale));
}

#[test]
fn secrets_are_24_to_64_bytes_of_base64() {
    assert_eq!(decode_secret(&encode_secret(&[1u8; 32])).unwrap().len(), 32);
    assert!(decode_secret(&encode_secret(&[1u8; 23])).is_err());
    assert!(decode_secret(&encode_secret(&[1u8; 65])).is_err());
    assert!(decode_secret("whsec_not base64!").is_err());
}

/// The trigger in migrations/0010 names every event type (and no other), so the types the
/// API accepts in a filter are the types that can be queued.
#[test]
fn the_migration_trigger_queues_exactly_the_event_types() {
    let sql = include_str!("../../migrations/0010_outbox_notifications.sql");
    let trigger = &sql[sql.find("CREATE TRIGGER").unwrap()..];
    // `lock.stuck` is queued by the `DeployLock` object (`worker/lock_audit.rs`), not here.
    for event in EventType::ALL
        .into_iter()
        .filter(|e| *e != EventType::LockStuck)
    {
        let name = event.as_str();
        let status = name.trim_start_matches("deployment.");
        assert!(
            trigger.contains(&format!("'{name}'")) || trigger.contains(&format!("'{status}'")),
            "{name} is never queued by the trigger"
        );
    }
    let named = trigger.matches("'deployment.").count();
    // Created, awaiting approval, started, paused, lock lost by name; the four endings by
    // `'deployment.' || NEW.to_status`.
    assert_eq!(named, 6);
}

fn event(event_type: EventType) -> EventPayload {
    EventPayload {
        event_type,
        event_id: 42,
        at: 1_700_000_000_000,
        deployment: DeploymentSnapshot {
            id: "dep_1".into(),
            project: "shop".into(),
            environment: "production".into(),
            status: "succeeded".into(),
            strategy: Some("gradual".into()),
            git_ref: Some("main".into()),
            git_sha: Some("0123456789abcdef".into()),
            message: Some("ship <it> & @everyone".into()),
            requested_by: Some("token:ci".into()),
            created_at: Some(1_699_999_000_000),
            started_at: Some(1_699_999_500_000),
            finished_at: Some(1_700_000_000_000),
            promoted_from: None,
        },
    }
}

fn new_channel(kind: ChannelKind) -> NewChannel {
    NewChannel {
        project: "shop".into(),
        environment: None,
        name: "ops".into(),
        kind,
        events: None,
        url: None,
        signing_secret: None,
        api_key: None,
        base_url: None,
        from: None,
        to: None,
        org: None,
        projects: None,
        entity_guid: None,
        template: None,
    }
}

fn no_random() -> Result<[u8; 32], String> {
    Ok([9u8; 32])
}

#[test]
fn each_kind_takes_its_fields_and_refuses_others() {
    let mut slack = new_channel(ChannelKind::Slack);
    assert_eq!(check_channel(&slack, no_random).unwrap_err().field, "url");
    slack.url = Some("https://hooks.slack.com/services/T/B/secret".into());
    let checked = check_channel(&slack, no_random).unwrap();
    assert_eq!(checked.endpoint, "https://hooks.slack.com");
    assert_eq!(checked.secrets.url.as_deref(), slack.url.as_deref());
    assert_eq!(checked.events, ChannelKind::Slack.default_events());
    // A field the kind does not use is refused, not ignored.
    slack.api_key = Some("k".into());
    let err = check_channel(&slack, no_random).unwrap_err();
    assert_eq!(err.field, "api_key");
    assert!(err.message.contains("does not use it"), "{err}");

    let mut email = new_channel(ChannelKind::Email);
    email.api_key = Some("re_123".into());
    email.from = Some("clodo@example.com".into());
    assert_eq!(check_channel(&email, no_random).unwrap_err().field, "to");
    email.to = Some(vec!["ops@example.com".into()]);
    let checked = check_channel(&email, no_random).unwrap();
    assert_eq!(
        checked.settings.base_url.as_deref(),
        Some("https://api.resend.com")
    );
    email.base_url = Some("http://127.0.0.1:9/".into());
    let checked = check_channel(&email, no_random).unwrap();
    assert_eq!(
        checked.settings.base_url.as_deref(),
        Some("http://127.0.0.1:9")
    );

    let mut sentry = new_channel(ChannelKind::Sentry);
    sentry.api_key = Some("t".into());
    assert_eq!(check_channel(&sentry, no_random).unwrap_err().field, "org");
    sentry.org = Some("acme".into());
    assert_eq!(
        check_channel(&sentry, no_random).unwrap_err().field,
        "projects"
    );
    sentry.projects = Some(vec!["web".into()]);
    let checked = check_channel(&sentry, no_random).unwrap();
    assert_eq!(
        checked.events,
        vec![EventType::Succeeded, EventType::RolledBack]
    );

    let mut relic = new_channel(ChannelKind::Newrelic);
    relic.api_key = Some("NRAK".into());
    assert_eq!(
        check_channel(&relic, no_random).unwrap_err().field,
        "entity_guid"
    );
}

#[test]
fn urls_must_be_http_without_credentials() {
    let mut hook = new_channel(ChannelKind::Discord);
    for bad in [
        "ftp://x/y",
        "hooks.slack.com/x",
        "https://user:pw@host/x",
        "https:///x",
    ] {
        hook.url = Some(bad.into());
        assert_eq!(
            check_channel(&hook, no_random).unwrap_err().field,
            "url",
            "{bad}"
        );
    }
}

#[test]
fn a_webhook_gets_a_generated_secret_once_or_keeps_the_given_one() {
    let mut hook = new_channel(ChannelKind::Webhook);
    hook.url = Some("https://example.com/hooks".into());
    let checked = check_channel(&hook, no_random).unwrap();
    let generated = checked.generated_secret.clone().unwrap();
    assert!(generated.starts_with("whsec_"));
    assert_eq!(checked.secrets.signing_secret, Some(generated));

    hook.signing_secret = Some(VECTOR_SECRET.into());
    let checked = check_channel(&hook, no_random).unwrap();
    assert_eq!(checked.generated_secret, None);
    hook.signing_secret = Some("whsec_c2hvcnQ=".into());
    assert_eq!(
        check_channel(&hook, no_random).unwrap_err().field,
        "signing_secret"
    );
}

#[test]
fn templates_must_render_to_json_with_known_placeholders() {
    let mut hook = new_channel(ChannelKind::Webhook);
    hook.url = Some("https://example.com/hooks".into());
    hook.template = Some(r#"{"text": "{{summary}}", "sha": "{{deployment.git_sha}}"}"#.into());
    assert!(check_channel(&hook, no_random).is_ok());
    for bad in [
        r#"{"text": "{{nope}}"}"#,
        r#"{"text": "{{summary"}"#,
        r#"{"text": {{summary}}}"#,
    ] {
        hook.template = Some(bad.into());
        assert_eq!(
            check_channel(&hook, no_random).unwrap_err().field,
            "template",
            "{bad}"
        );
    }
    // Values cannot break out of their JSON string.
    let filled = template::fill(
        r#"{"m": "{{deployment.message}}"}"#,
        &event(EventType::Failed),
    )
    .unwrap();
    let v: Value = serde_json::from_str(&filled).unwrap();
    assert_eq!(v["m"], "ship <it> & @everyone");
}

#[test]
fn events_are_stored_as_a_delimited_filter() {
    let stored = stored_events(&[EventType::Succeeded, EventType::Failed]);
    assert_eq!(stored, ",deployment.succeeded,deployment.failed,");
    assert_eq!(
        parse_events(&stored),
        vec![EventType::Succeeded, EventType::Failed]
    );
}

fn config(kind: ChannelKind, new: &NewChannel) -> ChannelConfig {
    let mut new = new.clone();
    new.kind = kind;
    let checked = check_channel(&new, no_random).unwrap();
    ChannelConfig {
        kind,
        settings: checked.settings,
        secrets: checked.secrets,
    }
}

#[test]
fn a_webhook_delivery_is_signed_and_verifiable() {
    let mut hook = new_channel(ChannelKind::Webhook);
    hook.url = Some("http://127.0.0.1:9/hook".into());
    hook.signing_secret = Some(VECTOR_SECRET.into());
    let requests = render(
        &config(ChannelKind::Webhook, &hook),
        &event(EventType::Succeeded),
        "evt42_chn_1",
        1_700_000_001,
    )
    .unwrap();
    let [request] = requests.as_slice() else {
        panic!("{requests:?}")
    };
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(header("webhook-id"), "evt42_chn_1");
    assert_eq!(header("webhook-timestamp"), "1700000001");
    let body = request.body.clone().unwrap();
    assert_eq!(
        verify(
            &vector_key(),
            "evt42_chn_1",
            1_700_000_001,
            &header("webhook-signature"),
            &body,
            1_700_000_001
        ),
        Ok(())
    );
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v, standard_payload(&event(EventType::Succeeded)));
    assert_eq!(v["type"], "deployment.succeeded");
    assert_eq!(v["timestamp"], "2023-11-14T22:13:20Z");
    assert_eq!(v["data"]["deployment"]["git_sha"], "0123456789abcdef");
}

#[test]
fn chat_messages_escape_user_text() {
    let mut slack = new_channel(ChannelKind::Slack);
    slack.url = Some("https://hooks.slack.com/services/x".into());
    let requests = render(
        &config(ChannelKind::Slack, &slack),
        &event(EventType::Failed),
        "k",
        0,
    )
    .unwrap();
    let body: Value = serde_json::from_str(requests[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(body["text"], "shop/production: deployment dep_1 failed");
    assert_eq!(body["blocks"][0]["type"], "header");
    let context = body["blocks"][2]["elements"][0]["text"].as_str().unwrap();
    assert_eq!(context, "ship &lt;it&gt; &amp; @everyone");

    let requests = render(
        &config(ChannelKind::Discord, &slack),
        &event(EventType::Failed),
        "k",
        0,
    )
    .unwrap();
    let body: Value = serde_json::from_str(requests[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(body["allowed_mentions"]["parse"], serde_json::json!([]));
    assert_eq!(body["embeds"][0]["color"], 0x00d7_3a49);
}

#[test]
fn markers_call_each_service_api() {
    let mut sentry = new_channel(ChannelKind::Sentry);
    sentry.api_key = Some("sntrys_x".into());
    sentry.base_url = Some("http://127.0.0.1:9".into());
    sentry.org = Some("acme".into());
    sentry.projects = Some(vec!["web".into()]);
    let requests = render(
        &config(ChannelKind::Sentry, &sentry),
        &event(EventType::Succeeded),
        "k",
        0,
    )
    .unwrap();
    let urls: Vec<&str> = requests.iter().map(|r| r.url.as_str()).collect();
    assert_eq!(
        urls,
        [
            "http://127.0.0.1:9/api/0/organizations/acme/releases/",
            "http://127.0.0.1:9/api/0/organizations/acme/releases/0123456789abcdef/deploys/"
        ]
    );
    assert!(requests[0]
        .headers
        .contains(&("authorization".into(), "Bearer sntrys_x".into())));

    let mut dd = new_channel(ChannelKind::Datadog);
    dd.api_key = Some("dd".into());
    let requests = render(
        &config(ChannelKind::Datadog, &dd),
        &event(EventType::Succeeded),
        "k",
        0,
    )
    .unwrap();
    assert_eq!(requests.len(), 2, "an event and a DORA deployment");
    assert_eq!(requests[0].url, "https://api.datadoghq.com/api/v1/events");
    assert_eq!(
        requests[1].url,
        "https://api.datadoghq.com/api/v2/dora/deployment"
    );
    let rolled = render(
        &config(ChannelKind::Datadog, &dd),
        &event(EventType::RolledBack),
        "k",
        0,
    )
    .unwrap();
    let body: Value = serde_json::from_str(rolled[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(
        (rolled.len(), body["alert_type"].as_str()),
        (1, Some("error"))
    );

    let mut relic = new_channel(ChannelKind::Newrelic);
    relic.api_key = Some("NRAK-1".into());
    relic.entity_guid = Some("MXxBUE18".into());
    let requests = render(
        &config(ChannelKind::Newrelic, &relic),
        &event(EventType::Succeeded),
        "k",
        0,
    )
    .unwrap();
    assert_eq!(requests[0].url, "https://api.newrelic.com/graphql");
    let body: Value = serde_json::from_str(requests[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(body["variables"]["deployment"]["entityGuid"], "MXxBUE18");
    assert_eq!(
        body["variables"]["deployment"]["version"],
        "0123456789abcdef"
    );
}
