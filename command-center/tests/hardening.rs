//! The command-center as an attacker meets it: concurrent password guessing, a flood of
//! sign-ins, idle and trickling connections, NUL characters, odd methods, too many live sockets,
//! and warning messages that the analyzer never stored. Real PostgreSQL, Mosquitto and HTTP.

mod common;

use std::time::Duration;

use common::{Center, PASSWORD};
use geohazard_command_center::{Role, Settings};
use geohazard_protocol::warning::WarningLevel;
use geohazard_testkit::api::{Response, StatusCode, next_json};
use geohazard_testkit::fixtures::{self, COUNTY};
use geohazard_testkit::{eventually, publish_warning};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite;

/// A command-center with these API settings and a duty officer of Gao, `gao-duty`.
async fn setup(settings: Settings) -> Center {
    let env = common::start(|config| config.api = settings).await;
    env.officer("gao-duty", COUNTY, Role::DutyOfficer).await;
    env
}

/// The status and body of a response, asserting the body is a JSON error.
async fn json_error(r: Response) -> (StatusCode, Value) {
    let status = r.status();
    let text = r.text().await.unwrap();
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: not JSON: {text:?}"));
    assert!(body["error"].is_string(), "{status}: {body}");
    assert!(body["code"].is_string(), "{status}: no code: {body}");
    (status, body)
}

#[tokio::test]
async fn forty_simultaneous_guesses_are_checked_at_most_five_times_and_the_rest_throttled() {
    let env = setup(Settings {
        // Enough password checks for every guess at once: only throttling may refuse them.
        login_max_concurrent_hashes: 64,
        login_hash_wait_ms: 60_000,
        ..Settings::default()
    })
    .await;
    let guesses = (0..40).map(|i| {
        let env = &env;
        async move {
            // The right password is among them.
            let password = if i == 17 {
                PASSWORD.to_owned()
            } else {
                format!("guess {i}")
            };
            let r = env.api.login("gao-duty", &password).await;
            let retry_after = r.headers().get("retry-after").cloned();
            (r.status(), retry_after)
        }
    });
    let answers = futures::future::join_all(guesses).await;
    let wrong = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::UNAUTHORIZED)
        .count();
    let right = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    let checked = wrong + right;
    let throttled: Vec<_> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    eprintln!(
        "40 guesses: {wrong} wrong and {right} right checked, {} throttled",
        answers.len() - checked
    );
    // The limit is on failures: at most five wrong guesses are ever checked. The right
    // password, if it was checked in time, is not a failure (and signs in once).
    assert!(
        wrong <= 5,
        "{wrong} wrong guesses were checked: {answers:?}"
    );
    assert!(right <= 1, "{answers:?}");
    assert_eq!(checked + throttled.len(), 40, "{answers:?}");
    for (_, retry_after) in &throttled {
        let secs: u64 = retry_after
            .as_ref()
            .expect("a 429 says when to retry")
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=15 * 60).contains(&secs), "Retry-After: {secs}");
    }
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action IN ('login', 'login_failed')",
    )
    .fetch_one(&env.store.pool)
    .await
    .unwrap();
    assert_eq!(
        audited as usize, checked,
        "one audit record per checked guess"
    );
}

#[tokio::test]
async fn two_hundred_simultaneous_sign_ins_are_hashed_two_at_a_time_and_the_rest_told_to_retry() {
    let env = setup(Settings {
        login_max_concurrent_hashes: 2,
        login_hash_wait_ms: 200,
        login_max_failures: 1000,
        login_max_failures_per_address: 1000,
        ..Settings::default()
    })
    .await;
    let attempts = (0..200).map(|i| {
        let env = &env;
        async move {
            let r = env.api.login(&format!("nobody-{i}"), "guess").await;
            let retry_after = r.headers().contains_key("retry-after");
            let (status, _) = json_error(r).await;
            (status, retry_after)
        }
    });
    let answers = futures::future::join_all(attempts).await;
    let busy = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    let refused = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!(busy + refused, 200, "{answers:?}");
    assert!(
        busy > 0,
        "with two checks at a time some must be told to retry"
    );
    assert!(
        answers
            .iter()
            .all(|(s, retry)| *s != StatusCode::SERVICE_UNAVAILABLE || *retry),
        "every 503 has Retry-After"
    );
    let stats = env.server.login_stats();
    let peak = stats.hashing_peak.load(std::sync::atomic::Ordering::SeqCst);
    eprintln!("200 sign-ins: {refused} checked, {busy} told to retry, at most {peak} at once");
    assert!(
        (1..=2).contains(&peak),
        "{peak} password checks ran at once"
    );
    assert_eq!(
        stats.refused_busy.load(std::sync::atomic::Ordering::SeqCst) as usize,
        busy
    );
    // A busy refusal is not a failed guess: it does not count towards throttling.
    let failed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'login_failed'")
            .fetch_one(&env.store.pool)
            .await
            .unwrap();
    assert_eq!(failed as usize, refused);
    assert!(env.api.healthz().await, "the server stays up");
}

