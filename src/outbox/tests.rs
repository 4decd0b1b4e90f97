use super::*;

const NOW: i64 = 1_700_000_000_000;

fn answered(status: u16) -> AttemptResult {
    AttemptResult::Answered {
        status,
        retry_after: None,
    }
}

#[test]
fn a_2xx_is_delivered() {
    let p = RetryPolicy::default();
    for status in [200, 201, 202, 204] {
        assert_eq!(
            decide(&p, 1, &answered(status), NOW, 0.5),
            Decision::Delivered
        );
    }
}

#[test]
fn a_410_disables_the_endpoint_at_once() {
    let d = decide(&RetryPolicy::default(), 1, &answered(410), NOW, 0.5);
    assert!(matches!(d, Decision::DisableEndpoint { .. }), "{d:?}");
    assert_eq!(d.state(), EntryState::Failed);
    assert_eq!(d.outcome(), "endpoint_disabled");
}

#[test]
fn server_errors_redirects_and_silence_are_retried_with_backoff() {
    let p = RetryPolicy::default();
    for result in [
        answered(500),
        answered(502),
        answered(503),
        answered(504),
        answered(301),
        answered(408),
        AttemptResult::NoAnswer("connection refused".into()),
    ] {
        let d = decide(&p, 1, &result, NOW, 0.0);
        assert_eq!(
            d,
            Decision::Retry {
                at: NOW + 1_000,
                reason: d.reason().unwrap().to_owned()
            },
            "{result:?}"
        );
    }
}

#[test]
fn other_client_errors_are_not_retried() {
    for status in [400, 401, 403, 404, 413, 422] {
        let d = decide(&RetryPolicy::default(), 1, &answered(status), NOW, 0.5);
        assert!(matches!(d, Decision::Fail { .. }), "{status}: {d:?}");
    }
}

#[test]
fn an_unsendable_entry_fails_without_retry() {
    let d = decide(
        &RetryPolicy::default(),
        1,
        &AttemptResult::Unsendable("channel deleted".into()),
        NOW,
        0.5,
    );
    assert_eq!(
        d,
        Decision::Fail {
            reason: "channel deleted".into()
        }
    );
}

#[test]
fn backoff_grows_exponentially_and_is_capped() {
    let p = RetryPolicy::default();
    assert_eq!(p.base_delay_ms(1), 2_000);
    assert_eq!(p.base_delay_ms(2), 6_000);
    assert_eq!(p.base_delay_ms(3), 18_000);
    assert_eq!(p.base_delay_ms(9), 2_000 * 3_i64.pow(8));
    assert_eq!(p.base_delay_ms(10), p.max_delay_ms);
    assert_eq!(p.base_delay_ms(u32::MAX), p.max_delay_ms);
}

#[test]
fn jitter_stays_between_half_and_all_of_the_delay() {
    let p = RetryPolicy::default();
    assert_eq!(p.delay_ms(2, 0.0), 3_000);
    assert_eq!(p.delay_ms(2, 0.5), 4_500);
    assert!(p.delay_ms(2, 0.999_999) <= 6_000);
    // Out-of-range draws are clamped, never a negative or doubled wait.
    assert_eq!(p.delay_ms(2, -3.0), 3_000);
    assert_eq!(p.delay_ms(2, 7.0), 6_000);
}

#[test]
fn a_429_waits_as_long_as_retry_after_says() {
    let p = RetryPolicy::default();
    let limited = |value: &str| AttemptResult::Answered {
        status: 429,
        retry_after: Some(value.to_owned()),
    };
    let at = |d: Decision| match d {
        Decision::Retry { at, .. } => at,
        other => panic!("{other:?}"),
    };
    assert_eq!(at(decide(&p, 1, &limited("30"), NOW, 0.0)), NOW + 30_000);
    assert_eq!(at(decide(&p, 1, &limited("1.5"), NOW, 0.0)), NOW + 1_500);
    // An HTTP date.
    let date = chrono::DateTime::from_timestamp_millis(NOW + 120_000)
        .unwrap()
        .to_rfc2822();
    assert_eq!(at(decide(&p, 1, &limited(&date), NOW, 0.0)), NOW + 120_000);
    // Capped: a receiver cannot park a delivery for a week.
    assert_eq!(
        at(decide(&p, 1, &limited("604800"), NOW, 0.0)),
        NOW + p.max_retry_after_ms
    );
    // Unreadable or absent: the normal backoff.
    assert_eq!(at(decide(&p, 1, &limited("soon"), NOW, 0.0)), NOW + 1_000);
    assert_eq!(at(decide(&p, 1, &answered(429), NOW, 0.0)), NOW + 1_000);
}

