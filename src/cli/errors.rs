//! Stable codes for every error the CLI prints, each with a section of docs/troubleshooting.md:
//! the CLI's own codes (`CliCode`) and the API's (`api::ErrorCode`, as the control plane
//! answers them). Errors are printed as `error: …` followed by `see: <docs>#<code>`.

use crate::api::ErrorCode;

/// Where the links point: the troubleshooting page inside the repository unless
/// `CLODO_DOCS_URL` names another base (a hosted copy of docs/); `#<code>` is appended.
pub const DOCS_PAGE: &str = "docs/troubleshooting.md";

/// Errors the CLI finds itself, before or after talking to the control plane. Codes are
/// stable: scripts may match on them, and each is a heading of docs/troubleshooting.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CliCode {
    /// The command line does not parse (clap's own errors).
    Usage,
    /// A local argument, file or environment variable is missing or wrong.
    BadInput,
    /// No control-plane token: neither `CLODO_TOKEN` nor a stored login.
    NotLoggedIn,
    /// The control plane did not answer at all.
    ApiUnreachable,
    /// The control plane (or something in front of it) answered an error that is not the API's
    /// typed error body, or an answer that could not be read.
    ApiUnexpectedAnswer,
    /// A successful answer does not have the shape this clodo version expects.
    ContractMismatch,
    /// The configs could not be loaded or the account not identified: nothing was assessed.
    NotAssessed,
    /// Cloudflare's API could not be reached (or refused the account listing).
    CloudflareUnreachable,
    /// The assessment found blocking (or unverified) findings; nothing was deployed.
    NotReady,
    /// A confirmation was declined, or needed `--yes` without a terminal.
    NotConfirmed,
    /// wrangler failed to upload a service.
    UploadFailed,
    /// A deployment, rollout or rollback ended in a state other than succeeded.
    DeploymentFailed,
    /// Another deployment is rolling out in the environment.
    EnvironmentBusy,
    /// A local file or stream could not be read or written.
    LocalIo,
    /// `clodo init` wrote nothing: no wrangler config found, or clodo.toml exists.
    NothingWritten,
    /// `clodo rollback` found no service with an earlier version it could serve.
    NothingToRollBack,
    /// `clodo sandbox` could not start (bad options, a state directory or port it cannot use).
    SandboxFailed,
}

impl CliCode {
    /// Every CLI code; the troubleshooting test walks this list, so a new code goes here too
    /// (and gets its section in docs/troubleshooting.md).
    pub const ALL: [CliCode; 17] = [
        Self::Usage,
        Self::BadInput,
        Self::NotLoggedIn,
        Self::ApiUnreachable,
        Self::ApiUnexpectedAnswer,
        Self::ContractMismatch,
        Self::NotAssessed,
        Self::CloudflareUnreachable,
        Self::NotReady,
        Self::NotConfirmed,
        Self::UploadFailed,
        Self::DeploymentFailed,
        Self::EnvironmentBusy,
        Self::LocalIo,
        Self::NothingWritten,
        Self::SandboxFailed,
        Self::NothingToRollBack,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Usage => "usage",
            Self::BadInput => "bad_input",
            Self::NotLoggedIn => "not_logged_in",
            Self::ApiUnreachable => "api_unreachable",
            Self::ApiUnexpectedAnswer => "api_unexpected_answer",
            Self::ContractMismatch => "contract_mismatch",
            Self::NotAssessed => "not_assessed",
            Self::CloudflareUnreachable => "cloudflare_unreachable",
            Self::NotReady => "not_ready",
            Self::NotConfirmed => "not_confirmed",
            Self::UploadFailed => "upload_failed",
            Self::DeploymentFailed => "deployment_failed",
            Self::EnvironmentBusy => "environment_busy",
            Self::LocalIo => "local_io",
            Self::NothingWritten => "nothing_written",
            Self::SandboxFailed => "sandbox_failed",
            Self::NothingToRollBack => "nothing_to_roll_back",
        }
    }
}

/// The code of one printed error: the CLI's own, or the API's as it travelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Cli(CliCode),
    Api(ErrorCode),
}

impl Code {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cli(c) => c.as_str(),
            Self::Api(c) => c.as_str(),
        }
    }

    /// Every code the CLI can print: its own and every code of the API's error type.
    #[must_use]
    pub fn all() -> Vec<Code> {
        CliCode::ALL
            .iter()
            .map(|c| Code::Cli(*c))
            .chain(ErrorCode::ALL.iter().map(|c| Code::Api(*c)))
            .collect()
    }

    /// `docs/troubleshooting.md#<code>`, or `$CLODO_DOCS_URL/troubleshooting.md#<code>`.
    #[must_use]
    pub fn link(self) -> String {
        link_with(std::env::var("CLODO_DOCS_URL").ok().as_deref(), self)
    }
}

