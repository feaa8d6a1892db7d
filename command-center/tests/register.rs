//! The register kept from the console, through the API against a real PostgreSQL: sites
//! created, edited and retired with the field named when refused, concurrent edits refused
//! with what changed, every change audited with before and after and recorded as a change
//! row, county scope on every route, and a county's register file imported and exported.

mod common;

use common::{Center, NEIGHBOUR};
use geohazard_command_center::Role;
use geohazard_store::registry::{self, NewSite, SiteKind};
use geohazard_testkit::api::StatusCode;
use geohazard_testkit::fixtures::{CITY, COUNTY};
use reqwest::Method;
use serde_json::{Value, json};

/// A command-center over Sichuan → Yibin → Gao and Gao's neighbour Cuiping, with an admin in
/// each county and a viewer in Gao.
async fn setup() -> Center {
    let env = common::with_county_admins().await;
    env.officer("gao-admin2", COUNTY, Role::Admin).await;
    env.officer("gao-viewer", COUNTY, Role::Viewer).await;
    env.officer("yibin-admin", CITY, Role::Admin).await;
    env
}

impl Center {
    /// `POST /register/import` with a file: the status and the JSON answer.
    async fn import(&self, token: &str, query: &str, file: Vec<u8>) -> (StatusCode, Value) {
        let r = self
            .api
            .http
            .post(self.api.url(&format!("/register/import{query}")))
            .bearer_auth(token)
            .header("content-type", "application/octet-stream")
            .body(file)
            .send()
            .await
            .expect("the API answers");
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    async fn export(&self, token: &str, format: &str) -> Vec<u8> {
        let r = self
            .api
            .get_response(token, &format!("/register/export?format={format}"))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        r.bytes().await.unwrap().to_vec()
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&self.store.pool)
            .await
            .unwrap()
    }

    /// A site registered with SQL, as before the register existed.
    async fn old_site(&self, code: &str, division: &str) -> i64 {
        registry::upsert_site(
            &self.store.pool,
            &NewSite {
                code,
                name: code,
                kind: SiteKind::Landslide,
                division_code: division,
                location: geo::Point::new(104.6, 28.8),
                threat_zone: None,
                scale_class: None,
                volume_m3: None,
                threatened_people: 3,
                threatened_property: 5.0,
            },
        )
        .await
        .unwrap()
    }
}

fn new_site(code: &str) -> Value {
    json!({
        "code": code, "name": "老屋基滑坡", "type": "landslide", "division_code": COUNTY,
        "longitude": 104.61, "latitude": "28°48'36\"N", "scale_class": "中型",
        "threatened_people": 35, "threatened_property": 120.5,
        "monitor_name": "王五", "monitor_phone": "13800001111",
        "threat_zone": {"type": "Polygon", "coordinates": [[[104.6, 28.8], [104.62, 28.8],
                                                            [104.62, 28.82], [104.6, 28.8]]]}
    })
}

