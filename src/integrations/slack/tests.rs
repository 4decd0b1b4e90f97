use super::*;

/// Slack's published example (docs: verifying requests from Slack).
const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const TS: &str = "1531420618";
const BODY: &[u8] = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
const NOW: i64 = 1_531_420_618 + 10;

#[test]
fn the_published_slack_vector_verifies() {
    assert_eq!(verify(SECRET, Some(TS), Some(SIGNATURE), BODY, NOW), Ok(()));
    let command = SlashCommand::parse(BODY).unwrap();
    assert_eq!(command.user_id, "U2CERLKJA");
    assert_eq!(command.slack_team, "T1DC2JH3J");
    assert!(command
        .response_url
        .starts_with("https://hooks.slack.com/commands/"));
}

#[test]
fn a_tampered_body_or_another_secret_is_refused() {
    let mut tampered = BODY.to_vec();
    tampered.extend_from_slice(b"&text=rollback");
    assert_eq!(
        verify(SECRET, Some(TS), Some(SIGNATURE), &tampered, NOW),
        Err(Refused::Signature(SignatureError::Mismatch))
    );
    assert_eq!(
        verify("another-secret", Some(TS), Some(SIGNATURE), BODY, NOW),
        Err(Refused::Signature(SignatureError::Mismatch))
    );
    // The timestamp is signed: moving it breaks the signature.
    assert_eq!(
        verify(SECRET, Some("1531420619"), Some(SIGNATURE), BODY, NOW),
        Err(Refused::Signature(SignatureError::Mismatch))
    );
    assert_eq!(
        verify(
            SECRET,
            Some(TS),
            Some(&SIGNATURE.replace("v0=", "v1=")),
            BODY,
            NOW
        ),
        Err(Refused::Signature(SignatureError::Malformed))
    );
    assert_eq!(
        verify(SECRET, Some(TS), None, BODY, NOW),
        Err(Refused::Signature(SignatureError::Missing))
    );
}

#[test]
fn a_stale_or_missing_timestamp_is_refused_even_when_signed() {
    // A replay six minutes later: the signature is right, the time is not.
    assert_eq!(
        verify(SECRET, Some(TS), Some(SIGNATURE), BODY, 1_531_420_618 + 360),
        Err(Refused::Stale(360))
    );
    // Far ahead of the clock is refused too.
    assert_eq!(
        verify(SECRET, Some(TS), Some(SIGNATURE), BODY, 1_531_420_618 - 301),
        Err(Refused::Stale(301))
    );
    for ts in [None, Some(""), Some("-1531420618"), Some("15314x0618")] {
        assert_eq!(
            verify(SECRET, ts, Some(SIGNATURE), BODY, NOW),
            Err(Refused::NoTimestamp),
            "{ts:?}"
        );
    }
    // At the edge of the window it still verifies.
    assert_eq!(
        verify(SECRET, Some(TS), Some(SIGNATURE), BODY, 1_531_420_618 + 300),
        Ok(())
    );
}

#[test]
fn commands_parse_with_their_usage() {
    let place = |p: Option<&str>, e: &str| Place {
        project: p.map(Into::into),
        environment: e.into(),
    };
    assert_eq!(Command::parse(""), Ok(Command::Help));
    assert_eq!(
        Command::parse("status shop/production"),
        Ok(Command::Status(place(Some("shop"), "production")))
    );
    assert_eq!(
        Command::parse("rollback staging  bad   release"),
        Ok(Command::Rollback {
            place: place(None, "staging"),
            reason: Some("bad release".into())
        })
    );
    assert_eq!(
        Command::parse("approve dep_1 looks good"),
        Ok(Command::Approve {
            deployment: "dep_1".into(),
            comment: Some("looks good".into())
        })
    );
    assert_eq!(
        Command::parse("link ab12cd"),
        Ok(Command::Link("ab12cd".into()))
    );
    assert_eq!(Command::parse("deploy"), Ok(Command::Deploy(None)));
    assert!(Command::parse("rollback")
        .unwrap_err()
        .contains("needs an environment"));
    assert!(Command::parse("status Prod!")
        .unwrap_err()
        .contains("not an environment"));
    assert!(Command::parse("frobnicate")
        .unwrap_err()
        .contains("/clodo help"));
}

#[test]
fn a_click_names_the_user_the_button_and_the_deployment() {
    let payload = serde_json::json!({
        "type": "block_actions",
        "user": { "id": "U1", "username": "ann" },
        "response_url": "https://hooks.slack.com/actions/T/1/x",
        "actions": [ { "action_id": "clodo.approve", "value": "dep_9", "type": "button" } ],
    });
    let body: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish();
    let click = Click::parse(body.as_bytes()).unwrap();
    assert_eq!(click.user_id, "U1");
    assert_eq!(click.action, Action::Approve);
    assert_eq!(click.deployment_id, "dep_9");
    let other = body.replace("clodo.approve", "other.button");
    assert!(Click::parse(other.as_bytes())
        .unwrap_err()
        .contains("unknown action"));
}

#[test]
fn response_urls_go_to_slack_or_the_apps_own_api_origin() {
    let api = "http://127.0.0.1:9000/api";
    assert!(valid_response_url(
        "https://hooks.slack.com/commands/T/1/x",
        DEFAULT_API_BASE_URL
    ));
    assert!(valid_response_url("http://127.0.0.1:9000/respond/1", api));
    assert!(!valid_response_url("http://127.0.0.1:9001/respond/1", api));
    assert!(!valid_response_url(
        "https://evil.example/hooks.slack.com/",
        DEFAULT_API_BASE_URL
    ));
}

#[test]
fn approval_messages_carry_confirmed_buttons_and_lose_them_once_acted() {
    let d: crate::api::contract::deployments::Deployment = serde_json::from_value(serde_json::json!({
        "id": "dep_1", "project_id": "p", "environment_id": "e", "project": "shop",
        "environment": "production", "status": "awaiting_approval", "strategy": "immediate",
        "requested_by": "member:a@x.test", "requested_by_member": "a@x.test", "git_ref": "main",
        "git_sha": null, "git_committed_at": null, "message": "ship <it>", "required_approvals": 1,
        "override_reason": null, "overridden_rules": null, "created_at": 1, "started_at": null,
        "finished_at": null, "promoted_from": null, "scheduled_for": null
    }))
    .unwrap();
    let m = blocks::approval_request(&d);
    let buttons = m["blocks"][1]["elements"].as_array().unwrap();
    assert_eq!(buttons.len(), 3);
    assert!(buttons
        .iter()
        .all(|b| b["confirm"]["title"].is_object() && b["value"] == "dep_1"));
    assert_eq!(buttons[0]["action_id"], "clodo.approve");
    assert!(m["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap()
        .contains("ship &lt;it&gt;"));
    let done = blocks::acted(&d, "Approved", "U1");
    assert_eq!(done["replace_original"], true);
    assert!(!done.to_string().contains("clodo.approve"));
    assert!(done.to_string().contains("Approved by <@U1>"));
}
