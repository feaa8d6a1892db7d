//! The register's people (`/api/v1/register/people`), who answers for each site
//! (`/api/v1/sites/{id}/people`) and the duty roster (`/api/v1/register/roster`): what
//! notification reads to find who to tell of a warning at a site. Read by anyone in scope;
//! changed by admins within their divisions, each change audited with before and after, a
//! refused field named with its reason in the officer's language.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, put};
use axum::{Json, Router};
use geohazard_api::ErrorBody;
use geohazard_api::register::{
    InvalidFields, Person, PersonInput, RosterEntry, RosterInput, RosterQuery, SitePeopleInput,
    SitePerson,
};
use geohazard_domain::{AuditAction, Permission, PersonId, SiteId};
use geohazard_register::people::{self, SitePeopleOutcome};
use serde::Deserialize;
use serde_json::json;

use super::incidents::{commit, created, saved};
use super::register::{audit, invalid, lang_of};
use crate::auth::RemoteAddr;
use crate::authz::Caller;
use crate::error::{ApiError, Body, Id, Params};
use crate::state::AppState;

const MAY_NOT_READ: &str = "your role may not read sites";
const MAY_NOT_CHANGE: &str = "your role may not change the register";

/// Which people: those answering for one site, if given.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeopleQuery {
    pub site: Option<SiteId>,
}

/// The people of the caller's divisions.
#[utoipa::path(get, path = "/api/v1/register/people", tag = "register", params(PeopleQuery),
    responses((status = 200, body = Vec<Person>), (status = 401, body = ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<PeopleQuery>,
) -> Result<Json<Vec<Person>>, ApiError> {
    caller.require(Permission::ReadSites, MAY_NOT_READ)?;
    let mut db = state.pool.acquire().await?;
    Ok(Json(people::list(&mut db, &caller.scope, q.site).await?))
}

/// Adds a person (name, phone, division in scope).
#[utoipa::path(post, path = "/api/v1/register/people", tag = "register",
    request_body = PersonInput,
    responses((status = 201, body = Person), (status = 403, body = ErrorBody),
               (status = 422, body = InvalidFields)))]
pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    headers: HeaderMap,
    Body(input): Body<PersonInput>,
) -> Result<Response, ApiError> {
    caller.require(Permission::ManageRegister, MAY_NOT_CHANGE)?;
    let rec = match people::check_person(&input, &caller.scope) {
        Ok(rec) => rec,
        Err(errors) => return Ok(invalid(errors, lang_of(&headers, None))),
    };
    let mut tx = state.pool.begin().await?;
    let person = people::create(&mut tx, &caller.scope, &rec).await?;
    let change = created(
        &caller,
        AuditAction::PersonCreate,
        format!("person:{}", person.id.0),
        person.division_code.clone(),
        person,
        json!({}),
    );
    commit(tx, remote, change).await
}

/// Changes a person in scope.
#[utoipa::path(put, path = "/api/v1/register/people/{id}", tag = "register",
    params(("id" = i64, Path)), request_body = PersonInput,
    responses((status = 200, body = Person), (status = 404, body = ErrorBody),
               (status = 422, body = InvalidFields)))]
pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    Id(id): Id<PersonId>,
    headers: HeaderMap,
    Body(input): Body<PersonInput>,
) -> Result<Response, ApiError> {
    caller.require(Permission::ManageRegister, MAY_NOT_CHANGE)?;
    let mut tx = state.pool.begin().await?;
    // Out of scope reads like absent, whatever the body holds.
    if people::get(&mut tx, &caller.scope, id).await?.is_none() {
        return Err(ApiError::NotFound);
    }
    let rec = match people::check_person(&input, &caller.scope) {
        Ok(rec) => rec,
        Err(errors) => return Ok(invalid(errors, lang_of(&headers, None))),
    };
    let (before, after) = people::update(&mut tx, &caller.scope, id, &rec)
        .await?
        .ok_or(ApiError::NotFound)?;
    let change = saved(
        &caller,
        AuditAction::PersonUpdate,
        format!("person:{}", id.0),
        after.division_code.clone(),
        Some(before),
        after,
    );
    commit(tx, remote, change).await
}

/// The people answering for a site, by role.
#[utoipa::path(get, path = "/api/v1/sites/{id}/people", tag = "register",
    params(("id" = i64, Path)),
    responses((status = 200, body = Vec<SitePerson>), (status = 404, body = ErrorBody)))]
