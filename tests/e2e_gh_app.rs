//! End-to-end: GitHub App authentication. `clodo github connect --app-id --installation-id
//! --private-key-file` stores the App's key (never shown again); the Worker signs a JWT
//! (RS256) that the fake GitHub verifies with the App's public key before issuing an
//! installation token, which the Worker then calls the API with, reuses for the next delivery,
//! and renews when GitHub answers 401 (a revoked token).
//!
//! `#[ignore]`d under a plain `cargo test`; `tests/e2e.sh` runs it with `--ignored`.

mod e2e_support;
mod fake_github;

use base64::Engine as _;
use e2e_support::shop::clodo_command;
use e2e_support::{base_url, outcome, unique, Team};
use fake_github::{fake_github, Connected, ACCOUNT, CLODO_TOML, SANDBOX_TOKEN, SHA_A, SHA_B};
use rsa::pkcs8::DecodePublicKey;
use serde_json::{json, Value};

const PRESENT: &str = include_str!("fixtures/assess/present.toml");
const PUBLIC_KEY: &str = include_str!("fixtures/github/app-test-key.pub.pem");
const KEY_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/github/app-test-key.pem"
);
const APP_ID: u64 = 4242;
const INSTALLATION: u64 = 77;

fn public_key() -> rsa::RsaPublicKey {
    let packed: String = PUBLIC_KEY
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(packed)
        .unwrap();
    rsa::RsaPublicKey::from_public_key_der(&der).unwrap()
}

/// Connected through the CLI as the App.
async fn connected_as_app() -> Connected {
    let (github, recorded) = fake_github().await;
    recorded.lock().unwrap().app = Some((APP_ID, public_key()));
    let team = Team::new().await;
    team.bind(ACCOUNT).await;
    team.add_credential(ACCOUNT, "sandbox", SANDBOX_TOKEN).await;
    let repository = format!("acme/{}", unique("shop"));
    let secret = unique("webhook-secret-0123456789");
    let dir = std::env::temp_dir().join(unique("gh-app"));
    std::fs::create_dir_all(&dir).unwrap();
    let (code, out, err) = outcome(
        clodo_command(&base_url(), &dir, &team.admin.token)
            .env("CLODO_GITHUB_WEBHOOK_SECRET", &secret)
            .env_remove("GITHUB_TOKEN")
            .args([
                "github",
                "connect",
                "--project",
                "shop",
                "--repository",
                &repository,
                "--api-base-url",
                &github,
                "--env",
                "production",
                "--app-id",
                &APP_ID.to_string(),
                "--installation-id",
                &INSTALLATION.to_string(),
                "--private-key-file",
                KEY_FILE,
                "--json",
            ])
            .output()
            .expect("clodo runs"),
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let shown: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["auth"], "app", "{shown}");
    assert_eq!(shown["app_id"], APP_ID);
    assert_eq!(shown["installation_id"], INSTALLATION);
    assert!(
        !out.contains("PRIVATE KEY") && !out.contains(&secret),
        "{out}"
    );
    Connected {
        team,
        repository,
        secret,
        github,
        recorded,
    }
}

#[tokio::test]
#[ignore = "needs the local Worker and sandbox: run through tests/e2e.sh"]
async fn an_app_installation_token_is_minted_reused_and_renewed_on_401() {
    let gh = connected_as_app().await;
    gh.commit(SHA_A, CLODO_TOML, PRESENT);
    gh.commit(SHA_B, CLODO_TOML, PRESENT);

    let (status, body) = gh
        .deliver("push", &unique("d"), Connected::push("main", SHA_A))
        .await;
    assert_eq!(status, 202, "{body}");
    gh.wait_for("the status of A", |r| {
        r.statuses.iter().any(|(s, _)| s == SHA_A)
    })
    .await;
    {
        let s = gh.recorded.lock().unwrap();
        assert_eq!(
            s.installation_tokens,
            [(INSTALLATION, "ghs_e2e_1".to_owned())]
        );
        assert!(
            s.auth.iter().all(|a| a == "Bearer ghs_e2e_1"),
            "{:?}",
            s.auth
        );
    }

    // The next delivery reuses the cached installation token.
    let (status, _) = gh
        .deliver("push", &unique("d"), Connected::push("main", SHA_B))
        .await;
    assert_eq!(status, 202);
    gh.wait_for("the status of B", |r| {
        r.statuses.iter().any(|(s, _)| s == SHA_B)
    })
    .await;
    assert_eq!(gh.recorded.lock().unwrap().installation_tokens.len(), 1);

    // GitHub revokes it: the 401 makes the Worker mint a new one and finish the work.
    gh.recorded.lock().unwrap().revoked.push("ghs_e2e_1".into());
    let (status, _) = gh
        .deliver("push", &unique("d"), Connected::push("main", SHA_A))
        .await;
    assert_eq!(status, 202);
    gh.wait_for("the second status of A", |r| {
        r.statuses.iter().filter(|(s, _)| s == SHA_A).count() == 2
    })
    .await;
    {
        let s = gh.recorded.lock().unwrap();
        assert_eq!(
            s.installation_tokens.len(),
            2,
            "{:?}",
            s.installation_tokens
        );
        assert_eq!(s.auth.last().unwrap(), "Bearer ghs_e2e_2");
    }

    // The key never comes back; a key that is not one is refused without being echoed.
    let shown = gh.team.admin.read("/api/v1/projects/shop/github").await;
    assert!(!shown.to_string().contains("PRIVATE"), "{shown}");
    let (status, refused) = gh
        .team
        .admin
        .put(
            "/api/v1/projects/shop/github",
            json!({ "repository": gh.repository, "webhook_secret": gh.secret,
                    "app": { "app_id": APP_ID, "installation_id": INSTALLATION,
                             "private_key": format!("-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----\n", "QUJD".repeat(20)) } }),
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    assert!(!refused.to_string().contains("QUJD"), "{refused}");
    // Both a token and an App: refused, naming the fix.
    let (status, refused) = gh
        .team
        .admin
        .put(
            "/api/v1/projects/shop/github",
            json!({ "repository": gh.repository, "webhook_secret": gh.secret,
                    "api_token": "ghp_x",
                    "app": { "app_id": APP_ID, "installation_id": INSTALLATION,
                             "private_key": std::fs::read_to_string(KEY_FILE).unwrap() } }),
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused
            .to_string()
            .contains("exactly one of `api_token` or `app`"),
        "{refused}"
    );
}
