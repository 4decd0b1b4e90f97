//! DORA's software-delivery metrics computed from a project environment's deployment records
//! (definitions: dora.dev, as summarised in docs/metrics.md), with the performance bands of
//! DORA's published clusters. Pure: the Worker loads the rows, this judges them.

use crate::api::contract::metrics::{Band, DoraDay, DoraReport, Figure};

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

/// What one deployment contributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentFacts {
    pub status: String,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// When the shipped commit was made (Unix ms), when the deploy said so.
    pub committed_at: Option<i64>,
    /// Made under an emergency override: Clodo's record of an unplanned, incident-driven deploy.
    pub emergency: bool,
}

impl DeploymentFacts {
    fn finished_in(&self, from: i64, to: i64) -> Option<i64> {
        let done = self.finished_at?;
        self.started_at?;
        let terminal = matches!(self.status.as_str(), "succeeded" | "failed" | "rolled_back");
        (terminal && (from..to).contains(&done)).then_some(done)
    }
    fn succeeded(&self) -> bool {
        self.status == "succeeded"
    }
    fn failed(&self) -> bool {
        matches!(self.status.as_str(), "failed" | "rolled_back")
    }
    fn duration(&self) -> Option<i64> {
        Some(self.finished_at? - self.started_at?)
    }
}

/// The median of `values` (the mean of the middle two for an even count), or None.
#[must_use]
pub fn median(mut values: Vec<i64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let n = values.len();
    #[allow(clippy::cast_precision_loss)] // milliseconds: far below 2^52
    Some(if n % 2 == 1 {
        values[n / 2] as f64
    } else {
        (values[n / 2 - 1] as f64 + values[n / 2] as f64) / 2.0
    })
}

fn figure(
    value: Option<f64>,
    unit: &str,
    sample: usize,
    band: Option<Band>,
    note: Option<&str>,
) -> Figure {
    Figure {
        value,
        unit: unit.into(),
        sample: u32::try_from(sample).unwrap_or(u32::MAX),
        band,
        note: note.map(str::to_owned),
    }
}