#[tokio::test]
async fn idle_and_trickling_connections_are_closed_and_health_still_answers() {
    let env = setup(Settings {
        idle_timeout_s: 1,
        max_connections: 20,
        ..Settings::default()
    })
    .await;
    // Ten connections that trickle a request head a byte at a time, twenty that say nothing:
    // the last ten are over the cap and closed at once.
    let mut trickling = Vec::new();
    for _ in 0..10 {
        trickling.push(
            tokio::net::TcpStream::connect(env.server.addr)
                .await
                .unwrap(),
        );
    }
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(
            tokio::net::TcpStream::connect(env.server.addr)
                .await
                .unwrap(),
        );
    }
    let trickle = tokio::spawn(async move {
        let head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        let mut open = trickling.len();
        for byte in head.iter().cycle().take(200) {
            open = 0;
            for s in &mut trickling {
                if s.write_all(&[*byte]).await.is_ok() {
                    open += 1;
                }
            }
            if open == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        open
    });
    // Every idle one is closed by the server (end of stream) within a few timeouts.
    for mut s in idle {
        let mut buf = [0u8; 256];
        let read = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(read.is_ok(), "an idle connection stayed open");
    }
    eventually(Duration::from_secs(10), "/healthz answering", || async {
        env.api.healthz().await.then_some(())
    })
    .await;
    let still_open = tokio::time::timeout(Duration::from_secs(30), trickle)
        .await
        .expect("the trickling connections end")
        .unwrap();
    assert_eq!(still_open, 0, "a trickling connection stayed open");
    assert!(env.api.healthz().await);
}

