//! Adding officers (the `command-center officer add` command) and setting their passwords.

use sqlx::PgPool;

use geohazard_domain::{OfficerId, Role};

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
    let person_id: i64 =
        sqlx::query_scalar("INSERT INTO people (name, division_code) VALUES ($1, $2) RETURNING id")
            .bind(display_name)
            .bind(o.division_code)
            .fetch_one(&mut *tx)
            .await?;
    let id: OfficerId = sqlx::query_scalar(
        "INSERT INTO officers (username, display_name, division_code, role, person_id, password_hash)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(o.username)
    .bind(display_name)
    .bind(o.division_code)
    .bind(o.role)
    .bind(person_id)
    .bind(&hash)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(id)
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
