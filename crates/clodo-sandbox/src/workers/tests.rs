//! Unit tests of the Workers endpoints' pure parts: uploads, migrations, splits.

use super::*;

fn script_with_versions(ids: &[&str]) -> Script {
    let mut s = new_script("a", "w");
    for id in ids {
        let mut v: Version = serde_json::from_value(json!({ "id": id })).unwrap();
        v.number = s.versions.len() as u64 + 1;
        s.versions.push(v);
    }
    s
}

fn dv(id: &str, pct: f64) -> DeploymentVersion {
    DeploymentVersion {
        version_id: id.into(),
        percentage: pct,
    }
}

#[test]
fn a_version_older_than_a_durable_object_migration_cannot_be_deployed() {
    let mut s = script_with_versions(&["v1", "v2", "v3"]);
    s.versions[1].metadata = Some(json!({ "migrations": { "new_tag": "m2", "steps": [] } }));
    let err = refuse_across_migration(&s, &[dv("v1", 100.0)]).unwrap_err();
    assert!(format!("{err:?}").contains("m2"), "{err:?}");
    assert!(refuse_across_migration(&s, &[dv("v3", 10.0), dv("v1", 90.0)]).is_err());
    // The migrating version itself and later ones are fine.
    assert!(refuse_across_migration(&s, &[dv("v2", 100.0)]).is_ok());
    assert!(refuse_across_migration(&s, &[dv("v3", 50.0), dv("v2", 50.0)]).is_ok());
    // No migration in the history: nothing is refused.
    let plain = script_with_versions(&["v1", "v2"]);
    assert!(refuse_across_migration(&plain, &[dv("v1", 100.0)]).is_ok());
}

#[test]
fn splits() {
    let s = script_with_versions(&["v1", "v2", "v3"]);
    assert!(validate_split(&s, "percentage", &[dv("v1", 10.0), dv("v2", 90.0)]).is_ok());
    assert!(validate_split(&s, "percentage", &[dv("v1", 100.0)]).is_ok());
    assert!(validate_split(&s, "percentage", &[dv("v1", 0.0), dv("v2", 100.0)]).is_ok());
    assert!(validate_split(&s, "percentage", &[dv("v1", 10.0), dv("v2", 80.0)]).is_err());
    assert!(validate_split(&s, "percentage", &[dv("v1", 50.0), dv("v1", 50.0)]).is_err());
    assert!(validate_split(
        &s,
        "percentage",
        &[dv("v1", 30.0), dv("v2", 30.0), dv("v3", 40.0)]
    )
    .is_err());
    assert!(validate_split(&s, "percentage", &[dv("nope", 100.0)]).is_err());
    assert!(validate_split(&s, "immediate", &[dv("v1", 100.0)]).is_err());
    assert!(validate_split(&s, "percentage", &[]).is_err());
}

#[test]
fn inherit_bindings_resolve_or_fail_strictly() {
    let mut s = script_with_versions(&["v1"]);
    s.versions[0].bindings = vec![json!({ "type": "plain_text", "name": "A", "text": "x" })];
    s.secrets = vec![Secret {
        name: "TOKEN".into(),
        secret_type: "secret_text".into(),
    }];
    let upload = Upload {
        bindings: vec![json!({ "type": "inherit", "name": "A" })],
        ..Default::default()
    };
    let v = build_version(Some(&s), &upload, true, "api", "", "upload").unwrap();
    assert_eq!(v.number, 2);
    assert_eq!(v.bindings[0]["text"], "x");
    assert!(v
        .bindings
        .iter()
        .any(|b| b["name"] == "TOKEN" && b["type"] == "secret_text"));
    assert_eq!(v.annotations["workers/triggered_by"], "upload");

    let missing = Upload {
        bindings: vec![json!({ "type": "inherit", "name": "B" })],
        ..Default::default()
    };
    let err = build_version(Some(&s), &missing, true, "api", "", "upload").unwrap_err();
    assert_eq!(err.envelope()["errors"][0]["code"], 10057);
    assert!(
        build_version(Some(&s), &missing, false, "api", "", "upload")
            .unwrap()
            .bindings
            .iter()
            .all(|b| b["name"] != "B")
    );
}

#[test]
fn keep_bindings_carry_over_vars() {
    let mut s = script_with_versions(&["v1"]);
    s.versions[0].bindings = vec![json!({ "type": "plain_text", "name": "DASH_VAR", "text": "1" })];
    let keep = Upload {
        keep_bindings: vec!["plain_text".into()],
        ..Default::default()
    };
    assert_eq!(
        build_version(Some(&s), &keep, true, "api", "", "upload")
            .unwrap()
            .bindings
            .len(),
        1
    );
    let drop = Upload::default();
    assert!(build_version(Some(&s), &drop, true, "api", "", "upload")
        .unwrap()
        .bindings
        .is_empty());
}

#[test]
fn migrations_plan_checks_the_old_tag() {
    let m = json!({ "old_tag": "v1", "new_tag": "v2", "steps": [
        { "new_sqlite_classes": ["Counter"] },
        { "renamed_classes": [{ "from": "A", "to": "B" }], "deleted_classes": ["C"] }
    ]});
    let plan = plan_migrations(&m, Some("v1")).unwrap();
    assert_eq!(plan.new_tag.as_deref(), Some("v2"));
    assert_eq!(plan.new_classes, vec![("Counter".to_string(), true)]);
    assert_eq!(plan.renamed, vec![("A".to_string(), "B".to_string())]);
    assert_eq!(plan.deleted, vec!["C".to_string()]);
    let err = plan_migrations(&m, None).unwrap_err();
    assert_eq!(err.envelope()["errors"][0]["code"], 10079);
    let flat = plan_migrations(&json!({ "new_tag": "v1", "new_classes": ["X"] }), None).unwrap();
    assert_eq!(flat.new_classes, vec![("X".to_string(), false)]);
}

#[test]
fn handler_detection() {
    let src = "export default { async fetch(req) { return new Response('hi') }, scheduled(e) {} }";
    assert_eq!(detect_handlers(src), vec!["fetch", "scheduled"]);
    let classes = "export class Api extends WorkerEntrypoint { ping() {} }\nexport class Room extends DurableObject {}\nexport class Plain {}";
    let named = detect_named_handlers(classes);
    assert_eq!(named.len(), 2);
    assert_eq!(named[0]["name"], "Api");
    assert_eq!(named[1]["name"], "Room");
}
