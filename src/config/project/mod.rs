//! `clodo.toml`: a project's services (each a path to a wrangler config, with required secrets
//! and explicit dependencies) and how it is deployed: strategy, health checks, metric analysis
//! and required secrets, at the top level for every environment and under `[env.NAME]` for
//! one (`[notifications]` is refused: channels live on the control plane). Everything is checked at parse time with file:line:column errors, so a
//! typo fails `clodo assess` before a rollout relies on it.
//!
//! Top-level sections this version does not know are kept in `extra` with a warning (older
//! files stay loadable); unknown keys inside the deploy sections are errors, since a misspelt
//! `failure_limit` silently falling back to a default would be worse than a refusal.

mod model;
mod pages;
#[cfg(test)]
mod pages_tests;
mod parse;
mod sections;
mod steps;
#[cfg(test)]
mod tests;

pub use model::*;
pub use parse::{accepted_keys, parse_project};
pub use sections::check_url;
pub use steps::*;
