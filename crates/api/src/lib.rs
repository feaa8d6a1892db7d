//! The HTTP API's vocabulary, apart from the server that serves it: every request and answer
//! type (with its OpenAPI schema), and `ApiError`, whose answers all carry a stable `code`
//! beside the message, so clients (the console, the field app) decide on the code and show the
//! message.

pub mod approvals;
mod error;
pub mod incidents;
pub mod register;
pub mod supervision;
pub mod types;

pub use error::{ApiError, ErrorBody, code};
