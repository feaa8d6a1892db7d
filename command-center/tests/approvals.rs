//! Online approval through the API, with county, city and province officers: every shipped
//! workflow walked to its end, a return for changes, a rejection, two approvers racing on one
//! step, self-approval refused, a county officer trying another county's request, and an
//! overdue step with its reminder, told up the chain.

mod common;

use std::time::Duration;

use common::{Center, NEIGHBOUR};
use geohazard_command_center::Role;
use geohazard_testkit::api::StatusCode;
use geohazard_testkit::eventually;
use geohazard_testkit::fixtures::{self, CITY, COUNTY, PROVINCE};
use serde_json::{Value, json};

/// Officers: the county's duty officer (proposer) and admin, the neighbour county's duty
/// officer, two city supervisors, a province supervisor; deadlines checked every 100 ms.
async fn setup() -> Center {
    let env = common::start(|c| c.approvals.deadline_pass_ms = 100).await;
    env.add_neighbour().await;
    env.officer("gao", COUNTY, Role::DutyOfficer).await;
    env.officer("gao_admin", COUNTY, Role::Admin).await;
    env.officer("cuiping", NEIGHBOUR, Role::DutyOfficer).await;
    env.officer("yibin1", CITY, Role::Supervisor).await;
    env.officer("yibin2", CITY, Role::Supervisor).await;
    env.officer("sichuan", PROVINCE, Role::Supervisor).await;
    env
}

impl Center {
    async fn file(
        &self,
        token: &str,
        kind: &str,
        form: Value,
        attachments: Value,
    ) -> (StatusCode, Value) {
        self.api
            .post(
                token,
                "/approvals",
                json!({"kind": kind, "title": format!("{kind} request"), "form": form,
                       "attachments": attachments}),
            )
            .await
    }

    async fn act(&self, token: &str, id: i64, body: Value) -> (StatusCode, Value) {
        self.api
            .post(token, &format!("/approvals/{id}/actions"), body)
            .await
    }

