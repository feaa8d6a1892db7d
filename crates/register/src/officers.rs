//! Officer accounts: adding one (the `command-center officer add` command) and setting a
//! password; and, from the console, within an admin's scope: listing, creating (a generated
//! password shown once), changing name, role, division or state, and resetting a password.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};

use geohazard_domain::{OfficerId, Role, Scope};

use crate::site_input::{FieldError, Reason, checked_division, checked_text};

/// Shortest password accepted for an officer.
const MIN_PASSWORD_CHARS: usize = 10;

#[derive(Debug, Clone)]
pub struct NewOfficer<'a> {
    pub username: &'a str,
    /// Shown in the console and recorded as who acknowledged a warning; default: the username.
    pub display_name: Option<&'a str>,
    pub division_code: &'a str,
    pub role: Role,
    pub password: &'a str,
}

/// Adds an officer (and the person record that stands for them in warnings) and returns the
/// officer's id. The password is stored as an argon2 hash, never as given.
pub async fn add_officer(pool: &PgPool, o: &NewOfficer<'_>) -> anyhow::Result<OfficerId> {
    anyhow::ensure!(
        !o.username.is_empty()
            && o.username.len() <= 64
            && o.username
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.@-".contains(c)),
        "a username is 1 to 64 letters, digits and `_.@-`"
    );
    let hash = hashed(o.password).await?;
    let division: Option<String> = sqlx::query_scalar("SELECT code FROM divisions WHERE code = $1")
        .bind(o.division_code)
        .fetch_optional(pool)
        .await?;
    anyhow::ensure!(
        division.is_some(),
        "no division has the code `{}`",
        o.division_code
    );
    let taken: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM officers WHERE username = $1)")
            .bind(o.username)
            .fetch_one(pool)
            .await?;
    anyhow::ensure!(!taken, "the username `{}` is taken", o.username);
    let display_name = o.display_name.unwrap_or(o.username);
    let mut tx = pool.begin().await?;
    let id = insert(
        &mut tx,
        o.username,
        display_name,
        o.division_code,
        o.role,
        &hash,
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// The officer's row and the person record that stands for them in warnings and rosters.
async fn insert(
    tx: &mut PgConnection,
    username: &str,
    display_name: &str,
    division_code: &str,
    role: Role,
    hash: &str,
) -> sqlx::Result<OfficerId> {
    let person_id: i64 =
        sqlx::query_scalar("INSERT INTO people (name, division_code) VALUES ($1, $2) RETURNING id")
            .bind(display_name)
            .bind(division_code)
            .fetch_one(&mut *tx)
            .await?;
    sqlx::query_scalar(
        "INSERT INTO officers (username, display_name, division_code, role, person_id, password_hash)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(username)
    .bind(display_name)
    .bind(division_code)
    .bind(role)
    .bind(person_id)
    .bind(hash)
    .fetch_one(&mut *tx)
    .await
}

/// Gives an officer a new password; false when no officer has that username.
pub async fn set_officer_password(
    pool: &PgPool,
    username: &str,
    password: &str,
) -> anyhow::Result<bool> {
    let hash = hashed(password).await?;
    let updated = sqlx::query("UPDATE officers SET password_hash = $2 WHERE username = $1")
        .bind(username)
        .bind(&hash)
        .execute(pool)
        .await?;
    Ok(updated.rows_affected() == 1)
}

/// The argon2 hash of an acceptable password, computed off the async workers (it is slow on
/// purpose).
async fn hashed(password: &str) -> anyhow::Result<String> {
    anyhow::ensure!(
        password.chars().count() >= MIN_PASSWORD_CHARS,
        "the password must have at least {MIN_PASSWORD_CHARS} characters"
    );
    let password = password.to_owned();
    Ok(
        tokio::task::spawn_blocking(move || geohazard_store::registry::hash_password(&password))
            .await?,
    )
}

/// An officer account as the console lists it (never its password).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct OfficerEntry {
    pub id: OfficerId,
    pub username: String,
    pub display_name: String,
    pub division_code: String,
    pub division_name: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

/// An officer account as an admin types it: every field of a new one (but `disabled`); for a
/// change, the fields to change (`username` cannot change).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OfficerInput {
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub division_code: Option<String>,
    /// viewer, duty_officer, supervisor, admin, field_staff or village_monitor.
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub disabled: Option<bool>,
}

const SELECT_OFFICER: &str = "SELECT o.id, o.username, o.display_name, o.division_code,
        d.name AS division_name, o.role, o.disabled, o.created_at
    FROM officers o JOIN divisions d ON d.code = o.division_code";

/// The officers of the divisions in scope, by division and user name.
pub async fn list(db: &mut PgConnection, scope: &Scope) -> sqlx::Result<Vec<OfficerEntry>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT_OFFICER} WHERE o.division_code = ANY($1) ORDER BY o.division_code, o.username"
    )))
    .bind(scope.divisions())
    .fetch_all(db)
    .await
}

