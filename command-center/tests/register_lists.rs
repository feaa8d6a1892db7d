//! The register's people, gateways and sensors imported from and exported to files (XLSX and
//! CSV under the usual Chinese headings) through the API against a real PostgreSQL: a file
//! with bad rows imports nothing and its report names each row, column, value and reason in the
//! officer's language; the fixed file lands whole, each entry audited with before and after;
//! a re-import updates by the natural key (a person's phone, a gateway's code, a sensor's
//! gateway and point); export then import changes nothing; a county admin can neither import
//! into nor export another county's entries.

mod common;

use common::{Center, NEIGHBOUR};
use geohazard_command_center::Role;
use geohazard_testkit::api::StatusCode;
use geohazard_testkit::fixtures::COUNTY;
use serde_json::Value;

async fn setup() -> Center {
    let env = common::start(|_| {}).await;
    env.add_neighbour().await;
    env.officer("gao-admin", COUNTY, Role::Admin).await;
    env.officer("cp-admin", NEIGHBOUR, Role::Admin).await;
    env.officer("gao-viewer", COUNTY, Role::Viewer).await;
    env
}

impl Center {
    /// `POST /register/{list}/import{query}` with a file: the status and the JSON answer.
    async fn import_list(
        &self,
        token: &str,
        list: &str,
        query: &str,
        file: Vec<u8>,
    ) -> (StatusCode, Value) {
        let r = self
            .api
            .http
            .post(self.api.url(&format!("/register/{list}/import{query}")))
            .bearer_auth(token)
            .header("content-type", "application/octet-stream")
            .body(file)
            .send()
            .await
            .expect("the API answers");
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    async fn export_list(&self, token: &str, list: &str, format: &str) -> Vec<u8> {
        let r = self
            .api
            .get_response(token, &format!("/register/{list}/export?format={format}"))
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

    async fn audited(&self, action: &str) -> Vec<(String, Value)> {
        sqlx::query_as("SELECT target, detail FROM audit_log WHERE action = $1 ORDER BY id")
            .bind(action)
            .fetch_all(&self.store.pool)
            .await
            .unwrap()
    }
}

/// A CSV file (UTF-8, with the byte-order mark spreadsheet programs write).
fn csv(lines: &[&str]) -> Vec<u8> {
    format!("\u{feff}{}\n", lines.join("\n")).into_bytes()
}

/// An XLSX workbook of `headings` and `rows`; a cell that reads as a number written as one.
fn xlsx(headings: &[&str], rows: &[Vec<String>]) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in headings.iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            let (r, c) = (r as u32 + 1, c as u16);
            match cell.parse::<f64>() {
                Ok(n) if !cell.starts_with("13") => sheet.write_number(r, c, n).unwrap(),
                _ => sheet.write_string(r, c, cell).unwrap(),
            };
        }
    }
    book.save_to_buffer().unwrap()
}

/// The report's lines as (row, column, value, reason).
fn lines(report: &Value) -> Vec<(u64, String, String, String)> {
    report["problems"]
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
        .collect()
}

fn row(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| (*c).to_owned()).collect()
}

/// A row of a sensors file under [`SENSOR_HEADINGS`]: `cells` from the first column on, the
/// columns after them left empty.
fn sensor(cells: &[&str]) -> Vec<String> {
    let mut row = row(cells);
    row.resize(SENSOR_HEADINGS.len(), String::new());
    row
}

