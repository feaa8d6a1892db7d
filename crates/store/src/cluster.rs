//! Work that must be done once per cluster, however many replicas of a service run on one
//! database: a one-off job is claimed by inserting its row (the first replica wins, for good),
//! a recurring one runs under a PostgreSQL advisory lock (one replica at a time).

use std::future::Future;

use sqlx::PgPool;

/// Claims the one-off job `key` of kind `job`: true for exactly one caller across the cluster,
/// the one that should do it. Claims older than 30 days are forgotten on the way.
pub async fn claim_once(pool: &PgPool, job: &str, key: &str) -> sqlx::Result<bool> {
    let claimed = sqlx::query(
        "WITH forgotten AS (DELETE FROM cluster_job_claims WHERE claimed_at < now() - interval '30 days')
         INSERT INTO cluster_job_claims (job, key) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(job)
    .bind(key)
    .execute(pool)
    .await?;
    Ok(claimed.rows_affected() == 1)
}

/// Runs `work` unless another replica is running the job `job` now (then `None`): the lock is a
/// session advisory lock held on a connection of its own for the duration of the work.
pub async fn exclusively<T, F: Future<Output = T>>(
    pool: &PgPool,
    job: &str,
    work: F,
) -> sqlx::Result<Option<T>> {
    let mut conn = pool.acquire().await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1))")
        .bind(job)
        .fetch_one(&mut *conn)
        .await?;
    if !locked {
        return Ok(None);
    }
    let out = work.await;
    // Were the connection gone, the lock went with its session.
    let _ = sqlx::query("SELECT pg_advisory_unlock(hashtext($1))")
        .bind(job)
        .execute(&mut *conn)
        .await;
    Ok(Some(out))
}
