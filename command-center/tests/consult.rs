//! Consultation rooms over the real API and room sockets: who may enter, what reaches the other
//! participants, what a late joiner is given, refusals of malformed messages, and the signalling
//! relay's refusals against a real Janus (in a network namespace of the test's own).

mod common;

use common::{Center, NEIGHBOUR};
use futures::SinkExt;
use geohazard_command_center::Role;
use geohazard_testkit::api::{StatusCode, next_json};
use geohazard_testkit::fixtures::{CITY, COUNTY, PROVINCE};
use geohazard_testkit::netns::{Janus, NetNs};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

type Ws = geohazard_testkit::api::WsStream;

/// A city duty officer, Gao county's, the province's, and a neighbour county's, signed in.
struct People {
    city: String,
    county: String,
    province: String,
    neighbour: String,
    neighbour_id: i64,
}

async fn people(env: &Center) -> People {
    env.officer("yibin-duty", CITY, Role::DutyOfficer).await;
    env.officer("gao-duty", COUNTY, Role::DutyOfficer).await;
    env.officer("sichuan-duty", PROVINCE, Role::DutyOfficer)
        .await;
    let neighbour_id = env
        .officer("cuiping-duty", NEIGHBOUR, Role::DutyOfficer)
        .await;
    People {
        city: env.login("yibin-duty").await,
        county: env.login("gao-duty").await,
        province: env.login("sichuan-duty").await,
        neighbour: env.login("cuiping-duty").await,
        neighbour_id,
    }
}