/// An officer in scope; `None` when absent or outside it.
pub async fn get(
    db: &mut PgConnection,
    scope: &Scope,
    id: OfficerId,
) -> sqlx::Result<Option<OfficerEntry>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT_OFFICER} WHERE o.id = $1 AND o.division_code = ANY($2)"
    )))
    .bind(id)
    .bind(scope.divisions())
    .fetch_optional(db)
    .await
}

fn checked_role(errors: &mut Vec<FieldError>, v: Option<&str>, required: bool) -> Option<Role> {
    let text = checked_text(errors, "role", v, 32, required)?;
    let role = text.parse::<Role>().ok();
    if role.is_none() {
        errors.push(FieldError::new("role", text, Reason::UnknownRole));
    }
    role
}

/// The fields of an account both a creation and a change check: display name, division (in
/// scope), role; the division and role are `required` for a new account.
fn checked_account(
    errors: &mut Vec<FieldError>,
    scope: &Scope,
    input: &OfficerInput,
    required: bool,
) -> (Option<String>, Option<String>, Option<Role>) {
    let display_name = checked_text(
        errors,
        "display_name",
        input.display_name.as_deref(),
        100,
        false,
    );
    let division = checked_division(errors, scope, input.division_code.as_deref(), required);
    let role = checked_role(errors, input.role.as_deref(), required);
    (display_name, division, role)
}

/// A new officer and their first password (shown once).
pub struct Created {
    pub officer: OfficerEntry,
    pub password: String,
}

/// Creates an officer in a division in `scope` (an admin cannot create one above their own
/// division), with a generated password stored as an argon2 hash.
pub async fn create(
    tx: &mut PgConnection,
    scope: &Scope,
    input: &OfficerInput,
) -> anyhow::Result<Result<Created, Vec<FieldError>>> {
    let mut errors = Vec::new();
    let username = checked_text(&mut errors, "username", input.username.as_deref(), 64, true);
    if let Some(u) = &username
        && !u
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.@-".contains(c))
    {
        errors.push(FieldError::new("username", u, Reason::BadUsername));
    }
    let (display_name, division, role) = checked_account(&mut errors, scope, input, true);
    if let Some(u) = &username {
        let taken: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM officers WHERE lower(username) = lower($1))",
        )
        .bind(u)
        .fetch_one(&mut *tx)
        .await?;
        if taken {
            errors.push(FieldError::new("username", u, Reason::UsernameTaken));
        }
    }
    let (Some(username), Some(division), Some(role)) = (username, division, role) else {
        return Ok(Err(errors));
    };
    if !errors.is_empty() {
        return Ok(Err(errors));
    }
    let password = geohazard_store::registry::new_secret(16);
    let hash = hashed(&password).await?;
    let display_name = display_name.unwrap_or_else(|| username.clone());
    let id = insert(tx, &username, &display_name, &division, role, &hash).await?;
    let officer = get(tx, scope, id).await?.expect("the officer just added");
    Ok(Ok(Created { officer, password }))
}

