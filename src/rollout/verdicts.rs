//! What happens while a step holds: which health checks and measurements are due, and the
//! verdict on their results (pass, roll back, or pause for a human).

use super::{
    short, Action, HealthRequest, HealthResponse, Measurement, MetricQuery, Phase, Rollout,
    ServiceRollout, ServiceTally, Verdict,
};
use crate::config::version_override_header;

impl Rollout {
    /// The analysis metrics that apply at this step: none while the new versions take no
    /// traffic (blue-green's 0%: there is nothing to measure).
    pub(super) fn metrics_apply(&self) -> bool {
        self.percent() > 0.0
    }

    /// When metric `i` is next due (`None`: nothing more to take in this step). An inline
    /// metric takes its `count` in the step, then more while its latest measurement of any
    /// service is not successful (the step cannot advance on it); a background metric is
    /// measured every `interval_secs` for as long as the rollout runs.
    pub(super) fn metric_due_at(&self, i: usize) -> Option<i64> {
        let m = &self.spec.analysis[i];
        let t = &self.tallies[i];
        if !m.background && t.this_step >= m.count && self.metric_settled(i) {
            return None;
        }
        Some(self.window_start(i) + super::engine::secs_ms(m.interval_secs))
    }

    /// Where the next window of metric `i` starts: after the last one, and for an inline
    /// metric not before its step began.
    fn window_start(&self, i: usize) -> i64 {
        let last = self.tallies[i]
            .last_until_ms
            .unwrap_or(self.step_started_ms);
        if self.spec.analysis[i].background {
            last
        } else {
            last.max(self.step_started_ms)
        }
    }

    /// Whether metric `i` lets the step advance: inline, its `count` is taken and the latest
    /// measurement of every service it measures was successful; background, no service's
    /// latest measurement failed.
    pub(super) fn metric_settled(&self, i: usize) -> bool {
        let m = &self.spec.analysis[i];
        let t = &self.tallies[i];
        let latest = |service: &str| {
            t.services
                .iter()
                .find(|s| s.service == service)
                .and_then(|s| s.last_verdict)
        };
        let services = self.services_for(m.service.as_ref());
        if m.background {
            services
                .iter()
                .all(|s| latest(&s.service) != Some(Verdict::Failed))
        } else {
            t.this_step >= m.count
                && services
                    .iter()
                    .all(|s| latest(&s.service) == Some(Verdict::Successful))
        }
    }

    /// What the current step waits for, in words (for the progress deadline's message).
    pub(super) fn waiting_for(&self, now: i64) -> String {
        if !self.step_applied {
            return "the traffic change did not go through".to_owned();
        }
        if !self.step_checked {
            return "the health checks have not passed".to_owned();
        }
        let mut waits = Vec::new();
        if self.metrics_apply() {
            for (i, m) in self.spec.analysis.iter().enumerate() {
                if self.metric_settled(i) {
                    continue;
                }
                let t = &self.tallies[i];
                let unsettled: Vec<String> = t
                    .services
                    .iter()
                    .filter(|s| s.last_verdict != Some(Verdict::Successful))
                    .map(|s| {
                        format!(
                            "{} {}",
                            s.service,
                            s.last_message.as_deref().unwrap_or("not measured")
                        )
                    })
                    .collect();
                waits.push(format!(
                    "analysis {}: {}/{} measurement(s) this step{}",
                    m.name,
                    t.this_step,
                    m.count,
                    if unsettled.is_empty() {
                        String::new()
                    } else {
                        format!(", latest not successful: {}", unsettled.join(", "))
                    }
                ));
            }
        }
        let hold_until = self.hold_until();
        if now < hold_until {
            waits.push(format!("the step holds until {hold_until} (epoch ms)"));
        }
        if waits.is_empty() {
            "the step was ready to advance".to_owned()
        } else {
            waits.join("; ")
        }
    }