impl From<CliCode> for Code {
    fn from(c: CliCode) -> Self {
        Code::Cli(c)
    }
}

fn link_with(base: Option<&str>, code: Code) -> String {
    match base.map(str::trim).filter(|b| !b.is_empty()) {
        Some(base) => format!(
            "{}/troubleshooting.md#{}",
            base.trim_end_matches('/'),
            code.as_str()
        ),
        None => format!("{DOCS_PAGE}#{}", code.as_str()),
    }
}

/// `error: <message>` and `see: <link>` as printed (red `error:` when `color`).
#[must_use]
pub fn render(code: Code, message: &str, color: bool) -> String {
    let label = if color {
        "\x1b[1;31merror:\x1b[0m"
    } else {
        "error:"
    };
    format!("{label} {message}\nsee: {}\n", code.link())
}

/// Prints an error and its docs link on stderr.
pub fn print(code: impl Into<Code>, message: &str) {
    eprint!(
        "{}",
        render(code.into(), message, super::output::stderr_color())
    );
}

/// Prints only the docs link (after an error some other code already printed, e.g. clap's).
pub fn print_link(code: impl Into<Code>) {
    eprintln!("see: {}", code.into().link());
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    const TROUBLESHOOTING: &str = include_str!("../../docs/troubleshooting.md");

    /// The anchors of the page: each `### code` heading (GitHub keeps `_` in anchors).
    fn anchors() -> Vec<String> {
        TROUBLESHOOTING
            .lines()
            .filter_map(|l| l.strip_prefix("### "))
            .map(|h| h.trim().trim_matches('`').to_owned())
            .collect()
    }

    #[test]
    fn every_code_the_cli_can_print_has_a_section_and_no_section_is_orphaned() {
        let codes: BTreeSet<String> = Code::all().iter().map(|c| c.as_str().into()).collect();
        let anchors = anchors();
        let sections: BTreeSet<String> = anchors.iter().cloned().collect();
        assert_eq!(anchors.len(), sections.len(), "a code has two sections");
        let missing: Vec<_> = codes.difference(&sections).collect();
        assert!(
            missing.is_empty(),
            "no section in troubleshooting.md for {missing:?}"
        );
        let orphaned: Vec<_> = sections.difference(&codes).collect();
        assert!(
            orphaned.is_empty(),
            "sections for codes the CLI never prints: {orphaned:?}"
        );
    }

    #[test]
    fn every_section_says_what_it_means_and_how_to_fix_it() {
        for section in TROUBLESHOOTING.split("\n### ").skip(1) {
            let name = section.lines().next().unwrap_or_default();
            assert!(section.contains("**Fix:**"), "section {name} has no fix");
            assert!(section.lines().count() > 2, "section {name} says nothing");
        }
    }

    #[test]
    fn cli_codes_are_distinct_from_the_api_codes() {
        let all = Code::all();
        let names: BTreeSet<&str> = all.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), all.len());
        for c in CliCode::ALL {
            assert!(
                c.as_str()
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch == '_'),
                "{c:?}"
            );
        }
    }

    #[test]
    fn all_lists_every_cli_code() {
        // An exhaustive match: a new variant does not compile until it is placed here, and
        // its position must then be in `ALL`.
        fn position(code: CliCode) -> usize {
            match code {
                CliCode::Usage => 0,
                CliCode::BadInput => 1,
                CliCode::NotLoggedIn => 2,
                CliCode::ApiUnreachable => 3,
                CliCode::ApiUnexpectedAnswer => 4,
                CliCode::ContractMismatch => 5,
                CliCode::NotAssessed => 6,
                CliCode::CloudflareUnreachable => 7,
                CliCode::NotReady => 8,
                CliCode::NotConfirmed => 9,
                CliCode::UploadFailed => 10,
                CliCode::DeploymentFailed => 11,
                CliCode::EnvironmentBusy => 12,
                CliCode::LocalIo => 13,
                CliCode::NothingWritten => 14,
                CliCode::SandboxFailed => 15,
                CliCode::NothingToRollBack => 16,
            }
        }
        for (i, code) in CliCode::ALL.iter().enumerate() {
            assert_eq!(position(*code), i, "{code:?}");
        }
    }

    #[test]
    fn links_use_the_page_or_the_documented_base() {
        let code = Code::Api(ErrorCode::Conflict);
        assert_eq!(link_with(None, code), "docs/troubleshooting.md#conflict");
        assert_eq!(
            link_with(Some("https://docs.example/clodo/"), code),
            "https://docs.example/clodo/troubleshooting.md#conflict"
        );
        assert_eq!(
            render(Code::Cli(CliCode::NotLoggedIn), "not logged in", false),
            "error: not logged in\nsee: docs/troubleshooting.md#not_logged_in\n"
        );
    }
}
