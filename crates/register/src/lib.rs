//! The registry as officers read it, always through a `Scope` (their division and every one
//! below it): hazard sites with what is on them, sensors' readings, gateways and device health.
//! Also adding officers. The command-center's handlers call these; no SQL lives in a handler.

pub mod attachments;
pub mod devices;
pub mod divisions;
pub mod gateway_keys;
pub mod geojson;
pub mod geometry;
pub mod list_file;
pub mod officers;
pub mod people;
pub mod readings;
pub mod scope;
pub mod sensor_edit;
pub mod site_edit;
pub mod site_file;
pub mod site_input;
pub mod sites;
pub mod table_file;

pub use scope::scope_of;