    /// When the step's hold ends: its wait after the traffic moved, plus the time it spent
    /// paused (a pause stops the step's clock).
    pub(super) fn hold_until(&self) -> i64 {
        self.step_started_ms
            .saturating_add(self.step_wait_ms())
            .saturating_add(self.step_paused_ms)
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
                        let since = self.window_start(i);
                        for s in self.services_for(m.service.as_ref()) {
                            metrics.push(MetricQuery {
                                metric: i,
                                service: s.service.clone(),
                                script: s.script.clone(),
                                version: s.new_version.clone(),
                                since_ms: since,
                                until_ms: now,
                                baseline_version: s
                                    .previous_version
                                    .clone()
                                    .filter(|_| m.uses_baseline()),
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
        let hold_until = self.hold_until();
        // The step ends once it has held, its checks passed and every metric that applies
        // let it (its count taken, its latest measurements successful).
        let settled =
            !self.metrics_apply() || (0..self.spec.analysis.len()).all(|i| self.metric_settled(i));
        if now >= hold_until && settled {
            return Action::Advance;
        }
        // Wake for the next measurement, or at the hold's end when that alone can end the
        // step, or at the progress deadline.
        let wake = match next_due {
            Some(due) if settled && now < hold_until => due.min(hold_until),
            Some(due) => due,
            None => hold_until,
        };
        let wake = self.deadline_at().map_or(wake, |d| d.min(wake));
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
            let previous = self
                .spec
                .services
                .iter()
                .find(|s| s.service == m.query.service)
                .and_then(|s| s.previous_version.clone());
            let (verdict, shown) = spec.judge(m, previous.as_deref());
            let t = &mut self.tallies[i];
            t.last_until_ms = Some(m.query.until_ms.max(t.last_until_ms.unwrap_or(0)));
            t.last_value = m.value.clone().ok().flatten();
            match verdict {
                Verdict::Successful => t.successful += 1,
                Verdict::Failed => t.failed += 1,
                Verdict::Inconclusive => t.inconclusive += 1,
                Verdict::Error => t.errors += 1,
            }
            let at = match t.services.iter().position(|s| s.service == m.query.service) {
                Some(at) => at,
                None => {
                    t.services.push(ServiceTally {
                        service: m.query.service.clone(),
                        ..ServiceTally::default()
                    });
                    t.services.len() - 1
                }
            };
            let st = &mut t.services[at];
            match verdict {
                Verdict::Successful => st.successful += 1,
                Verdict::Failed => st.failed += 1,
                Verdict::Inconclusive => st.inconclusive += 1,
                Verdict::Error => st.errors += 1,
            }
            // Any measurement that was taken ends an error streak (Argo's consecutiveError).
            st.error_streak = if verdict == Verdict::Error {
                st.error_streak + 1
            } else {
                0
            };
            st.last_verdict = Some(verdict);
            if verdict != Verdict::Error {
                st.last_value = m.value.clone().ok().flatten();
                st.last_requests = m.requests;
                st.baseline_value = m.baseline.clone().and_then(Result::ok).flatten();
                if st.samples.len() == super::MAX_SAMPLES {
                    st.samples.remove(0);
                }
                st.samples.push(super::MetricSample {
                    at_ms: m.query.until_ms,
                    value: st.last_value,
                    baseline: st.baseline_value,
                    threshold: spec.condition.and_then(|c| c.threshold(st.baseline_value)),
                    failure_threshold: spec
                        .failure_condition
                        .and_then(|c| c.threshold(st.baseline_value)),
                    verdict,
                });
            }
            st.last_message = Some(shown.clone());
            let st = st.clone();
            let line = format!(
                "{} of {} {}: {shown} → {}",
                spec.name,
                m.query.service,
                short(&m.query.version),
                verdict_word(verdict)
            );
            self.note(now, "analysis", line.clone());
            let of = &m.query.service;
            match verdict {
                Verdict::Failed if st.failed > spec.failure_limit => failures.push(format!(
                    "analysis {} of {of}: {} failed measurement(s), more than the failure limit of {} (last: {line})",
                    spec.name, st.failed, spec.failure_limit
                )),
                Verdict::Error if st.error_streak > spec.consecutive_error_limit => {
                    failures.push(format!(
                        "analysis {} of {of}: {} consecutive errors, more than the consecutive error limit of {} (last: {line})",
                        spec.name, st.error_streak, spec.consecutive_error_limit
                    ))
                }
                Verdict::Inconclusive if st.inconclusive > spec.inconclusive_limit => {
                    pause = Some(format!(
                        "analysis {} of {of}: {} inconclusive measurement(s), more than the limit of {} (last: {line})",
                        spec.name, st.inconclusive, spec.inconclusive_limit
                    ));
                }
                _ => {}
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
            self.pause(
                now,
                "paused",
                why,
                "waiting for `clodo resume`, `clodo promote` or `clodo abort`",
            );
        }
    }
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Successful => "successful",
        Verdict::Failed => "failed",
        Verdict::Inconclusive => "inconclusive",
        Verdict::Error => "error",
    }
}
