//! Rooms in the store: opening one, who may see it, recording what happens in it through the
//! lifecycle's [`decide`], closing it, and its log for late joiners and the minutes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::{PgPool, Postgres, Transaction};

use crate::decide::{Change, Decision, RoomState, decide};
use crate::events::{EventKind, RoomEvent};

/// A room as its participants see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Room {
    pub id: i64,
    pub title: String,
    /// The incident it was opened for, if any (by id only).
    pub incident_id: Option<i64>,
    /// The division that opened it.
    pub division_code: String,
    pub division_name: String,
    pub opened_by: i64,
    pub opened_by_name: String,
    pub state: RoomState,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub invited_divisions: Vec<String>,
    pub invited_officers: Vec<i64>,
}

/// A room to open.
#[derive(Debug, Clone)]
pub struct NewRoom<'a> {
    pub title: &'a str,
    pub incident_id: Option<i64>,
    pub invited_divisions: &'a [String],
    pub invited_officers: &'a [i64],
}

/// Who is asking: what their scope holds, their division and themselves.
#[derive(Debug, Clone, Copy)]
pub struct Viewer<'a> {
    pub officer_id: i64,
    pub division_code: &'a str,
    /// Their division and every one below it.
    pub scope: &'a [String],
}

/// Why a change to a room was not stored.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("the room is closed")]
    Closed,
    #[error("no such room")]
    NoRoom,
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] sqlx::Error),
}

const ROOM_COLUMNS: &str = "r.id, r.title, r.incident_id, r.division_code, d.name, r.opened_by,
    CASE WHEN o.display_name = '' THEN o.username ELSE o.display_name END,
    r.state, r.opened_at, r.closed_at,
    ARRAY(SELECT division_code FROM consult_invited_divisions i WHERE i.room_id = r.id ORDER BY 1),
    ARRAY(SELECT officer_id FROM consult_invited_officers i WHERE i.room_id = r.id ORDER BY 1)";

const ROOM_FROM: &str = "FROM consult_rooms r JOIN divisions d ON d.code = r.division_code
    JOIN officers o ON o.id = r.opened_by";

/// Rooms `$1` (scope), `$2` (division), `$3` (officer) may see.
const VISIBLE: &str = "(r.division_code = ANY($1)
    OR EXISTS (SELECT 1 FROM consult_invited_divisions i WHERE i.room_id = r.id AND i.division_code = $2)
    OR EXISTS (SELECT 1 FROM consult_invited_officers i WHERE i.room_id = r.id AND i.officer_id = $3))";

type RoomRow = (
    i64,
    String,
    Option<i64>,
    String,
    String,
    i64,
    String,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Vec<String>,
    Vec<i64>,
);

fn room_of(r: RoomRow) -> Room {
    Room {
        id: r.0,
        title: r.1,
        incident_id: r.2,
        division_code: r.3,
        division_name: r.4,
        opened_by: r.5,
        opened_by_name: r.6,
        state: RoomState::parse(&r.7).unwrap_or(RoomState::Closed),
        opened_at: r.8,
        closed_at: r.9,
        invited_divisions: r.10,
        invited_officers: r.11,
    }
}

