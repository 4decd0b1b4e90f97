//! Team roles, ordered `viewer < deployer < approver < admin`, and the permission check.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A member's or token's role. Each role can do everything the roles below it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything of the team.
    Viewer,
    /// Creates deployments and takes environment locks.
    Deployer,
    /// Approves other people's deployments and may use the emergency override.
    Approver,
    /// Manages tokens, members, policies, credentials; force-unlocks.
    Admin,
}

/// The schema is a plain string enum of `ALL` (derived, the variants' doc comments would turn
/// it into a `oneOf`).
impl schemars::JsonSchema for Role {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Role".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let names: Vec<&str> = Self::ALL.iter().map(|r| r.as_str()).collect();
        schemars::json_schema!({ "type": "string", "enum": names })
    }
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Deployer, Role::Approver, Role::Admin];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Deployer => "deployer",
            Role::Approver => "approver",
            Role::Admin => "admin",
        }
    }

    /// Whether this role includes `needed`.
    #[must_use]
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!("unknown role `{s}`: expected viewer, deployer, approver or admin")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_inclusive() {
        assert!(Role::Admin.allows(Role::Viewer));
        assert!(Role::Approver.allows(Role::Deployer));
        assert!(Role::Deployer.allows(Role::Deployer));
        assert!(!Role::Viewer.allows(Role::Deployer));
        assert!(!Role::Approver.allows(Role::Admin));
    }

    #[test]
    fn roles_parse_and_print() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
            assert_eq!(serde_json::to_value(role).unwrap(), role.as_str());
        }
        assert!("root".parse::<Role>().is_err());
    }
}
