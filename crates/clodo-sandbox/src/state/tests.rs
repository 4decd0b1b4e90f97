//! Unit tests of seed normalization and zone lookup.

use super::*;

fn zone(name: &str) -> Zone {
    Zone {
        id: format!("id-{name}"),
        name: name.into(),
        account_id: "a".into(),
        status: "active".into(),
        paused: false,
        created_on: String::new(),
    }
}

#[test]
fn zone_lookup_walks_to_the_longest_parent() {
    let zones = vec![zone("example.com"), zone("shop.example.com")];
    assert_eq!(
        zone_for_hostname(&zones, "api.shop.example.com")
            .unwrap()
            .name,
        "shop.example.com"
    );
    assert_eq!(
        zone_for_hostname(&zones, "example.com").unwrap().name,
        "example.com"
    );
    assert!(zone_for_hostname(&zones, "notexample.com").is_none());
}

#[test]
fn normalize_numbers_versions_and_rejects_dangling_references() {
    let mut state: State = serde_json::from_value(serde_json::json!({
        "accounts": [{"id": "a", "name": "A"}],
        "scripts": [{"account_id": "a", "name": "w", "versions": [{}, {}],
                      "deployments": []}]
    }))
    .unwrap();
    state.normalize().unwrap();
    let numbers: Vec<u64> = state.scripts[0].versions.iter().map(|v| v.number).collect();
    assert_eq!(numbers, vec![1, 2]);

    let mut dangling: State = serde_json::from_value(serde_json::json!({
        "accounts": [{"id": "a", "name": "A"}],
        "tokens": [{"value": "t", "accounts": ["b"]}]
    }))
    .unwrap();
    assert!(dangling.normalize().is_err());
}

#[test]
fn seed_rejects_deployments_not_summing_to_100() {
    let mut state: State = serde_json::from_value(serde_json::json!({
        "accounts": [{"id": "a", "name": "A"}],
        "scripts": [{"account_id": "a", "name": "w", "versions": [{"id": "v1"}],
                      "deployments": [{"versions": [{"version_id": "v1", "percentage": 50}]}]}]
    }))
    .unwrap();
    assert!(state.normalize().is_err());
}
