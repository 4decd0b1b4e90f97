//! Contract types of the deployments routes (filled in by issue 12).
