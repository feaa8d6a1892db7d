//! What happens in a room: what a participant sends (checked here, before anything is stored)
//! and the ordered log of events everyone in the room sees, replayed to late joiners.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Longest chat message, decision or caption, in characters.
pub const MAX_TEXT_CHARS: usize = 2000;
/// Most positions in one drawn geometry.
pub const MAX_POSITIONS: usize = 2000;
/// Most pieces of evidence one decision cites.
pub const MAX_EVIDENCE: usize = 20;

/// The kinds of event in a room's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Opened,
    Joined,
    Left,
    Chat,
    Annotation,
    Posting,
    Decision,
    Closed,
    /// A site camera brought into the room: its live view is everyone's tile.
    Camera,
    /// A participant started sharing their screen (`{feed}`: its media feed).
    ScreenShared,
    /// That sharing ended (`{feed}`): stopped, or the participant left the call.
    ScreenStopped,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Opened => "opened",
            EventKind::Joined => "joined",
            EventKind::Left => "left",
            EventKind::Chat => "chat",
            EventKind::Annotation => "annotation",
            EventKind::Posting => "posting",
            EventKind::Decision => "decision",
            EventKind::Closed => "closed",
            EventKind::Camera => "camera",
            EventKind::ScreenShared => "screen_shared",
            EventKind::ScreenStopped => "screen_stopped",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        [
            EventKind::Opened,
            EventKind::Joined,
            EventKind::Left,
            EventKind::Chat,
            EventKind::Annotation,
            EventKind::Posting,
            EventKind::Decision,
            EventKind::Closed,
            EventKind::Camera,
            EventKind::ScreenShared,
            EventKind::ScreenStopped,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One event of a room's log, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RoomEvent {
    pub id: i64,
    pub room_id: i64,
    pub kind: EventKind,
    pub officer_id: Option<i64>,
    /// Who, as people read it.
    pub officer_name: Option<String>,
    /// From where: the officer's division.
    pub division_code: Option<String>,
    pub division_name: Option<String>,
    /// What: `{text}` for chat, `{geometry, label}` for an annotation, `{kind, ref, caption}`
    /// for a posting, `{text, evidence}` for a decision.
    #[schema(value_type = Object)]
    pub body: Value,
    pub at: DateTime<Utc>,
}

/// What can be posted into a room: a reference to something the system holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostingKind {
    /// A site's sensor chart (`ref`: the sensor id).
    SensorChart,
    /// A warning's evidence (`ref`: the warning id).
    WarningEvidence,
    /// A camera frame (`ref`: the frame id).
    CameraFrame,
    /// A photo (`ref`: where it is stored).
    Photo,
}

/// What a participant sends on the room socket (media signalling apart).
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage {
    Chat {
        text: String,
    },
    Annotate {
        geometry: Value,
        label: String,
    },
    Post {
        kind: PostingKind,
        reference: String,
        caption: String,
    },
    Decide {
        text: String,
        evidence: Vec<i64>,
    },
    /// Bring a site camera in: `gateway` and `camera` as the bridge names them.
    Camera {
        gateway: String,
        camera: String,
    },
}

/// A message refused, naming the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct MessageError {
    pub field: &'static str,
    pub message: String,
}

fn refuse(field: &'static str, message: impl Into<String>) -> MessageError {
    MessageError {
        field,
        message: message.into(),
    }
}

fn text_of(v: &Value, field: &'static str, required: bool) -> Result<String, MessageError> {
    match v.get(field) {
        None | Some(Value::Null) if !required => Ok(String::new()),
        None | Some(Value::Null) => Err(refuse(field, "is missing")),
        Some(Value::String(s)) => {
            let s = s.trim();
            if required && s.is_empty() {
                return Err(refuse(field, "is empty"));
            }
            if s.chars().count() > MAX_TEXT_CHARS {
                return Err(refuse(
                    field,
                    format!("is too long: at most {MAX_TEXT_CHARS} characters"),
                ));
            }
            if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
                return Err(refuse(field, "holds control characters"));
            }
            Ok(s.to_owned())
        }
        Some(_) => Err(refuse(field, "must be a string")),
    }
}