#[tokio::test]
async fn an_admin_creates_edits_and_retires_a_site_each_audited_with_before_and_after() {
    let env = setup().await;
    let admin = env.login("gao-admin").await;
    let a = env
        .send(
            Method::POST,
            &admin,
            "/sites",
            None,
            Some(new_site("HP-001")),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    assert_eq!(a.etag.as_deref(), Some("\"1\""));
    let id = a.body["id"].as_i64().unwrap();
    assert_eq!(a.body["type"], "landslide");
    assert_eq!(a.body["scale_class"], "medium");
    assert!((a.body["latitude"].as_f64().unwrap() - 28.81).abs() < 1e-9);
    assert_eq!(a.body["monitor_phone"], "13800001111");
    // The site is on the map's list, and its monitor answers for it.
    let (_, list) = env.api.get(&admin, "/sites").await;
    assert_eq!(list[0]["code"], "HP-001");
    let (_, people) = env.api.get(&admin, &format!("/sites/{id}/people")).await;
    assert_eq!(people[0]["name"], "王五");
    assert_eq!(people[0]["role"], "monitor");

    // An edit on version 1.
    let mut edit = new_site("HP-001");
    edit["name"] = json!("老屋基滑坡（东侧）");
    edit["threatened_people"] = json!(40);
    let b = env
        .send(
            Method::PUT,
            &admin,
            &format!("/sites/{id}"),
            Some("\"1\""),
            Some(edit),
        )
        .await;
    assert_eq!(b.status, StatusCode::OK, "{}", b.body);
    assert_eq!(b.etag.as_deref(), Some("\"2\""));
    assert_eq!(b.body["threatened_people"], 40);

    let c = env
        .send(
            Method::POST,
            &admin,
            &format!("/sites/{id}/retire"),
            Some("\"2\""),
            None,
        )
        .await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.body);
    assert_eq!(c.body["status"], "closed");
    assert!(c.body["retired_at"].is_string());

    // Every change is in the audit log with the site before and after ...
    let audit: Vec<(String, Option<String>, Value)> = sqlx::query_as(
        "SELECT action, division_code, detail FROM audit_log
         WHERE action LIKE 'site.%' ORDER BY id",
    )
    .fetch_all(&env.store.pool)
    .await
    .unwrap();
    let actions: Vec<&str> = audit.iter().map(|a| a.0.as_str()).collect();
    assert_eq!(actions, ["site.create", "site.update", "site.retire"]);
    assert!(audit.iter().all(|a| a.1.as_deref() == Some(COUNTY)));
    assert!(audit[0].2["before"].is_null());
    assert_eq!(audit[0].2["after"]["name"], "老屋基滑坡");
    assert_eq!(audit[1].2["before"]["threatened_people"], 35);
    assert_eq!(audit[1].2["after"]["threatened_people"], 40);
    assert_eq!(audit[2].2["before"]["status"], "monitoring");
    assert_eq!(audit[2].2["after"]["status"], "closed");
    // ... and the audit list an admin reads shows them.
    let (_, read) = env.api.get(&admin, "/audit?action=site.update").await;
    assert_eq!(read[0]["detail"]["after"]["threatened_people"], 40);

    // The register's change rows, for an approval step to be put in front later.
    let (status, changes) = env
        .api
        .get(&admin, &format!("/register/changes?site={id}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let kinds: Vec<(&str, i64, &str)> = changes
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["kind"].as_str().unwrap(),
                c["version"].as_i64().unwrap(),
                c["state"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("site.retire", 3, "applied"),
            ("site.update", 2, "applied"),
            ("site.create", 1, "applied")
        ]
    );
}

#[tokio::test]
async fn a_save_made_on_an_old_version_is_refused_with_409_and_the_fields_changed_since() {
    let env = setup().await;
    let one = env.login("gao-admin").await;
    let two = env.login("gao-admin2").await;
    let a = env
        .send(Method::POST, &one, "/sites", None, Some(new_site("HP-002")))
        .await;
    let id = a.body["id"].as_i64().unwrap();
    let path = format!("/sites/{id}");

    // Both open version 1; the first saves a new name, the second then saves a new count.
    let mut first = new_site("HP-002");
    first["name"] = json!("新名称");
    first["latitude"] = json!(28.815);
    let saved = env
        .send(Method::PUT, &one, &path, Some("\"1\""), Some(first))
        .await;
    assert_eq!(saved.status, StatusCode::OK);
    let mut second = new_site("HP-002");
    second["threatened_people"] = json!(99);
    let refused = env
        .send(
            Method::PUT,
            &two,
            &path,
            Some("\"1\""),
            Some(second.clone()),
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert_eq!(refused.body["code"], "version_conflict");
    assert_eq!(refused.body["changed"], json!(["name", "latitude"]));
    assert_eq!(refused.body["current"]["name"], "新名称");
    assert_eq!(refused.body["current"]["version"], 2);
    assert_eq!(refused.etag.as_deref(), Some("\"2\""));
    // Nothing was overwritten.
    let (_, now) = env.api.get(&one, &format!("/sites/{id}/register")).await;
    assert_eq!(now["threatened_people"], 35);
    assert_eq!(now["name"], "新名称");

    // Without If-Match an edit is refused as such.
    let no_version = env
        .send(Method::PUT, &two, &path, None, Some(second.clone()))
        .await;
    assert_eq!(no_version.status, StatusCode::PRECONDITION_REQUIRED);
    assert_eq!(no_version.body["code"], "version_required");

    // Ten saves at once on version 2: exactly one lands, the rest get 409.
    let saves = (0..10).map(|i| {
        let mut body = second.clone();
        body["threatened_people"] = json!(100 + i);
        let env = &env;
        let (two, path) = (&two, &path);
        async move {
            env.send(Method::PUT, two, path, Some("\"2\""), Some(body))
                .await
                .status
        }
    });
    let statuses = futures::future::join_all(saves).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::CONFLICT)
    );
    assert_eq!(
        env.count("SELECT count(*) FROM register_changes WHERE kind = 'site.update'")
            .await,
        2
    );
    // A retirement on an old version is refused too.
    let late = env
        .send(
            Method::POST,
            &one,
            &format!("/sites/{id}/retire"),
            Some("\"2\""),
            None,
        )
        .await;
    assert_eq!(late.status, StatusCode::CONFLICT);
    // Since version 2 (the first officer's edit) the winner put back the name and latitude
    // it had and changed the count.
    assert_eq!(
        late.body["changed"],
        json!(["name", "latitude", "threatened_people"])
    );
}

