//! Regional geohazard meteorological risk warning (区域地质灾害气象风险预警): a susceptibility
//! zoning per grid cell ([`grid`], [`zoning`]), rainfall grids from MICAPS category-4 files
//! ([`micaps`]) or station tables ([`stations`]), the critical-rainfall model giving four levels
//! per cell ([`model`]), the areas of each level as polygons with each division's highest level
//! and the sites inside ([`areas`]), the issuing state machine ([`decide`]) and its persistence
//! ([`issue`]), the public Common Alerting Protocol 1.2 feed ([`cap`]) and the verification of
//! what was issued against what happened ([`verify`]).
//!
//! Layer 6 (a feature crate): over `notify`, `store` and `domain`.

pub mod areas;
pub mod cap;
pub mod decide;
pub mod geotiff;
pub mod grid;
pub mod issue;
pub mod micaps;
pub mod model;
pub mod public;
pub mod season;
pub mod site_release;
pub mod stations;
pub mod verified;
pub mod verify;
pub mod zoning;

pub use areas::{Division, LevelArea, Product, SiteAt, SitePoint};
pub use grid::{Grid, GridError, GridSpec};
pub use model::{CriticalLines, ModelParams};
