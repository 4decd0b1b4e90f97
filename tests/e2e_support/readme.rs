//! Running a Markdown file's shell code blocks as a user would type them: the ```sh blocks,
//! split into commands, pointed at the e2e harness's Worker, sandbox and dashboard instead of
//! `make dev`'s fixed ports, each run by bash with the exported variables and the working
//! directory of the ones before it (so `export` and `cd` carry over like in one terminal).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::shop::{repo, sandbox_root};
use super::{base_url, copy_dir, outcome, unique};

/// The ```sh blocks of a Markdown text, in order, each as its text.
pub fn sh_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match current.as_mut() {
            None if line.trim_start() == "```sh" => current = Some(String::new()),
            None => {}
            Some(_) if line.trim_start() == "```" => blocks.push(current.take().unwrap()),
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
        }
    }
    assert!(current.is_none(), "a ```sh block is not closed");
    blocks
}

/// The first ```sh block after the line that starts with `heading`.
pub fn block_after(markdown: &str, heading: &str) -> String {
    let at = markdown
        .lines()
        .position(|l| l.starts_with(heading))
        .unwrap_or_else(|| panic!("no heading {heading:?}"));
    let rest = markdown.lines().skip(at).collect::<Vec<_>>().join("\n");
    sh_blocks(&rest)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no ```sh block after {heading:?}"))
}

/// The commands of a block: a line continued with `\` is joined with the next, and lines
/// that are only a comment (or a comment continuing the previous line's) are left out.
pub fn commands(block: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for line in block.lines() {
        if pending.is_empty() && (line.trim().is_empty() || line.trim_start().starts_with('#')) {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            pending.push_str(head);
            continue;
        }
        pending.push_str(line);
        out.push(std::mem::take(&mut pending));
    }
    assert!(pending.is_empty(), "the block ends in a continued line");
    out
}

/// `make dev`'s fixed addresses, as the READMEs write them, replaced by the harness's: the
/// Worker (8787), the sandbox (8788) and the dashboard (8789).
pub fn localize(text: &str) -> String {
    let dashboard = std::env::var("CLODO_DASHBOARD_URL").unwrap_or_default();
    text.replace("http://127.0.0.1:8787", &base_url())
        .replace("http://127.0.0.1:8788", &sandbox_root())
        .replace("http://127.0.0.1:8789", &dashboard)
}

/// The shared e2e Worker may have been bootstrapped already (once per database), so a README's
/// `POST /api/v1/bootstrap` becomes `POST /api/v1/teams` (same operator secret, body and
/// answer) with a fresh slug.
pub fn own_team(command: &str) -> String {
    command
        .replace("/api/v1/bootstrap", "/api/v1/teams")
        .replace(
            "\"slug\":\"demo\"",
            &format!("\"slug\":\"{}\"", unique("qs")),
        )
}

/// A scratch copy of the repository's parts a README uses from its root: `examples/` copied
/// (a README's fix edits files), `target/debug` and `node_modules` linked (the built `clodo`
/// and the pinned wrangler that clodo finds upwards), with `make dev`'s addresses in the
/// examples' files replaced by the harness's.
pub fn scratch_checkout() -> PathBuf {
    let root = std::env::temp_dir().join(unique("clodo-readme"));
    copy_dir(&repo().join("examples"), &root.join("examples"));
    localize_files(&root.join("examples"));
    std::fs::create_dir_all(root.join("target")).unwrap();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_clodo")).parent().unwrap();
    std::os::unix::fs::symlink(bin_dir, root.join("target/debug")).unwrap();
    std::os::unix::fs::symlink(repo().join("node_modules"), root.join("node_modules")).unwrap();
    root
}

fn localize_files(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            localize_files(&path);
        } else if let Ok(text) = std::fs::read_to_string(&path) {
            let local = localize(&text);
            if local != text {
                std::fs::write(&path, local).unwrap();
            }
        }
    }
}

/// One terminal: commands run one after another by bash, each seeing the variables the ones
/// before exported and starting in the directory they left.
pub struct Shell {
    state: PathBuf,
}

impl Shell {
    /// A terminal opened in `cwd` with the test's environment minus the variables a README
    /// sets itself (so one it forgets to set fails here too).
    pub fn open(cwd: &Path) -> Self {
        let state = std::env::temp_dir().join(unique("clodo-shell"));
        std::fs::create_dir_all(&state).unwrap();
        let mut init = String::new();
        for (key, _) in std::env::vars() {
            if key.starts_with("CLODO_") || key.starts_with("CLOUDFLARE_") {
                init.push_str(&format!("unset {key}\n"));
            }
        }
        init.push_str(&format!(
            "export NO_COLOR=1 WRANGLER_SEND_METRICS=false XDG_CONFIG_HOME='{}'\ncd '{}'\n",
            state.join("config").display(),
            cwd.display()
        ));
        std::fs::write(state.join("env.sh"), init).unwrap();
        Self { state }
    }

    /// Runs one command (at most 15 minutes): exit code, stdout, stderr.
    pub fn run(&self, command: &str) -> (i32, String, String) {
        let env = self.state.join("env.sh");
        let script = format!(
            "set -o pipefail\nsource '{env}'\n{command}\n__rc=$?\n{{ export -p; printf 'cd %q\\n' \"$PWD\"; }} > '{env}'\nexit $__rc\n",
            env = env.display()
        );
        let out = Command::new("timeout")
            .args(["900", "bash", "-c", &script])
            .output()
            .expect("bash runs");
        let (code, stdout, stderr) = outcome(out);
        eprintln!("$ {command}\n(exit {code})\n{stdout}{stderr}");
        (code, stdout, stderr)
    }

    /// Runs one command that must succeed; its stdout and stderr together.
    pub fn ok(&self, command: &str) -> String {
        let (code, stdout, stderr) = self.run(command);
        assert_eq!(code, 0, "`{command}` failed:\n{stdout}\n{stderr}");
        format!("{stdout}{stderr}")
    }

    /// The value of an exported variable, as the next command would see it.
    pub fn var(&self, name: &str) -> String {
        self.ok(&format!("printf %s \"${name}\"")).trim().to_owned()
    }
}

/// What a command's trailing comment promises: `# exit N` its exit code (else 0), and
/// `→ TEXT` a fragment of its output (stdout or stderr).
pub fn expectation(command: &str) -> (i32, Option<String>) {
    let Some(at) = command.find(" # ") else {
        return (0, None);
    };
    let comment = &command[at + 3..];
    let code = comment
        .split_whitespace()
        .skip_while(|w| *w != "exit")
        .nth(1)
        .and_then(|n| {
            n.trim_end_matches(|c: char| !c.is_ascii_digit())
                .parse()
                .ok()
        })
        .unwrap_or(0);
    let fragment = comment
        .rsplit_once("→ ")
        .map(|(_, text)| text.trim().to_owned());
    (code, fragment)
}

/// Runs `command` and checks what its comment promises (see `expectation`); its output.
pub fn run_checked(shell: &Shell, command: &str) -> String {
    let (want, fragment) = expectation(command);
    let (code, stdout, stderr) = shell.run(command);
    assert_eq!(code, want, "`{command}`: exit {code}\n{stdout}\n{stderr}");
    let out = format!("{stdout}{stderr}");
    if let Some(fragment) = fragment {
        assert!(
            out.contains(&fragment),
            "`{command}` promises {fragment:?} in its output:\n{out}"
        );
    }
    out
}

/// The quick start's set-up: its commands before the first `cd` (the exports, the team, the
/// project, environment and credential), run by the example READMEs' tests first, as those
/// READMEs ask.
pub fn quick_start_setup(readme: &str) -> Vec<String> {
    commands(&block_after(readme, "## Quick start"))
        .into_iter()
        .take_while(|c| !c.starts_with("cd "))
        .collect()
}