#[tokio::test]
async fn a_people_file_with_bad_rows_imports_nothing_then_lands_whole_updates_by_phone_and_round_trips()
 {
    let env = setup().await;
    let admin = env.login("gao-admin").await;
    let before = env.count("SELECT count(*) FROM people").await;
    let bad = csv(&[
        "姓名,手机号码,行政区划代码,备注",
        "张三,139 0000 1111,511525,村监测员",
        ",13900002222,511525,",
        "李四,电话,511525,",
        "王五,13900003333,511502,",
        "赵六,139-0000-1111,511525,",
    ]);
    let (status, report) = env
        .import_list(&admin, "people", "?filename=人员.csv", bad.clone())
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{report}");
    assert_eq!(report["code"], "import_refused");
    assert_eq!(report["bad_rows"], 4);
    assert_eq!(report["error"], "文件有 4 行错误，未导入任何数据");
    assert_eq!(
        lines(&report),
        [
            (3, "姓名".into(), "".into(), "required".into()),
            (4, "手机号码".into(), "电话".into(), "bad_phone".into()),
            (
                5,
                "行政区划代码".into(),
                NEIGHBOUR.into(),
                "unknown_division".into()
            ),
            (
                6,
                "手机号码".into(),
                "139-0000-1111".into(),
                "duplicate_row".into()
            ),
        ]
    );
    assert_eq!(report["problems"][1]["message"], "电话号码格式错误");
    assert_eq!(report["problems"][3]["message"], "与文件中另一行重复");
    // Nothing of the file stays, not even its good first row.
    assert_eq!(env.count("SELECT count(*) FROM people").await, before);
    assert!(env.audited("person.create").await.is_empty());
    // The report in English when asked.
    let (_, en) = env.import_list(&admin, "people", "?lang=en", bad).await;
    assert_eq!(en["problems"][1]["message"], "Bad phone number");
    assert_eq!(en["problems"][0]["column"], "姓名");

    // The fixed file lands whole; a row naming no division takes the one asked.
    let good = csv(&[
        "姓名,手机号码,行政区划代码",
        "张三,139 0000 1111,511525",
        "李四,13900002222,",
    ]);
    let (status, done) = env
        .import_list(
            &admin,
            "people",
            &format!("?filename=人员.csv&division={COUNTY}"),
            good,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(
        (done["created"].as_u64(), done["updated"].as_u64()),
        (Some(2), Some(0))
    );
    assert_eq!(
        env.count("SELECT count(*) FROM people WHERE phone IN ('13900001111', '13900002222') AND division_code = '511525'")
            .await,
        2
    );
    let created = env.audited("person.create").await;
    assert_eq!(created.len(), 2);
    assert_eq!(created[0].1["before"], Value::Null);
    assert_eq!(created[0].1["after"]["name"], "张三");
    assert_eq!(created[0].1["source"], "人员.csv");
    let imports = env.audited("register.import").await;
    assert_eq!(imports.len(), 1);
    assert_eq!(imports[0].0, "file:人员.csv");
    assert_eq!(imports[0].1["list"], "people");
    assert_eq!(imports[0].1["created"], 2);

    // Export then import changes nothing, in XLSX and in CSV.
    for format in ["xlsx", "csv"] {
        let file = env.export_list(&admin, "people", format).await;
        let (status, again) = env.import_list(&admin, "people", "", file).await;
        assert_eq!(status, StatusCode::OK, "{format}: {again}");
        assert_eq!(again["created"], 0, "{format}: {again}");
        assert_eq!(again["updated"], 0, "{format}: {again}");
        assert!(
            again["unchanged"].as_u64().unwrap() >= 2,
            "{format}: {again}"
        );
        assert_eq!(again["ignored_columns"], Value::Array(vec![]), "{format}");
    }
    let exported = String::from_utf8(env.export_list(&admin, "people", "csv").await).unwrap();
    assert!(
        exported.starts_with("\u{feff}姓名,联系电话,行政区划代码\n"),
        "{exported}"
    );
    assert!(exported.contains("张三,13900001111,511525"), "{exported}");

    // A re-import finds a person by phone: the new name updates them, audited before and after.
    let renamed = csv(&["姓名,联系电话", "张三丰,13900001111"]);
    let (status, done) = env
        .import_list(&admin, "people", &format!("?division={COUNTY}"), renamed)
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["updated"], 1);
    let updated = env.audited("person.update").await;
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0].1["before"]["name"], "张三");
    assert_eq!(updated[0].1["after"]["name"], "张三丰");

    // Cuiping's admin can neither import into Gao nor see Gao's people in an export; a viewer
    // may not import at all.
    let cp = env.login("cp-admin").await;
    let (status, report) = env
        .import_list(
            &cp,
            "people",
            "",
            csv(&["姓名,联系电话,行政区划代码", "钱七,13900004444,511525"]),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{report}");
    assert_eq!(report["problems"][0]["reason"], "unknown_division");
    let theirs = String::from_utf8(env.export_list(&cp, "people", "csv").await).unwrap();
    assert!(!theirs.contains("13900001111"), "{theirs}");
    let viewer = env.login("gao-viewer").await;
    let (status, _) = env
        .import_list(&viewer, "people", "", csv(&["姓名", "孙八"]))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, unreadable) = env
        .import_list(&admin, "people", "", b"\xff\xfe\x00garbage".to_vec())
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unreadable["code"], "unreadable_file");
    assert_eq!(
        env.count("SELECT count(*) FROM people WHERE phone = '13900004444'")
            .await,
        0
    );
    // A list the register does not keep as a file is no route.
    let (status, answer) = env
        .import_list(&admin, "vehicles", "", csv(&["姓名", "孙八"]))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    assert_eq!(answer["code"], "no_such_route");
    let (status, answer) = env.api.get(&admin, "/register/vehicles/export").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    assert_eq!(answer["code"], "no_such_route");
}

