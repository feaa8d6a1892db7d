//! Audio and video in a consultation room, end to end: Janus and two headless Chromium with fake
//! cameras in a network namespace the test creates (Janus skips loopback ICE candidates), the
//! command-center on the host end of its veth pair relaying the signalling. Each browser
//! receives the other's video; chat and a map annotation go between them; a late joiner gets
//! the history and the decision log; a county officer not invited is refused.

mod common;

use std::time::{Duration, Instant};

use common::{NEIGHBOUR, PASSWORD};
use geohazard_command_center::Role;
use geohazard_testkit::api::{StatusCode, next_json};
use geohazard_testkit::browser::Browser;
use geohazard_testkit::fixtures::{CITY, COUNTY, PROVINCE};
use geohazard_testkit::netns::{Janus, NetNs};
use serde_json::{Value, json};

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
    let env = common::start_with_janus(&ns, &janus, |_| {}).await;
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

    let a = env.media_browser(&ns).await;
    let b = env.media_browser(&ns).await;
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
        receives(browser, &format!("{name} receiving video"), "video", false).await;
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
    a.set_window_size(390, 844).await;
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

/// Bytes of `kind` ("audio" or "video") `b` has received from the others' cameras, or with
/// `screen` from their shared screens (WebRTC statistics).
async fn inbound(b: &Browser, kind: &str, screen: bool) -> i64 {
    b.js(&format!(
        "const m = window.geohazardConsult && window.geohazardConsult.media;
         if (!m) return 0;
         return m.inboundBytes('{kind}').then((bytes) => [...m.feeds]
           .filter(([, f]) => f.screen === {screen})
           .reduce((sum, [feed]) => sum + (bytes[String(feed)] || 0), 0));"
    ))
    .await
    .as_i64()
    .unwrap_or(0)
}

/// Waits until `b` receives `kind` from cameras (or `screen`s) and what it has received grows.
async fn receives(b: &Browser, what: &str, kind: &str, screen: bool) {
    let first = geohazard_testkit::eventually(Duration::from_secs(60), what, || async {
        let n = inbound(b, kind, screen).await;
        (n > 0).then_some(n)
    })
    .await;
    geohazard_testkit::eventually(
        Duration::from_secs(60),
        &format!("{what}, growing"),
        || async { (inbound(b, kind, screen).await > first).then_some(()) },
    )
    .await;
}

