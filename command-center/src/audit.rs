//! The audit log's writer, `geohazard_audit`, under the name sign-in and the handlers use.

pub use geohazard_audit::{Entry, record, settle};
