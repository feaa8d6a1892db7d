//! Computing an officer's `Scope` from the divisions tree.

use geohazard_domain::Scope;

/// `division` and every division below it; `None` when no division has that code.
pub async fn scope_of(
    db: impl sqlx::PgExecutor<'_>,
    division: &str,
) -> sqlx::Result<Option<Scope>> {
    let row: Option<(Vec<String>, bool)> = sqlx::query_as(
        "WITH RECURSIVE scope(code) AS (
             SELECT code FROM divisions WHERE code = $1
             UNION
             SELECT d.code FROM divisions d JOIN scope ON d.parent_code = scope.code
         )
         SELECT (SELECT array_agg(code) FROM scope), parent_code IS NULL
         FROM divisions WHERE code = $1",
    )
    .bind(division)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(codes, top)| Scope::new(division.to_owned(), codes, top)))
}