    /// Approves step `step` of `id` as `token`; panics unless it succeeds.
    async fn approve(&self, token: &str, id: i64, step: i64) -> Value {
        let (status, body) = self
            .act(
                token,
                id,
                json!({"action": "approve", "step": step, "comment": "同意"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn history(&self, token: &str, id: i64) -> Vec<String> {
        let (status, detail) = self.api.get(token, &format!("/approvals/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{detail}");
        detail["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_owned())
            .collect()
    }

    async fn counts(&self, token: &str) -> Value {
        let (status, q) = self.api.get(token, "/approvals").await;
        assert_eq!(status, StatusCode::OK, "{q}");
        q["counts"].clone()
    }
}

fn new_site_form(code: &str, name: &str) -> Value {
    json!({"code": code, "name": name, "kind": "landslide", "longitude": 104.61,
           "latitude": 28.41, "threatened_people": 35, "threatened_property": 120.5})
}

#[tokio::test]
async fn registering_a_site_goes_county_city_province_with_a_return_a_race_and_the_register_changes_on_approval()
 {
    let env = setup().await;
    let gao = env.login("gao").await;
    let yibin1 = env.login("yibin1").await;
    let yibin2 = env.login("yibin2").await;
    let sichuan = env.login("sichuan").await;

    // A form with a bad field, or a field nobody asked for, is refused naming the field.
    let mut bad = new_site_form("GX-NEW-1", "新滑坡");
    bad["latitude"] = json!(95.0);
    let (status, body) = env.file(&gao, "site.register", bad, json!([])).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "invalid_form");
    assert!(
        body["error"].as_str().unwrap().starts_with("latitude:"),
        "{body}"
    );
    let mut extra = new_site_form("GX-NEW-1", "新滑坡");
    extra["<script>"] = json!("x");
    let (status, body) = env.file(&gao, "site.register", extra, json!([])).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("<script>"),
        "{body}"
    );
    // A city supervisor may not file (the role), nor may the city's level file a county kind.
    let (status, _) = env
        .file(
            &yibin1,
            "site.register",
            new_site_form("GX-NEW-1", "x"),
            json!([]),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, filed) = env
        .file(
            &gao,
            "site.register",
            new_site_form("GX-NEW-1", "新滑坡"),
            json!([]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{filed}");
    let id = filed["id"].as_i64().unwrap();
    assert_eq!(filed["state"], "pending");
    assert_eq!(filed["step_level"], "city");
    assert_eq!(filed["step_zh"], "市级审核");

    // Until approved, the register shows the request as pending and has no such site.
    let (_, pending) = env.api.get(&gao, "/approvals/register-pending").await;
    assert_eq!(pending[0]["approval_id"], id);
    assert_eq!(pending[0]["site_code"], "GX-NEW-1");
    let registered: i64 =
        sqlx::query_scalar("SELECT count(*) FROM hazard_sites WHERE code = 'GX-NEW-1'")
            .fetch_one(&env.store.pool)
            .await
            .unwrap();
    assert_eq!(registered, 0);

    // The city's queue has it; the province's does not yet.
    assert_eq!(env.counts(&yibin1).await["to_act"], 1);
    assert_eq!(env.counts(&sichuan).await["to_act"], 0);
    // The province may not act on the city's step.
    let (status, body) = env
        .act(&sichuan, id, json!({"action": "approve", "step": 0}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // Returned for changes (a return needs a reason), then filed again with a changed name.
    let (status, _) = env
        .act(&yibin1, id, json!({"action": "return", "step": 0}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = env
        .act(
            &yibin1,
            id,
            json!({"action": "return", "step": 0, "comment": "名称不规范，请补充村名"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "returned");
    assert_eq!(env.counts(&gao).await["returned"], 1);
    assert_eq!(env.counts(&yibin1).await["to_act"], 0);
    let (status, body) = env
        .act(
            &gao,
            id,
            json!({"action": "resubmit", "form": new_site_form("GX-NEW-1", "高县新村滑坡")}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "pending");
    assert_eq!(body["form"]["name"], "高县新村滑坡");

    // Two city supervisors approve the same step at once: exactly one succeeds.
    let race = |token: String| {
        let api = &env.api;
        async move {
            api.post(
                &token,
                &format!("/approvals/{id}/actions"),
                json!({"action": "approve", "step": 0}),
            )
            .await
        }
    };
    let ((s1, b1), (s2, b2)) = tokio::join!(race(yibin1.clone()), race(yibin2.clone()));
    let mut statuses = [s1, s2];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CONFLICT],
        "{b1} {b2}"
    );
    let loser = if s1 == StatusCode::CONFLICT { b1 } else { b2 };
    assert_eq!(loser["code"], "approval_step_taken");

    // The province approves: the site is in the register, made by this approval.
    let done = env.approve(&sichuan, id, 1).await;
    assert_eq!(done["state"], "approved");
    let site_id = done["effect"]["site_id"].as_i64().unwrap();
    let (name, by, division): (String, Option<i64>, String) = sqlx::query_as(
        "SELECT name, registered_by_approval, division_code FROM hazard_sites WHERE id = $1",
    )
    .bind(site_id)
    .fetch_one(&env.store.pool)
    .await
    .unwrap();
    assert_eq!(
        (name.as_str(), by, division.as_str()),
        ("高县新村滑坡", Some(id), COUNTY)
    );
    let (_, pending) = env.api.get(&gao, "/approvals/register-pending").await;
    assert_eq!(pending, json!([]));
    // Closed: nothing more can be done.
    let (status, _) = env.act(&gao, id, json!({"action": "withdraw"})).await;
    assert_eq!(status, StatusCode::CONFLICT);

    assert_eq!(
        env.history(&gao, id).await,
        ["submit", "return", "resubmit", "approve", "approve"]
    );
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE target = $1 AND action IN ('approval.submit', 'approval.act')",
    )
    .bind(format!("approval:{id}"))
    .fetch_one(&env.store.pool)
    .await
    .unwrap();
    assert_eq!(audited, 5, "every action audited, the refused ones not");
}

#[tokio::test]
async fn retiring_a_site_can_be_rejected_nobody_approves_their_own_and_another_county_sees_nothing()
{
    let env = setup().await;
    fixtures::register_site(&env.store, "GX-OLD").await;
    let gao = env.login("gao").await;
    let gao_admin = env.login("gao_admin").await;
    let cuiping = env.login("cuiping").await;
    let yibin1 = env.login("yibin1").await;
    let sichuan = env.login("sichuan").await;
    let retire =
        json!({"site_code": "GX-OLD", "reason": "工程治理完成", "remediation": "抗滑桩 12 根"});

    // Another county cannot file for a site that is not theirs.
    let (status, body) = env
        .file(&cuiping, "site.retire", retire.clone(), json!([]))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"].as_str().unwrap().starts_with("site_code:"));

    // The county's admin files, and may not approve their own request.
    let (status, filed) = env
        .file(&gao_admin, "site.retire", retire.clone(), json!([]))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{filed}");
    let id = filed["id"].as_i64().unwrap();
    let (status, body) = env
        .act(&gao_admin, id, json!({"action": "approve", "step": 0}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("own request"),
        "{body}"
    );
    // A second request for the same site is refused while this one is open.
    let (status, body) = env
        .file(&gao, "site.retire", retire.clone(), json!([]))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // The neighbour county sees nothing of it and cannot act on it: exactly like no request.
    let (status, _) = env.api.get(&cuiping, &format!("/approvals/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for action in ["comment", "withdraw", "approve"] {
        let (status, _) = env
            .act(
                &cuiping,
                id,
                json!({"action": action, "step": 0, "comment": "x"}),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{action}");
    }
    let (_, q) = env.api.get(&cuiping, "/approvals?box=all").await;
    assert_eq!(q["items"], json!([]));
    let (_, pending) = env.api.get(&cuiping, "/approvals/register-pending").await;
    assert_eq!(pending, json!([]));

    // City comments then approves; the province rejects with its reason.
    let (status, _) = env
        .act(
            &yibin1,
            id,
            json!({"action": "comment", "comment": "请附治理验收报告"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    env.approve(&yibin1, id, 0).await;
    let (status, body) = env
        .act(
            &sichuan,
            id,
            json!({"action": "reject", "step": 1, "comment": "监测数据显示仍有变形"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "rejected");
    let (status, retired): (String, Option<i64>) = sqlx::query_as(
        "SELECT status, retired_by_approval FROM hazard_sites WHERE code = 'GX-OLD'",
    )
    .fetch_one(&env.store.pool)
    .await
    .unwrap();
    assert_eq!(
        (status.as_str(), retired),
        ("monitoring", None),
        "a rejection changes nothing"
    );
    assert_eq!(
        env.history(&yibin1, id).await,
        ["submit", "comment", "approve", "reject"]
    );

    // Filed again by the duty officer and approved all the way: the site is retired.
    let (_, filed) = env.file(&gao, "site.retire", retire, json!([])).await;
    let id = filed["id"].as_i64().unwrap();
    env.approve(&yibin1, id, 0).await;
    env.approve(&sichuan, id, 1).await;
    let (status, by): (String, Option<i64>) = sqlx::query_as(
        "SELECT status, retired_by_approval FROM hazard_sites WHERE code = 'GX-OLD'",
    )
    .fetch_one(&env.store.pool)
    .await
    .unwrap();
    assert_eq!((status.as_str(), by), ("closed", Some(id)));

    // A withdrawn request is closed for everyone.
    let (_, filed) = env
        .file(
            &gao,
            "site.register",
            new_site_form("GX-W", "撤回"),
            json!([]),
        )
        .await;
    let wid = filed["id"].as_i64().unwrap();
    let (status, _) = env.act(&yibin1, wid, json!({"action": "withdraw"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "only the proposer withdraws");
    let (status, body) = env.act(&gao, wid, json!({"action": "withdraw"})).await;
    assert_eq!(
        (status, body["state"].as_str()),
        (StatusCode::OK, Some("withdrawn"))
    );
}

#[tokio::test]
async fn risk_filing_device_acceptance_plan_approval_and_threshold_change_each_take_effect_on_approval()
 {
    let env = setup().await;
    let gateway = fixtures::register_gateway(&env.store, "GW-ACC", &["crack1"]).await;
    let sensor: i32 = sqlx::query_scalar("SELECT id FROM sensors WHERE gateway_id = $1")
        .bind(gateway)
        .fetch_one(&env.store.pool)
        .await
        .unwrap();
    let gao = env.login("gao").await;
    let yibin1 = env.login("yibin1").await;
    let sichuan = env.login("sichuan").await;

    // Risk assessment: the report must be attached; filed with the city.
    let risk = json!({"project_name": "宜宾南溪大道", "builder": "宜宾城投", "assessment_org": "四川省地质调查院",
                      "risk_level": "medium", "longitude": 104.6, "latitude": 28.5});
    let (status, body) = env
        .file(&gao, "risk.assessment", risk.clone(), json!([]))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"].as_str().unwrap().starts_with("attachments:"));
    let (status, filed) = env
        .file(
            &gao,
            "risk.assessment",
            risk,
            json!([{"name": "评估报告.pdf", "ref": "files/ra-1.pdf"}]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{filed}");
    let done = env.approve(&yibin1, filed["id"].as_i64().unwrap(), 0).await;
    assert_eq!(done["state"], "approved");

    // Device acceptance: the gateway's data is official from then.
    let (_, filed) = env
        .file(
            &gao,
            "device.acceptance",
            json!({"gateway_code": "GW-ACC", "notes": "安装调试完成"}),
            json!([]),
        )
        .await;
    let done = env.approve(&yibin1, filed["id"].as_i64().unwrap(), 0).await;
    assert_eq!(done["effect"]["gateway_id"], gateway);
    let accepted: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT accepted_at FROM gateways WHERE id = $1")
            .bind(gateway)
            .fetch_one(&env.store.pool)
            .await
            .unwrap();
    assert!(accepted.is_some());
    let (status, body) = env
        .file(
            &gao,
            "device.acceptance",
            json!({"gateway_code": "GW-ACC"}),
            json!([]),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "accepted once: {body}"
    );

    // An emergency plan, referenced by id, through city and province.
    let (_, filed) = env
        .file(&gao, "plan.approval",
              json!({"site_code": "site-GW-ACC", "plan_ref": "plan:42", "plan_title": "避险转移预案"}),
              json!([{"name": "预案.docx", "ref": "plan:42"}]))
        .await;
    let id = filed["id"].as_i64().unwrap();
    env.approve(&yibin1, id, 0).await;
    env.approve(&sichuan, id, 1).await;
    let plan: i64 = sqlx::query_scalar(
        "SELECT approval_id FROM site_plan_approvals WHERE plan_ref = 'plan:42'",
    )
    .fetch_one(&env.store.pool)
    .await
    .unwrap();
    assert_eq!(plan, id);

    // A threshold change: the sensor's rule takes the new parameters on approval, not before.
    let form = json!({"site_code": "site-GW-ACC", "sensor_id": sensor, "rule": "threshold",
                      "params": {"yellow": 5.0, "orange": 10.0, "red": 20.0},
                      "backtest_ref": "backtest:7", "reason": "汛期加密"});
    let (status, body) = env
        .file(
            &gao,
            "threshold.change",
            json!({"site_code": "site-GW-ACC", "sensor_id": sensor,
                                               "rule": "threshold", "params": {"yellow": "high"}}),
            json!([]),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"].as_str().unwrap().starts_with("params:"));
    let (_, filed) = env.file(&gao, "threshold.change", form, json!([])).await;
    let id = filed["id"].as_i64().unwrap();
    env.approve(&yibin1, id, 0).await;
    let rule = || async {
        sqlx::query_scalar::<_, Value>(
            "SELECT params FROM analyzer_rules WHERE scope = 'sensor' AND sensor_id = $1 AND rule = 'threshold'",
        )
        .bind(sensor)
        .fetch_optional(&env.store.pool)
        .await
        .unwrap()
    };
    assert_eq!(rule().await, None, "not before the last step");
    env.approve(&sichuan, id, 1).await;
    assert_eq!(
        rule().await,
        Some(json!({"yellow": 5.0, "orange": 10.0, "red": 20.0}))
    );

    // Every shipped workflow is listed, as data.
    let (_, workflows) = env.api.get(&gao, "/approvals/workflows").await;
    let kinds: Vec<&str> = workflows
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "device.acceptance",
            "plan.approval",
            "risk.assessment",
            "site.register",
            "site.retire",
            "threshold.change"
        ]
    );
}

#[tokio::test]
async fn an_overdue_step_is_reminded_before_its_deadline_and_flagged_up_the_chain_after_it() {
    let env = setup().await;
    // Workflows are data: this one's city step is due 3 s after it starts, reminded 2 s before.
    sqlx::query(
        "UPDATE approval_workflows SET steps = jsonb_set(jsonb_set(steps, '{0,due_s}', '3'), '{0,remind_before_s}', '2')
         WHERE kind = 'risk.assessment'",
    )
    .execute(&env.store.pool)
    .await
    .unwrap();
    let gao = env.login("gao").await;
    let yibin1 = env.login("yibin1").await;
    let (status, filed) = env
        .file(
            &gao,
            "risk.assessment",
            json!({"project_name": "高县工业园", "builder": "高县城投", "assessment_org": "川西院",
                     "risk_level": "high", "longitude": 104.5, "latitude": 28.4}),
            json!([{"name": "报告.pdf", "ref": "files/2.pdf"}]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{filed}");
    let id = filed["id"].as_i64().unwrap();

    let person = |name: &'static str| {
        let pool = env.store.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT person_id FROM officers WHERE username = $1")
                .bind(name)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let told = |reason: &'static str| {
        let pool = env.store.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT person_id FROM notifications WHERE approval_id = $1 AND reason LIKE $2 ORDER BY person_id",
            )
            .bind(id)
            .bind(format!("{reason}@%"))
            .fetch_all(&pool)
            .await
            .unwrap()
        }
    };
    // The reminder reaches both city supervisors (and no one else) before the deadline.
    let reminded = eventually(Duration::from_secs(20), "the reminder", || async {
        let t = told("remind").await;
        (!t.is_empty()).then_some(t)
    })
    .await;
    let mut city = vec![person("yibin1").await, person("yibin2").await];
    city.sort();
    assert_eq!(reminded, city);
    let pending =
        geohazard_notify::app::pending(&env.store.pool, geohazard_domain::PersonId(city[0]))
            .await
            .unwrap();
    assert!(
        pending
            .iter()
            .any(|n| n.text_zh.starts_with("【审批提醒】") && n.text_zh.contains("北京时间")),
        "{pending:?}"
    );

    // Past the deadline: flagged overdue, told to the city, the province above it and the proposer.
    let overdue = eventually(Duration::from_secs(20), "the overdue notice", || async {
        let t = told("overdue").await;
        (!t.is_empty()).then_some(t)
    })
    .await;
    let mut expected = vec![
        city[0],
        city[1],
        person("sichuan").await,
        person("gao").await,
    ];
    expected.sort();
    assert_eq!(overdue, expected);
    let counts = env.counts(&yibin1).await;
    assert_eq!(
        (counts["to_act"].as_i64(), counts["overdue"].as_i64()),
        (Some(1), Some(1))
    );
    let (_, q) = env.api.get(&yibin1, "/approvals").await;
    assert_eq!(q["items"][0]["overdue"], true);
    // Each told once, however many passes ran.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(told("remind").await.len(), 2);
    assert_eq!(told("overdue").await.len(), 4);
    assert_eq!(env.history(&gao, id).await, ["submit", "remind", "overdue"]);
    // Approved late, it is done all the same.
    let done = env.approve(&yibin1, id, 0).await;
    assert_eq!(done["state"], "approved");
}

#[tokio::test]
async fn a_request_filed_again_after_a_lost_answer_with_its_idempotency_key_is_filed_once() {
    let env = setup().await;
    let gao = env.login("gao").await;
    let request = json!({"kind": "site.register", "title": "新滑坡登记",
                         "form": new_site_form("GX-KEY-1", "新滑坡"), "attachments": []});
    let (status, replayed, first) = env
        .post_with_key(&gao, "/approvals", "pc-7-file-1", &request)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(replayed, None);
    // The answer was lost: the client sends the same request with the same key, twice at once.
    let (a, b) = tokio::join!(
        env.post_with_key(&gao, "/approvals", "pc-7-file-1", &request),
        env.post_with_key(&gao, "/approvals", "pc-7-file-1", &request),
    );
    for (status, replayed, again) in [a, b] {
        assert_eq!(status, StatusCode::CREATED, "{again}");
        assert_eq!(replayed.as_deref(), Some("true"));
        assert_eq!(again, first);
    }
    let filed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM approval_instances WHERE form->>'code' = 'GX-KEY-1'",
    )
    .fetch_one(&env.store.pool)
    .await
    .unwrap();
    assert_eq!(filed, 1);
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'approval.submit'")
            .fetch_one(&env.store.pool)
            .await
            .unwrap();
    assert_eq!(audited, 1);
    // The same key with another request is refused; without a key each request is filed.
    let mut other = request.clone();
    other["form"] = new_site_form("GX-KEY-2", "另一处滑坡");
    let (status, _, refused) = env
        .post_with_key(&gao, "/approvals", "pc-7-file-1", &other)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["code"], "idempotency_key_reused");
    let (status, body) = env.api.post(&gao, "/approvals", other).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_ne!(body["id"], first["id"]);
}
