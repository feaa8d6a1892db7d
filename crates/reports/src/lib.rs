//! Integrated supervision (综合监管): the figures of a division (and every division below it)
//! over a period, read from the store ([`figures`]): device online rate, data completeness
//! against each sensor's expected interval, warnings by level and response times,
//! notifications sent, delivered and confirmed, approvals on time and overdue, sites without
//! working monitoring, and the exceptions behind them by name. The daily duty report and the
//! monthly report per division are produced by the scheduler ([`schedule`], once per cluster),
//! stored ([`stored`]) with the exception reports they raise, and rendered as a printable zh-CN
//! page ([`html`]), a PDF ([`pdf`], headless Chromium) and an XLSX workbook ([`xlsx`]).
//!
//! Layer 6: reads what `store` holds and tells through `notify`; it depends on no service.

pub mod figures;
pub mod html;
pub mod pdf;
pub mod period;
pub mod render;
pub mod schedule;
pub mod stored;
pub mod table;
pub mod xlsx;

pub use figures::{Exception, Figures, figures};
pub use period::{Period, PeriodKind};
pub use stored::{Lines, RaisedException, ReportRow};
