//! The media server, Janus (its REST transport and video-room plugin), as the command-center
//! alone talks to it: rooms made and destroyed with the plugin's admin key, one Janus session
//! per participant's room socket, each handle's requests answered through the session's
//! long-poll. Clients never reach Janus's API: they send signalling on the room socket and the
//! command-center relays it. A leaf: it imports nothing of the crate.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use geohazard_runtime::Secret;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// A STUN or TURN server the browsers are given (e.g. coturn).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// The `[command_center.consult]` section: where Janus is and what the browsers use for ICE.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsultSettings {
    /// Janus's REST endpoint, e.g. `http://10.0.0.2:8088/janus`, on an address only the
    /// command-center reaches. `None`: rooms have chat, map and decisions but no audio/video.
    pub janus_url: Option<String>,
    /// The video-room plugin's `admin_key`: only the command-center makes rooms.
    pub janus_admin_key: Secret,
    /// STUN/TURN servers for the browsers.
    pub ice_servers: Vec<IceServer>,
    /// Publishers one media room admits at once.
    pub max_publishers: u32,
}

impl Default for ConsultSettings {
    fn default() -> ConsultSettings {
        ConsultSettings {
            janus_url: None,
            janus_admin_key: Secret::new(String::new()),
            ice_servers: Vec::new(),
            max_publishers: 16,
        }
    }
}

/// What went wrong with Janus.
#[derive(Debug, thiserror::Error)]
pub enum JanusError {
    #[error("no media server is configured")]
    NotConfigured,
    #[error("the media server cannot be reached: {0}")]
    Unreachable(String),
    #[error("the media server refused: {0}")]
    Refused(String),
    #[error("the media server did not answer in time")]
    Timeout,
}

/// How long a request to a handle may wait for its event.
const ANSWER_WITHIN: Duration = Duration::from_secs(20);

/// The configured Janus, shared by every room.
#[derive(Clone)]
pub struct Janus {
    settings: Arc<ConsultSettings>,
    http: reqwest::Client,
}

fn transaction() -> String {
    format!("{:016x}", rand::random::<u64>())
}

impl Janus {
    pub fn new(settings: ConsultSettings) -> Janus {
        Janus {
            settings: Arc::new(settings),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("an HTTP client"),
        }
    }

    pub fn ice_servers(&self) -> &[IceServer] {
        &self.settings.ice_servers
    }

    pub fn configured(&self) -> bool {
        self.settings.janus_url.is_some()
    }

    fn url(&self) -> Result<&str, JanusError> {
        self.settings
            .janus_url
            .as_deref()
            .map(|u| u.trim_end_matches('/'))
            .ok_or(JanusError::NotConfigured)
    }

    async fn post(&self, url: &str, mut body: Value) -> Result<Value, JanusError> {
        body["transaction"] = json!(transaction());
        let answer: Value = self
            .http
            .post(url)
            .json(&body)
            .send()
            .await
            .map_err(|e| JanusError::Unreachable(e.to_string()))?
            .json()
            .await
            .map_err(|e| JanusError::Unreachable(e.to_string()))?;
        match answer["janus"].as_str() {
            Some("success") | Some("ack") => Ok(answer),
            _ => Err(JanusError::Refused(
                answer["error"]["reason"]
                    .as_str()
                    .unwrap_or("an unexpected answer")
                    .to_owned(),
            )),
        }
    }

    /// A new session with one video-room handle, its long-poll running until it is dropped.
    pub async fn session(&self) -> Result<Session, JanusError> {
        let url = self.url()?.to_owned();
        let created = self.post(&url, json!({"janus": "create"})).await?;
        let id = created["data"]["id"]
            .as_u64()
            .ok_or_else(|| JanusError::Refused("no session id".into()))?;
        let (events_tx, events_rx) = mpsc::channel(64);
        let inner = Arc::new(SessionInner {
            janus: self.clone(),
            url: format!("{url}/{id}"),
            waiting: Mutex::new(HashMap::new()),
            events: events_tx,
            stop: CancellationToken::new(),
        });
        tokio::spawn(long_poll(inner.clone()));
        Ok(Session {
            inner,
            events: events_rx,
        })
    }

    /// Makes a video room (with the plugin's admin key); returns its number.
    pub async fn create_room(&self, description: &str) -> Result<i64, JanusError> {
        let session = self.session().await?;
        let handle = session.attach().await?;
        let answer = session
            .request(
                handle,
                json!({
                    "request": "create",
                    "admin_key": self.settings.janus_admin_key.expose(),
                    "description": description.chars().take(60).collect::<String>(),
                    "publishers": self.settings.max_publishers,
                    "is_private": true,
                    "permanent": false,
                    "bitrate": 512000,
                }),
            )
            .await?;
        answer["room"]
            .as_i64()
            .ok_or_else(|| JanusError::Refused(answer.to_string()))
    }

    /// Destroys a video room: everyone in it is hung up.
    pub async fn destroy_room(&self, room: i64) -> Result<(), JanusError> {
        let session = self.session().await?;
        let handle = session.attach().await?;
        session
            .request(handle, json!({"request": "destroy", "room": room}))
            .await
            .map(|_| ())
    }

