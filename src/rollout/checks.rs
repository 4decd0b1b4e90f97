//! The rollout's rules over the project config: what a health check response must be, how a
//! metric measurement is judged, and the version override header that pins a request to one
//! version of a Worker.

use super::{Measurement, Verdict};
use crate::config::{AnalysisMetric, Condition, HealthCheck, Metric, Outcome};

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
        self.evaluate_against(value, None)
    }

    /// [`AnalysisMetric::evaluate`] with the previous version's value for conditions written
    /// against `baseline` (without it they cannot be judged: inconclusive).
    #[must_use]
    pub fn evaluate_against(&self, value: Option<f64>, baseline: Option<f64>) -> Outcome {
        let Some(x) = value.filter(|x| x.is_finite()) else {
            return Outcome::Inconclusive;
        };
        let holds = |c: Condition| c.threshold(baseline).map(|t| c.op.compare(x, t));
        match (self.condition.map(holds), self.failure_condition.map(holds)) {
            (Some(None), _) | (_, Some(None)) => Outcome::Inconclusive,
            (_, Some(Some(true))) => Outcome::Failed,
            (Some(Some(true)), _) => Outcome::Successful,
            (Some(Some(false)), Some(Some(false))) => Outcome::Inconclusive,
            (Some(Some(false)), None) => Outcome::Failed,
            (None, _) => Outcome::Successful,
        }
    }

    /// The verdict on one measurement of `service`, and what it says in words. `previous` is
    /// the version the service served before (`None`: a new Worker, so no baseline).
    #[must_use]
    pub fn judge(&self, m: &Measurement, previous: Option<&str>) -> (Verdict, String) {
        let value = match &m.value {
            Err(e) => return (Verdict::Error, format!("error ({e})")),
            Ok(v) => *v,
        };
        if self.min_requests > 0 {
            let seen = if self.metric == Metric::Requests {
                value
            } else {
                m.requests
            };
            match seen {
                Some(n) if n < self.min_requests as f64 => {
                    return (
                        Verdict::Inconclusive,
                        format!(
                            "only {n} requests in the window, min_requests = {}",
                            self.min_requests
                        ),
                    )
                }
                None => {
                    return (
                        Verdict::Inconclusive,
                        format!(
                            "the request count of the window is unknown, min_requests = {}",
                            self.min_requests
                        ),
                    )
                }
                Some(_) => {}
            }
        }
        let Some(x) = value else {
            return (
                Verdict::Inconclusive,
                "no requests in the window".to_owned(),
            );
        };
        let shown = format!("{x:.4}");
        let baseline = if self.uses_baseline() {
            match (&m.baseline, previous) {
                (_, None) => {
                    return (
                        Verdict::Inconclusive,
                        format!("{shown}; no baseline: the service had no previous version (a new Worker)"),
                    )
                }
                (None, Some(_)) => {
                    return (
                        Verdict::Error,
                        format!("{shown}; the baseline was not measured"),
                    )
                }
                (Some(Err(e)), Some(_)) => {
                    return (Verdict::Error, format!("{shown}; baseline error ({e})"))
                }
                (Some(Ok(None)), Some(prev)) => {
                    return (
                        Verdict::Inconclusive,
                        format!(
                            "{shown}; no baseline: the previous version {} served no requests in the window",
                            super::short(prev)
                        ),
                    )
                }
                (Some(Ok(Some(b))), Some(_)) => Some(*b),
            }
        } else {
            None
        };
        let verdict = match self.evaluate_against(Some(x), baseline) {
            Outcome::Successful => Verdict::Successful,
            Outcome::Failed => Verdict::Failed,
            Outcome::Inconclusive => Verdict::Inconclusive,
        };
        let text = match baseline {
            Some(b) => format!("{shown} (baseline {b:.4})"),
            None => shown,
        };
        (verdict, text)
    }
}
