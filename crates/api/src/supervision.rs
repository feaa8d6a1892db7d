//! Integrated supervision over HTTP: the figures of a division over a day or a month, the
//! stored daily and monthly reports, and what a client sends to ask for them.

pub use geohazard_reports::{Figures, RaisedException, ReportRow};
use serde::{Deserialize, Serialize};

/// `GET /api/v1/supervision/figures` parameters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FiguresQuery {
    /// A division in the caller's scope (default: the caller's own).
    pub division: Option<String>,
    /// `day` (default) or `month`.
    pub period: Option<String>,
    /// A date in the period, `YYYY-MM-DD` in China Standard Time (default: today).
    pub date: Option<String>,
}

/// `GET /api/v1/supervision/reports` parameters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReportsQuery {
    /// Only this division's reports (one in the caller's scope).
    pub division: Option<String>,
    /// At most this many (1 to 500; default 100).
    pub limit: Option<i64>,
}

/// A stored report: its row, its figures as computed when its period ended, and the exception
/// reports it raised.
#[derive(Debug, Clone, Serialize)]
pub struct ReportDetail {
    pub report: ReportRow,
    pub figures: Figures,
    pub raised: Vec<RaisedException>,
}
