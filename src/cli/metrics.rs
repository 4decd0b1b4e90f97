//! `clodo metrics`: DORA's delivery metrics of a project environment (or one service) over a
//! window, from `GET /api/v1/metrics/dora`, as a table or JSON.

use std::process::ExitCode;

use clap::Args;

use super::client::{self, enc};
use super::schedule::project_of;
use crate::api::contract::metrics::{Band, DoraReport, Figure};

#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// The environment (DORA measures production; any environment works).
    #[arg(long = "env")]
    pub environment: String,
    /// The project (slug); default: `project` of ./clodo.toml.
    #[arg(long)]
    pub project: Option<String>,
    /// Only deployments that shipped this service.
    #[arg(long)]
    pub service: Option<String>,
    /// The window up to now, in days (1 to 365).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=365))]
    pub days: u32,
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: MetricsArgs) -> ExitCode {
    client::run(async move {
        let project = project_of(args.project)?;
        let api = client::client()?;
        let mut path = format!(
            "/api/v1/metrics/dora?project={}&environment={}&days={}",
            enc(&project),
            enc(&args.environment),
            args.days
        );
        if let Some(s) = &args.service {
            path.push_str(&format!("&service={}", enc(s)));
        }
        let report: DoraReport = api.get(&path).await?;
        if args.json {
            client::print_json(&serde_json::to_value(&report).unwrap_or_default());
            return Ok(());
        }
        print!("{}", table(&report));
        Ok(())
    })
}

/// The report as people read it: one line per metric with its band and sample.
fn table(r: &DoraReport) -> String {
    let mut out = format!(
        "DORA metrics of {}/{}{} over {} days ({} finished deployments)\n",
        r.project,
        r.environment,
        r.service
            .as_ref()
            .map(|s| format!(" (service {s})"))
            .unwrap_or_default(),
        (r.to - r.from) / 86_400_000,
        r.deployments
    );
    let rows: [(&str, &Figure); 8] = [
        ("deployment frequency", &r.deployment_frequency),
        ("change lead time", &r.change_lead_time),
        ("change fail rate", &r.change_fail_rate),
        (
            "failed deployment recovery",
            &r.failed_deployment_recovery_time,
        ),
        ("deployment rework rate", &r.deployment_rework_rate),
        ("success rate", &r.success_rate),
        ("median deploy duration", &r.median_deploy_duration),
        ("time to rollback", &r.time_to_rollback),
    ];
    for (name, f) in rows {
        let band = f
            .band
            .map(|b| format!("  [{}]", band_name(b)))
            .unwrap_or_default();
        let note = f
            .note
            .as_ref()
            .map(|n| format!("  ({n})"))
            .unwrap_or_default();
        out.push_str(&format!(
            "  {name:<28} {:>14}{band}  n={}{note}\n",
            value(f),
            f.sample
        ));
    }
    out
}

fn band_name(b: Band) -> &'static str {
    match b {
        Band::Elite => "elite",
        Band::High => "high",
        Band::Medium => "medium",
        Band::Low => "low",
    }
}

/// A figure in its unit, readable: per day, a percentage, or a duration.
pub fn value(f: &Figure) -> String {
    let Some(v) = f.value else {
        return "not measured".into();
    };
    match f.unit.as_str() {
        "per_day" => format!("{v:.2}/day"),
        "ratio" => format!("{:.1}%", v * 100.0),
        "ms" => duration(v),
        _ => format!("{v}"),
    }
}

fn duration(ms: f64) -> String {
    let s = ms / 1000.0;
    if s < 120.0 {
        format!("{s:.0} s")
    } else if s < 7200.0 {
        format!("{:.0} min", s / 60.0)
    } else if s < 172_800.0 {
        format!("{:.1} h", s / 3600.0)
    } else {
        format!("{:.1} d", s / 86_400.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figure(value: Option<f64>, unit: &str) -> Figure {
        Figure {
            value,
            unit: unit.into(),
            sample: 1,
            band: None,
            note: None,
        }
    }

    #[test]
    fn figures_read_in_their_units_and_unmeasured_ones_say_so() {
        assert_eq!(value(&figure(Some(0.25), "ratio")), "25.0%");
        assert_eq!(value(&figure(Some(2.0 / 7.0), "per_day")), "0.29/day");
        assert_eq!(value(&figure(Some(90_000.0), "ms")), "90 s");
        assert_eq!(value(&figure(Some(5_400_000.0), "ms")), "90 min");
        assert_eq!(value(&figure(Some(3.0 * 86_400_000.0), "ms")), "3.0 d");
        assert_eq!(value(&figure(None, "ms")), "not measured");
    }
}