pub(super) async fn site_people(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<SiteId>,
) -> Result<Json<Vec<SitePerson>>, ApiError> {
    caller.require(Permission::ReadSites, MAY_NOT_READ)?;
    let mut db = state.pool.acquire().await?;
    Ok(Json(
        people::site_people(&mut db, &caller.scope, id)
            .await?
            .ok_or(ApiError::NotFound)?,
    ))
}

/// Makes the given list the people answering for a site (each a person in scope, in a role:
/// monitor, township_official, county_official, engineer).
#[utoipa::path(put, path = "/api/v1/sites/{id}/people", tag = "register",
    params(("id" = i64, Path)), request_body = SitePeopleInput,
    responses((status = 200, body = Vec<SitePerson>), (status = 404, body = ErrorBody),
               (status = 422, body = InvalidFields)))]
pub(super) async fn set_site_people(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    Id(id): Id<SiteId>,
    headers: HeaderMap,
    Body(input): Body<SitePeopleInput>,
) -> Result<Response, ApiError> {
    caller.require(Permission::ManageRegister, MAY_NOT_CHANGE)?;
    let mut tx = state.pool.begin().await?;
    let (before, after) =
        match people::set_site_people(&mut tx, &caller.scope, id, &input.people).await? {
            SitePeopleOutcome::NotFound => return Err(ApiError::NotFound),
            SitePeopleOutcome::Invalid(errors) => {
                return Ok(invalid(errors, lang_of(&headers, None)));
            }
            SitePeopleOutcome::Done(before, after) => (before, after),
        };
    let division: Option<String> =
        sqlx::query_scalar("SELECT division_code FROM hazard_sites WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    audit(
        &mut tx,
        &caller,
        remote,
        AuditAction::SitePeople,
        format!("site:{}", id.0),
        division,
        json!({"before": before, "after": after}),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(after).into_response())
}

/// The duty roster in the caller's divisions.
#[utoipa::path(get, path = "/api/v1/register/roster", tag = "register", params(RosterQuery),
    responses((status = 200, body = Vec<RosterEntry>), (status = 401, body = ErrorBody)))]
pub(super) async fn roster(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<RosterQuery>,
) -> Result<Json<Vec<RosterEntry>>, ApiError> {
    caller.require(Permission::ReadSites, MAY_NOT_READ)?;
    let mut db = state.pool.acquire().await?;
    Ok(Json(people::roster(&mut db, &caller.scope, &q).await?))
}

/// Puts a person in scope on duty for a division in scope from `starts_at` to `ends_at`.
#[utoipa::path(post, path = "/api/v1/register/roster", tag = "register",
    request_body = RosterInput,
    responses((status = 201, body = RosterEntry), (status = 403, body = ErrorBody),
               (status = 422, body = InvalidFields)))]
pub(super) async fn add_to_roster(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    headers: HeaderMap,
    Body(input): Body<RosterInput>,
) -> Result<Response, ApiError> {
    caller.require(Permission::ManageRegister, MAY_NOT_CHANGE)?;
    let mut tx = state.pool.begin().await?;
    let entry = match people::add_to_roster(&mut tx, &caller.scope, &input).await? {
        Ok(entry) => entry,
        Err(errors) => return Ok(invalid(errors, lang_of(&headers, None))),
    };
    let change = created(
        &caller,
        AuditAction::RosterAdd,
        format!("roster:{}", entry.id),
        entry.division_code.clone(),
        entry,
        json!({}),
    );
    commit(tx, remote, change).await
}

/// Takes an entry in scope off the duty roster.
#[utoipa::path(delete, path = "/api/v1/register/roster/{id}", tag = "register",
    params(("id" = i64, Path)),
    responses((status = 200, body = RosterEntry), (status = 404, body = ErrorBody)))]
pub(super) async fn remove_from_roster(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    Id(id): Id<i64>,
) -> Result<Response, ApiError> {
    caller.require(Permission::ManageRegister, MAY_NOT_CHANGE)?;
    let mut tx = state.pool.begin().await?;
    let entry = people::remove_from_roster(&mut tx, &caller.scope, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    audit(
        &mut tx,
        &caller,
        remote,
        AuditAction::RosterRemove,
        format!("roster:{id}"),
        Some(entry.division_code.clone()),
        json!({"before": entry, "after": null}),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(entry).into_response())
}

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/register/people", get(list).post(create))
        .route("/api/v1/register/people/{id}", put(update))
        .route(
            "/api/v1/sites/{id}/people",
            get(site_people).put(set_site_people),
        )
        .route("/api/v1/register/roster", get(roster).post(add_to_roster))
        .route("/api/v1/register/roster/{id}", delete(remove_from_roster))
}