/// Waits until, between two readings of `b`'s statistics, the camera video it receives stands
/// still while the sound it receives grows.
async fn video_stopped_sound_flowing(b: &Browser, what: &str) {
    geohazard_testkit::eventually(Duration::from_secs(60), what, || async {
        let (video, sound) = (
            inbound(b, "video", false).await,
            inbound(b, "audio", false).await,
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (video2, sound2) = (
            inbound(b, "video", false).await,
            inbound(b, "audio", false).await,
        );
        (video2 == video && sound2 > sound).then_some(())
    })
    .await;
}

/// A call in a room: the city's duty officer in a browser in `city_ns`, the county's in `ns`
/// (with Janus), both headless Chromium with fake devices, both sending camera and microphone
/// and each receiving the other's video.
struct Call {
    city: Browser,
    county: Browser,
    room: i64,
    env: common::Center,
    _janus: Janus,
}

impl Call {
    async fn start(ns: &NetNs, city_ns: &NetNs) -> Call {
        let janus = Janus::start(ns).await;
        let env = common::start_with_janus(ns, &janus, |_| {}).await;
        env.officer("yibin-duty", CITY, Role::DutyOfficer).await;
        env.officer("gao-duty", COUNTY, Role::DutyOfficer).await;
        let token = env.login("yibin-duty").await;
        let (status, room) = env
            .api
            .post(
                &token,
                "/consult/rooms",
                json!({"title": "高县庆符镇滑坡会商", "invited_divisions": [COUNTY]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{room}");
        let room = room["id"].as_i64().unwrap();
        let city = env.media_browser(city_ns).await;
        let county = env.media_browser(ns).await;
        for (b, user) in [(&city, "yibin-duty"), (&county, "gao-duty")] {
            b.sign_in(&env.api.console_url(), user, PASSWORD).await;
            into_room(b, room).await;
            b.click("#consult-media-join").await;
        }
        receives(
            &county,
            "the county receiving the city's video",
            "video",
            false,
        )
        .await;
        receives(
            &city,
            "the city receiving the county's video",
            "video",
            false,
        )
        .await;
        Call {
            city,
            county,
            room,
            env,
            _janus: janus,
        }
    }

    async fn end(self) {
        self.city.close().await;
        self.county.close().await;
    }
}

/// The log lines of `kind` on `b`'s room page, once there are `n` of them.
async fn log_lines(b: &Browser, kind: &str, n: usize) -> Value {
    b.until(
        &format!("{n} {kind} lines in the room's log"),
        Duration::from_secs(10),
        &format!(
            "const lines = [...document.querySelectorAll('#consult-log .consult-{kind}')];
             return lines.length === {n} && lines.map((l) => l.textContent)"
        ),
    )
    .await
}

#[tokio::test]
async fn a_shared_screen_reaches_the_other_side_as_a_feed_of_its_own_and_ends_cleanly() {
    let ns = NetNs::create().expect("a network namespace (root, iproute2)");
    let call = Call::start(&ns, &ns).await;
    let (city, county) = (&call.city, &call.county);

    city.click("#consult-media-screen").await;
    receives(
        county,
        "the county receiving the city's screen",
        "video",
        true,
    )
    .await;
    county
        .until(
            "the screen's tile",
            Duration::from_secs(10),
            "return [...document.querySelectorAll('#consult-tiles .consult-screen figcaption')]
               .some((c) => c.textContent.includes('共享屏幕'))",
        )
        .await;
    let sharing = city
        .js("return [document.getElementById('consult-media-screen').textContent,
                     document.getElementById('consult-media-state').textContent,
                     window.geohazardConsult.media.screen.stream.getVideoTracks()[0].getSettings().displaySurface]")
        .await;
    assert_eq!(sharing[0], "停止共享", "{sharing}");
    assert!(
        sharing[1].as_str().unwrap().contains("正在共享屏幕"),
        "{sharing}"
    );
    assert_eq!(sharing[2], "monitor", "a screen, not the camera: {sharing}");
    let shared = log_lines(county, "screen_shared", 1).await;
    assert!(
        shared[0].as_str().unwrap().contains("值班员 yibin-duty")
            && shared[0].as_str().unwrap().contains("开始共享屏幕"),
        "{shared}"
    );
    county.screenshot("consult-screen-shared").await;
    city.screenshot("consult-screen-sharing").await;

    // Stopping: the screen's feed leaves the county's page, the city's camera goes on.
    city.click("#consult-media-screen").await;
    county
        .until(
            "the screen's feed gone",
            Duration::from_secs(20),
            "const m = window.geohazardConsult.media;
             return ![...m.feeds.values()].some((f) => f.screen)
               && document.querySelector('#consult-tiles .consult-screen') === null",
        )
        .await;
    let stopped = city
        .js("return [window.geohazardConsult.media.screen === null,
                     document.getElementById('consult-media-screen').textContent,
                     document.getElementById('consult-media-state').hidden]")
        .await;
    assert_eq!(stopped, json!([true, "共享屏幕", true]));
    let ended = log_lines(county, "screen_stopped", 1).await;
    assert!(
        ended[0].as_str().unwrap().contains("停止共享屏幕"),
        "{ended}"
    );
    receives(
        county,
        "the city's camera after the sharing",
        "video",
        false,
    )
    .await;
    // And it can be shared again (the relay let go of the first).
    city.click("#consult-media-screen").await;
    receives(county, "the city's screen shared again", "video", true).await;
    log_lines(city, "screen_shared", 2).await;

    // The city leaves the call while sharing: that sharing ends in the log too.
    city.click("#consult-media-leave").await;
    log_lines(county, "screen_stopped", 2).await;

    // Late, the province gets the starts and ends in the history, in order, each with its
    // feed and who shared; the minutes list them.
    let env = &call.env;
    env.officer("sichuan-duty", PROVINCE, Role::DutyOfficer)
        .await;
    let province = env.login("sichuan-duty").await;
    let (mut late, _) = tokio_tungstenite::connect_async(
        env.api
            .ws_request(&format!("/consult/rooms/{}/socket", call.room), &province),
    )
    .await
    .unwrap();
    let welcome = next_json(&mut late).await;
    let screens: Vec<(String, String, bool)> = welcome["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"].as_str().unwrap().starts_with("screen_"))
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_owned(),
                e["officer_name"].as_str().unwrap().to_owned(),
                e["body"]["feed"].as_i64().is_some_and(|f| f > 0),
            )
        })
        .collect();
    let city_name = "值班员 yibin-duty".to_owned();
    assert_eq!(
        screens,
        [
            ("screen_shared".into(), city_name.clone(), true),
            ("screen_stopped".into(), city_name.clone(), true),
            ("screen_shared".into(), city_name.clone(), true),
            ("screen_stopped".into(), city_name, true),
        ]
    );
    let r = env
        .api
        .get_response(&province, &format!("/consult/rooms/{}/minutes", call.room))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let minutes = r.text().await.unwrap();
    assert_eq!(minutes.matches("共享屏幕 Screen shared").count(), 2);
    assert_eq!(
        minutes.matches("停止共享屏幕 Screen sharing ended").count(),
        2
    );
    // Scoped like the rest of the room: the neighbour county sees none of it.
    env.add_neighbour().await;
    env.officer("cuiping-duty", NEIGHBOUR, Role::DutyOfficer)
        .await;
    let neighbour = env.login("cuiping-duty").await;
    let r = env
        .api
        .get_response(&neighbour, &format!("/consult/rooms/{}/minutes", call.room))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    call.end().await;
}

