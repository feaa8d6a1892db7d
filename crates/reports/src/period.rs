//! A report's period: a day or a month in the agency's zone (China Standard Time, UTC+8).

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// China Standard Time, in which days and months begin.
pub const CST: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(z) => z,
    None => panic!("UTC+8"),
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeriodKind {
    Day,
    Month,
}

/// `[from, to)`, with the label people read (`2026-12-06`, `2026-12`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    pub kind: PeriodKind,
    pub label: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    CST.from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default())
        .single()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

impl Period {
    /// The day `date` in China Standard Time.
    pub fn day(date: NaiveDate) -> Period {
        Period {
            kind: PeriodKind::Day,
            label: date.format("%Y-%m-%d").to_string(),
            from: midnight(date),
            to: midnight(date.succ_opt().unwrap_or(date)),
        }
    }

    /// The month of `date` in China Standard Time.
    pub fn month(date: NaiveDate) -> Period {
        let first = date.with_day(1).unwrap_or(date);
        let next = if first.month() == 12 {
            NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
        }
        .unwrap_or(first);
        Period {
            kind: PeriodKind::Month,
            label: first.format("%Y-%m").to_string(),
            from: midnight(first),
            to: midnight(next),
        }
    }

    /// The period of `kind` holding `date`.
    pub fn of(kind: PeriodKind, date: NaiveDate) -> Period {
        match kind {
            PeriodKind::Day => Period::day(date),
            PeriodKind::Month => Period::month(date),
        }
    }

    /// The date (CST) a moment falls on.
    pub fn date_of(t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&CST).date_naive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_months_begin_at_midnight_china_time() {
        let d = NaiveDate::from_ymd_opt(2026, 12, 31).unwrap();
        let day = Period::day(d);
        assert_eq!(day.from.to_rfc3339(), "2026-12-30T16:00:00+00:00");
        assert_eq!((day.to - day.from).num_hours(), 24);
        let month = Period::month(d);
        assert_eq!(month.label, "2026-12");
        assert_eq!(month.to.to_rfc3339(), "2026-12-31T16:00:00+00:00");
        assert_eq!((month.to - month.from).num_days(), 31);
    }
}
