//! The four warning levels every part of the system speaks of.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::UnknownName;

/// The four warning levels, lowest to highest (blue: attention, yellow: caution, orange: alert,
/// red: alarm). Ordered, so `Level::Red > Level::Yellow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningLevel {
    Blue,
    Yellow,
    Orange,
    Red,
}

impl WarningLevel {
    pub const ALL: [WarningLevel; 4] = [
        WarningLevel::Blue,
        WarningLevel::Yellow,
        WarningLevel::Orange,
        WarningLevel::Red,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WarningLevel::Blue => "blue",
            WarningLevel::Yellow => "yellow",
            WarningLevel::Orange => "orange",
            WarningLevel::Red => "red",
        }
    }

    /// 0 for blue up to 3 for red.
    pub fn rank(self) -> usize {
        self as usize
    }

    pub fn from_rank(rank: usize) -> Option<WarningLevel> {
        Self::ALL.get(rank).copied()
    }

    /// The next level up, capped at red.
    pub fn raised(self) -> WarningLevel {
        Self::from_rank(self.rank() + 1).unwrap_or(WarningLevel::Red)
    }

    /// The colour's name as Chinese warnings say it (蓝色预警 …).
    pub fn name_zh(self) -> &'static str {
        match self {
            WarningLevel::Blue => "蓝色",
            WarningLevel::Yellow => "黄色",
            WarningLevel::Orange => "橙色",
            WarningLevel::Red => "红色",
        }
    }
}

impl fmt::Display for WarningLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for WarningLevel {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        match s {
            "blue" => Ok(WarningLevel::Blue),
            "yellow" => Ok(WarningLevel::Yellow),
            "orange" => Ok(WarningLevel::Orange),
            "red" => Ok(WarningLevel::Red),
            other => Err(UnknownName::new("level", other)),
        }
    }
}
