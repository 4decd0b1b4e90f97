//! Running real wrangler for a service: finding the binary the project pins, passing the
//! Cloudflare credentials through, and reading what it did from wrangler's own machine-readable
//! output file (`WRANGLER_OUTPUT_FILE_PATH`, one JSON object per line) instead of its text.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;

/// How to start wrangler: a program and the arguments that come before wrangler's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wrangler {
    program: PathBuf,
    prefix: Vec<String>,
}

/// What one wrangler run reported.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The version id of the upload or deploy (`version-upload` / `deploy` entries).
    pub version_id: Option<String>,
    /// The deployment `wrangler pages deploy` made (`pages-deploy-detailed` entry).
    pub pages: Option<PagesDeployed>,
}

/// What `wrangler pages deploy` reports about the deployment it made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PagesDeployed {
    pub deployment_id: String,
    /// The deployment's own URL (`https://<hash>.<project>.pages.dev`).
    pub url: Option<String>,
    /// The branch alias URL, when there is one.
    pub alias: Option<String>,
    /// `production` or `preview`.
    pub environment: Option<String>,
}

/// Why a wrangler run failed: its command line, exit status and the end of its output.
#[derive(Debug, Clone)]
pub struct WranglerError {
    pub command: String,
    pub message: String,
}

impl std::fmt::Display for WranglerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` failed: {}", self.command, self.message)
    }
}

/// Lines of wrangler's output kept for an error message: enough for its own error box.
const TAIL_LINES: usize = 30;

impl Wrangler {
    /// `CLODO_WRANGLER` when set (a path to the wrangler executable), else the nearest
    /// `node_modules/.bin/wrangler` from `dir` upwards (the version the project pins), else
    /// `npx wrangler`.
    #[must_use]
    pub fn locate(dir: &Path) -> Self {
        if let Some(path) = std::env::var_os("CLODO_WRANGLER").filter(|v| !v.is_empty()) {
            return Self {
                program: PathBuf::from(path),
                prefix: Vec::new(),
            };
        }
        let start = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        for ancestor in start.ancestors() {
            let candidate = ancestor.join("node_modules/.bin/wrangler");
            if candidate.is_file() {
                return Self {
                    program: candidate,
                    prefix: Vec::new(),
                };
            }
        }
        Self {
            program: PathBuf::from("npx"),
            prefix: vec!["wrangler".to_owned()],
        }
    }

    /// The command line shown in progress output and errors.
    #[must_use]
    pub fn describe(&self, args: &[String]) -> String {
        let mut parts = vec!["wrangler".to_owned()];
        parts.extend(args.iter().cloned());
        parts.join(" ")
    }

    /// Runs wrangler in `dir` with `args`, inheriting the environment (CLOUDFLARE_API_TOKEN,
    /// CLOUDFLARE_ACCOUNT_ID, CLOUDFLARE_API_BASE_URL), and returns what its output file says.
    ///
    /// # Errors
    /// When wrangler cannot start or exits non-zero; the message carries its last lines.
    pub fn run(&self, dir: &Path, args: &[String]) -> Result<Outcome, WranglerError> {
        let command = self.describe(args);
        let fail = |message: String| WranglerError {
            command: command.clone(),
            message,
        };
        let out_file = OutputFile::new();
        let mut child = Command::new(&self.program)
            .args(&self.prefix)
            .args(args)
            .current_dir(dir)
            .env("WRANGLER_OUTPUT_FILE_PATH", &out_file.0)
            // wrangler asks before some changes; a deploy driven by Clodo has already been
            // assessed and approved, and a prompt would hang CI.
            .env("CI", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| fail(format!("cannot start {}: {e}", self.program.display())))?;
        // Read both pipes on threads so a chatty wrangler never blocks on a full pipe.
        let stdout = child.stdout.take().map(drain);
        let stderr = child.stderr.take().map(drain);
        let status = child
            .wait()
            .map_err(|e| fail(format!("waiting for wrangler: {e}")))?;
        let text = [stdout, stderr]
            .into_iter()
            .flatten()
            .filter_map(|h| h.join().ok())
            .collect::<Vec<_>>()
            .join("\n");
        if !status.success() {
            return Err(fail(format!("{status}\n{}", tail(&text, TAIL_LINES))));
        }
        let written = std::fs::read_to_string(&out_file.0)
            .map_err(|e| fail(format!("cannot read wrangler's output file: {e}")))?;
        Ok(parse_output(&written))
    }
}

/// A per-run path in the temp directory, removed when the run is done.
struct OutputFile(PathBuf);

impl OutputFile {
    fn new() -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static RUNS: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let name = format!(
            "clodo-wrangler-{}-{nanos:x}-{}.ndjson",
            std::process::id(),
            RUNS.fetch_add(1, Ordering::Relaxed)
        );
        Self(std::env::temp_dir().join(name))
    }
}

impl Drop for OutputFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn drain<R: Read + Send + 'static>(mut pipe: R) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// One line of wrangler's output file: only the entries that name a version are read; every
/// other `type` (sessions, errors, ones added by later wrangler versions) is ignored.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum OutputEntry {
    VersionUpload {
        version_id: Option<String>,
    },
    Deploy {
        version_id: Option<String>,
    },
    PagesDeployDetailed(PagesDeployed),
    #[serde(other)]
    Other,
}

impl OutputEntry {
    fn version_id(self) -> Option<String> {
        match self {
            Self::VersionUpload { version_id } | Self::Deploy { version_id } => version_id,
            Self::PagesDeployDetailed(_) | Self::Other => None,
        }
    }
}

/// Parses wrangler's ND-JSON output file; the last `version-upload` or `deploy` entry that
/// names a version gives it. Lines that are not JSON, or not an entry this reads, are skipped
/// (the file is wrangler's, not ours).
#[must_use]
pub fn parse_output(text: &str) -> Outcome {
    let entries: Vec<OutputEntry> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let pages = entries.iter().rev().find_map(|e| match e {
        OutputEntry::PagesDeployDetailed(p) => Some(p.clone()),
        _ => None,
    });
    let version_id = entries.into_iter().rev().find_map(OutputEntry::version_id);
    Outcome { version_id, pages }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_comes_from_the_last_upload_or_deploy_entry() {
        let text = concat!(
            "{\"type\":\"wrangler-session\",\"version\":1}\n",
            "not json\n",
            "{\"type\":\"version-upload\",\"version\":1,\"version_id\":\"v-1\"}\n",
            "{\"type\":\"deploy\",\"version\":1,\"version_id\":\"v-2\",\"targets\":[]}\n",
        );
        let out = parse_output(text);
        assert_eq!(out.version_id.as_deref(), Some("v-2"));
        assert_eq!(parse_output("{\"type\":\"other\"}").version_id, None);
        // An entry without a version does not hide an earlier one; unknown types are skipped.
        let text = concat!(
            "{\"type\":\"version-upload\",\"version\":1,\"version_id\":\"v-1\"}\n",
            "{\"type\":\"deploy\",\"version\":1,\"version_id\":null}\n",
            "{\"type\":\"some-new-entry\",\"version_id\":\"x\"}\n",
        );
        assert_eq!(parse_output(text).version_id.as_deref(), Some("v-1"));
    }

    #[test]
    fn a_pages_deploy_reports_its_deployment() {
        let text = concat!(
            "{\"type\":\"wrangler-session\",\"version\":1}\n",
            "{\"type\":\"pages-deploy-detailed\",\"version\":1,\"pages_project\":\"site\",\"deployment_id\":\"d-1\",\"url\":\"https://abc.site.pages.dev\",\"alias\":null,\"environment\":\"production\",\"production_branch\":\"main\",\"deployment_trigger\":{\"metadata\":{\"commit_hash\":\"x\"}}}\n",
        );
        let out = parse_output(text);
        let pages = out.pages.unwrap();
        assert_eq!(pages.deployment_id, "d-1");
        assert_eq!(pages.url.as_deref(), Some("https://abc.site.pages.dev"));
        assert_eq!(pages.environment.as_deref(), Some("production"));
        assert_eq!(out.version_id, None);
    }

    #[test]
    fn errors_keep_the_last_lines() {
        let text = (1..=50).map(|i| format!("line {i}\n")).collect::<String>();
        let t = tail(&text, 3);
        assert_eq!(t, "line 48\nline 49\nline 50");
    }
}