const GATEWAY_HEADINGS: [&str; 3] = ["网关编号", "名称", "统一编号"];
const SENSOR_HEADINGS: [&str; 11] = [
    "隐患点编号",
    "网关编号",
    "测点（通道）",
    "传感器类型",
    "单位",
    "采样间隔(秒)",
    "经度",
    "纬度",
    "高程(m)",
    "埋深(m)",
    "启用",
];

#[tokio::test]
async fn gateway_and_sensor_files_with_bad_rows_import_nothing_then_land_whole_update_by_key_and_round_trip()
 {
    let env = setup().await;
    let admin = env.login("gao-admin").await;
    let cp = env.login("cp-admin").await;
    env.landslide("GX-1", COUNTY, 10).await;
    env.landslide("GX-2", COUNTY, 10).await;
    env.landslide("CP-1", NEIGHBOUR, 10).await;
    // Cuiping's own gateway, at its own site.
    let (status, _) = env
        .import_list(
            &cp,
            "gateways",
            "",
            xlsx(&GATEWAY_HEADINGS, &[row(&["gw-cp", "翠屏网关", "CP-1"])]),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Gateways: a site of Cuiping, a bad code, a code twice, no site.
    let bad = [
        row(&["gw-a", "一号网关", "GX-1"]),
        row(&["gw-b", "二号网关", "CP-1"]),
        row(&["gw c", "三号网关", "GX-1"]),
        row(&["gw-a", "重复", "GX-2"]),
        row(&["gw-d", "四号网关", ""]),
    ];
    let (status, report) = env
        .import_list(&admin, "gateways", "", xlsx(&GATEWAY_HEADINGS, &bad))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{report}");
    assert_eq!(
        lines(&report),
        [
            (3, "统一编号".into(), "CP-1".into(), "out_of_scope".into()),
            (4, "网关编号".into(), "gw c".into(), "bad_code".into()),
            (5, "网关编号".into(), "gw-a".into(), "duplicate_row".into()),
            (6, "统一编号".into(), "".into(), "required".into()),
        ]
    );
    assert_eq!(
        env.count("SELECT count(*) FROM gateways WHERE code LIKE 'gw-%' AND code <> 'gw-cp'")
            .await,
        0
    );
    let good = [
        row(&["gw-a", "一号网关", "GX-1"]),
        row(&["gw-b", "二号网关", "GX-2"]),
    ];
    let (status, done) = env
        .import_list(&admin, "gateways", "", xlsx(&GATEWAY_HEADINGS, &good))
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["created"], 2);
    // Cuiping's gateway code is taken: Gao cannot take it over.
    let (status, report) = env
        .import_list(
            &admin,
            "gateways",
            "",
            xlsx(&GATEWAY_HEADINGS, &[row(&["gw-cp", "抢注", "GX-1"])]),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{report}");
    assert_eq!(report["problems"][0]["column"], "网关编号");
    assert_eq!(
        env.count("SELECT count(*) FROM gateways g JOIN hazard_sites s ON s.id = g.site_id WHERE g.code = 'gw-cp' AND s.code = 'CP-1'")
            .await,
        1
    );

    // Sensors: an unknown kind, an interval of 0 and of 十, Cuiping's gateway, a point twice,
    // latitude 95, a coordinate that is no coordinate.
    let good_rows = [
        sensor(&[
            "GX-1",
            "gw-a",
            "crack-1",
            "裂缝计",
            "mm",
            "600",
            "104°36'0\"E",
            "28.8",
            "512.5",
            "1.5",
            "是",
        ]),
        sensor(&["GX-1", "gw-a", "rain-1", "rain_gauge", "mm", "60"]),
        sensor(&[
            "GX-2", "gw-b", "mud-1", "泥位", "m", "300", "104.61", "28.81", "", "", "否",
        ]),
    ];
    let mut bad_rows = good_rows.to_vec();
    bad_rows.extend([
        sensor(&["GX-1", "gw-a", "x-1", "测斜仪器", "mm", "60"]),
        sensor(&["GX-1", "gw-a", "x-2", "裂缝计", "mm", "0"]),
        sensor(&["GX-1", "gw-a", "x-3", "裂缝计", "mm", "十"]),
        sensor(&["GX-1", "gw-cp", "x-4", "裂缝计", "mm", "60"]),
        sensor(&["GX-1", "gw-a", "crack-1", "裂缝计", "mm", "60"]),
        sensor(&["GX-1", "gw-a", "x-5", "裂缝计", "mm", "60", "104.6", "95"]),
        sensor(&[
            "GX-1",
            "gw-a",
            "x-6",
            "裂缝计",
            "mm",
            "60",
            "东经104度",
            "28.8",
        ]),
    ]);
    let (status, report) = env
        .import_list(
            &admin,
            "sensors",
            "?filename=传感器.xlsx",
            xlsx(&SENSOR_HEADINGS, &bad_rows),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{report}");
    assert_eq!(
        lines(&report),
        [
            (
                5,
                "传感器类型".into(),
                "测斜仪器".into(),
                "unknown_kind".into()
            ),
            (6, "采样间隔(秒)".into(), "0".into(), "out_of_range".into()),
            (7, "采样间隔(秒)".into(), "十".into(), "not_a_number".into()),
            (8, "网关编号".into(), "gw-cp".into(), "out_of_scope".into()),
            (
                9,
                "测点（通道）".into(),
                "crack-1".into(),
                "duplicate_row".into()
            ),
            (10, "纬度".into(), "95".into(), "out_of_range".into()),
            (
                11,
                "经度".into(),
                "东经104度".into(),
                "bad_coordinate".into()
            ),
        ]
    );
    assert_eq!(report["error"], "文件有 7 行错误，未导入任何数据");
    assert_eq!(
        env.count("SELECT count(*) FROM sensors se JOIN gateways g ON g.id = se.gateway_id WHERE g.code LIKE 'gw-%'")
            .await,
        0
    );
    assert!(env.audited("sensor.register").await.is_empty());

    let (status, done) = env
        .import_list(
            &admin,
            "sensors",
            "?filename=传感器.xlsx",
            xlsx(&SENSOR_HEADINGS, &good_rows),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["created"], 3);
    let (kind, interval, lon, elevation, active): (String, i32, f64, f64, bool) = sqlx::query_as(
        "SELECT kind, sampling_interval_s, longitude, elevation_m, active FROM sensors WHERE channel = 'crack-1'",
    )
    .fetch_one(&env.store.pool)
    .await
    .unwrap();
    assert_eq!(
        (kind.as_str(), interval, elevation, active),
        ("crack_meter", 600, 512.5, true)
    );
    assert!((lon - 104.6).abs() < 1e-9, "{lon}");
    let registered = env.audited("sensor.register").await;
    assert_eq!(registered.len(), 3);
    assert_eq!(registered[0].1["before"], Value::Null);
    assert_eq!(registered[0].1["after"]["channel"], "crack-1");
    assert_eq!(registered[0].1["source"], "传感器.xlsx");

    // Export then import changes nothing, for both lists and in both formats.
    for list in ["gateways", "sensors"] {
        for format in ["xlsx", "csv"] {
            let file = env.export_list(&admin, list, format).await;
            let (status, again) = env.import_list(&admin, list, "", file).await;
            assert_eq!(status, StatusCode::OK, "{list} {format}: {again}");
            assert_eq!(
                (again["created"].as_u64(), again["updated"].as_u64()),
                (Some(0), Some(0)),
                "{list} {format}: {again}"
            );
        }
    }
    let exported = String::from_utf8(env.export_list(&admin, "sensors", "csv").await).unwrap();
    assert!(
        exported.contains("GX-2,gw-b,mud-1,泥位,m,300,104.61,28.81,,,否"),
        "{exported}"
    );
    assert!(!exported.contains("gw-cp"), "{exported}");

    // A re-import updates the sensor at the same gateway and point, audited before and after.
    let id_before: i32 = sqlx::query_scalar("SELECT id FROM sensors WHERE channel = 'crack-1'")
        .fetch_one(&env.store.pool)
        .await
        .unwrap();
    let mut changed = good_rows[0].clone();
    changed[5] = "300".into();
    let (status, done) = env
        .import_list(&admin, "sensors", "", xlsx(&SENSOR_HEADINGS, &[changed]))
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["updated"], 1);
    let (id_after, interval): (i32, i32) =
        sqlx::query_as("SELECT id, sampling_interval_s FROM sensors WHERE channel = 'crack-1'")
            .fetch_one(&env.store.pool)
            .await
            .unwrap();
    assert_eq!((id_after, interval), (id_before, 300));
    let last = env.audited("sensor.register").await.pop().unwrap();
    assert_eq!(last.1["before"]["sampling_interval_s"], 600);
    assert_eq!(last.1["after"]["sampling_interval_s"], 300);
    let imports = env.audited("register.import").await;
    assert!(
        imports
            .iter()
            .any(|(_, d)| d["list"] == "sensors" && d["updated"] == 1)
    );

    // Cuiping's admin cannot change Gao's sensor through a file, nor see it in an export.
    let (status, report) = env
        .import_list(
            &cp,
            "sensors",
            "",
            xlsx(
                &SENSOR_HEADINGS,
                &[sensor(&["CP-1", "gw-a", "crack-1", "裂缝计", "mm", "60"])],
            ),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{report}");
    assert_eq!(report["problems"][0]["reason"], "out_of_scope");
    assert_eq!(
        env.count("SELECT sampling_interval_s::int8 FROM sensors WHERE channel = 'crack-1'")
            .await,
        300
    );
    let theirs = String::from_utf8(env.export_list(&cp, "sensors", "csv").await).unwrap();
    assert_eq!(theirs.lines().count(), 1, "only the headings: {theirs}");
    let gateways = String::from_utf8(env.export_list(&cp, "gateways", "csv").await).unwrap();
    assert!(
        gateways.contains("gw-cp") && !gateways.contains("gw-a"),
        "{gateways}"
    );
}
