//! Tests across products: no false alarm on a complete account, every missing resource located
//! with a fix, and a check that could not be made never passing.

use super::fixtures::*;

#[test]
fn everything_present_gives_no_finding() {
    let w = worker(CONFIG);
    let input = ServiceInput {
        worker: &w,
        extra_required_secrets: vec![],
        main_exists: Some(true),
    };
    assert!(local_findings(&input, &ctx()).is_empty());
    let (access, usable) = access_findings(&inventory(), "acc", None);
    assert!(access.is_empty() && usable);
    assert!(remote(&w, &inventory(), &[]).is_empty());
}

#[test]
fn each_missing_resource_is_an_error_with_a_fix_and_a_location() {
    let w = worker(CONFIG);
    let mut inv = inventory();
    inv.d1 = Some(Ok(vec![]));
    inv.kv = Some(Ok(vec![]));
    inv.queues = Some(Ok(vec![]));
    inv.scripts = Ok(vec![script("api")]);
    let found = remote(&w, &inv, &[]);
    for kind in [
        Kind::D1Missing,
        Kind::KvMissing,
        Kind::QueueMissing,
        Kind::ServiceMissing,
    ] {
        let f = found
            .iter()
            .find(|f| f.kind == kind)
            .unwrap_or_else(|| panic!("{kind:?} in {found:?}"));
        assert_eq!(f.severity, Severity::Error);
        assert!(!f.fix.is_empty());
        let loc = f.location.as_ref().expect("located");
        assert_eq!(loc.file, "wrangler.toml");
        assert!(loc.line.is_some(), "{f:?}");
    }
}

#[test]
fn an_unanswered_list_is_inconclusive_never_missing() {
    let w = worker(CONFIG);
    let mut inv = inventory();
    inv.d1 = Some(Err(no_answer()));
    inv.kv = Some(Err(no_answer()));
    let found = remote(&w, &inv, &[]);
    assert!(!kinds(&found).contains(&Kind::D1Missing));
    assert!(!kinds(&found).contains(&Kind::KvMissing));
    let inconclusive = found
        .iter()
        .filter(|f| f.kind == Kind::Inconclusive)
        .count();
    assert_eq!(inconclusive, 2, "{found:?}");
}

#[test]
fn a_check_that_could_not_be_made_makes_the_report_not_ready() {
    let w = worker(CONFIG);
    let mut inv = inventory();
    inv.d1 = Some(Err(no_answer()));
    let mut report = report_of(&w, &inv);
    let f = report
        .findings
        .iter()
        .find(|f| f.kind == Kind::Inconclusive)
        .expect("inconclusive");
    assert!(
        f.unverified && f.message.contains("D1 binding `DB`"),
        "{f:?}"
    );
    assert!(f.fix.contains("--allow-inconclusive"), "{}", f.fix);
    assert_eq!(report.count(Severity::Error), 0);
    assert!(!report.ready, "an unanswered check never passes as ready");
    assert_eq!(report.unverified, 1);
    assert!(report.summary_line().starts_with("not ready"));
    // Explicitly allowed: ready, the finding stays, and the report says why it is ready.
    report.allow_inconclusive();
    assert!(report.ready && report.inconclusive_allowed);
    assert_eq!(report.findings.len(), 1);
    assert!(report.summary_line().contains("--allow-inconclusive"));
    assert_eq!(report.to_json()["inconclusive_allowed"], true);
    // Allowing unverified checks never hides a proven error.
    inv.kv = Some(Ok(vec![]));
    let mut report = report_of(&w, &inv);
    report.allow_inconclusive();
    assert!(!report.ready && !report.inconclusive_allowed);
}

#[test]
fn a_forbidden_list_names_the_permission_to_add() {
    let w = worker(CONFIG);
    let mut inv = inventory();
    inv.d1 = Some(Err(forbidden("Account · D1 · Read")));
    let report = report_of(&w, &inv);
    let f = report
        .findings
        .iter()
        .find(|f| f.kind == Kind::TokenMissingPermission)
        .unwrap_or_else(|| panic!("{:?}", report.findings));
    assert!(f.fix.contains("Account · D1 · Read"), "{}", f.fix);
    assert!(f.message.contains("D1 binding `DB`"));
    assert_eq!(
        f.severity,
        Severity::Warning,
        "not proven to fail the deploy"
    );
    assert!(f.unverified);
    assert!(!report.findings.iter().any(|f| f.kind == Kind::Inconclusive));
    assert!(!report.ready);
}
