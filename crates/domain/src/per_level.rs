//! `PerLevel<T>`: one `T` for each of the four warning levels, written as an object with the
//! keys `blue`, `yellow`, `orange`, `red` (a missing key takes `T::default()`).

use crate::WarningLevel;
use serde::{Deserialize, Serialize};

/// One value per warning level: a rule's thresholds (`PerLevel<Option<f64>>`, a missing level
/// skipped), the acknowledgement deadlines, the counts of a report by level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct PerLevel<T: Default> {
    pub blue: T,
    pub yellow: T,
    pub orange: T,
    pub red: T,
}

impl<T: Default> PerLevel<T> {
    pub const fn new(blue: T, yellow: T, orange: T, red: T) -> PerLevel<T> {
        PerLevel {
            blue,
            yellow,
            orange,
            red,
        }
    }

    pub fn get(&self, level: WarningLevel) -> &T {
        match level {
            WarningLevel::Blue => &self.blue,
            WarningLevel::Yellow => &self.yellow,
            WarningLevel::Orange => &self.orange,
            WarningLevel::Red => &self.red,
        }
    }

    pub fn get_mut(&mut self, level: WarningLevel) -> &mut T {
        match level {
            WarningLevel::Blue => &mut self.blue,
            WarningLevel::Yellow => &mut self.yellow,
            WarningLevel::Orange => &mut self.orange,
            WarningLevel::Red => &mut self.red,
        }
    }

    /// Each level with its value, lowest level first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (WarningLevel, &T)> {
        WarningLevel::ALL.into_iter().map(|l| (l, self.get(l)))
    }

    pub fn map<U: Default>(self, mut f: impl FnMut(T) -> U) -> PerLevel<U> {
        PerLevel {
            blue: f(self.blue),
            yellow: f(self.yellow),
            orange: f(self.orange),
            red: f(self.red),
        }
    }
}

impl<T: Default> PerLevel<Option<T>> {
    /// A value at every level.
    pub const fn some(blue: T, yellow: T, orange: T, red: T) -> PerLevel<Option<T>> {
        PerLevel::new(Some(blue), Some(yellow), Some(orange), Some(red))
    }

    /// True when no level has a value.
    pub fn is_empty(&self) -> bool {
        self.iter().all(|(_, v)| v.is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_level_reads_its_own_value_and_a_missing_key_is_the_default() {
        let p: PerLevel<Option<f64>> = serde_json::from_str(r#"{"yellow": 2, "red": 4}"#).unwrap();
        assert_eq!(p, PerLevel::new(None, Some(2.0), None, Some(4.0)));
        let mut seen = vec![];
        for (level, value) in p.iter() {
            assert_eq!(value, p.get(level));
            seen.push(level);
        }
        assert_eq!(seen, WarningLevel::ALL);
        assert!(!p.is_empty() && PerLevel::<Option<u8>>::default().is_empty());
        assert_eq!(
            p.map(|v| v.is_some()),
            PerLevel::new(false, true, false, true)
        );
        assert!(serde_json::from_str::<PerLevel<u8>>(r#"{"red": "x"}"#).is_err());
    }
}
