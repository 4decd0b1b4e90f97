//! The dashboard's API types (`frontend/src/api/schema.d.ts`) are generated from the OpenAPI
//! document; this fails when the committed file is out of date with it, or when the
//! dashboard's code no longer type-checks against it. Needs the npm packages (`make test`
//! installs them through scripts/setup.sh); without them it fails and says so.

use std::path::Path;
use std::process::Command;

#[test]
fn dashboard_api_types_match_the_openapi_document() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tools = ["openapi-typescript", "tsc"].map(|t| root.join("node_modules/.bin").join(t));
    // A check that could not be made does not pass: without the tools this fails, saying how
    // to get them (`make test` installs them through scripts/setup.sh).
    if let Some(missing) = tools.iter().find(|t| !t.exists()) {
        panic!(
            "{} is not installed: run scripts/setup.sh (or `make test`) first",
            missing.display()
        );
    }
    let out = Command::new("bash")
        .arg("scripts/gen-api-types.sh")
        .arg("--check")
        .env("CLODO_BIN", env!("CARGO_BIN_EXE_clodo"))
        .current_dir(root)
        .output()
        .expect("running scripts/gen-api-types.sh");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
