//! The rollout driver's rollback of Pages sites, against the fakes of `driver_tests.rs`: the
//! sites go back after the Workers, a failed Pages call is retried and never recorded as
//! restored, and a site that cannot be put back fails the rollout naming it.

use futures::executor::block_on;

use super::driver::*;
use super::driver_tests::{driver, run_to_the_end, Call, TestDriver};
use super::*;
use crate::control::lifecycle::DeploymentStatus;

/// A driver whose deployment also put two Pages sites live: one replacing an earlier
/// production deployment, one the site's first.
fn driver_with_pages() -> TestDriver {
    let d = driver();
    let mut r = d.store.state();
    r.spec.pages = vec![
        PagesSite {
            service: "storefront".into(),
            project: "shop-storefront".into(),
            deployment_id: "pg-new".into(),
            previous_deployment_id: Some("pg-old".into()),
        },
        PagesSite {
            service: "docs".into(),
            project: "shop-docs".into(),
            deployment_id: "docs-first".into(),
            previous_deployment_id: None,
        },
    ];
    block_on(d.store.save(&r)).unwrap();
    d
}

#[test]
fn a_rollback_puts_the_pages_sites_back_after_the_workers_retrying_a_failed_call() {
    let d = driver_with_pages();
    d.effects.unhealthy.set(true);
    d.effects.refuse_pages.set(1);
    run_to_the_end(&d);
    let calls = d.effects.calls();
    let restore_at = calls
        .iter()
        .position(|c| matches!(c, Call::Restore(_)))
        .expect("the Workers are restored");
    let pages: Vec<(usize, &Call)> = calls
        .iter()
        .enumerate()
        .filter(|(_, c)| matches!(c, Call::RestorePages(..)))
        .collect();
    // The failed call, then the retry; only the site with a previous deployment.
    assert_eq!(pages.len(), 2, "{calls:?}");
    assert!(pages.iter().all(|(i, c)| *i > restore_at
        && **c == Call::RestorePages("shop-storefront".into(), "pg-old".into())));
    // Recorded once, after the call that went through; never for the failed one.
    assert_eq!(
        *d.recorder.pages_records.borrow(),
        vec![("storefront".to_owned(), "rollback-of-pg-old".to_owned())]
    );
    let r = d.store.state();
    assert_eq!(r.phase, Phase::RolledBack);
    assert_eq!(r.pages_restored, vec!["storefront".to_owned()]);
    let log: Vec<&str> = r.log.iter().map(|e| e.message.as_str()).collect();
    assert!(
        log.iter()
            .any(|m| m.contains("Pages restore failed") && m.contains("service unavailable")),
        "{log:?}"
    );
    let end = log.last().unwrap();
    assert!(end.contains("storefront (Pages shop-storefront)"), "{end}");
    assert!(
        end.contains("docs (Pages shop-docs) had no previous"),
        "{end}"
    );
    assert_eq!(
        *d.recorder.ended.borrow(),
        vec![DeploymentStatus::RolledBack]
    );
}

#[test]
fn a_pages_site_that_cannot_be_put_back_fails_the_rollout_and_is_never_recorded_restored() {
    let d = driver_with_pages();
    d.effects.unhealthy.set(true);
    d.effects.refuse_pages.set(MAX_ATTEMPTS);
    run_to_the_end(&d);
    let r = d.store.state();
    assert_eq!(r.phase, Phase::Failed);
    assert!(r.pages_restored.is_empty());
    assert!(d.recorder.pages_records.borrow().is_empty());
    let reason = r.reason.unwrap();
    assert!(
        reason.contains("restoring Pages failed 3 times: storefront (Pages shop-storefront)"),
        "{reason}"
    );
    assert_eq!(*d.recorder.ended.borrow(), vec![DeploymentStatus::Failed]);
    // The Workers were put back all the same.
    assert_eq!(d.effects.api_on_new(), 0.0);
}
