//! Severity, SEV0 (most severe) to SEV4, shared by notifications, anomalies and runs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How bad something is. `SEV0 < SEV1` in this type's order means "more severe first", so
/// `severity <= minimum` reads "at least as severe as `minimum`".
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub enum Severity {
    #[serde(rename = "SEV0")]
    Sev0,
    #[serde(rename = "SEV1")]
    Sev1,
    #[serde(rename = "SEV2")]
    Sev2,
    #[serde(rename = "SEV3")]
    Sev3,
    #[serde(rename = "SEV4")]
    Sev4,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Sev0,
        Severity::Sev1,
        Severity::Sev2,
        Severity::Sev3,
        Severity::Sev4,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Sev0 => "SEV0",
            Severity::Sev1 => "SEV1",
            Severity::Sev2 => "SEV2",
            Severity::Sev3 => "SEV3",
            Severity::Sev4 => "SEV4",
        }
    }

    /// True when `self` is as severe as `minimum` or more.
    pub fn at_least(self, minimum: Severity) -> bool {
        self <= minimum
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown severity {0:?} (expected SEV0, SEV1, SEV2, SEV3 or SEV4)")]
pub struct UnknownSeverity(pub String);

impl FromStr for Severity {
    type Err = UnknownSeverity;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Severity::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(text))
            .ok_or_else(|| UnknownSeverity(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sev0_is_the_most_severe() {
        assert!(Severity::Sev0.at_least(Severity::Sev1));
        assert!(Severity::Sev1.at_least(Severity::Sev1));
        assert!(!Severity::Sev2.at_least(Severity::Sev1));
        assert_eq!("sev3".parse::<Severity>(), Ok(Severity::Sev3));
        assert!("SEV5".parse::<Severity>().is_err());
        assert_eq!(serde_json::to_string(&Severity::Sev2).unwrap(), "\"SEV2\"");
    }
}
