//! Contract types of the rollouts routes (filled in by issue 12).
