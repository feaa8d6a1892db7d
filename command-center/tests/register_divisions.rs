//! The register's divisions, threat zones, attachments and sensors through the API against a
//! real PostgreSQL: divisions imported from GeoJSON (every bad feature named, nothing stored
//! while any is bad, a known code updated) and renamed; a site's threat zone checked (a valid
//! polygon near the site); photos and documents checked by content, listed, downloaded and
//! deleted; sensors registered and edited. A county officer reaches none of another county's;
//! every change is in the audit log with before and after.

mod common;

use common::{Center, NEIGHBOUR, collection, feature, square};
use geohazard_command_center::Role;
use geohazard_testkit::api::StatusCode;
use geohazard_testkit::fixtures::{CITY, COUNTY};
use reqwest::Method;
use serde_json::{Value, json};

/// A 1×1 PNG.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

async fn setup() -> Center {
    let env = common::with_county_admins().await;
    env.officer("gao-viewer", COUNTY, Role::Viewer).await;
    env
}

fn png() -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(PNG)
        .unwrap()
}

struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
    bytes: Vec<u8>,
}

async fn send(
    env: &Center,
    method: Method,
    token: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Answer {
    let mut r = env
        .api
        .http
        .request(method, env.api.url(path))
        .bearer_auth(token);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    if let Some(b) = body {
        r = r.body(b);
    }
    let r = r.send().await.expect("the API answers");
    let status = r.status();
    let headers = r.headers().clone();
    let bytes = r.bytes().await.unwrap().to_vec();
    Answer {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        bytes,
    }
}

async fn json_call(env: &Center, method: Method, token: &str, path: &str, body: Value) -> Answer {
    send(
        env,
        method,
        token,
        path,
        &[("content-type", "application/json")],
        Some(body.to_string().into_bytes()),
    )
    .await
}

async fn import(env: &Center, token: &str, query: &str, file: &Value) -> Answer {
    send(
        env,
        Method::POST,
        token,
        &format!("/divisions/import{query}"),
        &[("content-type", "application/geo+json")],
        Some(file.to_string().into_bytes()),
    )
    .await
}

/// Gao's township 沙河镇 (code as text), two squares as a MultiPolygon.
fn shahe() -> Value {
    feature(
        json!({"code": "511525102", "name": "沙河镇"}),
        json!({"type": "MultiPolygon", "coordinates": [square(104.6, 28.7, 0.05)["coordinates"], square(104.7, 28.7, 0.05)["coordinates"]]}),
    )
}

/// The audit entries of `action`: (target, detail), oldest first.
async fn audited(env: &Center, action: &str) -> Vec<(String, Value)> {
    sqlx::query_as("SELECT target, detail FROM audit_log WHERE action = $1 ORDER BY id")
        .bind(action)
        .fetch_all(&env.store.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_county_admin_imports_townships_from_geojson_reimports_and_renames_each_audited_with_before_and_after()
 {
    let env = setup().await;
    let admin = env.login("gao-admin").await;
    // DataV's spelling: adcode as a number, the parent as an object; a MultiPolygon too.
    let file = collection(vec![
        feature(
            json!({"adcode": 511525101, "name": "庆符镇", "parent": {"adcode": 511525}}),
            square(104.5, 28.7, 0.05),
        ),
        shahe(),
    ]);
    let a = import(&env, &admin, "?filename=高县乡镇.geojson", &file).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["created"], 2);
    let stored: Vec<(String, String, String, Option<String>, bool)> = sqlx::query_as(
        "SELECT code, name, level, parent_code, boundary IS NOT NULL FROM divisions
         WHERE code LIKE '511525%' ORDER BY code",
    )
    .fetch_all(&env.store.pool)
    .await
    .unwrap();
    assert_eq!(
        stored,
        vec![
            (
                "511525".into(),
                "高县".into(),
                "county".into(),
                Some(CITY.into()),
                false
            ),
            (
                "511525101".into(),
                "庆符镇".into(),
                "township".into(),
                Some(COUNTY.into()),
                true
            ),
            (
                "511525102".into(),
                "沙河镇".into(),
                "township".into(),
                Some(COUNTY.into()),
                true
            ),
        ]
    );
    // The new townships are in the officer's scope at once: the list shows them.
    let (status, divisions) = env.api.get(&admin, "/divisions").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(divisions.as_array().unwrap().len(), 3);

    // Re-import: a new name for one, the other as it was; the county's own boundary given.
    let again = collection(vec![
        feature(
            json!({"adcode": 511525101, "name": "庆符镇（新）"}),
            square(104.5, 28.7, 0.05),
        ),
        shahe(),
        feature(
            json!({"code": COUNTY, "name": "高县"}),
            square(104.4, 28.6, 0.5),
        ),
    ]);
    let a = import(&env, &admin, "", &again).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(
        (&a.body["created"], &a.body["updated"], &a.body["unchanged"]),
        (&json!(0), &json!(2), &json!(1))
    );

    // A name edited by hand.
    let a = json_call(
        &env,
        Method::PUT,
        &admin,
        "/divisions/511525102",
        json!({"name": "沙河镇人民政府驻地"}),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["name"], "沙河镇人民政府驻地");

    let created = audited(&env, "division.create").await;
    assert_eq!(created.len(), 2);
    assert_eq!(created[0].0, "division:511525101");
    assert_eq!(created[0].1["before"], Value::Null);
    assert_eq!(created[0].1["after"]["name"], "庆符镇");
    assert_eq!(created[0].1["source"], "高县乡镇.geojson");
    let updated = audited(&env, "division.update").await;
    let targets: Vec<&str> = updated.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        targets,
        [
            "division:511525",
            "division:511525101",
            "division:511525102"
        ]
    );
    assert_eq!(updated[0].1["before"]["boundary"], Value::Null);
    assert_eq!(updated[0].1["after"]["boundary"]["type"], "Polygon");
    assert_eq!(updated[1].1["before"]["name"], "庆符镇");
    assert_eq!(updated[1].1["after"]["name"], "庆符镇（新）");
    assert_eq!(updated[2].1["before"]["name"], "沙河镇");
    assert_eq!(updated[2].1["after"]["name"], "沙河镇人民政府驻地");
    assert_eq!(audited(&env, "division.import").await.len(), 2);

    // A viewer may read but not import or rename.
    let viewer = env.login("gao-viewer").await;
    assert_eq!(
        import(&env, &viewer, "", &again).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        json_call(
            &env,
            Method::PUT,
            &viewer,
            "/divisions/511525102",
            json!({"name": "x"})
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_bad_geojson_file_is_refused_feature_by_feature_in_the_officers_language_and_imports_nothing()
 {
    let env = setup().await;
    let admin = env.login("gao-admin").await;
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM divisions")
        .fetch_one(&env.store.pool)
        .await
        .unwrap();
    let file = collection(vec![
        // 1: good.
        feature(
            json!({"code": "511525101", "name": "庆符镇"}),
            square(104.5, 28.7, 0.05),
        ),
        // 2: not a GB/T 2260 code.
        feature(
            json!({"code": "51152X", "name": "错码"}),
            square(104.5, 28.7, 0.05),
        ),
        // 3: a boundary crossing itself, and no name.
        feature(
            json!({"code": "511525103"}),
            json!({"type": "Polygon", "coordinates": [[[104.0, 28.0], [104.1, 28.1], [104.1, 28.0], [104.0, 28.1], [104.0, 28.0]]]}),
        ),
        // 4: a line is no boundary.
        feature(
            json!({"code": "511525104", "name": "线"}),
            json!({"type": "LineString", "coordinates": [[104.0, 28.0], [104.1, 28.1]]}),
        ),
        // 5: the neighbour county's township.
        feature(
            json!({"code": "511502001", "name": "邻县镇"}),
            square(104.5, 28.7, 0.05),
        ),
        // 6: a duplicate of 1.
        feature(
            json!({"code": "511525101", "name": "重复"}),
            square(104.5, 28.7, 0.05),
        ),
        // 7: a parent that the code does not imply.
        feature(
            json!({"code": "511525105", "name": "错上级", "parent": NEIGHBOUR}),
            Value::Null,
        ),
    ]);
    let a = import(&env, &admin, "", &file).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert_eq!(a.body["code"], "import_refused");
    assert_eq!(a.body["bad_features"], 6);
    assert_eq!(a.body["error"], "文件有 6 个要素有错误，未导入任何数据");
    let lines: Vec<(u64, String, String, String)> = a.body["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["feature"].as_u64().unwrap(),
                p["field"].as_str().unwrap().to_owned(),
                p["reason"].as_str().unwrap().to_owned(),
                p["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expect = |n: u64, f: &str, r: &str, m: &str| (n, f.to_owned(), r.to_owned(), m.to_owned());
    assert_eq!(
        lines,
        vec![
            expect(
                2,
                "code",
                "bad_division_code",
                "行政区划代码格式错误（GB/T 2260：6 位数字，乡镇 9 位）"
            ),
            expect(3, "name", "required", "必填项为空"),
            expect(
                3,
                "geometry",
                "bad_geometry",
                "边界不是有效的多边形（Polygon 或 MultiPolygon，WGS 84）"
            ),
            expect(
                4,
                "geometry",
                "bad_geometry",
                "边界不是有效的多边形（Polygon 或 MultiPolygon，WGS 84）"
            ),
            expect(5, "code", "out_of_scope", "不在本级管辖范围内"),
            expect(6, "code", "duplicate_code", "编号重复（已被使用）"),
            expect(7, "parent", "parent_mismatch", "上级代码与行政区划代码不符"),
        ]
    );
    assert_eq!(a.body["problems"][0]["value"], "51152X");
    assert_eq!(a.body["problems"][4]["value"], "511502001");
    // The same report in English.
    let en = import(&env, &admin, "?lang=en", &file).await;
    assert_eq!(
        en.body["error"],
        "6 features have errors: nothing was imported"
    );
    assert_eq!(
        en.body["problems"][4]["message"],
        "Not within your divisions"
    );
    // Nothing was stored, not even the good feature.
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM divisions")
        .fetch_one(&env.store.pool)
        .await
        .unwrap();
    assert_eq!(after, before);
    assert!(audited(&env, "division.create").await.is_empty());
    // Not GeoJSON at all: one line saying so.
    let a = send(
        &env,
        Method::POST,
        &admin,
        "/divisions/import",
        &[],
        Some(b"code,name\n511525101,x\n".to_vec()),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(a.body["code"], "unreadable_file");
}

#[tokio::test]
async fn a_threat_zone_is_stored_only_as_a_valid_polygon_near_its_site_audited_with_before_and_after()
 {
    let env = setup().await;
    let admin = env.login("gao-admin").await;
    let site = env.landslide("GX-Z1", COUNTY, 10).await;
    let entry = send(
        &env,
        Method::GET,
        &admin,
        &format!("/sites/{site}/register"),
        &[],
        None,
    )
    .await;
    let etag = entry.headers["etag"].to_str().unwrap().to_owned();
    let mut record = entry.body.clone();
    for k in ["id", "version", "retired_at"] {
        record.as_object_mut().unwrap().remove(k);
    }
    let put = |zone: Value, lon: f64, etag: String| {
        let mut r = record.clone();
        r["threat_zone"] = zone;
        r["longitude"] = json!(lon);
        let env = &env;
        let admin = admin.clone();
        async move {
            send(
                env,
                Method::PUT,
                &admin,
                &format!("/sites/{site}"),
                &[("content-type", "application/json"), ("if-match", &etag)],
                Some(r.to_string().into_bytes()),
            )
            .await
        }
    };
    let bow_tie = json!({"type": "Polygon", "coordinates": [[[104.59, 28.79], [104.61, 28.81], [104.61, 28.79], [104.59, 28.81], [104.59, 28.79]]]});
    let a = put(bow_tie, 104.6, etag.clone()).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert_eq!(a.body["problems"][0]["reason"], "bad_threat_zone");
    // A zone 20 km away was drawn around something else.
    let a = put(square(104.8, 28.8, 0.01), 104.6, etag.clone()).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert_eq!(a.body["problems"][0]["field"], "threat_zone");
    assert_eq!(a.body["problems"][0]["reason"], "threat_zone_far");
    // Drawn around the site, and the site moved a little: stored.
    let zone = square(104.595, 28.795, 0.01);
    let a = put(zone.clone(), 104.601, etag.clone()).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let stored: (Value, f64) =
        sqlx::query_as("SELECT threat_zone, longitude FROM hazard_sites WHERE id = $1")
            .bind(site)
            .fetch_one(&env.store.pool)
            .await
            .unwrap();
    assert_eq!(stored, (zone.clone(), 104.601));
    let updates = audited(&env, "site.update").await;
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].1["before"]["threat_zone"], Value::Null);
    assert_eq!(updates[0].1["after"]["threat_zone"], zone);
    assert_eq!(updates[0].1["before"]["longitude"], 104.6);
    assert_eq!(updates[0].1["after"]["longitude"], 104.601);

    // The neighbour county's admin cannot reach the site's zone at all.
    let other = env.login("cp-admin").await;
    let a = send(
        &env,
        Method::PUT,
        &other,
        &format!("/sites/{site}"),
        &[("content-type", "application/json"), ("if-match", "\"2\"")],
        Some(
            json!({"threat_zone": square(104.6, 28.8, 0.02)})
                .to_string()
                .into_bytes(),
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let a = send(
        &env,
        Method::GET,
        &other,
        &format!("/sites/{site}/register"),
        &[],
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn photos_and_documents_are_taken_by_content_listed_downloaded_and_deleted_each_audited() {
    let env = setup().await;
    let admin = env.login("gao-admin").await;
    let site = env.landslide("GX-A1", COUNTY, 10).await;
    let upload = |name: &str, bytes: Vec<u8>| {
        let path = format!("/sites/{site}/attachments?filename={}", url_escape(name));
        let env = &env;
        let admin = admin.clone();
        async move {
            send(
                env,
                Method::POST,
                &admin,
                &path,
                &[("content-type", "application/octet-stream")],
                Some(bytes),
            )
            .await
        }
    };
    let photo = upload("坡体裂缝.png", png()).await;
    assert_eq!(photo.status, StatusCode::CREATED, "{}", photo.body);
    assert_eq!(photo.body["content_type"], "image/png");
    assert_eq!(photo.body["uploaded_by"], "值班员 gao-admin");
    let pdf = upload(
        "勘查报告.pdf",
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n".to_vec(),
    )
    .await;
    assert_eq!(pdf.status, StatusCode::CREATED, "{}", pdf.body);

    // Refused by content, whatever the name says, or by size.
    let a = upload(
        "photo.jpg",
        b"<html><script>alert(1)</script></html>".to_vec(),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(
        a.body["error"].as_str().unwrap().contains("按内容识别"),
        "{}",
        a.body
    );
    let a = upload("报告.pdf", png()).await;
    assert_eq!(
        a.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "a PNG named a PDF"
    );
    let mut big = png();
    big.resize(10 * 1024 * 1024 + 1, 0);
    let a = upload("big.png", big).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);

    let list = send(
        &env,
        Method::GET,
        &admin,
        &format!("/sites/{site}/attachments"),
        &[],
        None,
    )
    .await;
    let names: Vec<&str> = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["filename"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["坡体裂缝.png", "勘查报告.pdf"]);

    let id = photo.body["id"].as_i64().unwrap();
    let got = send(
        &env,
        Method::GET,
        &admin,
        &format!("/site-attachments/{id}"),
        &[],
        None,
    )
    .await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.bytes, png());
    assert_eq!(got.headers["content-type"], "image/png");
    assert_eq!(got.headers["x-content-type-options"], "nosniff");
    assert!(
        got.headers["content-disposition"]
            .to_str()
            .unwrap()
            .ends_with("filename*=UTF-8''%E5%9D%A1%E4%BD%93%E8%A3%82%E7%BC%9D.png")
    );

    // The neighbour county's admin sees, reads and deletes none of it.
    let other = env.login("cp-admin").await;
    for (method, path) in [
        (Method::GET, format!("/sites/{site}/attachments")),
        (Method::GET, format!("/site-attachments/{id}")),
        (Method::DELETE, format!("/site-attachments/{id}")),
    ] {
        let a = send(&env, method.clone(), &other, &path, &[], None).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{method} {path}");
    }
    let a = send(
        &env,
        Method::POST,
        &other,
        &format!("/sites/{site}/attachments?filename=x.png"),
        &[("content-type", "application/octet-stream")],
        Some(png()),
    )
    .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    // A viewer of the county reads but does not delete.
    let viewer = env.login("gao-viewer").await;
    let a = send(
        &env,
        Method::GET,
        &viewer,
        &format!("/site-attachments/{id}"),
        &[],
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    let a = send(
        &env,
        Method::DELETE,
        &viewer,
        &format!("/site-attachments/{id}"),
        &[],
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);

    let a = send(
        &env,
        Method::DELETE,
        &admin,
        &format!("/site-attachments/{id}"),
        &[],
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    let a = send(
        &env,
        Method::GET,
        &admin,
        &format!("/site-attachments/{id}"),
        &[],
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);

    let attached = audited(&env, "site.attach").await;
    assert_eq!(attached.len(), 2);
    assert_eq!(attached[0].0, format!("site:{site}"));
    assert_eq!(attached[0].1["before"], Value::Null);
    assert_eq!(attached[0].1["after"]["filename"], "坡体裂缝.png");
    let detached = audited(&env, "site.detach").await;
    assert_eq!(detached.len(), 1);
    assert_eq!(detached[0].1["before"]["filename"], "坡体裂缝.png");
    assert_eq!(detached[0].1["after"], Value::Null);
}

fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"._-".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn an_admin_registers_and_edits_a_sensor_on_their_gateway_and_another_county_cannot() {
    let env = setup().await;
    let admin = env.login("gao-admin").await;
    let site = env.landslide("GX-S1", COUNTY, 10).await;
    let theirs = env.landslide("CP-S1", NEIGHBOUR, 10).await;
    let a = json_call(
        &env,
        Method::POST,
        &admin,
        "/register/gateways",
        json!({"code": "gw-gx-s1", "name": "高县网关", "site_id": site}),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let input = json!({
        "gateway_code": "gw-gx-s1", "channel": "crack-9", "site_id": site, "kind": "crack_meter",
        "unit": "mm", "sampling_interval_s": 600, "longitude": 104.601, "latitude": 28.801,
        "elevation_m": 512.5
    });
    let a = json_call(
        &env,
        Method::POST,
        &admin,
        "/register/sensors",
        input.clone(),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let id = a.body["id"].as_i64().unwrap();
    assert_eq!(a.body["sampling_interval_s"], 600);
    assert_eq!(a.body["kind"], "crack_meter");

    // Every bad field named.
    let a = json_call(
        &env,
        Method::POST,
        &admin,
        "/register/sensors",
        json!({"gateway_code": "gw-gx-s1", "channel": "crack-9", "site_id": theirs,
               "kind": "thermometer", "unit": "", "sampling_interval_s": 0, "latitude": 95.0}),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    let mut fields: Vec<(String, String)> = a.body["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["field"].as_str().unwrap().into(),
                p["reason"].as_str().unwrap().into(),
            )
        })
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            ("channel".to_owned(), "duplicate_code".to_owned()),
            ("kind".into(), "unknown_kind".into()),
            ("latitude".into(), "out_of_range".into()),
            ("sampling_interval_s".into(), "out_of_range".into()),
            ("site_id".into(), "out_of_scope".into()),
            ("unit".into(), "required".into()),
        ]
    );

    let mut edit = input.clone();
    edit["sampling_interval_s"] = json!(300);
    edit["unit"] = json!("cm");
    let a = json_call(
        &env,
        Method::PUT,
        &admin,
        &format!("/register/sensors/{id}"),
        edit.clone(),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["unit"], "cm");
    let listed = send(
        &env,
        Method::GET,
        &admin,
        &format!("/register/sensors?site={site}"),
        &[],
        None,
    )
    .await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);

    let other = env.login("cp-admin").await;
    let a = json_call(
        &env,
        Method::PUT,
        &other,
        &format!("/register/sensors/{id}"),
        edit,
    )
    .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let a = send(&env, Method::GET, &other, "/register/sensors", &[], None).await;
    assert_eq!(a.body, json!([]));

    let audit = audited(&env, "sensor.register").await;
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[0].1["before"], Value::Null);
    assert_eq!(audit[1].1["before"]["unit"], "mm");
    assert_eq!(audit[1].1["after"]["unit"], "cm");
    assert_eq!(audit[1].1["after"]["sampling_interval_s"], 300);
}
