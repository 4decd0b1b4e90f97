//! The terminal form of a plan and of a drift report: one block per service, one line per
//! change, `+` add, `-` remove, `~` change, `!` missing, `>` pending, `?` unknown.

use std::fmt::Write;

use super::drift::area_word;
use super::{Action, DriftKind, DriftReport, PlanReport, ServiceAction, Verdict};

fn paint(color: bool, code: &str, text: &str) -> String {
    if color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

/// The plan as text (`color`: ANSI colours for a terminal).
#[must_use]
pub fn render_plan(report: &PlanReport, color: bool) -> String {
    let mut out = String::new();
    for s in &report.services {
        let head = match s.action {
            ServiceAction::Create => "will be created",
            ServiceAction::Update => "will change",
            ServiceAction::NoChange => "no changes",
            ServiceAction::Unknown => "could not be fully checked",
        };
        let version = match s.new_version {
            Verdict::Yes => "new version",
            Verdict::No => "no new version",
            Verdict::Unknown => "new version: unknown",
        };
        let _ = writeln!(out, "{} ({}): {head}; {version}", s.service, s.script);
        for c in &s.changes {
            let (mark, code) = match c.action {
                Action::Add => ("+", "32"),
                Action::Remove => ("-", "31"),
                Action::Change => ("~", "33"),
                Action::Missing => ("!", "31"),
                Action::Pending => (">", "36"),
                Action::Unknown => ("?", "35"),
            };
            let mut line = format!("  {mark} {} {}", area_word(c.area), c.name);
            match (&c.live, &c.config, c.action) {
                (Some(l), Some(cfg), _) => {
                    let _ = write!(line, ": {l} -> {cfg}");
                }
                (None, Some(cfg), _) => {
                    let _ = write!(line, ": {cfg}");
                }
                (Some(l), None, _) => {
                    let _ = write!(line, " (live: {l})");
                }
                _ => {}
            }
            if let Some(d) = &c.detail {
                let _ = write!(line, " — {d}");
            }
            let _ = writeln!(out, "{}", paint(color, code, &line));
        }
    }
    let summary = if report.changes {
        "Plan: changes to deploy."
    } else if report.unknown > 0 {
        "Plan: no changes found, but some checks could not be made."
    } else {
        "Plan: no changes. The live Workers match the configs."
    };
    let _ = write!(out, "{summary}");
    if report.unknown > 0 {
        let _ = write!(out, " {} check(s) unknown.", report.unknown);
    }
    out.push('\n');
    out
}

/// The drift report as text.
#[must_use]
pub fn render_drift(report: &DriftReport, color: bool) -> String {
    let mut out = String::new();
    for s in &report.services {
        if s.items.is_empty() {
            let _ = writeln!(out, "{} ({}): no drift", s.service, s.script);
            continue;
        }
        let _ = writeln!(out, "{} ({}):", s.service, s.script);
        for i in &s.items {
            let code = if i.kind == DriftKind::Unknown {
                "35"
            } else {
                "33"
            };
            let line = format!("  {}: {}", i.what, i.detail);
            let _ = writeln!(out, "{}", paint(color, code, &line));
            if !i.reconcile.is_empty() {
                let _ = writeln!(out, "      fix: {}", i.reconcile);
            }
        }
    }
    if !report.recorded_deployments {
        let _ = writeln!(
            out,
            "note: no control plane configured (clodo login), so versions were not checked against Clodo's recorded deployments"
        );
    }
    let summary = if report.drifted {
        "Drift found."
    } else if report.unknown > 0 {
        "No drift found, but some checks could not be made."
    } else {
        "No drift."
    };
    let _ = writeln!(out, "{summary}");
    out
}