fn ratio(part: usize, whole: usize) -> Option<f64> {
    #[allow(clippy::cast_precision_loss)] // counts of deployments
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// DORA 2023 clusters: elite deploys on demand (at least daily), high between daily and
/// weekly, medium between weekly and monthly, low less often.
fn frequency_band(per_day: f64) -> Band {
    if per_day >= 1.0 {
        Band::Elite
    } else if per_day >= 1.0 / 7.0 {
        Band::High
    } else if per_day >= 1.0 / 30.0 {
        Band::Medium
    } else {
        Band::Low
    }
}

/// Lead time: elite under a day, high under a week, medium under a month.
fn lead_time_band(ms: f64) -> Band {
    duration_band(ms, [DAY_MS, 7 * DAY_MS, 30 * DAY_MS])
}

/// Recovery: elite under an hour, high under a day, medium under a week.
fn recovery_band(ms: f64) -> Band {
    duration_band(ms, [HOUR_MS, DAY_MS, 7 * DAY_MS])
}

fn duration_band(ms: f64, limits: [i64; 3]) -> Band {
    #[allow(clippy::cast_precision_loss)] // the limits are whole days at most
    let under = |limit: i64| ms < limit as f64;
    if under(limits[0]) {
        Band::Elite
    } else if under(limits[1]) {
        Band::High
    } else if under(limits[2]) {
        Band::Medium
    } else {
        Band::Low
    }
}

/// Change fail rate: elite at most 5%, high 10%, medium 15%.
fn fail_rate_band(rate: f64) -> Band {
    if rate <= 0.05 {
        Band::Elite
    } else if rate <= 0.10 {
        Band::High
    } else if rate <= 0.15 {
        Band::Medium
    } else {
        Band::Low
    }
}

/// When service came back after `failed` (which finished at `failed_at`): a rollback that
/// restored the previous versions itself recovered when it finished, exposure being its
/// own run (`started_at` to `finished_at`); a failure left in place recovers when the next
/// deployment of the environment succeeds.
fn recovery(failed: &DeploymentFacts, all: &[DeploymentFacts]) -> Option<i64> {
    let failed_at = failed.finished_at?;
    if failed.status == "rolled_back" {
        return failed.duration();
    }
    all.iter()
        .filter(|d| d.succeeded())
        .filter_map(|d| d.finished_at)
        .filter(|&t| t > failed_at)
        .min()
        .map(|t| t - failed_at)
}

/// The report of one environment over [`to` − `days`, `to`). `all` are its deployments that
/// finished at or after the window's start (later ones matter for recovery times).
#[must_use]
pub fn report(
    (project, environment, service): (&str, &str, Option<&str>),
    all: &[DeploymentFacts],
    days: u32,
    to: i64,
) -> DoraReport {
    let from = to - i64::from(days) * DAY_MS;
    let counted: Vec<&DeploymentFacts> = all
        .iter()
        .filter(|d| d.finished_in(from, to).is_some())
        .collect();
    let succeeded: Vec<&DeploymentFacts> =
        counted.iter().copied().filter(|d| d.succeeded()).collect();
    let failed: Vec<&DeploymentFacts> = counted.iter().copied().filter(|d| d.failed()).collect();

    let per_day =
        f64::from(u32::try_from(succeeded.len()).unwrap_or(u32::MAX)) / f64::from(days.max(1));
    let lead_times: Vec<i64> = succeeded
        .iter()
        .filter_map(|d| Some(d.finished_at? - d.committed_at?))
        .filter(|&t| t >= 0)
        .collect();
    let lead_sample = lead_times.len();
    let lead = median(lead_times);
    let recoveries: Vec<i64> = failed.iter().filter_map(|d| recovery(d, all)).collect();
    let unrecovered = failed.len() - recoveries.len();
    let recovery_sample = recoveries.len();
    let recovery_median = median(recoveries);
    let fail_rate = ratio(failed.len(), counted.len());
    let rollbacks: Vec<i64> = counted
        .iter()
        .filter(|d| d.status == "rolled_back")
        .filter_map(|d| d.duration())
        .collect();
    let rollback_sample = rollbacks.len();
    let durations: Vec<i64> = succeeded.iter().filter_map(|d| d.duration()).collect();
    let duration_sample = durations.len();

    let unrecovered_note =
        format!("{unrecovered} failed deployment(s) not yet followed by a successful one");
    DoraReport {
        project: project.into(),
        environment: environment.into(),
        service: service.map(str::to_owned),
        from,
        to,
        deployments: u32::try_from(counted.len()).unwrap_or(u32::MAX),
        deployment_frequency: figure(Some(per_day), "per_day", succeeded.len(), Some(frequency_band(per_day)), None),
        change_lead_time: figure(
            lead,
            "ms",
            lead_sample,
            lead.map(lead_time_band),
            lead.is_none().then_some("no successful deployment in the window said when its commit was made (`clodo deploy` sends it from git)"),
        ),
        change_fail_rate: figure(
            fail_rate,
            "ratio",
            counted.len(),
            fail_rate.map(fail_rate_band),
            fail_rate.is_none().then_some("no deployment finished in the window"),
        ),
        failed_deployment_recovery_time: figure(
            recovery_median,
            "ms",
            recovery_sample,
            recovery_median.map(recovery_band),
            if failed.is_empty() {
                Some("no failed deployment in the window")
            } else if unrecovered > 0 {
                Some(unrecovered_note.as_str())
            } else {
                None
            },
        ),
        deployment_rework_rate: figure(
            ratio(counted.iter().filter(|d| d.emergency).count(), counted.len()),
            "ratio",
            counted.len(),
            None,
            Some("deployments made under an emergency override, Clodo's record of unplanned, incident-driven deploys"),
        ),
        success_rate: figure(ratio(succeeded.len(), counted.len()), "ratio", counted.len(), None, None),
        median_deploy_duration: figure(median(durations), "ms", duration_sample, None, None),
        time_to_rollback: figure(median(rollbacks), "ms", rollback_sample, None, (rollback_sample == 0).then_some("no rollback in the window")),
        daily: daily(&counted, from, days),
    }
}

fn daily(counted: &[&DeploymentFacts], from: i64, days: u32) -> Vec<DoraDay> {
    let first = from.div_euclid(DAY_MS) * DAY_MS;
    let mut out: Vec<DoraDay> = (0..=i64::from(days))
        .map(|i| DoraDay {
            day: first + i * DAY_MS,
            succeeded: 0,
            failed: 0,
        })
        .collect();
    for d in counted {
        let Some(done) = d.finished_at else { continue };
        let Ok(i) = usize::try_from((done - first).div_euclid(DAY_MS)) else {
            continue;
        };
        if let Some(day) = out.get_mut(i) {
            if d.succeeded() {
                day.succeeded += 1;
            } else {
                day.failed += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn d(status: &str, started: i64, minutes: i64) -> DeploymentFacts {
        DeploymentFacts {
            status: status.into(),
            started_at: Some(started),
            finished_at: Some(started + minutes * 60_000),
            committed_at: None,
            emergency: false,
        }
    }

    #[test]
    fn frequency_fail_rate_and_durations_come_from_finished_deployments_in_the_window() {
        let day = |n: i64| NOW - n * DAY_MS;
        let mut ok = d("succeeded", day(3), 4);
        ok.committed_at = Some(day(3) - 2 * HOUR_MS);
        let all = vec![
            ok,
            d("succeeded", day(2), 6),
            d("rolled_back", day(1), 10),
            d("succeeded", day(40), 5), // before the window
            DeploymentFacts {
                finished_at: None,
                ..d("deploying", day(1), 0)
            }, // still running
            DeploymentFacts {
                started_at: None,
                ..d("cancelled", day(1), 0)
            }, // never started
        ];
        let r = report(("shop", "production", None), &all, 7, NOW);
        assert_eq!(r.deployments, 3);
        assert_eq!(r.deployment_frequency.value, Some(2.0 / 7.0));
        assert_eq!(r.deployment_frequency.band, Some(Band::High));
        assert_eq!(r.change_fail_rate.value, Some(1.0 / 3.0));
        assert_eq!(r.change_fail_rate.band, Some(Band::Low));
        // One lead time: commit 2 h before start, 4 min deploy.
        assert_eq!(
            r.change_lead_time.value,
            Some((2 * HOUR_MS + 4 * 60_000) as f64)
        );
        assert_eq!(r.change_lead_time.sample, 1);
        assert_eq!(r.change_lead_time.band, Some(Band::Elite));
        // The rollback recovered itself: 10 minutes of exposure.
        assert_eq!(r.failed_deployment_recovery_time.value, Some(600_000.0));
        assert_eq!(r.failed_deployment_recovery_time.band, Some(Band::Elite));
        assert_eq!(r.time_to_rollback.value, Some(600_000.0));
        assert_eq!(r.median_deploy_duration.value, Some(300_000.0));
        assert_eq!(r.success_rate.value, Some(2.0 / 3.0));
        assert_eq!(r.daily.iter().map(|x| x.succeeded).sum::<u32>(), 2);
        assert_eq!(r.daily.iter().map(|x| x.failed).sum::<u32>(), 1);
    }

    #[test]
    fn a_failure_left_in_place_recovers_at_the_next_success_and_an_open_one_is_said() {
        let failed = d("failed", NOW - 5 * HOUR_MS, 1);
        let fixed = d("succeeded", NOW - 2 * HOUR_MS, 1);
        let r = report(
            ("shop", "production", None),
            &[failed.clone(), fixed],
            1,
            NOW,
        );
        let gap = (NOW - 2 * HOUR_MS + 60_000) - (NOW - 5 * HOUR_MS + 60_000);
        #[allow(clippy::cast_precision_loss)]
        let expected = gap as f64;
        assert_eq!(r.failed_deployment_recovery_time.value, Some(expected));
        assert_eq!(r.failed_deployment_recovery_time.band, Some(Band::High));

        let open = report(("shop", "production", None), &[failed], 1, NOW);
        assert_eq!(open.failed_deployment_recovery_time.value, None);
        assert!(open
            .failed_deployment_recovery_time
            .note
            .as_deref()
            .unwrap()
            .contains("1 failed"));
    }

    #[test]
    fn nothing_to_measure_is_null_with_a_reason_never_a_flattering_zero() {
        let r = report(("shop", "production", Some("api")), &[], 30, NOW);
        assert_eq!(r.deployments, 0);
        assert_eq!(r.change_fail_rate.value, None);
        assert!(r.change_fail_rate.note.is_some());
        assert_eq!(r.change_lead_time.value, None);
        assert_eq!(r.deployment_frequency.value, Some(0.0));
        assert_eq!(r.deployment_frequency.band, Some(Band::Low));
        assert_eq!(r.daily.len(), 31);
    }

    #[test]
    fn medians_of_even_and_odd_counts() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3, 1, 2]), Some(2.0));
        assert_eq!(median(vec![4, 1, 2, 3]), Some(2.5));
    }

    #[test]
    fn bands_follow_dora_clusters() {
        assert_eq!(frequency_band(3.0), Band::Elite);
        assert_eq!(frequency_band(1.0 / 10.0), Band::Medium);
        assert_eq!(frequency_band(1.0 / 60.0), Band::Low);
        assert_eq!(fail_rate_band(0.05), Band::Elite);
        assert_eq!(fail_rate_band(0.12), Band::Medium);
        #[allow(clippy::cast_precision_loss)]
        let week = (7 * DAY_MS) as f64;
        assert_eq!(lead_time_band(week), Band::Medium);
        assert_eq!(recovery_band(week), Band::Low);
    }
}
