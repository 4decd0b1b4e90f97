//! Server-side rollback of an environment: which recorded deployment is live, which one to go
//! back to, and when a second request must answer the first one's outcome instead of moving
//! traffic again. Decided over the server's own records only (deployments that recorded
//! versions, newest finished first), never over what a request says is live.

use super::lifecycle::DeploymentStatus;

/// A deployment of the environment that recorded versions, as the rollback sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shipped {
    pub id: String,
    pub status: DeploymentStatus,
    /// For a rollback the server made: the deployment whose versions it put back.
    pub rolled_back_to: Option<String>,
}

/// What a rollback request leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice<'a> {
    /// Put `to`'s versions back in place of `live`'s.
    Roll { live: &'a Shipped, to: &'a Shipped },
    /// `live` is a rollback to the requested deployment already: answer it, change nothing.
    Already(&'a Shipped),
}

/// Why there is nothing to roll back to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no deployment of this environment has succeeded with recorded versions: nothing is live that Clodo shipped")]
    NothingLive,
    #[error("deployment {live} is live and no earlier deployment of this environment succeeded: there is nothing to go back to")]
    NothingBefore { live: String },
    #[error("deployment {id} did not ship versions to this environment")]
    UnknownTarget { id: String },
    #[error("deployment {id} ended {status}: only a succeeded deployment is a good target")]
    NotGood {
        id: String,
        status: DeploymentStatus,
    },
    #[error("deployment {id} is what is live now")]
    TargetIsLive { id: String },
}

/// Chooses from `history` (the environment's deployments that recorded versions, newest
/// finished first). The live deployment is the newest that succeeded; without `wanted`, the
/// target is the succeeded one before it, except after a failure: when deployments newer than
/// the live one failed or were rolled back, the target is the live one itself (what served
/// before them; `live` in the answer is the newest of them). Its rollout put back what it
/// could; this puts back the rest, and never goes one good release further back, which is
/// what the Slack button pressed on a failure notice would otherwise do. When the live
/// deployment is itself a rollback to the target (a repeated request, a second click),
/// nothing moves: `Already`.
///
/// # Errors
/// A [`Refusal`] saying why there is no target.
pub fn choose<'a>(history: &'a [Shipped], wanted: Option<&str>) -> Result<Choice<'a>, Refusal> {
    let live_at = history
        .iter()
        .position(|d| d.status == DeploymentStatus::Succeeded)
        .ok_or(Refusal::NothingLive)?;
    let live = &history[live_at];
    let Some(wanted) = wanted else {
        if live.rolled_back_to.is_some() {
            return Ok(Choice::Already(live));
        }
        if live_at > 0 {
            return Ok(Choice::Roll {
                live: &history[0],
                to: live,
            });
        }
        return history[live_at + 1..]
            .iter()
            .find(|d| d.status == DeploymentStatus::Succeeded)
            .map(|to| Choice::Roll { live, to })
            .ok_or_else(|| Refusal::NothingBefore {
                live: live.id.clone(),
            });
    };
    if live.rolled_back_to.as_deref() == Some(wanted) {
        return Ok(Choice::Already(live));
    }
    let to = history
        .iter()
        .find(|d| d.id == wanted)
        .ok_or_else(|| Refusal::UnknownTarget {
            id: wanted.to_owned(),
        })?;
    if to.id == live.id {
        return Err(Refusal::TargetIsLive { id: to.id.clone() });
    }
    if to.status != DeploymentStatus::Succeeded {
        return Err(Refusal::NotGood {
            id: to.id.clone(),
            status: to.status,
        });
    }
    Ok(Choice::Roll { live, to })
}

#[cfg(test)]
mod tests {
    use super::*;
    use DeploymentStatus::{Failed, RolledBack, Succeeded};

    fn d(id: &str, status: DeploymentStatus, to: Option<&str>) -> Shipped {
        Shipped {
            id: id.into(),
            status,
            rolled_back_to: to.map(Into::into),
        }
    }

    #[test]
    fn goes_back_to_the_succeeded_deployment_before_the_live_one() {
        // Newest first: a rolled-back deployment never counts as live or good.
        let h = [
            d("b", Succeeded, None),
            d("x", RolledBack, None),
            d("a", Succeeded, None),
        ];
        let Ok(Choice::Roll { live, to }) = choose(&h, None) else {
            panic!("a rollback")
        };
        assert_eq!((live.id.as_str(), to.id.as_str()), ("b", "a"));
    }

    #[test]
    fn after_a_failure_the_target_is_what_served_before_it() {
        // c failed after b: going back means b's versions (c's rollout may have put back only
        // some of them), not a, one good release further back.
        let h = [
            d("c", Failed, None),
            d("b", Succeeded, None),
            d("x", RolledBack, None),
            d("a", Succeeded, None),
        ];
        let Ok(Choice::Roll { live, to }) = choose(&h, None) else {
            panic!("a rollback")
        };
        assert_eq!((live.id.as_str(), to.id.as_str()), ("c", "b"));
        // Done once (r puts b back), a second click answers it.
        let after = [
            d("r", Succeeded, Some("b")),
            h[0].clone(),
            h[1].clone(),
            h[3].clone(),
        ];
        assert_eq!(choose(&after, None), Ok(Choice::Already(&after[0])));
        // Further back is by name.
        assert!(matches!(
            choose(&h, Some("a")),
            Ok(Choice::Roll { to, .. }) if to.id == "a"
        ));
        // A failure with nothing that succeeded before it: nothing to go back to.
        assert_eq!(
            choose(&[d("c", Failed, None)], None),
            Err(Refusal::NothingLive)
        );
    }

    #[test]
    fn a_second_request_answers_the_first_rollback() {
        let h = [
            d("r", Succeeded, Some("a")),
            d("b", Succeeded, None),
            d("a", Succeeded, None),
        ];
        assert_eq!(choose(&h, None), Ok(Choice::Already(&h[0])));
        assert_eq!(choose(&h, Some("a")), Ok(Choice::Already(&h[0])));
        // Naming an older deployment explicitly is a new decision.
        let older = [
            h[0].clone(),
            h[1].clone(),
            h[2].clone(),
            d("z", Succeeded, None),
        ];
        assert!(matches!(
            choose(&older, Some("z")),
            Ok(Choice::Roll { to, .. }) if to.id == "z"
        ));
    }

    #[test]
    fn refusals_say_why() {
        assert_eq!(choose(&[], None), Err(Refusal::NothingLive));
        assert_eq!(
            choose(&[d("a", Succeeded, None)], None),
            Err(Refusal::NothingBefore { live: "a".into() })
        );
        let h = [d("b", Succeeded, None), d("a", Failed, None)];
        assert_eq!(
            choose(&h, Some("a")),
            Err(Refusal::NotGood {
                id: "a".into(),
                status: Failed
            })
        );
        assert_eq!(
            choose(&h, Some("b")),
            Err(Refusal::TargetIsLive { id: "b".into() })
        );
        assert_eq!(
            choose(&h, Some("q")),
            Err(Refusal::UnknownTarget { id: "q".into() })
        );
    }
}