#[tokio::test]
async fn bad_fields_and_hostile_strings_are_refused_naming_each_field_in_the_officers_language() {
    let env = setup().await;
    let admin = env.login("gao-admin").await;
    let mut bad = new_site("HP 003");
    bad["name"] = json!("");
    bad["latitude"] = json!(95);
    bad["longitude"] = json!("104°75'00\"");
    bad["type"] = json!("volcano");
    bad["threatened_people"] = json!(-3);
    let a = env
        .send(Method::POST, &admin, "/sites", None, Some(bad))
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert_eq!(a.body["code"], "invalid_field");
    assert_eq!(a.body["field"], "code");
    let mut problems: Vec<(String, String)> = a.body["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["field"].as_str().unwrap().to_owned(),
                p["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    problems.sort();
    let want: Vec<(String, String)> = [
        ("code", "bad_code"),
        ("latitude", "out_of_range"),
        ("longitude", "bad_coordinate"),
        ("name", "required"),
        ("threatened_people", "out_of_range"),
        ("type", "unknown_kind"),
    ]
    .iter()
    .map(|(f, r)| (f.to_string(), r.to_string()))
    .collect();
    assert_eq!(problems, want);
    // The message is Chinese by default: it names the field as the register does.
    assert!(
        a.body["error"]
            .as_str()
            .unwrap()
            .contains("纬度: 数值超出范围")
    );

    // In English when asked; control characters and a NUL are refused, not stored.
    let mut hostile = new_site("HP-004");
    hostile["name"] = json!("a\u{0007}b");
    let r = env
        .api
        .http
        .post(env.api.url("/sites"))
        .bearer_auth(&admin)
        .header("accept-language", "en-GB,en;q=0.9")
        .json(&hostile)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["field"], "name");
    assert_eq!(
        body["problems"][0]["message"],
        "Contains a control character"
    );
    let mut nul = new_site("HP-005");
    nul["name"] = json!("a\u{0000}b");
    let n = env
        .send(Method::POST, &admin, "/sites", None, Some(nul))
        .await;
    assert_eq!(n.status, StatusCode::BAD_REQUEST);
    let mut long = new_site("HP-006");
    long["name"] = json!("滑".repeat(201));
    let l = env
        .send(Method::POST, &admin, "/sites", None, Some(long))
        .await;
    assert_eq!(l.body["problems"][0]["reason"], "too_long");

    // A code already registered is named as a duplicate, whatever its case.
    env.send(
        Method::POST,
        &admin,
        "/sites",
        None,
        Some(new_site("HP-007")),
    )
    .await;
    let d = env
        .send(
            Method::POST,
            &admin,
            "/sites",
            None,
            Some(new_site("hp-007")),
        )
        .await;
    assert_eq!(d.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(d.body["problems"][0]["reason"], "duplicate_code");
    assert_eq!(env.count("SELECT count(*) FROM hazard_sites").await, 1);
}

#[tokio::test]
async fn a_county_officer_can_neither_see_nor_change_another_countys_register_through_any_route() {
    let env = setup().await;
    let theirs = env.old_site("CP-1", NEIGHBOUR).await;
    let ours = env.old_site("GAO-1", COUNTY).await;
    let gao = env.login("gao-admin").await;
    let cuiping = env.login("cp-admin").await;
    let viewer = env.login("gao-viewer").await;
    let city = env.login("yibin-admin").await;
    // Cuiping changes its own site, so the change list has an entry of theirs.
    let mut edit = new_site("CP-1");
    edit["division_code"] = json!(NEIGHBOUR);
    let own = env
        .send(
            Method::PUT,
            &cuiping,
            &format!("/sites/{theirs}"),
            Some("\"1\""),
            Some(edit.clone()),
        )
        .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);

    // Reading: their site is answered like one that does not exist.
    let hidden = env
        .send(
            Method::GET,
            &gao,
            &format!("/sites/{theirs}/register"),
            None,
            None,
        )
        .await;
    let missing = env
        .send(Method::GET, &gao, "/sites/999999/register", None, None)
        .await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    assert_eq!(hidden.body, missing.body);
    let (_, changes) = env.api.get(&gao, "/register/changes").await;
    assert_eq!(changes, json!([]));
    let csv = String::from_utf8(env.export(&gao, "csv").await).unwrap();
    assert!(csv.contains("GAO-1") && !csv.contains("CP-1"), "{csv}");

    // Changing: edit, retire, create in their division, take their code.
    for (method, path, version, body) in [
        (
            Method::PUT,
            format!("/sites/{theirs}"),
            Some("\"2\""),
            Some(edit.clone()),
        ),
        (
            Method::POST,
            format!("/sites/{theirs}/retire"),
            Some("\"2\""),
            None,
        ),
    ] {
        let a = env.send(method, &gao, &path, version, body).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}: {}", a.body);
    }
    let into_theirs = env
        .send(Method::POST, &gao, "/sites", None, Some(edit.clone()))
        .await;
    assert_eq!(into_theirs.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        into_theirs.body["problems"][0]["reason"],
        "unknown_division"
    );
    let mut moved = new_site("GAO-1");
    moved["division_code"] = json!(NEIGHBOUR);
    let a = env
        .send(
            Method::PUT,
            &gao,
            &format!("/sites/{ours}"),
            Some("\"1\""),
            Some(moved),
        )
        .await;
    assert_eq!(a.body["field"], "division_code");
    let taken = env
        .send(Method::POST, &gao, "/sites", None, Some(new_site("cp-1")))
        .await;
    assert_eq!(taken.body["problems"][0]["reason"], "duplicate_code");
    // An import naming their code or their division changes nothing.
    let file = format!(
        "统一编号,名称,灾害类型,行政区划代码,经度,纬度\n\
         CP-1,抢占,滑坡,{COUNTY},104.5,28.5\n\
         GAO-9,越界,滑坡,{NEIGHBOUR},104.5,28.5\n"
    );
    let (status, report) = env.import(&gao, "", file.into_bytes()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{report}");
    assert_eq!(report["bad_rows"], 2);
    let (_, after) = env
        .api
        .get(&cuiping, &format!("/sites/{theirs}/register"))
        .await;
    assert_eq!(after["name"], "老屋基滑坡");
    assert_eq!(after["version"], 2);

    // A viewer in scope may read the register but change nothing.
    assert_eq!(
        env.send(
            Method::GET,
            &viewer,
            &format!("/sites/{ours}/register"),
            None,
            None
        )
        .await
        .status,
        StatusCode::OK
    );
    for (method, path, body) in [
        (Method::POST, "/sites".to_owned(), Some(new_site("V-1"))),
        (
            Method::PUT,
            format!("/sites/{ours}"),
            Some(new_site("GAO-1")),
        ),
        (Method::POST, format!("/sites/{ours}/retire"), None),
    ] {
        let a = env.send(method, &viewer, &path, Some("\"1\""), body).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{path}");
    }
    let (status, _) = env.import(&viewer, "", b"x".to_vec()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The city sees both counties' changes; nobody's audit entries cross into Gao's.
    let (_, changes) = env.api.get(&city, "/register/changes").await;
    assert_eq!(changes.as_array().unwrap().len(), 1);
    let (_, audit) = env.api.get(&gao, "/audit").await;
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["division_code"] != NEIGHBOUR),
        "{audit}"
    );
    assert_eq!(
        env.count("SELECT count(*) FROM hazard_sites WHERE division_code = '511502'")
            .await,
        1
    );
}

