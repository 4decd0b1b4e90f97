//! How the CLI writes for people and for machines: results on stdout, progress and errors on
//! stderr; colour only on a terminal and never with `NO_COLOR` set (https://no-color.org).

use std::io::IsTerminal;

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