/// Opens a room in `opener`'s division, with its invitations and an `opened` event, in one
/// transaction. An unknown invited division or officer is refused.
pub async fn open(pool: &PgPool, opener: Viewer<'_>, new: &NewRoom<'_>) -> Result<Room, Refused> {
    let mut tx = pool.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO consult_rooms (title, incident_id, division_code, opened_by)
         VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(new.title)
    .bind(new.incident_id)
    .bind(opener.division_code)
    .bind(opener.officer_id)
    .fetch_one(&mut *tx)
    .await?;
    let known: Vec<String> = sqlx::query_scalar("SELECT code FROM divisions WHERE code = ANY($1)")
        .bind(new.invited_divisions)
        .fetch_all(&mut *tx)
        .await?;
    if let Some(unknown) = new.invited_divisions.iter().find(|d| !known.contains(d)) {
        return Err(Refused::Invalid(format!(
            "invited_divisions: no division {unknown:?}"
        )));
    }
    let known: Vec<i64> = sqlx::query_scalar("SELECT id FROM officers WHERE id = ANY($1)")
        .bind(new.invited_officers)
        .fetch_all(&mut *tx)
        .await?;
    if let Some(unknown) = new.invited_officers.iter().find(|o| !known.contains(o)) {
        return Err(Refused::Invalid(format!(
            "invited_officers: no officer {unknown}"
        )));
    }
    sqlx::query(
        "INSERT INTO consult_invited_divisions (room_id, division_code)
         SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(new.invited_divisions)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO consult_invited_officers (room_id, officer_id)
         SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(new.invited_officers)
    .execute(&mut *tx)
    .await?;
    insert_event(
        &mut tx,
        id,
        Some(opener.officer_id),
        EventKind::Opened,
        &json!({ "title": new.title, "incident_id": new.incident_id }),
    )
    .await?;
    let room = fetch(&mut *tx, id).await?.ok_or(Refused::NoRoom)?;
    tx.commit().await?;
    Ok(room)
}

async fn fetch(db: impl sqlx::PgExecutor<'_>, id: i64) -> sqlx::Result<Option<Room>> {
    let sql = format!("SELECT {ROOM_COLUMNS} {ROOM_FROM} WHERE r.id = $1");
    Ok(sqlx::query_as::<_, RoomRow>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(db)
        .await?
        .map(room_of))
}

/// The room `id` if `viewer` may see it (else `None`, exactly as for a room that does not exist).
pub async fn visible(pool: &PgPool, viewer: Viewer<'_>, id: i64) -> sqlx::Result<Option<Room>> {
    let sql = format!("SELECT {ROOM_COLUMNS} {ROOM_FROM} WHERE r.id = $4 AND {VISIBLE}");
    Ok(sqlx::query_as::<_, RoomRow>(sqlx::AssertSqlSafe(sql))
        .bind(viewer.scope)
        .bind(viewer.division_code)
        .bind(viewer.officer_id)
        .bind(id)
        .fetch_optional(pool)
        .await?
        .map(room_of))
}

/// The rooms `viewer` may see, open ones first, newest first.
pub async fn list(pool: &PgPool, viewer: Viewer<'_>, limit: i64) -> sqlx::Result<Vec<Room>> {
    let sql = format!(
        "SELECT {ROOM_COLUMNS} {ROOM_FROM} WHERE {VISIBLE}
         ORDER BY r.state = 'open' DESC, r.opened_at DESC, r.id DESC LIMIT $4"
    );
    Ok(sqlx::query_as::<_, RoomRow>(sqlx::AssertSqlSafe(sql))
        .bind(viewer.scope)
        .bind(viewer.division_code)
        .bind(viewer.officer_id)
        .bind(limit)
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(room_of)
        .collect())
}

async fn locked_state(tx: &mut Transaction<'_, Postgres>, room: i64) -> Result<RoomState, Refused> {
    let state: Option<String> =
        sqlx::query_scalar("SELECT state FROM consult_rooms WHERE id = $1 FOR UPDATE")
            .bind(room)
            .fetch_optional(&mut **tx)
            .await?;
    state
        .as_deref()
        .and_then(RoomState::parse)
        .ok_or(Refused::NoRoom)
}

const EVENT_SELECT: &str = "SELECT e.id, e.room_id, e.kind, e.officer_id,
    CASE WHEN o.display_name = '' THEN o.username ELSE o.display_name END,
    o.division_code, d.name, e.body, e.at
    FROM consult_events e LEFT JOIN officers o ON o.id = e.officer_id
    LEFT JOIN divisions d ON d.code = o.division_code";

type EventRow = (
    i64,
    i64,
    String,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Value,
    DateTime<Utc>,
);

fn event_of(r: EventRow) -> RoomEvent {
    RoomEvent {
        id: r.0,
        room_id: r.1,
        kind: EventKind::parse(&r.2).unwrap_or(EventKind::Chat),
        officer_id: r.3,
        officer_name: r.4,
        division_code: r.5,
        division_name: r.6,
        body: r.7,
        at: r.8,
    }
}

async fn insert_event(
    tx: &mut Transaction<'_, Postgres>,
    room: i64,
    officer: Option<i64>,
    kind: EventKind,
    body: &Value,
) -> sqlx::Result<RoomEvent> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO consult_events (room_id, officer_id, kind, body) VALUES ($1, $2, $3, $4)
         RETURNING id",
    )
    .bind(room)
    .bind(officer)
    .bind(kind.as_str())
    .bind(body)
    .fetch_one(&mut **tx)
    .await?;
    let sql = format!("{EVENT_SELECT} WHERE e.id = $1");
    Ok(event_of(
        sqlx::query_as::<_, EventRow>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_one(&mut **tx)
            .await?,
    ))
}

/// Records what `officer` did in `room` (the lifecycle decides whether it may), in one
/// transaction. A decision's evidence must be events of this room.
pub async fn record(
    pool: &PgPool,
    room: i64,
    officer: i64,
    kind: EventKind,
    body: &Value,
) -> Result<RoomEvent, Refused> {
    let mut tx = pool.begin().await?;
    match decide(locked_state(&mut tx, room).await?, Change::Activity) {
        Decision::Record => {}
        Decision::RefuseClosed | Decision::Close => return Err(Refused::Closed),
    }
    if kind == EventKind::Decision {
        let cited: Vec<i64> = body["evidence"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_i64).collect())
            .unwrap_or_default();
        let found: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM consult_events WHERE room_id = $1 AND id = ANY($2)",
        )
        .bind(room)
        .bind(&cited)
        .fetch_one(&mut *tx)
        .await?;
        if found as usize != cited.len() {
            return Err(Refused::Invalid(
                "evidence: must be the ids of events in this room".into(),
            ));
        }
    }
    let event = insert_event(&mut tx, room, Some(officer), kind, body).await?;
    if kind == EventKind::Decision {
        into_incident_timeline(&mut tx, room, &event).await?;
    }
    tx.commit().await?;
    Ok(event)
}

