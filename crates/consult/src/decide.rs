//! The room lifecycle as a pure function: open → closed, nothing after.

use serde::{Deserialize, Serialize};

/// Where a room is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoomState {
    Open,
    Closed,
}

impl RoomState {
    pub fn as_str(self) -> &'static str {
        match self {
            RoomState::Open => "open",
            RoomState::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<RoomState> {
        match s {
            "open" => Some(RoomState::Open),
            "closed" => Some(RoomState::Closed),
            _ => None,
        }
    }
}

/// What happened to a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Someone says something, draws, posts, decides, comes or goes.
    Activity,
    /// The room is closed by someone who may.
    Close,
}

/// What to store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Record the activity.
    Record,
    /// Close the room: its media room is destroyed, nothing more is recorded.
    Close,
    /// Refused: the room is closed.
    RefuseClosed,
}

/// What to do with `change` to a room in `current`.
pub fn decide(current: RoomState, change: Change) -> Decision {
    match (current, change) {
        (RoomState::Open, Change::Activity) => Decision::Record,
        (RoomState::Open, Change::Close) => Decision::Close,
        (RoomState::Closed, _) => Decision::RefuseClosed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_room_records_and_closes_and_a_closed_room_refuses_everything() {
        assert_eq!(decide(RoomState::Open, Change::Activity), Decision::Record);
        assert_eq!(decide(RoomState::Open, Change::Close), Decision::Close);
        assert_eq!(
            decide(RoomState::Closed, Change::Activity),
            Decision::RefuseClosed
        );
        assert_eq!(
            decide(RoomState::Closed, Change::Close),
            Decision::RefuseClosed
        );
        for s in [RoomState::Open, RoomState::Closed] {
            assert_eq!(RoomState::parse(s.as_str()), Some(s));
        }
    }
}
