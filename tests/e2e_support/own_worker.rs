//! A second control-plane Worker that a test owns: started from the bundle tests/e2e.sh
//! already built (no rebuild), on its own port and state directory, so the test can kill it
//! mid-work and start it again on the same local D1 and Durable Object state.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::bootstrap_secret;
use super::shop::{repo, sandbox_url};

/// The dev-only credential encryption key tests/e2e.sh gives the shared Worker.
const DEV_ENCRYPTION_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

pub struct OwnWorker {
    pub url: String,
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
    /// `CLODO_ENCRYPTION_KEY` and `CLODO_ENCRYPTION_KEY_PREVIOUS` of the next launch.
    keys: (String, Option<String>),
    /// How many times it was killed and started again (the reliability suite counts them).
    pub restarts: u32,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wrangler() -> PathBuf {
    repo().join("node_modules/.bin/wrangler")
}

/// The repository's wrangler.toml for local use only: no `[build]` (the bundle exists), no
/// shared environments, absolute paths so it can live in a temporary directory.
fn local_config(dir: &Path) -> PathBuf {
    let root = repo();
    let text = std::fs::read_to_string(root.join("wrangler.toml")).unwrap();
    let text = text.split("\n[env.").next().unwrap();
    let mut out = String::new();
    let mut in_build = false;
    for line in text.lines() {
        if line.starts_with('[') {
            in_build = line.trim() == "[build]";
        }
        if !in_build {
            out.push_str(line);
            out.push('\n');
        }
    }
    let out = out
        .replace(
            "main = \"build/index.js\"",
            &format!("main = \"{}\"", root.join("build/index.js").display()),
        )
        .replace(
            "migrations_dir = \"migrations\"",
            &format!("migrations_dir = \"{}\"", root.join("migrations").display()),
        );
    let file = dir.join("wrangler.toml");
    std::fs::write(&file, out).unwrap();
    file
}

impl OwnWorker {
    /// Applies the migrations to fresh state and starts the Worker; returns once it answers.
    pub async fn start() -> OwnWorker {
        let dir = std::env::temp_dir().join(super::unique("clodo-own-worker"));
        std::fs::create_dir_all(&dir).unwrap();
        let config = local_config(&dir);
        let out = Command::new(wrangler())
            .args(["d1", "migrations", "apply", "DB", "--local", "--persist-to"])
            .arg(dir.join("state"))
            .arg("--config")
            .arg(&config)
            .current_dir(&dir)
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CI", "true")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "migrations: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut w = OwnWorker {
            port: free_port(),
            url: String::new(),
            dir,
            child: None,
            keys: (DEV_ENCRYPTION_KEY.to_owned(), None),
            restarts: 0,
        };
        w.url = format!("http://127.0.0.1:{}", w.port);
        // The port was free when picked, but another job's process may bind it before
        // workerd does (seen in a fresh-clone CI run): the first start then takes another.
        for _ in 0..3 {
            if w.launch().await {
                return w;
            }
            w.port = free_port();
            w.url = format!("http://127.0.0.1:{}", w.port);
        }
        panic!("own Worker: every port picked was taken before workerd bound it");
    }

    /// Starts the Worker and waits until it is ready: true, or false when its port was
    /// taken (the process exited saying so).
    async fn launch(&mut self) -> bool {
        let log_path = self.dir.join("worker.log");
        let log_before = std::fs::metadata(&log_path).map_or(0, |m| m.len());
        // Appended, not truncated: the log of every launch stays, so a test can grep all of it.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("worker.log"))
            .unwrap();
        // setsid: wrangler and the workerd it spawns form one process group to kill at once.
        let child = Command::new("setsid")
            .arg(wrangler())
            .args(["dev", "--ip", "127.0.0.1", "--port", &self.port.to_string()])
            .arg("--config")
            .arg(self.dir.join("wrangler.toml"))
            .arg("--persist-to")
            .arg(self.dir.join("state"))
            .args([
                "--show-interactive-dev-session=false",
                "--inspector-port",
                "0",
            ])
            .args([
                "--var",
                &format!("CLODO_BOOTSTRAP_TOKEN:{}", bootstrap_secret()),
            ])
            .args(["--var", &format!("CLODO_ENCRYPTION_KEY:{}", self.keys.0)])
            .args(self.keys.1.iter().flat_map(|previous| {
                [
                    "--var".to_owned(),
                    format!("CLODO_ENCRYPTION_KEY_PREVIOUS:{previous}"),
                ]
            }))
            .args([
                "--var",
                &format!("CLOUDFLARE_API_BASE_URL:{}", sandbox_url()),
            ])
            .current_dir(&self.dir)
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let started = Instant::now();
        let http = reqwest::Client::new();
        loop {
            if let Ok(r) = http.get(format!("{}/readyz", self.url)).send().await {
                if r.status().is_success() {
                    return true;
                }
            }
            let exited = self
                .child
                .as_mut()
                .is_some_and(|c| c.try_wait().ok().flatten().is_some());
            if exited {
                let log = std::fs::read(&log_path).unwrap_or_default();
                let this_launch =
                    String::from_utf8_lossy(&log[(log_before as usize).min(log.len())..]);
                if this_launch.contains("Address already in use") {
                    self.child = None;
                    return false;
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "own Worker did not start: {}",
                std::fs::read_to_string(self.dir.join("worker.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Kills the Worker at once (SIGKILL to its whole process group): no graceful shutdown.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
        }
    }

    /// The credential encryption keys the next `restart` runs with (a key rotation).
    pub fn set_keys(&mut self, current: &str, previous: Option<&str>) {
        self.keys = (current.to_owned(), previous.map(ToOwned::to_owned));
    }

    /// The dev key every Worker of the tests starts with.
    pub fn dev_key() -> &'static str {
        DEV_ENCRYPTION_KEY
    }

    /// Starts it again on the same port and state.
    pub async fn restart(&mut self) {
        self.kill();
        self.restarts += 1;
        assert!(
            self.launch().await,
            "own Worker: its port {} was taken while it was down",
            self.port
        );
    }

    /// Everything the Worker (wrangler and workerd) printed, over every launch so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("worker.log")).unwrap_or_default()
    }
}

impl Drop for OwnWorker {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
