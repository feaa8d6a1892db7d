//! Gateways in the register and their MQTT keys, as officers keep them from the console: a
//! gateway registered at a site in scope, then given a key (issued, rotated, revoked). The key
//! is shown once and stored as an argon2 hash; the broker's password file is the
//! command-center's business (it edits the file and tells the broker to reload).

use chrono::{DateTime, Utc};
use geohazard_domain::{GatewayId, Scope, SiteId};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

use crate::site_input::{FieldError, Reason, checked_text};

/// A gateway as the register shows it: where it is and the state of its key (never the key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct RegisteredGateway {
    pub id: GatewayId,
    pub code: String,
    pub name: String,
    pub site_id: Option<SiteId>,
    pub site_code: Option<String>,
    pub site_name: Option<String>,
    /// The site's division (none for a gateway at no site).
    pub division_code: Option<String>,
    /// Whether the gateway holds a key that the broker accepts.
    pub has_key: bool,
    pub key_issued_at: Option<DateTime<Utc>>,
    pub key_revoked_at: Option<DateTime<Utc>>,
}

/// A gateway as an officer registers it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GatewayInput {
    /// Also its MQTT user name and client id: 1 to 64 letters, digits and `_.-`.
    pub code: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    pub site_id: Option<SiteId>,
}

const SELECT: &str = "SELECT g.id, g.code, g.name, g.site_id, s.code AS site_code,
        s.name AS site_name, s.division_code, g.password_hash IS NOT NULL AS has_key,
        g.key_issued_at, g.key_revoked_at
    FROM gateways g LEFT JOIN hazard_sites s ON s.id = g.site_id";

/// The gateways in scope (those at no site only for a top-level officer), by code.
pub async fn list(db: &mut PgConnection, scope: &Scope) -> sqlx::Result<Vec<RegisteredGateway>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE s.division_code = ANY($1) OR (g.site_id IS NULL AND $2) ORDER BY g.code"
    )))
    .bind(scope.divisions())
    .bind(scope.sees_unassigned())
    .fetch_all(db)
    .await
}

/// A gateway in scope by code, locked for a change of its key; `None` outside the scope.
pub async fn get_for_update(
    db: &mut PgConnection,
    scope: &Scope,
    code: &str,
) -> sqlx::Result<Option<RegisteredGateway>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE g.code = $1
           AND (s.division_code = ANY($2) OR (g.site_id IS NULL AND $3))
         FOR UPDATE OF g"
    )))
    .bind(code)
    .bind(scope.divisions())
    .bind(scope.sees_unassigned())
    .fetch_optional(db)
    .await
}

/// What a registration did.
pub enum Registered {
    /// The gateway as it was (none: new) and as it is.
    Done(Box<(Option<RegisteredGateway>, RegisteredGateway)>),
    Invalid(Vec<FieldError>),
}

/// Registers a gateway at a site in scope, or changes the name and site of one in scope with
/// that code. A code held by a gateway outside the scope is refused as taken.
pub async fn register(
    tx: &mut PgConnection,
    scope: &Scope,
    input: &GatewayInput,
) -> sqlx::Result<Registered> {
    let mut errors = Vec::new();
    let code = checked_text(&mut errors, "code", input.code.as_deref(), 64, true);
    let name = checked_text(&mut errors, "name", input.name.as_deref(), 100, false);
    if let Some(c) = &code
        && !c
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "_.-".contains(ch))
    {
        errors.push(FieldError::new("code", c, Reason::BadCode));
    }
    let site_in_scope = match input.site_id {
        None => false,
        Some(site) => crate::sites::in_scope(&mut *tx, scope, site).await?,
    };
    if !site_in_scope {
        let given = input.site_id.map(|s| s.0.to_string()).unwrap_or_default();
        let reason = if input.site_id.is_none() {
            Reason::Required
        } else {
            Reason::UnknownDivision
        };
        errors.push(FieldError::new("site_id", given, reason));
    }
    let Some(code) = code.filter(|_| errors.is_empty()) else {
        return Ok(Registered::Invalid(errors));
    };
    let exists: Option<GatewayId> = sqlx::query_scalar("SELECT id FROM gateways WHERE code = $1")
        .bind(&code)
        .fetch_optional(&mut *tx)
        .await?;
    let before = match exists {
        None => None,
        Some(_) => match get_for_update(tx, scope, &code).await? {
            Some(g) => Some(g),
            None => {
                return Ok(Registered::Invalid(vec![FieldError::new(
                    "code",
                    code,
                    Reason::DuplicateCode,
                )]));
            }
        },
    };
    sqlx::query(
        "INSERT INTO gateways (code, site_id, name) VALUES ($1, $2, $3)
         ON CONFLICT (code) DO UPDATE SET site_id = EXCLUDED.site_id, name = EXCLUDED.name",
    )
    .bind(&code)
    .bind(input.site_id)
    .bind(name.unwrap_or_default())
    .execute(&mut *tx)
    .await?;
    let after = get_for_update(tx, scope, &code)
        .await?
        .expect("the gateway just written, at a site in scope");
    Ok(Registered::Done(Box::new((before, after))))
}

/// Stores the argon2 `hash` of a gateway's new key (issued now), or none (revoked now), and
/// returns the gateway after.
pub async fn set_key(
    tx: &mut PgConnection,
    scope: &Scope,
    id: GatewayId,
    hash: Option<&str>,
) -> sqlx::Result<RegisteredGateway> {
    sqlx::query(
        "UPDATE gateways SET password_hash = $2,
             key_issued_at = CASE WHEN $2 IS NULL THEN key_issued_at ELSE now() END,
             key_revoked_at = CASE WHEN $2 IS NULL THEN now() ELSE NULL END
         WHERE id = $1",
    )
    .bind(id)
    .bind(hash)
    .execute(&mut *tx)
    .await?;
    let code: String = sqlx::query_scalar("SELECT code FROM gateways WHERE id = $1")
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    Ok(get_for_update(tx, scope, &code)
        .await?
        .expect("a gateway in scope stays in scope"))
}