/// One row of a generated register: code, name, type, division, longitude, latitude, scale,
/// people, property, monitor, phone.
type Row = [String; 11];

const HEADINGS: [&str; 11] = [
    "统一编号",
    "名称",
    "灾害类型",
    "行政区划代码",
    "经度",
    "纬度",
    "规模等级",
    "威胁人数",
    "威胁财产（万元）",
    "监测责任人",
    "联系电话",
];

fn good_row(i: usize) -> Row {
    let kinds = ["滑坡", "崩塌", "泥石流", "地面塌陷", "地裂缝"];
    let scales = ["小型", "中型", "大型", "特大型"];
    // Every third site's longitude written in degrees-minutes-seconds, as registers do.
    let lon = if i.is_multiple_of(3) {
        format!("104°{}'{}.5\"E", i % 60, (i * 7) % 60)
    } else {
        format!("{}", 104.0 + (i as f64) / 10_000.0)
    };
    [
        format!("511525{i:06}"),
        format!("滑坡点{i}号"),
        kinds[i % 5].to_owned(),
        COUNTY.to_owned(),
        lon,
        format!("{}", 28.0 + (i as f64) / 20_000.0),
        scales[i % 4].to_owned(),
        format!("{}", i % 500),
        format!("{}", (i % 97) as f64 * 2.5),
        format!("监测员{i}"),
        format!("139{:08}", i),
    ]
}

