//! What the command-center's in-process channels carry, shared by the state that holds the
//! channels and the tasks and sockets that use them: a warning change as the store holds it
//! with its live message serialised once, the live messages themselves, and whose app
//! notifications are pending. A leaf: it imports nothing of the crate.

use std::collections::HashMap;

use axum::extract::ws::Utf8Bytes;
use geohazard_domain::{NotificationId, PersonId};
use geohazard_protocol::warning::Warning;
use serde::Serialize;

/// A warning change as the store holds it, with its live message (`{"type":"warning",...}`)
/// serialised once for every socket.
#[derive(Debug)]
pub struct LiveWarning {
    pub warning: Warning,
    pub message: Utf8Bytes,
}

impl LiveWarning {
    pub fn new(warning: Warning) -> LiveWarning {
        let message = LiveMessage::Warning { warning: &warning }.text().into();
        LiveWarning { warning, message }
    }
}

impl std::ops::Deref for LiveWarning {
    type Target = Warning;
    fn deref(&self) -> &Warning {
        &self.warning
    }
}

/// What a live socket sends, as `{"type": ..., ...}`.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum LiveMessage<'a> {
    /// First, once subscribed: who the socket serves, how many divisions it watches and the
    /// feeds it carries.
    Ready {
        officer: &'a str,
        divisions: usize,
        feeds: Vec<&'static str>,
    },
    /// A warning change in scope.
    Warning { warning: &'a Warning },
    /// An incident in scope changed: re-read `GET /api/v1/incidents/{id}`.
    Incident { id: i64 },
    /// The deliveries of a warning in scope changed (a receipt, a confirmation, a send or its
    /// failure): re-read `GET /api/v1/warnings/{warning}`.
    Deliveries { warning: i64 },
    /// A rapid report came from the field: read `GET /api/v1/field-reports?after=`.
    FieldReport { id: i64 },
    /// A patrol was done: re-read `GET /api/v1/patrols/coverage`.
    Patrol { id: i64 },
    /// Events were dropped: re-read `GET /api/v1/warnings`.
    Resync { missed: u64 },
    /// The session was signed out, expired or disabled; the socket closes.
    SessionEnded,
    /// A client message for a feed the socket does not carry; nothing was read or changed.
    Error { message: &'a str },
}

impl LiveMessage<'_> {
    pub(crate) fn text(&self) -> String {
        serde_json::to_string(self).expect("a live message serializes")
    }
}

/// Whose app notifications are pending: each person's count and newest id.
pub type PendingApp = HashMap<PersonId, (i64, NotificationId)>;
