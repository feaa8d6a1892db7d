//! Requests and answers of incidents, teams, tasks and field positions.

use serde::{Deserialize, Serialize};

pub use geohazard_incidents::dispatch::{
    MemberJson, NewPosition, NewTask, NewTeam, PositionView, Suggestion, TaskEvent, TaskView, Team,
    TeamKind,
};
pub use geohazard_incidents::incident::Figures;
pub use geohazard_incidents::plan::{AssemblyPoint, Contact, Plan, PlanInput};
pub use geohazard_incidents::view::{IncidentSite, IncidentView, TimelineEntry};
pub use geohazard_incidents::{IncidentClass, IncidentStatus, TaskStatus};

/// `GET /api/v1/incidents` parameters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IncidentsQuery {
    /// Comma-separated statuses (open, responding, stabilised, closed); default: all but closed.
    pub status: Option<String>,
}

/// `GET /api/v1/incidents/{id}`: the incident with what its view draws.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IncidentDetail {
    #[serde(flatten)]
    pub incident: IncidentView,
    pub sites: Vec<IncidentSite>,
    pub timeline: Vec<TimelineEntry>,
    pub tasks: Vec<TaskView>,
    /// Where the people on its tasks were last.
    pub positions: Vec<PositionView>,
    /// Its first site's emergency plan.
    pub plan: Option<Plan>,
}

/// `POST /api/v1/incidents/{id}/status`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentStatusRequest {
    pub status: IncidentStatus,
    /// Why, for the timeline (at most 2000 characters).
    pub note: Option<String>,
}

/// `POST /api/v1/tasks/{id}/status`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskStatusRequest {
    /// accepted, declined, en_route, on_site or done.
    pub status: TaskStatus,
    /// Required when declining.
    pub reason: Option<String>,
}

/// `GET /api/v1/incidents/{id}/nearest-teams` parameters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NearestQuery {
    /// Only teams of this kind.
    pub kind: Option<TeamKind>,
    /// At most this many (1 to 50, default 5).
    pub limit: Option<usize>,
}

/// `GET /api/v1/tasks/{id}`: a task with its changes.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TaskDetail {
    #[serde(flatten)]
    pub task: TaskView,
    pub events: Vec<TaskEvent>,
}

impl From<geohazard_incidents::incident::IncidentError> for crate::ApiError {
    fn from(e: geohazard_incidents::incident::IncidentError) -> crate::ApiError {
        use geohazard_incidents::incident::IncidentError;
        match e {
            IncidentError::NotFound => crate::ApiError::NotFound,
            IncidentError::Refused { from, to } => crate::ApiError::coded(
                axum::http::StatusCode::CONFLICT,
                crate::code::INCIDENT_TRANSITION_REFUSED,
                format!("the incident is {from}: it cannot go to {to}"),
            ),
            IncidentError::Db(e) => e.into(),
        }
    }
}

impl From<geohazard_incidents::dispatch::TaskError> for crate::ApiError {
    fn from(e: geohazard_incidents::dispatch::TaskError) -> crate::ApiError {
        use geohazard_incidents::dispatch::TaskError;
        match e {
            TaskError::NotFound => crate::ApiError::NotFound,
            TaskError::Refused { from, to } => crate::ApiError::coded(
                axum::http::StatusCode::CONFLICT,
                crate::code::TASK_TRANSITION_REFUSED,
                format!("the task is {from}: it cannot go to {to}"),
            ),
            TaskError::Db(e) => e.into(),
        }
    }
}

impl From<geohazard_incidents::field::FieldError> for crate::ApiError {
    fn from(e: geohazard_incidents::field::FieldError) -> crate::ApiError {
        use geohazard_incidents::field::FieldError;
        match e {
            FieldError::NotFound => crate::ApiError::NotFound,
            FieldError::Invalid(why) => crate::ApiError::coded(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                crate::code::INVALID_BODY,
                why,
            ),
            FieldError::Db(e) => e.into(),
        }
    }
}

/// A refused photo: too large (413), not a JPEG or PNG (415), not base64 or too many (400);
/// the message says which photo and why.
impl From<geohazard_incidents::field::PhotoRefused> for crate::ApiError {
    fn from(e: geohazard_incidents::field::PhotoRefused) -> crate::ApiError {
        use axum::http::StatusCode;
        use geohazard_incidents::field::PhotoRefused;
        let (status, code) = match e {
            PhotoRefused::TooLarge { .. } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                crate::code::PAYLOAD_TOO_LARGE,
            ),
            PhotoRefused::NotAnImage(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                crate::code::UNSUPPORTED_MEDIA_TYPE,
            ),
            PhotoRefused::NotBase64(_) | PhotoRefused::TooMany => {
                (StatusCode::BAD_REQUEST, crate::code::BAD_REQUEST)
            }
        };
        crate::ApiError::coded(status, code, e.to_string())
    }
}
