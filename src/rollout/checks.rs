//! The rollout's rules over the project config: what a health check response must be, how a
//! metric measurement is judged, and the version override header that pins a request to one
//! version of a Worker.

use crate::config::{AnalysisMetric, HealthCheck, Outcome};

/// The header that sends a request to one version of a Worker regardless of the deployment's
/// split, which is how a blue-green version at 0% is smoke-tested.
pub const VERSION_OVERRIDE_HEADER: &str = "Cloudflare-Workers-Version-Overrides";

/// The version override header for `script` (the Worker name) pinned to `version_id`: a
/// structured-field dictionary entry, `shop-api="8f2c…"`.
#[must_use]
pub fn version_override_header(script: &str, version_id: &str) -> (&'static str, String) {
    (
        VERSION_OVERRIDE_HEADER,
        format!("{script}=\"{version_id}\""),
    )
}

impl HealthCheck {
    /// The request headers: the configured ones, plus the version override for `worker` at
    /// `version_id` when this check pins versions and the caller knows them.
    #[must_use]
    pub fn request_headers(&self, pin: Option<(&str, &str)>) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let (true, Some((worker, version))) = (self.version_override, pin) {
            let (name, value) = version_override_header(worker, version);
            out.push((name.to_owned(), value));
        }
        out
    }

    /// Whether a response passes: status, body text and latency.
    pub fn accepts(&self, status: u16, body: &str, latency_ms: u64) -> Result<(), String> {
        if !self.expect_status.contains(&status) {
            let want: Vec<String> = self.expect_status.iter().map(u16::to_string).collect();
            return Err(format!(
                "{}: status {status}, expected {}",
                self.name,
                want.join(" or ")
            ));
        }
        if let Some(text) = &self.expect_body_contains {
            if !body.contains(text.as_str()) {
                return Err(format!("{}: the body does not contain {text:?}", self.name));
            }
        }
        if let Some(max) = self.max_latency_ms {
            if latency_ms > max {
                return Err(format!(
                    "{}: answered in {latency_ms} ms, more than {max} ms",
                    self.name
                ));
            }
        }
        Ok(())
    }
}

impl AnalysisMetric {
    /// Judges one measurement (`None`: no data, e.g. no requests in the interval). With only a
    /// success condition, not meeting it fails; with only a failure condition, meeting it
    /// fails; with both, the failure condition wins and a value matching neither is
    /// inconclusive.
    #[must_use]
    pub fn evaluate(&self, value: Option<f64>) -> Outcome {
        let Some(x) = value.filter(|x| x.is_finite()) else {
            return Outcome::Inconclusive;
        };
        match (self.condition, self.failure_condition) {
            (_, Some(f)) if f.holds(x) => Outcome::Failed,
            (Some(s), _) if s.holds(x) => Outcome::Successful,
            (Some(_), Some(_)) => Outcome::Inconclusive,
            (Some(_), None) => Outcome::Failed,
            (None, _) => Outcome::Successful,
        }
    }
}
