//! How the CLI writes for people and for machines: results on stdout, progress and errors on
//! stderr; colour only on a terminal and never with `NO_COLOR` set (https://no-color.org);
//! progress indicators (indicatif) only for a person at a terminal, the same steps as plain
//! lines everywhere else.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// `NO_COLOR` set to anything but the empty string turns colour off.
#[must_use]
pub fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// Colour on stdout: a terminal, and no `NO_COLOR`.
#[must_use]
pub fn stdout_color() -> bool {
    !no_color() && std::io::stdout().is_terminal()
}

/// Colour on stderr: a terminal, and no `NO_COLOR`.
#[must_use]
pub fn stderr_color() -> bool {
    !no_color() && std::io::stderr().is_terminal()
}

/// Set by a command given `--json`: no indicators then, whatever the terminal.
static MACHINE: AtomicBool = AtomicBool::new(false);

/// The indicator on screen, if any: lines printed meanwhile go above it (`line`).
static ACTIVE: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// A command that prints machine output (`--json`) calls this first.
pub fn machine_output(json: bool) {
    if json {
        MACHINE.store(true, Ordering::Relaxed);
    }
}

/// Indicators are for people watching a terminal: stderr is one, no `--json`, no `NO_COLOR`,
/// and not in CI (`CI` set: logs keep every line, not redraws).
#[must_use]
pub fn indicators_wanted(json: bool, no_color: bool, ci: bool, stderr_terminal: bool) -> bool {
    stderr_terminal && !json && !no_color && !ci
}

fn indicators() -> bool {
    indicators_wanted(
        MACHINE.load(Ordering::Relaxed),
        no_color(),
        std::env::var_os("CI").is_some_and(|v| !v.is_empty()),
        std::io::stderr().is_terminal(),
    )
}

/// One line of progress on stderr; above the indicator when one is drawn, so it is not torn.
pub fn line(text: &str) {
    let active = ACTIVE.lock().ok().and_then(|a| a.clone());
    match active {
        Some(bar) => bar.suspend(|| eprintln!("{text}")),
        None => eprintln!("{text}"),
    }
}

/// A line saying something succeeded: green on a colour terminal, else exactly `text`.
pub fn success(text: &str) {
    if stderr_color() {
        line(&format!("\x1b[32m{text}\x1b[0m"));
    } else {
        line(text);
    }
}

/// An indicator on stderr while something runs (uploads, the queue, a rollout); nothing at
/// all when `indicators()` says no, so the plain lines are the whole output. Cleared on drop.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar counting `len` things (services uploaded, traffic steps).
    #[must_use]
    pub fn bar(len: u64, prefix: &str) -> Self {
        Self::start(|| {
            let bar = ProgressBar::new(len);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {prefix} [{bar:24}] {pos}/{len} {wide_msg} {elapsed}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_prefix(prefix.to_owned());
            bar
        })
    }

    /// A spinner with a message (waiting in the queue, for approvals).
    #[must_use]
    pub fn spinner(message: &str) -> Self {
        Self::start(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {wide_msg} {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_message(message.to_owned());
            bar
        })
    }

    fn start(make: impl FnOnce() -> ProgressBar) -> Self {
        if !indicators() {
            return Self { bar: None };
        }
        let bar = make();
        bar.enable_steady_tick(Duration::from_millis(120));
        if let Ok(mut active) = ACTIVE.lock() {
            *active = Some(bar.clone());
        }
        Self { bar: Some(bar) }
    }

    /// A handle another thread may advance (`None` when nothing is drawn).
    #[must_use]
    pub fn handle(&self) -> Option<ProgressBar> {
        self.bar.clone()
    }

    pub fn set_message(&self, message: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(message.to_owned());
        }
    }

    pub fn set_position(&self, pos: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(pos);
        }
    }

    pub fn set_length(&self, len: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(len);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
            if let Ok(mut active) = ACTIVE.lock() {
                *active = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indicators_only_for_a_person_at_a_terminal() {
        assert!(indicators_wanted(false, false, false, true));
        assert!(!indicators_wanted(true, false, false, true), "--json");
        assert!(!indicators_wanted(false, true, false, true), "NO_COLOR");
        assert!(!indicators_wanted(false, false, true, true), "CI");
        assert!(
            !indicators_wanted(false, false, false, false),
            "not a terminal"
        );
    }

    #[test]
    fn without_a_terminal_nothing_is_drawn() {
        // Tests run with stderr captured or redirected: no bar, and the handle says so.
        if std::io::stderr().is_terminal() {
            return;
        }
        let p = Progress::bar(3, "upload");
        assert!(p.handle().is_none());
        p.set_position(2);
        let s = Progress::spinner("waiting");
        assert!(s.handle().is_none());
    }
}