    /// The feeds publishing in `room` now.
    pub async fn publishers(&self, session: &Session, room: i64) -> Result<Vec<i64>, JanusError> {
        let handle = session.attach().await?;
        let answer = session
            .request(handle, json!({"request": "listparticipants", "room": room}))
            .await?;
        session.detach(handle).await;
        Ok(answer["participants"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["publisher"].as_bool() == Some(true))
            .filter_map(|p| p["id"].as_i64())
            .collect())
    }
}

struct SessionInner {
    janus: Janus,
    url: String,
    /// Requests waiting for their event, by transaction.
    waiting: Mutex<HashMap<String, oneshot::Sender<Value>>>,
    /// Events no request waits for (publishers coming and going, hang-ups).
    events: mpsc::Sender<Value>,
    stop: CancellationToken,
}

/// One Janus session: a participant's handles. Destroyed when dropped.
pub struct Session {
    inner: Arc<SessionInner>,
    /// Events no request waits for: `{"janus": "event"|"hangup"|..., "sender": handle, ...}`.
    pub events: mpsc::Receiver<Value>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.inner.stop.cancel();
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let _ = inner
                .janus
                .post(&inner.url, json!({"janus": "destroy"}))
                .await;
        });
    }
}

impl Session {
    /// A new video-room handle.
    pub async fn attach(&self) -> Result<u64, JanusError> {
        let answer = self
            .inner
            .janus
            .post(
                &self.inner.url,
                json!({"janus": "attach", "plugin": "janus.plugin.videoroom"}),
            )
            .await?;
        answer["data"]["id"]
            .as_u64()
            .ok_or_else(|| JanusError::Refused("no handle id".into()))
    }

    pub async fn detach(&self, handle: u64) {
        let url = format!("{}/{handle}", self.inner.url);
        let _ = self
            .inner
            .janus
            .post(&url, json!({"janus": "detach"}))
            .await;
    }

    /// Sends `body` (with `jsep`, if any) to `handle` and returns the plugin's answer — at once
    /// for a synchronous request, else its event — with the event's `jsep` under `"jsep"`.
    pub async fn message(
        &self,
        handle: u64,
        body: Value,
        jsep: Option<Value>,
    ) -> Result<Value, JanusError> {
        let tx = transaction();
        let (answer_tx, answer_rx) = oneshot::channel();
        self.lock().insert(tx.clone(), answer_tx);
        let mut request = json!({"janus": "message", "body": body, "transaction": tx});
        if let Some(jsep) = jsep {
            request["jsep"] = jsep;
        }
        let url = format!("{}/{handle}", self.inner.url);
        let sent = self
            .inner
            .janus
            .http
            .post(&url)
            .json(&request)
            .send()
            .await
            .map_err(|e| JanusError::Unreachable(e.to_string()));
        let answer: Value = match sent {
            Ok(r) => r
                .json()
                .await
                .map_err(|e| JanusError::Unreachable(e.to_string()))?,
            Err(e) => {
                self.lock().remove(&tx);
                return Err(e);
            }
        };
        let event = match answer["janus"].as_str() {
            Some("success") => {
                self.lock().remove(&tx);
                answer
            }
            Some("ack") => match tokio::time::timeout(ANSWER_WITHIN, answer_rx).await {
                Ok(Ok(event)) => event,
                _ => {
                    self.lock().remove(&tx);
                    return Err(JanusError::Timeout);
                }
            },
            _ => {
                self.lock().remove(&tx);
                return Err(JanusError::Refused(
                    answer["error"]["reason"]
                        .as_str()
                        .unwrap_or("an unexpected answer")
                        .to_owned(),
                ));
            }
        };
        let mut data = event["plugindata"]["data"].clone();
        if let Some(error) = data["error"].as_str() {
            return Err(JanusError::Refused(error.to_owned()));
        }
        if !event["jsep"].is_null() {
            data["jsep"] = event["jsep"].clone();
        }
        Ok(data)
    }

    /// A request without SDP.
    pub async fn request(&self, handle: u64, body: Value) -> Result<Value, JanusError> {
        self.message(handle, body, None).await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<Value>>> {
        lock(&self.inner.waiting)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Reads the session's events (Janus's long-poll, which also keeps the session alive) and
/// hands each to the request waiting for it, or to the session's event queue.
async fn long_poll(inner: Arc<SessionInner>) {
    let url = format!("{}?maxev=10", inner.url);
    loop {
        let polled = tokio::select! {
            _ = inner.stop.cancelled() => return,
            r = inner.janus.http.get(&url).send() => r,
        };
        let events: Value = match polled {
            Ok(r) => match r.json().await {
                Ok(v) => v,
                Err(_) => return,
            },
            Err(e) => {
                tracing::warn!(error = %e, "the media server's long-poll failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let events = match events {
            Value::Array(items) => items,
            one => vec![one],
        };
        for event in events {
            if event["janus"] == "error" && event["error"]["code"] == 458 {
                // No such session (it timed out): nothing more comes.
                return;
            }
            let waiter = event["transaction"]
                .as_str()
                .and_then(|t| lock(&inner.waiting).remove(t));
            match waiter {
                Some(w) => {
                    let _ = w.send(event);
                }
                None if event["janus"] != "keepalive" => {
                    let _ = inner.events.try_send(event);
                }
                None => {}
            }
        }
    }
}
