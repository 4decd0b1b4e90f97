//! The deployment lifecycle: `requested → assessing → awaiting_approval → queued → deploying →
//! verifying → succeeded | failed | rolled_back | cancelled`, and which moves are allowed.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentStatus {
    Requested,
    Assessing,
    AwaitingApproval,
    Queued,
    Deploying,
    Verifying,
    Succeeded,
    Failed,
    RolledBack,
    Cancelled,
}

use DeploymentStatus as S;

impl DeploymentStatus {
    pub const ALL: [S; 10] = [
        S::Requested,
        S::Assessing,
        S::AwaitingApproval,
        S::Queued,
        S::Deploying,
        S::Verifying,
        S::Succeeded,
        S::Failed,
        S::RolledBack,
        S::Cancelled,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            S::Requested => "requested",
            S::Assessing => "assessing",
            S::AwaitingApproval => "awaiting_approval",
            S::Queued => "queued",
            S::Deploying => "deploying",
            S::Verifying => "verifying",
            S::Succeeded => "succeeded",
            S::Failed => "failed",
            S::RolledBack => "rolled_back",
            S::Cancelled => "cancelled",
        }
    }

    /// Terminal states never change again.
    #[must_use]
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            S::Succeeded | S::Failed | S::RolledBack | S::Cancelled
        )
    }

    /// Whether `self → to` is a legal move. Skipping ahead is allowed where a step may not
    /// apply (no assessment configured, no approval required); going back never is.
    /// Anything not yet deploying may be cancelled; deploying and verifying may fail or be
    /// rolled back.
    #[must_use]
    pub fn can_move_to(self, to: S) -> bool {
        matches!(
            (self, to),
            (
                S::Requested,
                S::Assessing | S::AwaitingApproval | S::Queued | S::Failed
            ) | (S::Assessing, S::AwaitingApproval | S::Queued | S::Failed)
                | (S::AwaitingApproval, S::Queued)
                | (S::Queued, S::Deploying)
                | (
                    S::Deploying,
                    S::Verifying | S::Succeeded | S::Failed | S::RolledBack
                )
                | (S::Verifying, S::Succeeded | S::Failed | S::RolledBack)
                | (
                    S::Requested | S::Assessing | S::AwaitingApproval | S::Queued,
                    S::Cancelled
                )
        )
    }

    /// The legal moves from here, for error hints and the API.
    #[must_use]
    pub fn next_states(self) -> Vec<S> {
        S::ALL
            .into_iter()
            .filter(|to| self.can_move_to(*to))
            .collect()
    }
}

impl fmt::Display for DeploymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DeploymentStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        S::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown deployment status `{s}`"))
    }
}

/// A refused move, with what would have been allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a deployment cannot move from {from} to {to}")]
pub struct IllegalTransition {
    pub from: DeploymentStatus,
    pub to: DeploymentStatus,
}

/// Checks a move.
///
/// # Errors
/// `IllegalTransition` when the lifecycle does not allow it.
pub fn transition(from: S, to: S) -> Result<S, IllegalTransition> {
    if from.can_move_to(to) {
        Ok(to)
    } else {
        Err(IllegalTransition { from, to })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_happy_path_is_allowed() {
        // `ALL` lists the statuses in the order of a deployment that goes well, up to success.
        let path = &DeploymentStatus::ALL[..7];
        assert_eq!(path.last(), Some(&S::Succeeded));
        for pair in path.windows(2) {
            assert_eq!(transition(pair[0], pair[1]), Ok(pair[1]));
        }
    }

    #[test]
    fn terminal_states_are_final() {
        for from in S::ALL.into_iter().filter(|s| s.is_terminal()) {
            assert!(from.next_states().is_empty(), "{from}");
        }
    }

    #[test]
    fn no_going_back_and_no_cancelling_a_running_deploy() {
        assert!(transition(S::Queued, S::AwaitingApproval).is_err());
        assert!(transition(S::Deploying, S::Queued).is_err());
        assert!(transition(S::Deploying, S::Cancelled).is_err());
        assert!(transition(S::AwaitingApproval, S::Deploying).is_err());
        assert!(transition(S::Queued, S::Cancelled).is_ok());
        assert!(transition(S::Verifying, S::RolledBack).is_ok());
    }

    #[test]
    fn statuses_round_trip() {
        for s in S::ALL {
            assert_eq!(s.as_str().parse::<S>().unwrap(), s);
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }
}
