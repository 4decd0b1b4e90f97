//! Zone phase entry point rulesets (the Rulesets API), for the Request Header Transform Rule
//! that gives an A/B test its version affinity (`crate::rollout::ab`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Endpoint, Method};
use crate::cloudflare::path::{api_path, InvalidSegment};

/// An entry point ruleset; its rules stay JSON so the rules Clodo does not own are written
/// back as they were read.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct RulesetInfo {
    pub id: String,
    pub rules: Vec<Value>,
}

/// `GET /zones/{z}/rulesets/phases/{phase}/entrypoint` (404 when the zone has none yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetPhaseEntrypoint {
    pub zone: String,
    pub phase: String,
}

get_endpoint!(GetPhaseEntrypoint => RulesetInfo, |e| {
    api_path(&["zones", &e.zone, "rulesets", "phases", &e.phase, "entrypoint"])
});

/// The body of a PUT: every rule the entry point keeps.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntrypointRules {
    pub rules: Vec<Value>,
}

/// `PUT /zones/{z}/rulesets/phases/{phase}/entrypoint`: replaces the rules (creating the entry
/// point when there is none), a new version of the ruleset.
#[derive(Debug, Clone, PartialEq)]
pub struct PutPhaseEntrypoint {
    pub zone: String,
    pub phase: String,
    pub body: EntrypointRules,
}

impl Endpoint for PutPhaseEntrypoint {
    type Result = RulesetInfo;
    type Body = EntrypointRules;
    const METHOD: Method = Method::Put;
    fn path(&self) -> Result<String, InvalidSegment> {
        api_path(&[
            "zones",
            &self.zone,
            "rulesets",
            "phases",
            &self.phase,
            "entrypoint",
        ])
    }
    fn body(&self) -> Option<&EntrypointRules> {
        Some(&self.body)
    }
}