/// An XLSX workbook of `rows` under the register's headings; numbers as numbers.
fn xlsx(rows: &[Row]) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in HEADINGS.iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            let (r, c) = (r as u32 + 1, c as u16);
            match cell.parse::<f64>() {
                Ok(n) if [4, 5, 7, 8].contains(&c) => sheet.write_number(r, c, n).unwrap(),
                _ => sheet.write_string(r, c, cell).unwrap(),
            };
        }
    }
    book.save_to_buffer().unwrap()
}

#[tokio::test]
async fn a_register_of_2000_sites_with_20_bad_rows_imports_nothing_then_lands_whole_and_round_trips()
 {
    let env = setup().await;
    let admin = env.login("gao-admin").await;
    let mut rows: Vec<Row> = (0..2000).map(good_row).collect();
    // 20 bad rows, two of each kind: (row index, column, value, reason).
    let bad: [(usize, usize, &str, &str); 20] = [
        (10, 0, "5115 25-X", "bad_code"),
        (20, 0, "编号十", "bad_code"),
        (30, 3, "999999", "unknown_division"),
        (40, 3, NEIGHBOUR, "unknown_division"),
        (50, 5, "95", "out_of_range"),
        (60, 5, "-91.5", "out_of_range"),
        (70, 0, "511525000001", "duplicate_code"),
        (80, 0, "511525000002", "duplicate_code"),
        (90, 1, "", "required"),
        (100, 1, " ", "required"),
        (110, 4, "104°75'10\"E", "bad_coordinate"),
        (120, 4, "东经104度", "bad_coordinate"),
        (130, 2, "火山", "unknown_kind"),
        (140, 2, "", "required"),
        (150, 7, "3.5", "not_a_whole_number"),
        (160, 7, "-4", "out_of_range"),
        (170, 10, "电话", "bad_phone"),
        (180, 10, "12", "bad_phone"),
        (190, 6, "巨型", "unknown_scale"),
        (1999, 8, "很多", "not_a_number"),
    ];
    for (i, c, v, _) in bad {
        rows[i][c] = v.to_owned();
    }
    let (status, report) = env
        .import(&admin, "?filename=高县台账.xlsx", xlsx(&rows))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{report}");
    assert_eq!(report["code"], "import_refused");
    assert_eq!(report["bad_rows"], 20);
    assert_eq!(report["error"], "文件有 20 行错误，未导入任何数据");
    let lines: Vec<(u64, String, String, String)> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["row"].as_u64().unwrap(),
                p["column"].as_str().unwrap().to_owned(),
                p["value"].as_str().unwrap().to_owned(),
                p["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    // One line per bad row: its spreadsheet row (the headings are row 1), the column as the
    // file names it, the value found and why.
    let want: Vec<(u64, String, String, String)> = bad
        .iter()
        .map(|(i, c, v, reason)| {
            (
                *i as u64 + 2,
                HEADINGS[*c].to_owned(),
                v.trim().to_owned(),
                reason.to_string(),
            )
        })
        .collect();
    assert_eq!(lines, want);
    assert!(report["problems"].as_array().unwrap().iter().all(|p| {
        p["message"]
            .as_str()
            .unwrap()
            .chars()
            .any(|c| c > '\u{4e00}')
    }));
    assert_eq!(env.count("SELECT count(*) FROM hazard_sites").await, 0);
    assert_eq!(env.count("SELECT count(*) FROM register_changes").await, 0);

    // The same report in English.
    let (_, en) = env.import(&admin, "?lang=en", xlsx(&rows)).await;
    assert_eq!(en["error"], "20 rows have errors: nothing was imported");
    assert_eq!(en["problems"][4]["message"], "Number out of range");

    // Fixed, the file lands whole, monitors and all.
    let fixed: Vec<Row> = (0..2000).map(good_row).collect();
    let (status, done) = env
        .import(&admin, "?filename=高县台账.xlsx", xlsx(&fixed))
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["created"], 2000);
    assert_eq!(env.count("SELECT count(*) FROM hazard_sites").await, 2000);
    assert_eq!(
        env.count("SELECT count(*) FROM site_responsibles WHERE role = 'monitor'")
            .await,
        2000
    );
    assert_eq!(
        env.count("SELECT count(*) FROM register_changes WHERE source = '高县台账.xlsx'")
            .await,
        2000
    );
    let (_, site) = env.api.get(&admin, "/sites").await;
    let first = &site[0];
    assert_eq!(first["code"], "511525000000");
    let dms: f64 = sqlx::query_scalar("SELECT longitude FROM hazard_sites WHERE code = $1")
        .bind("511525000003")
        .fetch_one(&env.store.pool)
        .await
        .unwrap();
    assert!(
        (dms - (104.0 + 3.0 / 60.0 + 21.5 / 3600.0)).abs() < 1e-9,
        "{dms}"
    );

    // Export then import changes nothing, in XLSX and in CSV.
    let exported = env.export(&admin, "xlsx").await;
    let csv_before = env.export(&admin, "csv").await;
    let (status, again) = env.import(&admin, "", exported).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(
        (&again["created"], &again["updated"], &again["unchanged"]),
        (&json!(0), &json!(0), &json!(2000))
    );
    let (_, again) = env.import(&admin, "", csv_before.clone()).await;
    assert_eq!(again["unchanged"], 2000);
    assert_eq!(env.export(&admin, "csv").await, csv_before);
    assert_eq!(
        env.count("SELECT count(*) FROM register_changes").await,
        2000
    );

    // A re-import updates sites by their code.
    let mut renamed = fixed.clone();
    renamed[5][1] = "滑坡点5号（已复核）".to_owned();
    renamed[6][7] = "321".to_owned();
    let (_, dry) = env.import(&admin, "?dry_run=true", xlsx(&renamed)).await;
    assert_eq!(
        (&dry["updated"], &dry["dry_run"]),
        (&json!(2), &json!(true))
    );
    let (_, done) = env.import(&admin, "", xlsx(&renamed)).await;
    assert_eq!(done["updated"], 2);
    assert_eq!(done["unchanged"], 1998);
    let updated: (String, i32, i32) = sqlx::query_as(
        "SELECT name, version, (SELECT threatened_people FROM hazard_sites WHERE code = '511525000006')
         FROM hazard_sites WHERE code = '511525000005'",
    )
    .fetch_one(&env.store.pool)
    .await
    .unwrap();
    assert_eq!(updated, ("滑坡点5号（已复核）".to_owned(), 2, 321));
}