#[tokio::test]
async fn nul_characters_odd_methods_and_plain_http_on_live_get_json_errors() {
    let env = setup(Settings {
        live_max_sockets_per_session: 2,
        ..Settings::default()
    })
    .await;
    let token = env.login("gao-duty").await;
    let site = fixtures::register_site(&env.store, "GAO-1").await;
    let warning = env
        .raise_warning_from(site, "threshold:mud-1", WarningLevel::Yellow, 25.0)
        .await;

    let r = env
        .api
        .http
        .get(env.api.url("/warnings?state=op%00en"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(json_error(r).await.0, StatusCode::BAD_REQUEST);
    let r = env.api.login("gao\u{0}duty", PASSWORD).await;
    assert_eq!(json_error(r).await.0, StatusCode::BAD_REQUEST);
    let r = env
        .api
        .http
        .post(
            env.api
                .url(&format!("/warnings/{}/acknowledge", warning.id)),
        )
        .bearer_auth(&token)
        .json(&json!({"note": "on my\u{0}way"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_error(r).await.0, StatusCode::BAD_REQUEST);

    let r = env
        .api
        .http
        .delete(env.api.url("/sites"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(json_error(r).await.0, StatusCode::METHOD_NOT_ALLOWED);
    // /live over plain HTTP, signed in: not a WebSocket request.
    let r = env
        .api
        .http
        .get(env.api.url("/live"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(json_error(r).await.0.is_client_error());

    // A session may have two live sockets open; the third is refused until one closes.
    let ws = |token: &str| tokio_tungstenite::connect_async(env.api.ws_request("/live", token));
    let (first, _) = ws(&token).await.unwrap();
    let (_second, _) = ws(&token).await.unwrap();
    match ws(&token).await {
        Err(tungstenite::Error::Http(r)) => {
            assert_eq!(r.status(), 429);
            assert!(r.headers().contains_key("retry-after"));
        }
        other => panic!("a third socket: {other:?}"),
    }
    // Another session of the same officer is counted on its own.
    let other = env.login("gao-duty").await;
    let (_third, _) = ws(&other).await.unwrap();
    drop(first);
    eventually(Duration::from_secs(10), "a socket freed", || async {
        ws(&token).await.ok().map(|_| ())
    })
    .await;
}

#[tokio::test]
async fn a_warning_message_the_store_does_not_have_never_reaches_a_console() {
    let env = setup(Settings::default()).await;
    let token = env.login("gao-duty").await;
    let site = fixtures::register_site(&env.store, "GAO-1").await;
    let real = env
        .raise_warning_from(site, "threshold:mud-1", WarningLevel::Yellow, 25.0)
        .await;
    let (mut console, _) = tokio_tungstenite::connect_async(env.api.ws_request("/live", &token))
        .await
        .unwrap();

    // Anyone who can publish on the broker: a red warning for a site that does not exist, and
    // the real warning's id made red.
    let mut forged_site = real.clone();
    forged_site.id = real.id + 1000;
    forged_site.site = "NO-SUCH-SITE".into();
    forged_site.level = WarningLevel::Red;
    let mut forged_level = real.clone();
    forged_level.level = WarningLevel::Red;
    let forger = env.publisher("forger").await;
    for w in [&forged_site, &forged_level, &real] {
        publish_warning(&forger, w).await;
    }
    assert_eq!(next_json(&mut console).await["type"], "ready");
    // Published last, arrived first: the forged ones were dropped, not delayed.
    let got = next_json(&mut console).await;
    assert_eq!(got["warning"]["id"], real.id, "{got}");
    assert_eq!(got["warning"]["level"], "yellow");
    forger.shutdown().await;
}

#[tokio::test]
async fn a_console_shows_the_stores_warning_not_what_a_message_says_about_it() {
    let env = setup(Settings::default()).await;
    let token = env.login("gao-duty").await;
    let site = fixtures::register_site(&env.store, "GAO-1").await;
    let red = env
        .raise_warning_from(site, "threshold:mud-1", WarningLevel::Red, 60.0)
        .await;
    let (mut console, _) = tokio_tungstenite::connect_async(env.api.ws_request("/live", &token))
        .await
        .unwrap();
    assert_eq!(next_json(&mut console).await["type"], "ready");

    // The open red warning, told as closed with the sender's own words and evidence.
    let mut forged = red.clone();
    forged.state = geohazard_protocol::warning::WarningState::Closed;
    forged.transition = geohazard_protocol::warning::WarningTransition::Closed;
    forged.summary = "all clear, stand down".into();
    forged.summary_zh = "解除警报，撤离人员返回".into();
    forged.evidence = json!({"forged": true});
    let forger = env.publisher("forger").await;
    publish_warning(&forger, &forged).await;
    let got = next_json(&mut console).await;
    assert_eq!(got["warning"]["id"], red.id, "{got}");
    assert_eq!(got["warning"]["state"], "open", "{got}");
    assert_eq!(got["warning"]["level"], "red", "{got}");
    assert_eq!(got["warning"]["transition"], "raised", "{got}");
    assert_eq!(got["warning"]["summary"], red.summary, "{got}");
    assert_eq!(got["warning"]["summary_zh"], red.summary_zh, "{got}");
    assert_eq!(got["warning"]["evidence"], red.evidence, "{got}");
    forger.shutdown().await;
}

/// What a live socket says until it closes, if it closes within `wait`; `None` if it is still
/// open then.
async fn said_until_closed(
    ws: &mut geohazard_testkit::api::WsStream,
    wait: Duration,
) -> Option<Vec<String>> {
    use futures::StreamExt;
    let mut said = Vec::new();
    let closed = tokio::time::timeout(wait, async {
        while let Some(Ok(m)) = ws.next().await {
            match m {
                tungstenite::Message::Text(t) => {
                    let m: Value = serde_json::from_str(&t).unwrap();
                    said.push(m["type"].as_str().unwrap_or_default().to_owned());
                }
                tungstenite::Message::Close(_) => break,
                _ => {}
            }
        }
    })
    .await;
    closed.is_ok().then_some(said)
}

#[tokio::test]
async fn every_live_socket_of_a_signed_out_expired_or_disabled_session_is_told_and_closed_and_no_other()
 {
    let env = setup(Settings {
        live_recheck_s: 1,
        ..Settings::default()
    })
    .await;
    env.officer("gao-other", COUNTY, Role::DutyOfficer).await;
    let site = fixtures::register_site(&env.store, "GAO-1").await;
    let signed_out = env.login("gao-duty").await;
    let expired = env.login("gao-duty").await;
    let disabled = env.login("gao-other").await;
    let kept = env.login("gao-duty").await;
    let open = |path: &'static str, token: String| {
        let api = &env.api;
        async move {
            let mut ws = api.ws(path, &token).await.expect("a live socket");
            assert_eq!(next_json(&mut ws).await["type"], "ready");
            ws
        }
    };
    // Two sockets of the session that signs out (a console and a field app), one of each other.
    let mut ending = [
        open("/live", signed_out.clone()).await,
        open("/live?feeds=notifications,incidents", signed_out.clone()).await,
        open("/live", expired.clone()).await,
        open("/live?feeds=notifications", disabled.clone()).await,
    ];
    let mut console = open("/live", kept.clone()).await;
    let mut field_app = open("/live?feeds=notifications,incidents", kept.clone()).await;

    let (status, body) = env.api.post(&signed_out, "/logout", json!({})).await;
    assert!(status.is_success(), "{status} {body}");
    sqlx::query(
        "UPDATE officer_sessions
         SET expires_at = now() - interval '1 second', created_at = now() - interval '1 hour'
         WHERE token_hash = sha256(decode($1, 'hex'))",
    )
    .bind(&expired)
    .execute(&env.store.pool)
    .await
    .unwrap();
    sqlx::query("UPDATE officers SET disabled = true WHERE username = 'gao-other'")
        .execute(&env.store.pool)
        .await
        .unwrap();
    // Checked every second: each is told, then closed (10 s: room for a loaded machine).
    for (i, ws) in ending.iter_mut().enumerate() {
        let said = said_until_closed(ws, Duration::from_secs(10)).await;
        assert_eq!(
            said,
            Some(vec!["session_ended".to_owned()]),
            "socket {i} of an ended session"
        );
    }
    // Three more checks went by: the current session's sockets are open and carry on, and the
    // checks mark the session used as a request would (it was marked 5 minutes ago).
    sqlx::query(
        "UPDATE officer_sessions SET last_used_at = now() - interval '5 minutes'
         WHERE token_hash = sha256(decode($1, 'hex'))",
    )
    .bind(&kept)
    .execute(&env.store.pool)
    .await
    .unwrap();
    assert_eq!(
        said_until_closed(&mut field_app, Duration::from_secs(3)).await,
        None
    );
    let idle: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM now() - last_used_at)::float8
         FROM officer_sessions WHERE token_hash = sha256(decode($1, 'hex'))",
    )
    .bind(&kept)
    .fetch_one(&env.store.pool)
    .await
    .unwrap();
    assert!(
        idle < 10.0,
        "the kept session was last marked used {idle} s ago"
    );
    let warning = env
        .raise_warning_from(site, "threshold:mud-1", WarningLevel::Yellow, 25.0)
        .await;
    let analyzer = env.publisher("analyzer").await;
    publish_warning(&analyzer, &warning).await;
    let got = next_json(&mut console).await;
    assert_eq!(got["warning"]["id"], warning.id, "{got}");
    analyzer.shutdown().await;
    // Signing out ends it too, however many checks went by before.
    let (status, _) = env.api.post(&kept, "/logout", json!({})).await;
    assert!(status.is_success());
    for ws in [&mut console, &mut field_app] {
        let said = said_until_closed(ws, Duration::from_secs(10))
            .await
            .expect("closed");
        assert_eq!(
            said.last().map(String::as_str),
            Some("session_ended"),
            "{said:?}"
        );
    }
}

/// A TCP connection to the server from loopback address `local`.
async fn connect_from(local: [u8; 4], server: std::net::SocketAddr) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind((local, 0).into()).unwrap();
    socket.connect(server).await.unwrap()
}

/// Whether the server closed `stream` (end of stream or reset) within `wait`.
async fn closed_within(stream: &mut tokio::net::TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(wait, stream.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test]
async fn idle_sockets_however_many_never_keep_a_sign_in_or_an_acknowledgement_out() {
    let env = setup(Settings {
        idle_timeout_s: 120,
        max_connections: 40,
        ..Settings::default()
    })
    .await;
    let site = fixtures::register_site(&env.store, "GAO-1").await;
    let warning = env
        .raise_warning_from(site, "threshold:mud-1", WarningLevel::Yellow, 25.0)
        .await;
    // Sixty connections that never say anything, from thirty addresses.
    let mut idle = Vec::new();
    for i in 0..60u8 {
        idle.push(connect_from([127, 0, 1, i / 2 + 1], env.server.addr).await);
    }
    let officer = geohazard_testkit::api::Api::from_address(env.server.addr, [127, 0, 2, 1].into());
    let token = officer.token("gao-duty", PASSWORD).await;
    let (status, body) = officer
        .post(
            &token,
            &format!("/warnings/{}/acknowledge", warning.id),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(officer.healthz().await);
    drop(idle);
}

#[tokio::test]
async fn one_address_gets_its_share_of_connections_and_no_more() {
    let env = setup(Settings {
        idle_timeout_s: 120,
        max_connections_per_address: 5,
        ..Settings::default()
    })
    .await;
    let mut mine = Vec::new();
    for _ in 0..8 {
        mine.push(connect_from([127, 0, 3, 1], env.server.addr).await);
    }
    // The three over its share are closed at once; its five stay open.
    for s in &mut mine[5..] {
        assert!(closed_within(s, Duration::from_secs(10)).await);
    }
    for s in &mut mine[..5] {
        assert!(!closed_within(s, Duration::from_millis(200)).await);
    }
    let other = geohazard_testkit::api::Api::from_address(env.server.addr, [127, 0, 3, 2].into());
    assert!(other.healthz().await);
}

#[tokio::test]
async fn open_live_sockets_never_keep_a_sign_in_or_an_acknowledgement_out() {
    let env = setup(Settings {
        max_connections: 20,
        live_max_sockets_per_session: 100,
        ..Settings::default()
    })
    .await;
    let site = fixtures::register_site(&env.store, "GAO-1").await;
    let warning = env
        .raise_warning_from(site, "threshold:mud-1", WarningLevel::Yellow, 25.0)
        .await;
    let token = env.login("gao-duty").await;
    // As many consoles as there are connections: some are told to come back later.
    let mut open = Vec::new();
    let mut refused = 0;
    for _ in 0..20 {
        match tokio_tungstenite::connect_async(env.api.ws_request("/live", &token)).await {
            Ok((socket, _)) => open.push(socket),
            Err(tungstenite::Error::Http(r)) => {
                assert_eq!(r.status(), 503);
                assert!(r.headers().contains_key("retry-after"));
                refused += 1;
            }
            Err(e) => panic!("a live socket neither opened nor refused: {e}"),
        }
    }
    assert!(refused > 0 && !open.is_empty(), "{refused} refused");
    let other = env.login("gao-duty").await;
    let (status, body) = env
        .api
        .post(
            &other,
            &format!("/warnings/{}/acknowledge", warning.id),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(env.api.healthz().await);
}

#[tokio::test]
async fn live_views_are_capped_per_session_and_per_camera() {
    let env = common::start(|config| {
        config.video.live_max_views_per_session = 2;
        config.video.live_max_viewers_per_camera = 3;
    })
    .await;
    env.officer("gao-duty", COUNTY, Role::DutyOfficer).await;
    fixtures::register_gateway(&env.store, "GW-CAM", &[]).await;
    let api = &env.api;
    // No token in the URL: the session goes in a header, as the console's cookie would.
    let view = move |token: String, camera: &'static str| async move {
        api.ws(&format!("/cameras/GW-CAM/{camera}/live"), &token)
            .await
    };

    let (first, second, third) = (
        env.login("gao-duty").await,
        env.login("gao-duty").await,
        env.login("gao-duty").await,
    );
    let a = view(first.clone(), "cam1").await.expect("a first view");
    let _b = view(first.clone(), "cam1").await.expect("a second view");
    assert_eq!(
        view(first.clone(), "cam1").await.err(),
        Some(429),
        "a session's third"
    );
    let _c = view(second.clone(), "cam1")
        .await
        .expect("another session's view");
    assert_eq!(
        view(third.clone(), "cam1").await.err(),
        Some(429),
        "a camera's fourth"
    );
    let _d = view(third.clone(), "cam2").await.expect("another camera");
    drop(a);
    eventually(Duration::from_secs(10), "a view's place given back", || {
        let first = first.clone();
        async move { view(first, "cam2").await.ok().map(|_| ()) }
    })
    .await;
    assert!(env.api.healthz().await);
}

#[tokio::test]
async fn a_nul_or_dot_dot_in_a_camera_route_is_a_bad_request() {
    let env = setup(Settings::default()).await;
    let token = env.login("gao-duty").await;
    for path in [
        "/cameras/GW%00X/cam1/latest",
        "/cameras/GW-X/cam%001/frames",
        "/cameras/GW-X/..%2F..%2Fetc/latest",
        "/cameras/GW-X/.hidden/latest",
    ] {
        let r = env.api.get_response(&token, path).await;
        assert_eq!(json_error(r).await.0, StatusCode::BAD_REQUEST, "{path}");
    }
}

#[tokio::test]
async fn a_sign_in_answer_is_never_cached() {
    let env = setup(Settings::default()).await;
    for password in [PASSWORD, "wrong"] {
        let r = env.api.login("gao-duty", password).await;
        assert_eq!(
            r.headers()
                .get("cache-control")
                .map(|v| v.to_str().unwrap()),
            Some("no-store"),
            "{}",
            r.status()
        );
    }
}
