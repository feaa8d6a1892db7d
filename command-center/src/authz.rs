//! Authorization, in one place: a request's `Caller` is the signed-in officer with their
//! `Scope` (their division and every one below it, computed once per request) and answers
//! whether their role permits an action (`geohazard_domain::permits`, a table). Handlers read
//! through the scope, so an object outside it is answered exactly like one that does not exist.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use geohazard_audit::Actor;
use geohazard_domain::{OfficerId, Ownership, Permission, Scope, permits};

use crate::auth::Officer;
use crate::error::ApiError;
use crate::state::AppState;

/// The signed-in officer of a request and what they may see.
pub struct Caller {
    pub officer: Officer,
    pub scope: Scope,
}

impl Caller {
    /// 403 with `why` unless the officer's role permits `permission` (on an unowned object).
    pub fn require(&self, permission: Permission, why: &'static str) -> Result<(), ApiError> {
        self.require_on(permission, Ownership::Unowned, why)
    }

    /// 403 with `why` unless the role permits `permission` on an object standing to the
    /// officer as `ownership` (theirs, or someone else's).
    pub fn require_on(
        &self,
        permission: Permission,
        ownership: Ownership,
        why: &'static str,
    ) -> Result<(), ApiError> {
        if permits(self.officer.role, permission, ownership) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(why))
        }
    }

    /// The officer as the author of a change made from `remote` (with the file `source`).
    pub fn actor(&self, remote: Option<String>, source: Option<String>) -> Actor {
        Actor {
            officer_id: OfficerId(self.officer.id),
            remote_addr: remote,
            source,
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let officer = Officer::from_request_parts(parts, state).await?;
        let scope = geohazard_register::scope_of(&state.pool, &officer.division_code)
            .await?
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "officer {} has no division {}",
                    officer.id,
                    officer.division_code
                )
            })?;
        Ok(Caller { officer, scope })
    }
}
