//! Audio and video in a consultation room, end to end: Janus and two headless Chromium with fake
//! cameras in a network namespace the test creates (Janus skips loopback ICE candidates), the
//! command-center on the host end of its veth pair relaying the signalling. Each browser
//! receives the other's video; chat and a map annotation go between them; a late joiner gets
//! the history and the decision log; a county officer not invited is refused.

mod common;

use std::time::{Duration, Instant};

use common::{NEIGHBOUR, PASSWORD};
use geohazard_command_center::{ConsultSettings, Role};
use geohazard_testkit::api::{StatusCode, next_json};
use geohazard_testkit::browser::{Browser, browser_in};
use geohazard_testkit::fixtures::{CITY, COUNTY, PROVINCE};
use geohazard_testkit::netns::{Janus, NetNs};
use serde_json::{Value, json};

/// Video bytes received from the other participant so far (WebRTC statistics).
async fn inbound_video(b: &Browser) -> i64 {
    let v = b
        .js("const m = window.geohazardConsult && window.geohazardConsult.media;
             if (!m) return 0;
             return m.inboundVideoBytes().then((b) => Object.values(b).reduce((a, x) => a + x, 0));")
        .await;
    v.as_i64().unwrap_or(0)
}

async fn into_room(b: &Browser, room: i64) {
    b.click("#tab-consult").await;
    b.click(&format!("#consult-rooms tr[data-room='{room}']"))
        .await;
    b.until(
        "the room",
        Duration::from_secs(20),
        &format!("return document.querySelector('#consult-room[data-room=\"{room}\"]') !== null"),
    )
    .await;
}

#[tokio::test]
async fn two_browsers_see_each_other_through_janus_and_share_chat_map_and_decisions() {
    let ns = NetNs::create().unwrap_or_else(|e| {
        panic!("the media test needs a network namespace (root, iproute2): {e}")
    });
    let janus = Janus::start(&ns).await;
    let (url, key, host) = (janus.url.clone(), janus.admin_key.clone(), ns.host_ip);
    let env = common::start(move |c| {
        c.listen = std::net::SocketAddr::from((host, 0));
        c.consult = ConsultSettings {
            janus_url: Some(url),
            janus_admin_key: key.into(),
            ..Default::default()
        };
    })
    .await;
    env.add_neighbour().await;
    env.officer("yibin-duty", CITY, Role::DutyOfficer).await;
    env.officer("gao-duty", COUNTY, Role::DutyOfficer).await;
    env.officer("sichuan-duty", PROVINCE, Role::DutyOfficer)
        .await;
    env.officer("cuiping-duty", NEIGHBOUR, Role::DutyOfficer)
        .await;
    let city = env.login("yibin-duty").await;
    let (status, room) = env
        .api
        .post(
            &city,
            "/consult/rooms",
            json!({"title": "高县庆符镇滑坡会商", "invited_divisions": [COUNTY]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{room}");
    let room = room["id"].as_i64().unwrap();

    let origin = format!(
        "--unsafely-treat-insecure-origin-as-secure=http://{}",
        env.api.addr()
    );
    let args = [
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        origin.as_str(),
    ];
    let a = browser_in(&ns, &args).await;
    let b = browser_in(&ns, &args).await;
    a.sign_in(&env.api.console_url(), "yibin-duty", PASSWORD)
        .await;
    b.sign_in(&env.api.console_url(), "gao-duty", PASSWORD)
        .await;
    a.click("#tab-consult").await;
    a.until(
        "the list of rooms",
        Duration::from_secs(10),
        "return document.querySelector('#consult-rooms tr[data-room]') !== null",
    )
    .await;
    a.screenshot("consult-list").await;
    into_room(&a, room).await;
    into_room(&b, room).await;
    a.click("#consult-media-join").await;
    b.click("#consult-media-join").await;

    // Each receives the other's video: the inbound byte count grows.
    for (name, browser) in [("city", &a), ("county", &b)] {
        let first = geohazard_testkit::eventually(
            Duration::from_secs(60),
            &format!("{name} receiving video"),
            || async {
                let n = inbound_video(browser).await;
                (n > 0).then_some(n)
            },
        )
        .await;
        geohazard_testkit::eventually(
            Duration::from_secs(30),
            &format!("{name}'s received video growing"),
            || async { (inbound_video(browser).await > first).then_some(()) },
        )
        .await;
    }
    b.until(
        "a tile per participant",
        Duration::from_secs(10),
        "return document.querySelectorAll('#consult-tiles video').length === 2",
    )
    .await;

    // Chat from the city reaches the county; the county's point on the map reaches the city.
    let sent = Instant::now();
    a.js("document.getElementById('consult-chat-text').value = '请县局报告现场情况'; return true")
        .await;
    a.click("#consult-chat-send").await;
    b.until(
        "the chat line",
        Duration::from_secs(10),
        "return [...document.querySelectorAll('#consult-log .consult-chat')].some((l) => l.textContent.includes('请县局报告现场情况'))",
    )
    .await;
    let chat_latency = sent.elapsed();
    let sent = Instant::now();
    b.js("document.getElementById('consult-draw-label').value = '裂缝'; return true")
        .await;
    b.click("[data-draw='Point']").await;
    b.click("#consult-map").await;
    a.until(
        "the annotation on the map",
        Duration::from_secs(10),
        "return window.geohazardConsult.drawn.getLayers().length === 1",
    )
    .await;
    let annotation_latency = sent.elapsed();
    println!(
        "chat {chat_latency:?}, annotation {annotation_latency:?} (browser to browser, loaded machine)"
    );

    // The city records a decision citing the annotation.
    a.until(
        "the annotation as evidence",
        Duration::from_secs(10),
        "return document.querySelectorAll('#consult-evidence input').length === 1",
    )
    .await;
    a.click("#consult-evidence input").await;
    a.js("document.getElementById('consult-decide-text').value = '立即疏散裂缝下方 12 户'; return true")
        .await;
    a.click("#consult-decide").await;
    b.until(
        "the decision in the log",
        Duration::from_secs(10),
        "return document.querySelector('#consult-decision-log li') !== null",
    )
    .await;
    a.screenshot("consult-room").await;
    b.screenshot("consult-room-county").await;
    a.client.set_window_size(390, 844).await.unwrap();
    a.until(
        "the phone layout",
        Duration::from_secs(5),
        "return getComputedStyle(document.getElementById('consult-room')).gridTemplateColumns.split(' ').length === 1",
    )
    .await;
    a.screenshot("consult-room-phone").await;

    // The province joins late and gets the whole log, the decision with its evidence included.
    let province = env.login("sichuan-duty").await;
    let (mut late, _) = tokio_tungstenite::connect_async(
        env.api
            .ws_request(&format!("/consult/rooms/{room}/socket"), &province),
    )
    .await
    .unwrap();
    let welcome = next_json(&mut late).await;
    let history = welcome["history"].as_array().unwrap();
    let of = |kind: &str| -> Vec<&Value> { history.iter().filter(|e| e["kind"] == kind).collect() };
    assert_eq!(of("chat")[0]["body"]["text"], "请县局报告现场情况");
    let annotation = of("annotation")[0];
    assert_eq!(annotation["body"]["geometry"]["type"], "Point");
    assert_eq!(of("decision")[0]["body"]["text"], "立即疏散裂缝下方 12 户");
    assert_eq!(
        of("decision")[0]["body"]["evidence"],
        json!([annotation["id"]])
    );
    assert_eq!(
        welcome["present"].as_array().unwrap().len(),
        3,
        "{}",
        welcome["present"]
    );

    // A county officer not invited is refused.
    let neighbour = env.login("cuiping-duty").await;
    match tokio_tungstenite::connect_async(
        env.api
            .ws_request(&format!("/consult/rooms/{room}/socket"), &neighbour),
    )
    .await
    {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 404),
        other => panic!("the neighbour county was not refused: {other:?}"),
    }
    a.close().await;
    b.close().await;
    drop(janus);
}