/// What a change to an officer did.
pub enum OfficerOutcome {
    NotFound,
    Invalid(Vec<FieldError>),
    /// Before and after.
    Done(Box<(OfficerEntry, OfficerEntry)>),
}

/// Changes an officer in scope: display name, role, division (within scope), disabled. `me`
/// may not change their own role, division or state. A disabled officer's sessions end now.
pub async fn update(
    tx: &mut PgConnection,
    scope: &Scope,
    me: OfficerId,
    id: OfficerId,
    input: &OfficerInput,
) -> sqlx::Result<OfficerOutcome> {
    let before: Option<OfficerEntry> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT_OFFICER} WHERE o.id = $1 AND o.division_code = ANY($2) FOR UPDATE OF o"
    )))
    .bind(id)
    .bind(scope.divisions())
    .fetch_optional(&mut *tx)
    .await?;
    let Some(before) = before else {
        return Ok(OfficerOutcome::NotFound);
    };
    let mut errors = Vec::new();
    let (display_name, division, role) = checked_account(&mut errors, scope, input, false);
    if id == me {
        if let Some(r) = role.filter(|r| *r != before.role) {
            errors.push(FieldError::new("role", r.as_str(), Reason::OwnAccount));
        }
        if let Some(d) = division.as_ref().filter(|d| **d != before.division_code) {
            errors.push(FieldError::new("division_code", d, Reason::OwnAccount));
        }
        if input.disabled.is_some_and(|d| d != before.disabled) {
            errors.push(FieldError::new("disabled", "true", Reason::OwnAccount));
        }
    }
    if !errors.is_empty() {
        return Ok(OfficerOutcome::Invalid(errors));
    }
    let display_name = display_name.unwrap_or_else(|| before.display_name.clone());
    let division = division.unwrap_or_else(|| before.division_code.clone());
    let role = role.unwrap_or(before.role);
    let disabled = input.disabled.unwrap_or(before.disabled);
    sqlx::query(
        "UPDATE officers SET display_name = $2, division_code = $3, role = $4, disabled = $5
         WHERE id = $1",
    )
    .bind(id)
    .bind(&display_name)
    .bind(&division)
    .bind(role)
    .bind(disabled)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE people SET name = $2, division_code = $3, updated_at = now()
         WHERE id = (SELECT person_id FROM officers WHERE id = $1)",
    )
    .bind(id)
    .bind(&display_name)
    .bind(&division)
    .execute(&mut *tx)
    .await?;
    if disabled && !before.disabled || role != before.role || division != before.division_code {
        // Signed out everywhere: a session keeps no stale role or division.
        end_sessions(tx, id).await?;
    }
    let after = get(tx, scope, id)
        .await?
        .expect("an officer stays in scope");
    Ok(OfficerOutcome::Done(Box::new((before, after))))
}

async fn end_sessions(tx: &mut PgConnection, id: OfficerId) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM officer_sessions WHERE officer_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Gives an officer in scope a new generated password (shown once; stored as an argon2 hash)
/// and ends their sessions; `None` when out of scope.
pub async fn reset_password(
    tx: &mut PgConnection,
    scope: &Scope,
    id: OfficerId,
) -> anyhow::Result<Option<(OfficerEntry, String)>> {
    let Some(officer) = get(tx, scope, id).await? else {
        return Ok(None);
    };
    let password = geohazard_store::registry::new_secret(16);
    let hash = hashed(&password).await?;
    sqlx::query("UPDATE officers SET password_hash = $2 WHERE id = $1")
        .bind(id)
        .bind(&hash)
        .execute(&mut *tx)
        .await?;
    end_sessions(tx, id).await?;
    Ok(Some((officer, password)))
}