#[tokio::test]
async fn audio_only_stops_video_both_ways_keeps_the_sound_and_can_be_undone() {
    let ns = NetNs::create().expect("a network namespace (root, iproute2)");
    let call = Call::start(&ns, &ns).await;
    let (city, county) = (&call.city, &call.county);

    city.click("#consult-media-audio").await;
    video_stopped_sound_flowing(county, "the city's video stopped, its sound flowing").await;
    video_stopped_sound_flowing(
        city,
        "the county's video no longer reaching the city, its sound still",
    )
    .await;
    let shown = city
        .js(
            "return [document.getElementById('consult-media-audio').textContent,
                     document.getElementById('consult-media-state').textContent,
                     window.geohazardConsult.media.local.getVideoTracks().length]",
        )
        .await;
    assert_eq!(shown[0], "恢复视频", "{shown}");
    assert!(shown[1].as_str().unwrap().contains("仅音频"), "{shown}");
    assert_eq!(shown[2], 0, "the camera is released: {shown}");
    city.screenshot("consult-audio-only").await;

    // Undone: the same button brings the video back, both ways.
    city.click("#consult-media-audio").await;
    receives(county, "the city's video again", "video", false).await;
    receives(
        city,
        "the county's video reaching the city again",
        "video",
        false,
    )
    .await;
    assert_eq!(
        city.js("return document.getElementById('consult-media-audio').textContent")
            .await,
        "仅音频"
    );
    call.end().await;
}

#[tokio::test]
async fn a_participant_on_a_weak_link_falls_back_to_audio_only_both_ways_is_told_and_can_restore_video()
 {
    let ns = NetNs::create().expect("a network namespace (root, iproute2)");
    // The city's browser on a link of its own, whose media the test makes weak.
    let city_ns = ns.behind().expect("a second namespace behind the first");
    let call = Call::start(&ns, &city_ns).await;
    let (city, county) = (&call.city, &call.county);
    let healthy = city
        .js("return window.geohazardConsult.media.audioOnly")
        .await;
    assert_eq!(healthy, false, "no fallback on a healthy link");

    // The media the city sends (UDP) down to 48 kbit/s, what does not fit in 300 ms of queue
    // dropped; its driver, page and room socket (TCP) keep the full link, so every call the
    // test makes to the city's browser answers as before.
    city_ns.weaken_media(48).unwrap();
    city.until(
        "the fallback to audio only, said in Chinese",
        Duration::from_secs(90),
        "const m = window.geohazardConsult.media;
         const box = document.getElementById('consult-media-state');
         return m.audioOnly && m.weak !== null && !box.hidden && box.classList.contains('weak')
           && box.textContent.includes('网络较弱') && box.textContent.includes('已自动切换为仅音频')",
    )
    .await;
    let reading = city.js("return window.geohazardConsult.media.weak").await;
    println!("the reading that made it fall back: {reading}");
    video_stopped_sound_flowing(county, "the city's video stopped on the weak link").await;
    video_stopped_sound_flowing(city, "the county's video no longer sent to the weak city").await;
    city.screenshot("consult-weak-link").await;

    // The link recovers; the notice stays until the officer restores the video from it.
    city_ns.restore_media().unwrap();
    city.click("#consult-video-back").await;
    receives(county, "the city's video restored", "video", false).await;
    receives(
        city,
        "the county's video reaching the city again",
        "video",
        false,
    )
    .await;
    let after = city
        .js("return [window.geohazardConsult.media.audioOnly, document.getElementById('consult-media-state').hidden]")
        .await;
    assert_eq!(after, json!([false, true]));
    call.end().await;
    drop(city_ns);
}