impl ClientMessage {
    /// Reads a message whose `type` is `kind` from `v`, checking every field.
    pub fn parse(kind: &str, v: &Value) -> Result<ClientMessage, MessageError> {
        match kind {
            "chat" => Ok(ClientMessage::Chat {
                text: text_of(v, "text", true)?,
            }),
            "annotate" => {
                let geometry = v
                    .get("geometry")
                    .ok_or_else(|| refuse("geometry", "is missing"))?;
                check_geometry(geometry)?;
                Ok(ClientMessage::Annotate {
                    geometry: geometry.clone(),
                    label: text_of(v, "label", false)?,
                })
            }
            "post" => {
                let kind = v
                    .get("kind")
                    .cloned()
                    .ok_or_else(|| refuse("kind", "is missing"))
                    .and_then(|k| {
                        serde_json::from_value::<PostingKind>(k).map_err(|_| {
                            refuse(
                                "kind",
                                "must be sensor_chart, warning_evidence, camera_frame or photo",
                            )
                        })
                    })?;
                let reference = text_of(v, "ref", true)?;
                if reference.chars().count() > 500 {
                    return Err(refuse("ref", "is too long: at most 500 characters"));
                }
                Ok(ClientMessage::Post {
                    kind,
                    reference,
                    caption: text_of(v, "caption", false)?,
                })
            }
            "decide" => {
                let text = text_of(v, "text", true)?;
                let evidence = match v.get("evidence") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::Array(items)) => {
                        if items.len() > MAX_EVIDENCE {
                            return Err(refuse(
                                "evidence",
                                format!("cites too much: at most {MAX_EVIDENCE} events"),
                            ));
                        }
                        items
                            .iter()
                            .map(|i| {
                                i.as_i64().filter(|i| *i > 0).ok_or_else(|| {
                                    refuse("evidence", "must be the ids of events in this room")
                                })
                            })
                            .collect::<Result<_, _>>()?
                    }
                    Some(_) => return Err(refuse("evidence", "must be a list of event ids")),
                };
                Ok(ClientMessage::Decide { text, evidence })
            }
            "camera" => {
                let identifier = |field: &'static str| {
                    text_of(v, field, true).and_then(|s| {
                        if geohazard_protocol::is_valid_identifier(&s) {
                            Ok(s)
                        } else {
                            Err(refuse(field, "must be an identifier"))
                        }
                    })
                };
                Ok(ClientMessage::Camera {
                    gateway: identifier("gateway")?,
                    camera: identifier("camera")?,
                })
            }
            other => Err(refuse(
                "type",
                format!(
                    "unknown message type {:?}: chat, annotate, post, decide, camera or media.*",
                    other.chars().take(40).collect::<String>()
                ),
            )),
        }
    }

    /// The event kind and body this message is stored as.
    pub fn event(&self) -> (EventKind, Value) {
        match self {
            ClientMessage::Chat { text } => (EventKind::Chat, json!({ "text": text })),
            ClientMessage::Annotate { geometry, label } => (
                EventKind::Annotation,
                json!({ "geometry": geometry, "label": label }),
            ),
            ClientMessage::Post {
                kind,
                reference,
                caption,
            } => (
                EventKind::Posting,
                json!({ "kind": kind, "ref": reference, "caption": caption }),
            ),
            ClientMessage::Decide { text, evidence } => (
                EventKind::Decision,
                json!({ "text": text, "evidence": evidence }),
            ),
            ClientMessage::Camera { gateway, camera } => (
                EventKind::Camera,
                json!({ "gateway": gateway, "camera": camera }),
            ),
        }
    }
}

