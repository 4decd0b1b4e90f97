//! The rollout terms beside the traffic percentages: manual gates in `steps`
//! (`[10, {pause = true}, 50, 100]`), the progress deadline and what happens when it passes,
//! and the cap on time spent paused.

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// No step advance for this long (outside pauses) ends or pauses a rollout.
pub const DEFAULT_PROGRESS_DEADLINE_SECS: u64 = 1800;
/// A paused rollout nobody resumes for this long is aborted (it would hold its environment).
pub const DEFAULT_MAX_PAUSE_SECS: u64 = 86_400;
/// Consecutive analytics errors a metric tolerates per service before the analysis fails.
pub const DEFAULT_CONSECUTIVE_ERROR_LIMIT: u32 = 4;
/// Longest timed pause (`{pause = SECONDS}`) and longest deadline or pause cap: one week.
pub const MAX_PAUSE_STEP_SECS: u64 = 604_800;

/// One entry of `steps`: a percentage of traffic on the new versions, or a gate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Step {
    Traffic(f64),
    Gate(Gate),
}

impl<'de> Deserialize<'de> for Step {
    /// A number, or a gate object; anything else is refused saying what a step is (an
    /// untagged enum would only say that no variant matched).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Number(n) => n
                .as_f64()
                .map(Step::Traffic)
                .ok_or_else(|| D::Error::custom("a step percentage must be a finite number")),
            gate @ serde_json::Value::Object(_) => serde_json::from_value::<Gate>(gate)
                .map(Step::Gate)
                .map_err(|e| D::Error::custom(format!("a gate in `steps`: {e}"))),
            other => Err(D::Error::custom(format!(
                "a step is a percentage (0 to 100) or a gate ({{\"pause\": true}} or {{\"pause\": SECONDS}}), not {other}"
            ))),
        }
    }
}

/// `{pause = true}` (hold until `clodo resume` / `clodo promote`, Argo's `pause: {}`) or
/// `{pause = SECONDS}` (hold that long, then continue by itself).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gate {
    pub pause: Pause,
}

/// How long a gate holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pause {
    /// Until a human resumes.
    Manual,
    /// This many seconds.
    Secs(u64),
}

impl Serialize for Pause {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Pause::Manual => s.serialize_bool(true),
            Pause::Secs(n) => s.serialize_u64(*n),
        }
    }
}

impl<'de> Deserialize<'de> for Pause {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Flag(bool),
            Secs(u64),
        }
        match Raw::deserialize(d)? {
            Raw::Flag(true) => Ok(Pause::Manual),
            Raw::Flag(false) => Err(serde::de::Error::custom(
                "`pause = false` is no gate: write `{pause = true}` or remove the entry",
            )),
            Raw::Secs(n) if (1..=MAX_PAUSE_STEP_SECS).contains(&n) => Ok(Pause::Secs(n)),
            Raw::Secs(n) => Err(serde::de::Error::custom(format!(
                "`pause = {n}`: a timed pause is 1 to {MAX_PAUSE_STEP_SECS} seconds"
            ))),
        }
    }
}

impl Step {
    /// The percentages of `steps`, gates left out.
    #[must_use]
    pub fn percentages(steps: &[Step]) -> Vec<f64> {
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Traffic(p) => Some(*p),
                Step::Gate(_) => None,
            })
            .collect()
    }

    /// Plain percentages as steps.
    #[must_use]
    pub fn traffic(percentages: &[f64]) -> Vec<Step> {
        percentages.iter().copied().map(Step::Traffic).collect()
    }

    /// The gate before each traffic step (index = traffic step), or why the gates are not
    /// where a gate can hold: two in a row, or one after the last percentage (the rollout is
    /// done there, nothing is left to hold).
    pub fn gates(steps: &[Step]) -> Result<Vec<Option<Pause>>, String> {
        let mut out: Vec<Option<Pause>> = vec![None];
        for (i, s) in steps.iter().enumerate() {
            match s {
                Step::Traffic(_) => out.push(None),
                Step::Gate(g) => {
                    let slot = out.last_mut().expect("never empty");
                    if slot.is_some() {
                        return Err(format!(
                            "`steps[{i}]`: two pauses in a row; one gate holds until resumed"
                        ));
                    }
                    *slot = Some(g.pause);
                }
            }
        }
        if out.pop().flatten().is_some() {
            return Err(
                "`steps`: a pause after the last percentage holds nothing (the rollout is done there); put it before 100"
                    .into(),
            );
        }
        Ok(out)
    }
}

/// What a rollout that made no progress within `progress_deadline_secs` does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnDeadline {
    /// Roll every service back (Argo's `progressDeadlineAbort: true`).
    #[default]
    Abort,
    /// Pause for a human (still bounded by `max_pause_secs`).
    Pause,
}

impl OnDeadline {
    #[must_use]
    pub fn parse(s: &str) -> Option<OnDeadline> {
        match s {
            "abort" => Some(OnDeadline::Abort),
            "pause" => Some(OnDeadline::Pause),
            _ => None,
        }
    }
}

/// The JSON schema of `steps` as the rollout API takes them: numbers from 0 to 100, or
/// `{"pause": true}` / `{"pause": SECONDS}` objects.
pub fn steps_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "maxItems": 40,
        "default": [],
        "items": {
            "anyOf": [
                { "type": "number", "minimum": 0, "maximum": 100 },
                {
                    "type": "object",
                    "required": ["pause"],
                    "additionalProperties": false,
                    "properties": {
                        "pause": {
                            "anyOf": [
                                { "type": "boolean", "enum": [true], "description": "hold until resumed" },
                                { "type": "integer", "minimum": 1, "maximum": MAX_PAUSE_STEP_SECS, "description": "hold this many seconds" }
                            ]
                        }
                    }
                }
            ]
        }
    })
}
