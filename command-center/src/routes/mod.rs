//! The API's handlers, one module per resource. Each reads and writes through the library
//! crates (`geohazard_register`, `geohazard_warnings`, `geohazard_audit`) within the caller's
//! scope and checks the caller's permission; no SQL lives here.

mod approvals;
mod audit;
mod consult;
mod field;
mod gateways;
mod health;
mod incidents;
mod lists;
pub mod openapi;
mod plans;
// The regional meteorological risk warning (issue 28).
pub(crate) mod forecast;
mod readings;
mod register;
mod register_lists;
mod sites;
mod supervision;
mod warnings;
// The register's gateways and keys, people and rosters, officers (issue 24).
mod gateway_keys;
mod officers;
mod people;
// Divisions, site attachments (issue 24).
mod attachments;
mod divisions;
mod files;
mod sensors;
// A sensor's rules and their backtest (issue 24).
mod rules;

use axum::Router;

pub use supervision::Printer;

use crate::state::AppState;

/// The routes of every resource here.
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(sites::routes())
        .merge(register::routes())
        .merge(register_lists::routes())
        .merge(approvals::routes())
        .merge(readings::routes())
        .merge(warnings::routes())
        .merge(gateways::routes())
        .merge(health::routes())
        .merge(audit::routes())
        .merge(consult::routes())
        .merge(incidents::routes())
        .merge(plans::routes())
        .merge(supervision::routes())
        .merge(gateway_keys::routes())
        .merge(people::routes())
        .merge(officers::routes())
        .merge(divisions::routes())
        .merge(attachments::routes())
        .merge(sensors::routes())
        .merge(rules::routes())
        .merge(lists::routes())
        .merge(field::routes())
        .merge(forecast::routes())
        .merge(openapi::routes())
}