/// A GeoJSON Point, LineString or Polygon in WGS 84, of a reasonable size, and nothing else.
fn check_geometry(v: &Value) -> Result<(), MessageError> {
    let not_geometry = || refuse("geometry", "must be a GeoJSON Point, LineString or Polygon");
    let object = v.as_object().ok_or_else(not_geometry)?;
    if object.keys().any(|k| k != "type" && k != "coordinates") {
        return Err(refuse("geometry", "holds only type and coordinates"));
    }
    let coordinates = object.get("coordinates").ok_or_else(not_geometry)?;
    let list = |v: &Value| v.as_array().cloned().ok_or_else(not_geometry);
    let positions: Vec<Value> = match object.get("type").and_then(Value::as_str) {
        Some("Point") => vec![coordinates.clone()],
        Some("LineString") => {
            let line = list(coordinates)?;
            if line.len() < 2 {
                return Err(refuse("geometry", "a line needs at least 2 positions"));
            }
            line
        }
        Some("Polygon") => {
            let rings = list(coordinates)?;
            if rings.is_empty() {
                return Err(refuse("geometry", "a polygon needs a ring"));
            }
            let mut all = Vec::new();
            for ring in &rings {
                let ring = list(ring)?;
                if ring.len() < 4 || ring.first() != ring.last() {
                    return Err(refuse(
                        "geometry",
                        "a polygon's rings need 4 positions or more, the last equal to the first",
                    ));
                }
                all.extend(ring);
            }
            all
        }
        _ => return Err(not_geometry()),
    };
    if positions.len() > MAX_POSITIONS {
        return Err(refuse(
            "geometry",
            format!("is too large: at most {MAX_POSITIONS} positions"),
        ));
    }
    for p in &positions {
        let p = p.as_array().ok_or_else(not_geometry)?;
        let numbers: Vec<f64> = p.iter().filter_map(Value::as_f64).collect();
        if !matches!(p.len(), 2 | 3) {
            return Err(refuse(
                "geometry",
                "a position is a longitude and a latitude",
            ));
        }
        if numbers.len() != p.len()
            || !(-180.0..=180.0).contains(&numbers[0])
            || !(-90.0..=90.0).contains(&numbers[1])
        {
            return Err(refuse(
                "geometry",
                "positions are longitude, latitude in degrees (WGS 84)",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<ClientMessage, MessageError> {
        ClientMessage::parse(v["type"].as_str().unwrap_or(""), &v)
    }

    #[test]
    fn hostile_and_malformed_messages_are_refused_naming_the_field() {
        let cases = [
            (json!({"type": "chat"}), "text"),
            (json!({"type": "chat", "text": 5}), "text"),
            (json!({"type": "chat", "text": "   "}), "text"),
            (json!({"type": "chat", "text": "x".repeat(2001)}), "text"),
            (json!({"type": "chat", "text": "bell\u{7}"}), "text"),
            (json!({"type": "annotate"}), "geometry"),
            (
                json!({"type": "annotate", "geometry": {"type": "Point", "coordinates": [200, 0]}}),
                "geometry",
            ),
            (
                json!({"type": "annotate", "geometry": {"type": "LineString", "coordinates": [[1, 1]]}}),
                "geometry",
            ),
            (
                json!({"type": "annotate", "geometry": {"type": "Polygon", "coordinates": [[[0,0],[1,0],[1,1],[0,1]]]}}),
                "geometry",
            ),
            (
                json!({"type": "annotate", "geometry": {"type": "MultiPoint", "coordinates": [[1, 1]]}}),
                "geometry",
            ),
            (json!({"type": "post", "kind": "virus", "ref": "1"}), "kind"),
            (json!({"type": "post", "kind": "photo"}), "ref"),
            (
                json!({"type": "decide", "text": "evacuate", "evidence": ["x"]}),
                "evidence",
            ),
            (json!({"type": "drop_tables"}), "type"),
        ];
        for (msg, field) in cases {
            let err = parse(msg.clone()).expect_err(&msg.to_string());
            assert_eq!(err.field, field, "{msg}: {err}");
        }
    }

    #[test]
    fn good_messages_become_the_events_everyone_sees() {
        let m = parse(json!({"type": "annotate", "label": "撤离路线",
            "geometry": {"type": "Polygon", "coordinates": [[[104.6,28.8],[104.7,28.8],[104.7,28.9],[104.6,28.8]]]}}))
        .unwrap();
        let (kind, body) = m.event();
        assert_eq!(kind, EventKind::Annotation);
        assert_eq!(body["label"], "撤离路线");
        let m = parse(json!({"type": "decide", "text": "撤离 A 区", "evidence": [3, 4]})).unwrap();
        assert_eq!(m.event().1["evidence"], json!([3, 4]));
        let m = parse(json!({"type": "post", "kind": "warning_evidence", "ref": "17"})).unwrap();
        assert_eq!(m.event().1["kind"], "warning_evidence");
        for k in [
            "opened",
            "joined",
            "left",
            "chat",
            "annotation",
            "posting",
            "decision",
            "closed",
            "camera",
            "screen_shared",
            "screen_stopped",
        ] {
            assert_eq!(EventKind::parse(k).unwrap().as_str(), k);
        }
    }
}
