//! The command-center's HTTP API as a client sees it: sign-in, bearer requests, JSON answers.
//! HTTP only, so the command-center's tests and the end-to-end tests share it without
//! depending on each other.

use std::net::SocketAddr;
use std::time::Duration;

use futures::{Stream, StreamExt};
pub use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Error, Message};

/// A client's WebSocket to the command-center.
pub type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket upgrade request as tungstenite sends it.
pub type ClientRequest = tokio_tungstenite::tungstenite::handshake::client::Request;

/// The WebSocket upgrade request of `url` carrying `token` as `Authorization: Bearer` (how
/// every client that is not a browser opens the command-center's sockets).
pub fn bearer_upgrade(url: &str, token: &str) -> ClientRequest {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = url.into_client_request().expect("a WebSocket URL");
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {token}")
            .parse()
            .expect("a token is a header value"),
    );
    request
}

pub struct Api {
    addr: SocketAddr,
    pub http: reqwest::Client,
}

impl Api {
    /// The API of the command-center listening on `addr`.
    pub fn new(addr: SocketAddr) -> Api {
        Api {
            addr,
            http: reqwest::Client::new(),
        }
    }

    /// The same API as a client on loopback address `local` (127.x.y.z) sees it: one
    /// "remote address" of many on one machine.
    pub fn from_address(addr: SocketAddr, local: std::net::IpAddr) -> Api {
        Api {
            addr,
            http: reqwest::Client::builder()
                .local_address(local)
                .build()
                .expect("an HTTP client"),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The console's page.
    pub fn console_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// `http://…/api/v1{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/api/v1{path}", self.addr)
    }

    /// `ws://…/api/v1{path}`.
    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}/api/v1{path}", self.addr)
    }

    /// The upgrade request of the live socket at `path` (`/live`) signed in as an API client
    /// is: the session in `Authorization: Bearer`, never in the URL.
    pub fn ws_request(&self, path: &str, token: &str) -> ClientRequest {
        bearer_upgrade(&self.ws_url(path), token)
    }

    /// Opens the socket at `path` with `token`'s session in the upgrade: the socket, or the
    /// status the command-center refused it with.
    pub async fn ws(&self, path: &str, token: &str) -> Result<WsStream, u16> {
        match tokio_tungstenite::connect_async(self.ws_request(path, token)).await {
            Ok((socket, _)) => Ok(socket),
            Err(Error::Http(r)) => Err(r.status().as_u16()),
            Err(e) => panic!("{path}: neither opened nor refused: {e}"),
        }
    }

    /// `POST /login` as is.
    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.http
            .post(self.url("/login"))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .expect("the API answers")
    }

    /// `POST /login`: the status and the JSON body.
    pub async fn try_login(&self, username: &str, password: &str) -> (StatusCode, Value) {
        let r = self.login(username, password).await;
        (r.status(), r.json().await.expect("a JSON answer"))
    }

    /// A session token of a sign-in that must succeed.
    pub async fn token(&self, username: &str, password: &str) -> String {
        let (status, body) = self.try_login(username, password).await;
        assert_eq!(status, StatusCode::OK, "signing in as {username}: {body}");
        body["token"].as_str().expect("a token").to_owned()
    }

    /// `GET path` with the token, as is.
    pub async fn get_response(&self, token: &str, path: &str) -> Response {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("the API answers")
    }

    /// `GET path` with the token: the status and the JSON body (null when there is none).
    pub async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        json_of(self.get_response(token, path).await).await
    }

    /// `POST path` with the token and a JSON body: the status and the JSON answer (null when
    /// there is none).
    pub async fn post(&self, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        let r = self
            .http
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("the API answers");
        json_of(r).await
    }

    /// Whether `/healthz` answers OK within two seconds.
    pub async fn healthz(&self) -> bool {
        match self
            .http
            .get(format!("http://{}/healthz", self.addr))
            .timeout(Duration::from_secs(2))
            .send()
            .await
        {
            Ok(r) => r.status() == StatusCode::OK,
            Err(_) => false,
        }
    }
}

async fn json_of(r: Response) -> (StatusCode, Value) {
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

/// The next text message of a WebSocket (the live feed, a live view), as JSON. Panics when
/// none comes within ten seconds or the socket ends.
pub async fn next_json<S>(ws: &mut S) -> Value
where
    S: Stream<Item = Result<Message, Error>> + Unpin,
{
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message on the socket in time")
            .expect("the socket is open")
            .expect("a readable message");
        if let Message::Text(t) = msg {
            return serde_json::from_str(&t).expect("a JSON message");
        }
    }
}