/// A decision taken in a room opened for an incident is also an entry of that incident's
/// timeline, in the same transaction: the incident's record shows what was decided, by whom,
/// in which room.
async fn into_incident_timeline(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    room: i64,
    decision: &RoomEvent,
) -> sqlx::Result<()> {
    let incident: Option<(i64, String)> = sqlx::query_as(
        "SELECT i.id, r.title FROM consult_rooms r JOIN incidents i ON i.id = r.incident_id
         WHERE r.id = $1",
    )
    .bind(room)
    .fetch_optional(&mut **tx)
    .await?;
    let Some((incident, title)) = incident else {
        return Ok(());
    };
    geohazard_incidents::incident::timeline(
        tx,
        incident,
        "consult_decision",
        None,
        json!({
            "room_id": room,
            "room": title,
            "event_id": decision.id,
            "text": decision.body["text"],
            "officer_id": decision.officer_id,
            "by_officer": decision.officer_name,
        }),
    )
    .await
}

/// Closes `room` (the lifecycle decides whether it may), with a `closed` event; returns the
/// media room to destroy, if one was made.
pub async fn close(
    pool: &PgPool,
    room: i64,
    officer: i64,
) -> Result<(RoomEvent, Option<i64>), Refused> {
    let mut tx = pool.begin().await?;
    match decide(locked_state(&mut tx, room).await?, Change::Close) {
        Decision::Close => {}
        Decision::RefuseClosed | Decision::Record => return Err(Refused::Closed),
    }
    let media: Option<i64> = sqlx::query_scalar(
        "UPDATE consult_rooms SET state = 'closed', closed_at = now() WHERE id = $1
         RETURNING media_room",
    )
    .bind(room)
    .fetch_one(&mut *tx)
    .await?;
    let event = insert_event(&mut tx, room, Some(officer), EventKind::Closed, &json!({})).await?;
    tx.commit().await?;
    Ok((event, media))
}

/// The room's whole log, oldest first: what a late joiner is given, and the minutes.
pub async fn events(pool: &PgPool, room: i64) -> sqlx::Result<Vec<RoomEvent>> {
    let sql = format!("{EVENT_SELECT} WHERE e.room_id = $1 ORDER BY e.id");
    Ok(sqlx::query_as::<_, EventRow>(sqlx::AssertSqlSafe(sql))
        .bind(room)
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(event_of)
        .collect())
}

/// The decisions taken in rooms opened for `incident`, oldest first: the incident's timeline
/// reads them from here.
pub async fn decisions_for_incident(pool: &PgPool, incident: i64) -> sqlx::Result<Vec<RoomEvent>> {
    let sql = format!(
        "{EVENT_SELECT} JOIN consult_rooms r ON r.id = e.room_id
         WHERE r.incident_id = $1 AND e.kind = 'decision' ORDER BY e.id"
    );
    Ok(sqlx::query_as::<_, EventRow>(sqlx::AssertSqlSafe(sql))
        .bind(incident)
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(event_of)
        .collect())
}

/// Who is in the room now, from the log: joined more often than left.
pub async fn present(pool: &PgPool, room: i64) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar(
        "SELECT officer_id FROM consult_events WHERE room_id = $1 AND kind IN ('joined', 'left')
         GROUP BY officer_id
         HAVING sum(CASE kind WHEN 'joined' THEN 1 ELSE -1 END) > 0 ORDER BY officer_id",
    )
    .bind(room)
    .fetch_all(pool)
    .await
}

/// The media server's room for `room`, making it with `make` if it has none yet. Two callers at
/// once agree on one: the row is locked while `make` runs.
pub async fn media_room<F, Fut, E>(
    pool: &PgPool,
    room: i64,
    make: F,
) -> Result<Result<i64, E>, Refused>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<i64, E>>,
{
    let mut tx = pool.begin().await?;
    let row: Option<(String, Option<i64>)> =
        sqlx::query_as("SELECT state, media_room FROM consult_rooms WHERE id = $1 FOR UPDATE")
            .bind(room)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((state, media)) = row else {
        return Err(Refused::NoRoom);
    };
    if RoomState::parse(&state) != Some(RoomState::Open) {
        return Err(Refused::Closed);
    }
    if let Some(media) = media {
        return Ok(Ok(media));
    }
    let made = match make().await {
        Ok(m) => m,
        Err(e) => return Ok(Err(e)),
    };
    sqlx::query("UPDATE consult_rooms SET media_room = $2 WHERE id = $1")
        .bind(room)
        .bind(made)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Ok(made))
}
