//! Request and answer types of every route (`/api/v1/...`). The row types come from the
//! library crates that read them (`register`, `warnings::view`, `audit`) and are named here,
//! so this is the one place a client's vocabulary is found.

use chrono::{DateTime, Utc};
use geohazard_domain::{Role, SensorId, SiteId, SiteKind, SiteStatus};
use geohazard_protocol::warning::WarningState;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use geohazard_audit::{AuditQuery, AuditRecord};
pub use geohazard_register::devices::{GatewayHealth, QuarantineSummary, SilentSensor};
pub use geohazard_register::geojson::GeoJsonPoint;
pub use geohazard_register::readings::{HourlyPoint, Points, RawPoint, Resolution};
pub use geohazard_register::sites::{DivisionRef, Sensor, Site, SiteGateway};
pub use geohazard_warnings::view::{SiteRef, WarningDelivery, WarningEvent, WarningView};

/// `GET /api/v1/sites` parameters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SitesQuery {
    /// Only sites of this kind.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub kind: Option<SiteKind>,
    /// Only sites with this status.
    pub status: Option<SiteStatus>,
}

/// `GET /api/v1/sites/{id}`: a site with its threat zone, what is on it and its unclosed
/// warnings.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SiteDetail {
    #[serde(flatten)]
    pub site: Site,
    /// GeoJSON, as registered.
    pub threat_zone: Option<Value>,
    pub gateways: Vec<SiteGateway>,
    pub sensors: Vec<Sensor>,
    /// Its unclosed warnings.
    pub warnings: Vec<WarningView>,
}

/// `GET /api/v1/sensors/{id}/readings` parameters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReadingsQuery {
    /// RFC 3339; default: `to` minus one day.
    pub from: Option<DateTime<Utc>>,
    /// RFC 3339, exclusive; default: now.
    pub to: Option<DateTime<Utc>>,
    /// `raw` (default) or `hourly`.
    pub resolution: Option<Resolution>,
    /// At most this many points (1 to 100000; default 10000).
    pub limit: Option<i64>,
}

/// `GET /api/v1/sensors/{id}/readings`: a range of a sensor's readings, oldest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readings {
    pub sensor: SensorId,
    pub unit: String,
    pub resolution: Resolution,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The limit cut the range short: ask again from the last point.
    pub truncated: bool,
    pub points: Points,
}

/// Which warnings a list asks for.
#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StateFilter {
    /// Not yet acknowledged.
    Open,
    /// Open or acknowledged.
    #[default]
    Active,
    Acknowledged,
    Closed,
    All,
}

impl StateFilter {
    pub fn states(self) -> &'static [WarningState] {
        use WarningState::*;
        match self {
            StateFilter::Open => &[Open],
            StateFilter::Active => &[Open, Acknowledged],
            StateFilter::Acknowledged => &[Acknowledged],
            StateFilter::Closed => &[Closed],
            StateFilter::All => &[Open, Acknowledged, Closed],
        }
    }
}

/// `GET /api/v1/warnings` parameters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WarningsQuery {
    /// `open`, `active` (the default), `acknowledged`, `closed` or `all`.
    pub state: Option<StateFilter>,
    /// At most this many (1 to 5000; default 500).
    pub limit: Option<i64>,
    /// Only those raised at or after this time (RFC 3339).
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// Only those raised before this time (RFC 3339).
    pub to: Option<chrono::DateTime<chrono::Utc>>,
}

/// `GET /api/v1/warnings/export`, `GET /api/v1/sites/export`: a list as a file.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct ListExportQuery {
    /// Warnings (and, for sites, the warnings counted) raised at or after this time (RFC 3339).
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// ... and before this time.
    pub to: Option<chrono::DateTime<chrono::Utc>>,
    /// Warnings only: `open`, `active`, `acknowledged`, `closed` or `all` (the default).
    pub state: Option<StateFilter>,
    /// `xlsx` (default) or `csv`.
    pub format: Option<String>,
}

/// `GET /api/v1/warnings/{id}`: a warning with its evidence and its transitions.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WarningDetail {
    #[serde(flatten)]
    pub warning: WarningView,
    /// Oldest first.
    pub events: Vec<WarningEvent>,
    /// Who was notified, by which channel, and how far each message got.
    pub deliveries: Vec<WarningDelivery>,
}

/// `POST /api/v1/warnings/{id}/acknowledge` body.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct AcknowledgeRequest {
    /// Up to 2000 characters, kept with the transition.
    #[serde(default)]
    pub note: Option<String>,
}

/// `GET /api/v1/gateways` parameters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GatewaysQuery {
    /// Only the gateways of this site.
    pub site: Option<SiteId>,
}

/// `GET /api/v1/health`: what the device-health tab shows.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    pub gateways: Vec<GatewayHealth>,
    pub silent_sensors: Vec<SilentSensor>,
    pub quarantine: Vec<QuarantineSummary>,
}

/// The signed-in officer, as `GET /api/v1/me` and sign-in show it.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OfficerView {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    /// The officer sees this division and everything below it.
    pub division_code: String,
    pub role: Role,
}

/// `POST /api/v1/consult/rooms`: a consultation room to open in the caller's division.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenRoomRequest {
    /// 1 to 200 characters.
    pub title: String,
    /// The incident it is opened for, if any.
    pub incident_id: Option<i64>,
    /// Division codes invited (their officers may enter).
    #[serde(default)]
    pub invited_divisions: Vec<String>,
    /// Officer ids invited.
    #[serde(default)]
    pub invited_officers: Vec<i64>,
}

/// `GET /api/v1/consult/rooms/{id}`: a room, its whole log and who is in it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RoomDetail {
    pub room: geohazard_consult::Room,
    pub events: Vec<geohazard_consult::RoomEvent>,
    /// Officer ids present now.
    pub present: Vec<i64>,
}
