//! Request and answer types of the register's routes: sites created, edited, retired,
//! imported from a county's file and exported to one, and the register's change list.

use geohazard_domain::SiteId;
use serde::{Deserialize, Serialize};

pub use geohazard_register::gateway_keys::{GatewayInput, RegisteredGateway};
pub use geohazard_register::officers::{OfficerEntry, OfficerInput};
pub use geohazard_register::people::{
    Person, PersonInput, RosterEntry, RosterInput, RosterQuery, SitePerson, SitePersonInput,
};
pub use geohazard_register::site_edit::{RegisterChange, RegisteredSite};
pub use geohazard_register::site_file::{ImportSummary, RowProblem};
pub use geohazard_register::site_input::{Reason, SiteInput, SiteRecord};

/// One refused field of a site: which, the value given, why (a stable reason and its text in
/// the officer's language).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldProblem {
    pub field: String,
    pub value: String,
    pub reason: String,
    pub message: String,
}

/// 422 `invalid_field`: a site was refused; `field` is the first field named.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InvalidFields {
    pub error: String,
    pub code: String,
    pub field: String,
    pub problems: Vec<FieldProblem>,
}

/// 409 `version_conflict`: the site changed since the version the change was made on.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SiteConflict {
    pub error: String,
    pub code: String,
    /// The site as it is now (with its version, to make the change again on).
    pub current: RegisteredSite,
    /// The fields changed since the version the client had.
    pub changed: Vec<String>,
}

/// 422 `import_refused`: nothing was imported; one line per problem, by row and column.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportRefused {
    pub error: String,
    pub code: String,
    /// How many rows are bad.
    pub bad_rows: usize,
    pub problems: Vec<RowProblem>,
}

/// 200: the file was imported whole (or would be, on a dry run).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportDone {
    #[serde(flatten)]
    pub summary: ImportSummary,
    /// Headings that name no field: those columns were not read.
    pub ignored_columns: Vec<String>,
    /// Checked and counted, then rolled back.
    pub dry_run: bool,
}

/// `POST /api/v1/register/import` parameters; the body is the file (XLSX or CSV).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// The division of rows that name none.
    pub division: Option<String>,
    /// The report's language: zh-CN (default) or en; else `Accept-Language`.
    pub lang: Option<String>,
    /// Check and count, import nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// The file's name, recorded with the changes.
    pub filename: Option<String>,
}

/// `GET /api/v1/register/export` parameters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `xlsx` (default) or `csv`.
    pub format: Option<String>,
}

/// `GET /api/v1/register/changes` parameters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangesQuery {
    /// Only the changes of this site.
    pub site: Option<SiteId>,
    /// At most this many (1 to 1000; default 200).
    pub limit: Option<i64>,
}

/// What the broker was told of a gateway's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BrokerTold {
    /// The password file changed and the broker reloaded it: in force now.
    Reloaded,
    /// The password file changed, but no broker runs with the pid file: in force at its start
    /// (or after `systemctl reload mosquitto`).
    FileOnly,
    /// No password file is configured: only the store knows the key.
    NotConfigured,
}

/// A gateway's new key, shown this once (the store keeps only its argon2 hash).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GatewayKeyIssued {
    pub gateway: RegisteredGateway,
    /// The MQTT password; the user name is the gateway's code.
    pub key: String,
    pub broker: BrokerTold,
}

/// A new officer account, or a password reset: the password shown this once (the store keeps
/// only its argon2 hash).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OfficerPassword {
    pub officer: OfficerEntry,
    pub password: String,
}

/// The people answering for a site, as a whole list (replaced whole).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SitePeopleInput {
    pub people: Vec<SitePersonInput>,
}

// Divisions and site attachments (issue 24).
pub use geohazard_register::attachments::Attachment;
pub use geohazard_register::divisions::{DivisionRecord, DivisionsImported, FeatureProblem};

/// 422 `import_refused` for a GeoJSON file of divisions: nothing was imported; one line per
/// problem, by feature (counted from 1) and field.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DivisionsRefused {
    pub error: String,
    pub code: String,
    /// How many features are bad.
    pub bad_features: usize,
    pub problems: Vec<FeatureProblem>,
}

/// 200: the divisions were imported whole (or would be, on a dry run).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DivisionsDone {
    #[serde(flatten)]
    pub summary: DivisionsImported,
    pub dry_run: bool,
}

/// `POST /api/v1/divisions/import` parameters; the body is a GeoJSON FeatureCollection of
/// Polygon or MultiPolygon features with a code (`code`, `adcode`) and a name (`name`).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DivisionsImportQuery {
    /// The report's language: zh-CN (default) or en; else `Accept-Language`.
    pub lang: Option<String>,
    /// Check and count, import nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// The file's name, recorded with the changes.
    pub filename: Option<String>,
}

/// A division's new name.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DivisionNameInput {
    pub name: String,
}

/// `POST /api/v1/sites/{id}/attachments` parameters; the body is the file.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AttachmentQuery {
    /// The file's name; its extension must be that of its content's type.
    pub filename: String,
    /// The refusal's language: zh-CN (default) or en; else `Accept-Language`.
    pub lang: Option<String>,
}
pub use geohazard_register::sensor_edit::{RegisteredSensor, SensorInput};

/// `GET /api/v1/register/sensors` parameters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SensorsQuery {
    /// Only the sensors of this site.
    pub site: Option<SiteId>,
}