/// The city opens a room for an incident in Gao county, inviting Gao county: the room's id and
/// the incident's.
async fn open_room(env: &Center, p: &People) -> (i64, i64) {
    let incident = env.open_incident(&p.city, "GAO-SLIDE").await;
    let (status, room) = env
        .api
        .post(
            &p.city,
            "/consult/rooms",
            json!({"title": "高县滑坡会商 <script>", "incident_id": incident,
                   "invited_divisions": [COUNTY]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{room}");
    (room["id"].as_i64().unwrap(), incident)
}

async fn socket(env: &Center, token: &str, room: i64) -> Result<Ws, u16> {
    env.api
        .ws(&format!("/consult/rooms/{room}/socket"), token)
        .await
}

/// A room socket, past its welcome (returned).
async fn enter(env: &Center, token: &str, room: i64) -> (Ws, Value) {
    let mut ws = socket(env, token, room)
        .await
        .expect("admitted to the room");
    let welcome = next_json(&mut ws).await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    (ws, welcome)
}

async fn say(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// The next stored event of `kind` on the socket (skipping others).
async fn next_event(ws: &mut Ws, kind: &str) -> Value {
    loop {
        let m = next_json(ws).await;
        assert_ne!(m["type"], "error", "refused: {m}");
        if m["type"] == "event" && m["event"]["kind"] == kind {
            return m["event"].clone();
        }
    }
}

/// The next message that is not a stored event.
async fn next_answer(ws: &mut Ws) -> Value {
    loop {
        let m = next_json(ws).await;
        if m["type"] != "event" {
            return m;
        }
    }
}

#[tokio::test]
async fn a_room_is_entered_by_its_division_those_above_and_the_invited_and_no_one_else() {
    let env = common::start(|_| {}).await;
    env.add_neighbour().await;
    let p = people(&env).await;
    let (room, incident) = open_room(&env, &p).await;
    // The city (its own), the province (above) and Gao (invited) see it; Cuiping does not.
    for (who, token) in [
        ("city", &p.city),
        ("province", &p.province),
        ("county", &p.county),
    ] {
        let (status, rooms) = env.api.get(token, "/consult/rooms").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(rooms[0]["id"], room, "{who}: {rooms}");
        let (status, detail) = env.api.get(token, &format!("/consult/rooms/{room}")).await;
        assert_eq!(status, StatusCode::OK, "{who}");
        assert_eq!(detail["room"]["incident_id"], incident);
    }
    let (_, rooms) = env.api.get(&p.neighbour, "/consult/rooms").await;
    assert_eq!(rooms, json!([]));
    let (status, _) = env
        .api
        .get(&p.neighbour, &format!("/consult/rooms/{room}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The county officer not invited is refused at the door, like a room that does not exist.
    assert_eq!(socket(&env, &p.neighbour, room).await.err(), Some(404));
    assert_eq!(socket(&env, &p.city, room + 1000).await.err(), Some(404));
    assert_eq!(socket(&env, &"00".repeat(32), room).await.err(), Some(401));
    // Gao's own room is not the city's business unless the city is below... it is above: seen.
    let (status, gao_room) = env
        .api
        .post(&p.county, "/consult/rooms", json!({"title": "高县内部"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, city_rooms) = env.api.get(&p.city, "/consult/rooms").await;
    assert!(
        city_rooms
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == gao_room["id"])
    );
    let (_, neighbour_rooms) = env.api.get(&p.neighbour, "/consult/rooms").await;
    assert_eq!(neighbour_rooms, json!([]));
    // An officer invited by name enters from another county, and sees the room listed.
    let (_, named) = env
        .api
        .post(
            &p.county,
            "/consult/rooms",
            json!({"title": "点名邀请", "invited_officers": [p.neighbour_id]}),
        )
        .await;
    assert!(
        socket(&env, &p.neighbour, named["id"].as_i64().unwrap())
            .await
            .is_ok()
    );
    let (_, neighbour_rooms) = env.api.get(&p.neighbour, "/consult/rooms").await;
    assert_eq!(neighbour_rooms[0]["id"], named["id"]);
    // Refusals of what a room is opened with, naming the field.
    for (body, field) in [
        (json!({"title": ""}), "title"),
        (json!({"title": "x".repeat(201)}), "title"),
        (
            json!({"title": "x", "invited_divisions": ["999999"]}),
            "invited_divisions",
        ),
        (
            json!({"title": "x", "invited_officers": [987654]}),
            "invited_officers",
        ),
        (json!({"title": "x", "colour": "red"}), "colour"),
    ] {
        let (status, answer) = env.api.post(&p.city, "/consult/rooms", body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(field),
            "{body}: {answer}"
        );
    }
    // A viewer takes part but does not open rooms.
    env.officer("yibin-viewer", CITY, Role::Viewer).await;
    let viewer = env.login("yibin-viewer").await;
    let (status, _) = env
        .api
        .post(&viewer, "/consult/rooms", json!({"title": "x"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(socket(&env, &viewer, room).await.is_ok());
    let opened: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'consult.open'")
            .fetch_one(&env.store.pool)
            .await
            .unwrap();
    assert_eq!(opened, 3);
}

#[tokio::test]
async fn chat_and_drawings_reach_the_others_a_late_joiner_gets_the_whole_log_and_decisions_enter_the_incident_timeline()
 {
    let env = common::start(|_| {}).await;
    env.add_neighbour().await;
    let p = people(&env).await;
    let (room, incident) = open_room(&env, &p).await;
    let (mut city, _) = enter(&env, &p.city, room).await;
    let (mut county, welcome) = enter(&env, &p.county, room).await;
    assert_eq!(welcome["present"].as_array().unwrap().len(), 2, "{welcome}");
    assert_eq!(
        next_event(&mut city, "joined").await["officer_name"],
        "值班员 gao-duty"
    );

    say(
        &mut city,
        json!({"type": "chat", "text": "现场雨量多少？<img src=x onerror=alert(1)>"}),
    )
    .await;
    let chat = next_event(&mut county, "chat").await;
    assert_eq!(
        chat["body"]["text"],
        "现场雨量多少？<img src=x onerror=alert(1)>"
    );
    assert_eq!(chat["division_name"], "宜宾市");
    let polygon = json!({"type": "Polygon", "coordinates":
        [[[104.60, 28.80], [104.62, 28.80], [104.62, 28.82], [104.60, 28.80]]]});
    say(
        &mut county,
        json!({"type": "annotate", "geometry": polygon, "label": "疏散区"}),
    )
    .await;
    let drawn = next_event(&mut city, "annotation").await;
    assert_eq!(drawn["body"]["geometry"], polygon);
    say(
        &mut county,
        json!({"type": "post", "kind": "warning_evidence", "ref": "17", "caption": "泥位超黄线"}),
    )
    .await;
    let posted = next_event(&mut city, "posting").await;
    say(
        &mut city,
        json!({"type": "decide", "text": "疏散 A 区 32 人",
                           "evidence": [posted["id"], drawn["id"]]}),
    )
    .await;
    let decided = next_event(&mut county, "decision").await;
    assert_eq!(
        decided["body"]["evidence"],
        json!([posted["id"], drawn["id"]])
    );

    // Malformed messages are refused naming the field; the socket stays usable.
    for (msg, field) in [
        ("not json".to_owned(), "type"),
        (json!({"type": "chat"}).to_string(), "text"),
        (
            json!({"type": "annotate", "geometry": {"type": "Point", "coordinates": [500, 1]}})
                .to_string(),
            "geometry",
        ),
        (
            json!({"type": "decide", "text": "x", "evidence": [1_000_000]}).to_string(),
            "evidence",
        ),
        (json!({"type": "media.join"}).to_string(), "media"),
        (
            json!({"type": "media.publish", "jsep": {"type": "offer", "sdp": "v=0"}}).to_string(),
            "type",
        ),
        (json!({"type": "media.teleport"}).to_string(), "type"),
    ] {
        county
            .send(Message::Text(msg.clone().into()))
            .await
            .unwrap();
        let answer = next_answer(&mut county).await;
        assert_eq!(answer["type"], "error", "{msg}: {answer}");
        assert_eq!(answer["field"], field, "{msg}: {answer}");
    }

    // The province joins late: everything is there, in order, decision and evidence included.
    let (mut late, welcome) = enter(&env, &p.province, room).await;
    let kinds: Vec<&str> = welcome["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "opened",
            "joined",
            "joined",
            "chat",
            "annotation",
            "posting",
            "decision",
            "joined"
        ]
    );
    assert_eq!(welcome["history"][6]["body"]["text"], "疏散 A 区 32 人");
    assert_eq!(welcome["present"].as_array().unwrap().len(), 3);
    // ...and from then on sees what the others do.
    say(&mut county, json!({"type": "chat", "text": "收到"})).await;
    assert_eq!(next_event(&mut late, "chat").await["body"]["text"], "收到");
    // The decision is audited.
    let audited: Vec<Value> =
        sqlx::query_scalar("SELECT detail FROM audit_log WHERE action = 'consult.decide'")
            .fetch_all(&env.store.pool)
            .await
            .unwrap();
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0]["incident_id"], incident);
    // The incident's timeline reads the decision; the neighbour county reads nothing of it.
    let (_, timeline) = env
        .api
        .get(
            &p.county,
            &format!("/consult/decisions?incident_id={incident}"),
        )
        .await;
    assert_eq!(timeline[0]["body"]["text"], "疏散 A 区 32 人", "{timeline}");
    let (_, theirs) = env
        .api
        .get(
            &p.neighbour,
            &format!("/consult/decisions?incident_id={incident}"),
        )
        .await;
    assert_eq!(theirs, json!([]));
    // The decision is an entry of the incident's own timeline, with who took it and where.
    let (status, detail) = env
        .api
        .get(&p.county, &format!("/incidents/{incident}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    let entry = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "consult_decision")
        .unwrap_or_else(|| panic!("no decision in the timeline: {detail}"));
    assert_eq!(entry["detail"]["text"], "疏散 A 区 32 人", "{entry}");
    assert_eq!(entry["detail"]["room_id"], room, "{entry}");
    assert_eq!(entry["by"], "值班员 yibin-duty", "{entry}");
    let (status, _) = env
        .api
        .get(&p.neighbour, &format!("/incidents/{incident}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A room cannot be opened for an incident its opener cannot see.
    let (status, body) = env
        .api
        .post(
            &p.neighbour,
            "/consult/rooms",
            json!({"title": "翠屏区会商", "incident_id": incident}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // The minutes: a printable page, zh-CN first, the title escaped.
    let r = env
        .api
        .get_response(&p.province, &format!("/consult/rooms/{room}/minutes"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(page.contains("会商纪要") && page.contains("疏散 A 区 32 人"));
    assert!(page.contains("&lt;img src=x") && !page.contains("<img src=x"));
    assert!(page.contains("高县滑坡会商 &lt;script&gt;"));

    // Closing: only the opening division (or one above it) closes; everyone is told, the room
    // takes nothing more, nobody new enters.
    drop(late);
    let (status, _) = env
        .api
        .post(
            &p.county,
            &format!("/consult/rooms/{room}/close"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = env
        .api
        .post(
            &p.province,
            &format!("/consult/rooms/{room}/close"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    next_event(&mut city, "closed").await;
    assert_eq!(socket(&env, &p.city, room).await.err(), Some(409));
    let (status, _) = env
        .api
        .post(&p.city, &format!("/consult/rooms/{room}/close"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

/// A Janus in a namespace of the test's own, and a command-center using it.
async fn with_janus() -> (NetNs, Janus, Center) {
    let ns = NetNs::create().unwrap_or_else(|e| {
        panic!("the media tests need a network namespace (root, iproute2): {e}")
    });
    let janus = Janus::start(&ns).await;
    let env = common::start_with_janus(&ns, &janus, |_| {}).await;
    env.add_neighbour().await;
    (ns, janus, env)
}

#[tokio::test]
async fn the_signalling_relay_refuses_unknown_rooms_other_rooms_feeds_and_malformed_messages() {
    let (_ns, _janus, env) = with_janus().await;
    let p = people(&env).await;
    let (room, _) = open_room(&env, &p).await;
    let (_, other) = env
        .api
        .post(&p.neighbour, "/consult/rooms", json!({"title": "翠屏会商"}))
        .await;
    let other = other["id"].as_i64().unwrap();
    // Unknown room, and a room not admitted to: refused before any signalling.
    assert_eq!(socket(&env, &p.city, 987_654).await.err(), Some(404));
    assert_eq!(socket(&env, &p.county, other).await.err(), Some(404));

    let (mut city, welcome) = enter(&env, &p.city, room).await;
    assert_eq!(welcome["media"], true);
    // Publishing before joining the room's media.
    say(
        &mut city,
        json!({"type": "media.publish", "ref": 1,
                          "jsep": {"type": "offer", "sdp": "v=0\r\n"}}),
    )
    .await;
    let a = next_answer(&mut city).await;
    assert_eq!(
        (a["type"].as_str(), a["ref"].as_i64()),
        (Some("error"), Some(1)),
        "{a}"
    );
    say(&mut city, json!({"type": "media.join", "ref": 2})).await;
    let joined = next_answer(&mut city).await;
    assert_eq!(joined["type"], "media.joined", "{joined}");
    let city_feed = joined["feed"].as_i64().unwrap();

    // The neighbour joins the media of its own room: a feed of another room.
    let (mut neighbour, _) = enter(&env, &p.neighbour, other).await;
    say(&mut neighbour, json!({"type": "media.join"})).await;
    let theirs = next_answer(&mut neighbour).await;
    assert_eq!(theirs["type"], "media.joined", "{theirs}");
    let other_feed = theirs["feed"].as_i64().unwrap();
    assert_ne!(city_feed, other_feed);
    // Neither may receive the other room's feed, nor their own.
    for (from_city, feed) in [(true, other_feed), (false, city_feed), (true, city_feed)] {
        let ws = if from_city { &mut city } else { &mut neighbour };
        say(ws, json!({"type": "media.subscribe", "feed": feed})).await;
        let a = next_answer(ws).await;
        assert_eq!(
            (a["type"].as_str(), a["field"].as_str()),
            (Some("error"), Some("feed")),
            "{a}"
        );
    }
    // Malformed signalling, each refused naming the field.
    for (msg, field) in [
        (json!({"type": "media.publish"}), "jsep"),
        (
            json!({"type": "media.publish", "jsep": {"type": "answer", "sdp": "v=0"}}),
            "jsep",
        ),
        (
            json!({"type": "media.publish", "jsep": {"type": "offer", "sdp": "<script>"}}),
            "jsep",
        ),
        (
            json!({"type": "media.publish", "jsep": {"type": "offer", "sdp": "v=0\r\nnonsense"}}),
            "media",
        ),
        (json!({"type": "media.subscribe", "feed": "all"}), "feed"),
        (
            json!({"type": "media.start", "feed": 5, "jsep": {"type": "answer", "sdp": "v=0"}}),
            "feed",
        ),
        (json!({"type": "media.join"}), "type"),
        (json!({"type": "media.admin", "request": "destroy"}), "type"),
        // A screen: an offer it must carry, one Janus refuses, and stopping what is not shared
        // (the refused offer left no screen behind).
        (json!({"type": "media.screen"}), "jsep"),
        (
            json!({"type": "media.screen", "jsep": {"type": "offer", "sdp": "v=0\r\nnonsense"}}),
            "media",
        ),
        (json!({"type": "media.screen_stop"}), "type"),
        // Whether the others' video comes is a yes or a no.
        (json!({"type": "media.receive", "video": "off"}), "video"),
    ] {
        say(&mut city, msg.clone()).await;
        let a = next_answer(&mut city).await;
        assert_eq!(
            (a["type"].as_str(), a["field"].as_str()),
            (Some("error"), Some(field)),
            "{msg}: {a}"
        );
    }
    // After all that the relay still works: the media room is this room's, and it is destroyed
    // with the room.
    let media_room: Option<i64> =
        sqlx::query_scalar("SELECT media_room FROM consult_rooms WHERE id = $1")
            .bind(room)
            .fetch_one(&env.store.pool)
            .await
            .unwrap();
    assert!(media_room.is_some());
    let (status, _) = env
        .api
        .post(&p.city, &format!("/consult/rooms/{room}/close"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    next_event(&mut city, "closed").await;
}

/// A camera's frame: colour bars, 320×240 (GStreamer's videotestsrc through jpegenc).
const SITE_CAMERA_JPEG: &[u8] = include_bytes!("fixtures/site-camera.jpg");

/// A gateway with a camera: it streams small JPEG frames of `camera` every 200 ms, and hands
/// over the commands it is sent.
async fn camera_gateway(
    env: &Center,
    gateway: &'static str,
    camera: &'static str,
) -> tokio::sync::mpsc::UnboundedReceiver<String> {
    use geohazard_bus::rumqttc::QoS;
    use geohazard_bus::{Bus, BusConfig};
    use geohazard_protocol::Topic;
    let mut config = BusConfig::new(env.broker.url(), gateway);
    config.persistent_session = false;
    let mut bus = Bus::start(
        &config,
        vec![(Topic::command(gateway), QoS::AtLeastOnce)],
        None,
        16,
    )
    .unwrap();
    bus.wait_subscribed(std::time::Duration::from_secs(10))
        .await
        .unwrap();
    let (commands, received) = tokio::sync::mpsc::unbounded_channel();
    let shutdown = env.shutdown.clone();
    let acker = bus.acker();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(200));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {
                    let at = chrono::Utc::now().timestamp_millis();
                    acker.publish(Topic::video(gateway, camera, at), SITE_CAMERA_JPEG.to_vec());
                }
                d = bus.recv() => if let Some(d) = d {
                    let _ = commands.send(String::from_utf8_lossy(d.payload()).into_owned());
                    acker.ack(&d).await;
                }
            }
        }
    });
    received
}

/// A room's camera view as `token`'s officer: the socket, or the refusal's status.
async fn room_camera(env: &Center, token: &str, room: i64) -> Result<Ws, u16> {
    env.api
        .ws(
            &format!("/consult/rooms/{room}/cameras/GW-CAM/cam1/live"),
            token,
        )
        .await
}

#[tokio::test]
async fn a_site_camera_brought_into_a_room_is_watched_by_everyone_in_it_and_by_no_one_else() {
    use futures::StreamExt;
    let env = common::start(|_| {}).await;
    env.add_neighbour().await;
    let p = people(&env).await;
    geohazard_testkit::fixtures::register_gateway(&env.store, "GW-CAM", &[]).await;
    let mut commands = camera_gateway(&env, "GW-CAM", "cam1").await;
    // The city's room with Gao and the neighbour county invited; a second room without them.
    let (status, room) = env
        .api
        .post(
            &p.city,
            "/consult/rooms",
            json!({"title": "高县滑坡视频会商", "invited_divisions": [COUNTY, NEIGHBOUR]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{room}");
    let room = room["id"].as_i64().unwrap();
    let (other, _) = open_room(&env, &p).await;

    // Before anyone brings it in, the camera is nobody's tile.
    assert_eq!(room_camera(&env, &p.neighbour, room).await.err(), Some(404));
    // The neighbour county cannot bring in a camera it may not watch itself.
    let (mut neighbour, _) = enter(&env, &p.neighbour, room).await;
    say(
        &mut neighbour,
        json!({"type": "camera", "gateway": "GW-CAM", "camera": "cam1"}),
    )
    .await;
    let refused = next_answer(&mut neighbour).await;
    assert_eq!(
        (refused["type"].as_str(), refused["field"].as_str()),
        (Some("error"), Some("gateway")),
        "{refused}"
    );
    // Gao brings its camera in: everyone in the room is told.
    let (mut county, _) = enter(&env, &p.county, room).await;
    say(
        &mut county,
        json!({"type": "camera", "gateway": "GW-CAM", "camera": "../cam1"}),
    )
    .await;
    assert_eq!(next_answer(&mut county).await["field"], "camera");
    say(
        &mut county,
        json!({"type": "camera", "gateway": "GW-CAM", "camera": "cam1"}),
    )
    .await;
    let brought = next_event(&mut neighbour, "camera").await;
    assert_eq!(
        brought["body"],
        json!({"gateway": "GW-CAM", "camera": "cam1"})
    );

    // The invited neighbour watches it through the room: the bridge is told to stream, and
    // the frames arrive.
    let mut view = room_camera(&env, &p.neighbour, room)
        .await
        .expect("the room's camera view");
    let told = tokio::time::timeout(std::time::Duration::from_secs(10), commands.recv())
        .await
        .expect("the gateway is sent a command")
        .unwrap();
    assert!(
        told.contains("live_view") && told.contains("start"),
        "{told}"
    );
    let frame = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            match view.next().await {
                Some(Ok(Message::Binary(b))) => return b,
                Some(Ok(_)) => continue,
                other => panic!("the view ended: {other:?}"),
            }
        }
    })
    .await
    .expect("a frame within 10 s");
    assert_eq!(&frame[..3], &[0xFF, 0xD8, 0xFF]);
    // Outside the room the neighbour still may not watch it; and a room it is not in shows
    // it nothing.
    assert_eq!(
        env.api
            .ws("/cameras/GW-CAM/cam1/live", &p.neighbour)
            .await
            .err(),
        Some(404),
        "a camera out of scope"
    );
    assert_eq!(
        room_camera(&env, &p.neighbour, other).await.err(),
        Some(404)
    );
    // The view is audited with its room.
    let audited: Vec<Value> = sqlx::query_scalar(
        "SELECT detail FROM audit_log WHERE action = 'video.live_view' AND target = 'camera:GW-CAM/cam1'",
    )
    .fetch_all(&env.store.pool)
    .await
    .unwrap();
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert_eq!(audited[0]["consult_room"], room);

    // In the console, the invited neighbour's room shows the camera as a live tile.
    let b = geohazard_testkit::browser::browser().await;
    b.sign_in(&env.api.console_url(), "cuiping-duty", common::PASSWORD)
        .await;
    b.click("#tab-consult").await;
    b.click(&format!("#consult-rooms tr[data-room='{room}']"))
        .await;
    b.until(
        "live frames in the camera's tile",
        std::time::Duration::from_secs(20),
        "const t = document.querySelector('.consult-camera[data-camera=\"GW-CAM/cam1\"]'); \
         return t && Number(t.dataset.frames) >= 3",
    )
    .await;
    b.screenshot("consult-site-camera").await;
    b.close().await;
}