#[test]
fn retries_stop_after_the_last_attempt() {
    let p = RetryPolicy::default();
    assert!(matches!(
        decide(&p, p.max_attempts - 1, &answered(500), NOW, 0.5),
        Decision::Retry { .. }
    ));
    let last = decide(&p, p.max_attempts, &answered(500), NOW, 0.5);
    assert!(matches!(last, Decision::Fail { .. }), "{last:?}");
    assert!(last.reason().unwrap().contains("gave up after 15 attempts"));
}

/// The schedule the e2e test relies on: three failures then success within half a minute.
#[test]
fn three_quick_failures_are_retried_within_half_a_minute() {
    let p = RetryPolicy::default();
    let total: i64 = (1..=3).map(|n| p.delay_ms(n, 0.999)).sum();
    assert!(total <= 26_000, "{total}");
}

#[test]
fn retry_after_reads_seconds_and_dates() {
    assert_eq!(retry_after_ms("0", NOW), Some(0));
    assert_eq!(retry_after_ms(" 5 ", NOW), Some(5_000));
    assert_eq!(retry_after_ms("-1", NOW), None);
    assert_eq!(
        retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT", NOW),
        Some(0)
    );
    assert_eq!(retry_after_ms("tomorrow", NOW), None);
}

#[test]
fn keys_are_webhook_ids() {
    assert!(valid_key("evt12_chn_0af3"));
    assert!(!valid_key(""));
    assert!(!valid_key("a.b"));
    assert!(!valid_key("a/b"));
    assert!(!valid_key(&"a".repeat(201)));
}

#[test]
fn a_delivery_ends_the_streak_and_each_give_up_extends_it() {
    let fail = Decision::Fail {
        reason: "the endpoint refused the request with 404; not retried".into(),
    };
    let retry = Decision::Retry {
        at: 1,
        reason: "the endpoint answered 500".into(),
    };
    let gone = Decision::DisableEndpoint {
        reason: "410".into(),
    };
    let after = |s: u32, d: &Decision| apply_streak(s, streak_change(d));
    assert_eq!(streak_change(&fail), Some(StreakChange::Extend));
    assert_eq!(
        streak_change(&Decision::Delivered),
        Some(StreakChange::Reset)
    );
    assert_eq!(after(3, &fail), 4);
    assert_eq!(after(3, &Decision::Delivered), 0);
    assert_eq!(after(3, &retry), 3, "a retry is not given up yet");
    assert_eq!(after(3, &gone), 3, "a 410 disables on its own");
    // Five given up in a row, from nothing, with no delivery between.
    let streak = (0..DISABLE_AFTER_GIVEN_UP).fold(0, |s, _| after(s, &fail));
    assert_eq!(streak, DISABLE_AFTER_GIVEN_UP);
    // One delivery among them starts the count again.
    let broken = [
        &fail,
        &fail,
        &Decision::Delivered,
        &fail,
        &fail,
        &fail,
        &fail,
    ]
    .into_iter()
    .fold(0, after);
    assert_eq!(broken, 4);
    assert_eq!(disable_for_streak(broken, true, "404"), None);
}

#[test]
fn the_fifth_give_up_disables_an_enabled_channel_once_with_a_reason() {
    assert_eq!(disable_for_streak(4, true, "x"), None);
    let reason = disable_for_streak(5, true, "the endpoint refused the request with 404").unwrap();
    assert!(
        reason.starts_with("5 deliveries in a row were given up"),
        "{reason}"
    );
    assert!(reason.contains("404"), "{reason}");
    assert!(disable_for_streak(7, true, "x").is_some());
    assert_eq!(disable_for_streak(9, false, "x"), None, "already disabled");
}
