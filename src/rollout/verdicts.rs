//! What happens while a step holds: which health checks and measurements are due, and the
//! verdict on their results (pass, roll back, or pause for a human).

use super::{
    short, Action, HealthRequest, HealthResponse, Measurement, MetricQuery, Phase, Rollout,
    ServiceRollout,
};
use crate::config::{version_override_header, Outcome};

impl Rollout {
    /// The analysis metrics that apply at this step: none while the new versions take no
    /// traffic (blue-green's 0%: there is nothing to measure).
    pub(super) fn metrics_apply(&self) -> bool {
        self.percent() > 0.0
    }

    /// When metric `i` is next due in this step (`None`: its count for the step is taken).
    pub(super) fn metric_due_at(&self, i: usize) -> Option<i64> {
        let m = &self.spec.analysis[i];
        let t = &self.tallies[i];
        if t.this_step >= m.count {
            return None;
        }
        let interval = i64::try_from(m.interval_secs)
            .unwrap_or(i64::MAX / 2000)
            .saturating_mul(1000);
        let since = t
            .last_until_ms
            .unwrap_or(self.step_started_ms)
            .max(self.step_started_ms);
        Some(since + interval)
    }

    pub(super) fn services_for(&self, only: Option<&String>) -> Vec<&ServiceRollout> {
        self.spec
            .services
            .iter()
            .filter(|s| only.is_none_or(|o| &s.service == o))
            .collect()
    }

    pub(super) fn next_while_holding(&self, now: i64) -> Action {
        if let Some(ab) = self.ab_next(now) {
            return ab;
        }
        let health: Vec<HealthRequest> = if self.step_checked {
            Vec::new()
        } else {
            self.health_requests()
        };
        let mut metrics = Vec::new();
        let mut next_due: Option<i64> = None;
        if self.metrics_apply() {
            for i in 0..self.spec.analysis.len() {
                match self.metric_due_at(i) {
                    Some(due) if due <= now => {
                        let m = &self.spec.analysis[i];
                        let since = self.tallies[i]
                            .last_until_ms
                            .unwrap_or(self.step_started_ms)
                            .max(self.step_started_ms);
                        for s in self.services_for(m.service.as_ref()) {
                            metrics.push(MetricQuery {
                                metric: i,
                                service: s.service.clone(),
                                script: s.script.clone(),
                                version: s.new_version.clone(),
                                since_ms: since,
                                until_ms: now,
                            });
                        }
                    }
                    Some(due) => next_due = Some(next_due.map_or(due, |d: i64| d.min(due))),
                    None => {}
                }
            }
        }
        if !health.is_empty() || !metrics.is_empty() {
            return Action::RunChecks { health, metrics };
        }
        let hold_until = self.step_started_ms + self.step_wait_ms();
        // The step ends once it has held, its checks passed and every metric that applies
        // has been measured at least once in it.
        let measured = !self.metrics_apply() || self.tallies.iter().all(|t| t.this_step > 0);
        if now >= hold_until && measured {
            return Action::Advance;
        }
        // Wake for the next measurement, or at the hold's end when that alone can end the step.
        let wake = match next_due {
            Some(due) if measured && now < hold_until => due.min(hold_until),
            Some(due) => due,
            None => hold_until,
        };
        Action::WaitUntil(wake.max(now + 1))
    }

    pub(super) fn health_requests(&self) -> Vec<HealthRequest> {
        self.spec
            .health_checks
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let pin = c
                    .service
                    .as_ref()
                    .and_then(|name| self.spec.services.iter().find(|s| &s.service == name))
                    .map(|s| (s.script.as_str(), s.new_version.as_str()));
                let mut headers = c.request_headers(None);
                if let (true, Some((script, version))) = (c.version_override, pin) {
                    let (name, value) = version_override_header(script, version);
                    headers.push((name.to_owned(), value));
                }
                HealthRequest {
                    check: i,
                    url: c.url.clone(),
                    method: c.method.clone(),
                    headers,
                    body: c.body.clone(),
                    timeout_ms: c.timeout_ms,
                }
            })
            .collect()
    }

    /// Reports the outcome of [`Action::RunChecks`].
    pub fn checks_done(&mut self, now: i64, health: &[HealthResponse], metrics: &[Measurement]) {
        if self.phase != Phase::Running || !self.step_applied || self.ab_measured(now, metrics) {
            return;
        }
        let mut failures = Vec::new();
        let mut checked_all = !health.is_empty();
        for h in health {
            let Some(check) = self.spec.health_checks.get(h.check) else {
                checked_all = false;
                continue;
            };
            let verdict = match &h.result {
                Ok((status, body, ms)) => check.accepts(*status, body, *ms),
                Err(e) => Err(format!("{}: {e}", check.name)),
            };
            match verdict {
                Ok(()) => {
                    let msg = format!("health check {} passed", check.name);
                    self.note(now, "health", msg);
                }
                Err(e) => failures.push(format!("health check failed: {e}")),
            }
        }
        if checked_all && failures.is_empty() {
            self.step_checked = true;
        }
        let mut pause = None;
        for m in metrics {
            let i = m.query.metric;
            let Some(spec) = self.spec.analysis.get(i).cloned() else {
                continue;
            };
            let (outcome, shown) = match &m.value {
                Ok(v) => (
                    spec.evaluate(*v),
                    v.map_or("no data".to_owned(), |x| format!("{x:.4}")),
                ),
                Err(e) => (Outcome::Inconclusive, format!("unmeasured ({e})")),
            };
            let t = &mut self.tallies[i];
            t.last_until_ms = Some(m.query.until_ms.max(t.last_until_ms.unwrap_or(0)));
            t.last_value = m.value.clone().ok().flatten();
            let line = format!(
                "{} of {} {}: {shown} → {}",
                spec.name,
                m.query.service,
                short(&m.query.version),
                outcome_word(outcome)
            );
            match outcome {
                Outcome::Successful => t.successful += 1,
                Outcome::Failed => t.failed += 1,
                Outcome::Inconclusive => t.inconclusive += 1,
            }
            let (failed, inconclusive) = (t.failed, t.inconclusive);
            self.note(now, "analysis", line.clone());
            if outcome == Outcome::Failed && failed > spec.failure_limit {
                failures.push(format!(
                    "analysis {}: {failed} failed measurement(s), more than the failure limit of {} (last: {line})",
                    spec.name, spec.failure_limit
                ));
            }
            if outcome == Outcome::Inconclusive && inconclusive > spec.inconclusive_limit {
                pause = Some(format!(
                    "analysis {}: {inconclusive} inconclusive measurement(s), more than the limit of {} (last: {line})",
                    spec.name, spec.inconclusive_limit
                ));
            }
        }
        // A measurement round counts once per metric for the step, whatever the services.
        let mut seen = std::collections::BTreeSet::new();
        for m in metrics {
            if seen.insert(m.query.metric) {
                if let Some(t) = self.tallies.get_mut(m.query.metric) {
                    t.this_step += 1;
                }
            }
        }
        if !failures.is_empty() {
            self.fail(now, failures.join("; "));
        } else if let Some(why) = pause {
            self.note(
                now,
                "paused",
                format!("{why}; waiting for `clodo resume`, `clodo promote` or `clodo abort`"),
            );
            self.reason = Some(why);
            self.phase = Phase::Paused;
        }
    }
}

fn outcome_word(o: Outcome) -> &'static str {
    match o {
        Outcome::Successful => "successful",
        Outcome::Failed => "failed",
        Outcome::Inconclusive => "inconclusive",
    }
}
