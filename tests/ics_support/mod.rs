//! Validates iCalendar feeds with a real RFC 5545 parser: the `icalendar` package from PyPI,
//! pinned, in `target/ics-venv` (made on first use, like tests/schemathesis.sh's venv). The
//! check (`check_ics.py`) also enforces CRLF line endings and 75-octet lines, and answers the
//! parsed events as JSON for the test to compare with what it expects.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

const ICALENDAR_VERSION: &str = "7.3.2";

fn venv() -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("ics-venv")
}

fn python() -> PathBuf {
    let venv = venv();
    let python = venv.join("bin/python");
    let installed = Command::new(&python)
        .args(["-c", "import icalendar, sys; print(icalendar.__version__)"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == ICALENDAR_VERSION);
    if !installed {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success());
        let pip = made
            && Command::new(venv.join("bin/pip"))
                .args(["install", "--quiet", "--disable-pip-version-check"])
                .arg(format!("icalendar=={ICALENDAR_VERSION}"))
                .status()
                .is_ok_and(|s| s.success());
        assert!(
            pip,
            "could not install icalendar {ICALENDAR_VERSION} into {}: it needs python3 with venv and PyPI (pip install icalendar=={ICALENDAR_VERSION} in that venv)",
            venv.display()
        );
    }
    python
}

/// The feed's events as `icalendar` parsed them; panics with the parser's complaint.
pub fn parse(feed: &str) -> Vec<Value> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ics_support/check_ics.py");
    let mut child = Command::new(python())
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(feed.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "icalendar refused the feed: {}\n{feed}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the check prints JSON")
}
