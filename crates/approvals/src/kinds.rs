//! The shipped kinds: each kind's form, checked field by field (an error names the field), and
//! what its final approval changes: the hazard-site register (a new site; a site retired), a
//! gateway's acceptance (its data official from then), a site's approved emergency plan, a
//! sensor's warning rule. Only these effects write to the register, and only what they add.

use geohazard_domain::SiteKind;
use serde_json::{Map, Value, json};
use sqlx::PgConnection;

use crate::model::{Attachment, BoxFuture, Checked, Effects, FormError};

/// The kinds shipped with geohazard.
#[derive(Debug, Clone, Copy, Default)]
pub struct Shipped;

/// A form's fields, read one by one; whatever is left unread at the end is an unknown field.
struct Fields {
    map: Map<String, Value>,
    out: Map<String, Value>,
}

type Checking<T> = Result<T, FormError>;

impl Fields {
    fn new(form: &Value) -> Checking<Fields> {
        match form {
            Value::Object(map) => Ok(Fields {
                map: map.clone(),
                out: Map::new(),
            }),
            _ => Err(FormError::new("form", "must be a JSON object")),
        }
    }

    fn text_opt(&mut self, name: &str, max: usize) -> Checking<Option<String>> {
        match self.map.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => {
                let s = s.trim().to_owned();
                let n = s.chars().count();
                if n == 0 {
                    return Err(FormError::new(name, "must not be empty"));
                }
                if n > max {
                    return Err(FormError::new(
                        name,
                        format!("is too long: at most {max} characters"),
                    ));
                }
                if s.chars().any(|c| c.is_control() && c != '\n') {
                    return Err(FormError::new(name, "must not hold control characters"));
                }
                self.out.insert(name.into(), Value::String(s.clone()));
                Ok(Some(s))
            }
            Some(_) => Err(FormError::new(name, "must be text")),
        }
    }

    fn text(&mut self, name: &str, max: usize) -> Checking<String> {
        self.text_opt(name, max)?
            .ok_or_else(|| FormError::new(name, "is required"))
    }

    fn number_opt(&mut self, name: &str, min: f64, max: f64) -> Checking<Option<f64>> {
        match self.map.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => {
                let v = n.as_f64().unwrap_or(f64::NAN);
                if !(min..=max).contains(&v) {
                    return Err(FormError::new(
                        name,
                        format!("must be between {min} and {max}"),
                    ));
                }
                self.out.insert(name.into(), json!(v));
                Ok(Some(v))
            }
            Some(_) => Err(FormError::new(name, "must be a number")),
        }
    }

    fn number(&mut self, name: &str, min: f64, max: f64) -> Checking<f64> {
        self.number_opt(name, min, max)?
            .ok_or_else(|| FormError::new(name, "is required"))
    }

    fn integer(&mut self, name: &str, min: i64, max: i64) -> Checking<i64> {
        match self.map.remove(name) {
            Some(Value::Number(n)) if n.as_i64().is_some_and(|v| (min..=max).contains(&v)) => {
                let v = n.as_i64().unwrap_or_default();
                self.out.insert(name.into(), json!(v));
                Ok(v)
            }
            None | Some(Value::Null) => Err(FormError::new(name, "is required")),
            Some(_) => Err(FormError::new(
                name,
                format!("must be a whole number between {min} and {max}"),
            )),
        }
    }

    fn one_of(&mut self, name: &str, allowed: &[&str]) -> Checking<String> {
        let v = self.text(name, 64)?;
        if allowed.contains(&v.as_str()) {
            Ok(v)
        } else {
            Err(FormError::new(
                name,
                format!("must be one of {}", allowed.join(", ")),
            ))
        }
    }

    fn code(&mut self, name: &str) -> Checking<String> {
        let v = self.text(name, 64)?;
        if v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        {
            Ok(v)
        } else {
            Err(FormError::new(
                name,
                "may hold only letters, digits, '_', '.' and '-'",
            ))
        }
    }

    /// The checked form, or an error naming the first field nobody asked for.
    fn done(self) -> Checking<Value> {
        if let Some(unknown) = self.map.keys().next() {
            return Err(FormError::new(
                unknown.clone(),
                "is not a field of this form",
            ));
        }
        Ok(Value::Object(self.out))
    }
}

/// `division` and every division below it hold `code`.
const IN_SUBTREE: &str = "WITH RECURSIVE sub(code) AS (
        SELECT code FROM divisions WHERE code = $2
        UNION SELECT d.code FROM divisions d JOIN sub ON d.parent_code = sub.code)";

/// The id and status of site `code` in `division` (or below it).
async fn site_in(
    conn: &mut PgConnection,
    code: &str,
    division: &str,
) -> sqlx::Result<Option<(i64, String)>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{IN_SUBTREE} SELECT id, status FROM hazard_sites
         WHERE code = $1 AND division_code IN (SELECT code FROM sub)"
    )))
    .bind(code)
    .bind(division)
    .fetch_optional(conn)
    .await
}

async fn existing_site(
    conn: &mut PgConnection,
    f: &mut Fields,
    division: &str,
) -> Result<Checking<i64>, sqlx::Error> {
    let code = match f.code("site_code") {
        Ok(c) => c,
        Err(e) => return Ok(Err(e)),
    };
    Ok(match site_in(conn, &code, division).await? {
        Some((id, _)) => Ok(id),
        None => Err(FormError::new(
            "site_code",
            format!("no site {code} is registered in your division"),
        )),
    })
}

/// Whether another open request of `kind` concerns the same thing (`field` of its form).
async fn open_request(
    conn: &mut PgConnection,
    kind: &str,
    field: &str,
    value: &str,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar(
        "SELECT id FROM approval_instances
         WHERE kind = $1 AND state IN ('pending', 'returned') AND form ->> $2 = $3 LIMIT 1",
    )
    .bind(kind)
    .bind(field)
    .bind(value)
    .fetch_optional(conn)
    .await
}

macro_rules! field {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        }
    };
}

/// Rule parameters: an object of numbers (or of objects of numbers, one level down).
fn params_ok(v: &Value, depth: usize) -> bool {
    match v {
        Value::Number(n) => n.as_f64().is_some_and(f64::is_finite),
        Value::Bool(_) => true,
        Value::Object(m) if depth < 2 => {
            !m.is_empty() && m.values().all(|v| params_ok(v, depth + 1))
        }
        _ => false,
    }
}

async fn check_form(
    conn: &mut PgConnection,
    kind: &str,
    division: &str,
    form: &Value,
    attachments: &[Attachment],
) -> Result<Checking<Checked>, sqlx::Error> {
    let mut f = field!(Fields::new(form));
    let site_id = match kind {
        "site.register" => {
            let code = field!(f.code("code"));
            field!(f.text("name", 200));
            let kind_name = field!(f.text("kind", 32));
            if kind_name.parse::<SiteKind>().is_err() {
                return Ok(Err(FormError::new(
                    "kind",
                    format!(
                        "must be one of {}",
                        SiteKind::ALL
                            .iter()
                            .map(|k| k.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )));
            }
            field!(f.number("longitude", -180.0, 180.0));
            field!(f.number("latitude", -90.0, 90.0));
            field!(f.number_opt("threatened_people", 0.0, 1.0e7));
            field!(f.number_opt("threatened_property", 0.0, 1.0e9));
            let taken: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM hazard_sites WHERE code = $1)")
                    .bind(&code)
                    .fetch_one(&mut *conn)
                    .await?;
            if taken {
                return Ok(Err(FormError::new(
                    "code",
                    format!("a site {code} is already registered"),
                )));
            }
            if let Some(other) = open_request(conn, kind, "code", &code).await? {
                return Ok(Err(FormError::new(
                    "code",
                    format!("request {other} already asks to register {code}"),
                )));
            }
            None
        }
        "site.retire" => {
            let site = field!(existing_site(conn, &mut f, division).await?);
            let code = form["site_code"]
                .as_str()
                .unwrap_or_default()
                .trim()
                .to_owned();
            let status: String =
                sqlx::query_scalar("SELECT status FROM hazard_sites WHERE id = $1")
                    .bind(site)
                    .fetch_one(&mut *conn)
                    .await?;
            if status == "closed" {
                return Ok(Err(FormError::new(
                    "site_code",
                    "the site is already retired",
                )));
            }
            if let Some(other) = open_request(conn, kind, "site_code", &code).await? {
                return Ok(Err(FormError::new(
                    "site_code",
                    format!("request {other} already asks to retire {code}"),
                )));
            }
            field!(f.text("reason", 2000));
            field!(f.text("remediation", 2000));
            Some(site)
        }
        "risk.assessment" => {
            field!(f.text("project_name", 200));
            field!(f.text("builder", 200));
            field!(f.text("assessment_org", 200));
            field!(f.one_of("risk_level", &["low", "medium", "high"]));
            field!(f.number("longitude", -180.0, 180.0));
            field!(f.number("latitude", -90.0, 90.0));
            if attachments.is_empty() {
                return Ok(Err(FormError::new(
                    "attachments",
                    "the assessment report must be attached",
                )));
            }
            None
        }
        "device.acceptance" => {
            let code = field!(f.code("gateway_code"));
            field!(f.text_opt("notes", 2000));
            let found: Option<(Option<i64>, bool)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{IN_SUBTREE} SELECT g.site_id, g.accepted_at IS NOT NULL FROM gateways g
                 JOIN hazard_sites h ON h.id = g.site_id
                 WHERE g.code = $1 AND h.division_code IN (SELECT code FROM sub)"
            )))
            .bind(&code)
            .bind(division)
            .fetch_optional(&mut *conn)
            .await?;
            match found {
                None => {
                    return Ok(Err(FormError::new(
                        "gateway_code",
                        format!("no gateway {code} is installed on a site of your division"),
                    )));
                }
                Some((_, true)) => {
                    return Ok(Err(FormError::new("gateway_code", "already accepted")));
                }
                Some((site, false)) => site,
            }
        }
        "plan.approval" => {
            let site = field!(existing_site(conn, &mut f, division).await?);
            field!(f.text("plan_ref", 200));
            field!(f.text("plan_title", 200));
            Some(site)
        }
        "threshold.change" => {
            let site = field!(existing_site(conn, &mut f, division).await?);
            let sensor = field!(f.integer("sensor_id", 1, i64::from(i32::MAX)));
            let on_site: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM sensors WHERE id = $1 AND site_id = $2)",
            )
            .bind(sensor as i32)
            .bind(site)
            .fetch_one(&mut *conn)
            .await?;
            if !on_site {
                return Ok(Err(FormError::new(
                    "sensor_id",
                    "no such sensor on that site",
                )));
            }
            field!(f.one_of(
                "rule",
                &["threshold", "rate", "rainfall", "trend", "health"]
            ));
            let params = f.map.remove("params").unwrap_or(Value::Null);
            if !matches!(params, Value::Object(_)) || !params_ok(&params, 0) {
                return Ok(Err(FormError::new(
                    "params",
                    "must be an object of numbers (the rule's parameters)",
                )));
            }
            f.out.insert("params".into(), params);
            field!(f.text_opt("backtest_ref", 500));
            field!(f.text_opt("reason", 2000));
            Some(site)
        }
        other => {
            return Ok(Err(FormError::new(
                "kind",
                format!("no approval kind {other}"),
            )));
        }
    };
    let form = field!(f.done());
    Ok(Ok(Checked { site_id, form }))
}

async fn apply_effect(
    conn: &mut PgConnection,
    effect: &str,
    instance: i64,
    division: &str,
    form: &Value,
) -> Result<Checking<Value>, sqlx::Error> {
    let s = |k: &str| form[k].as_str().unwrap_or_default().to_owned();
    Ok(match effect {
        "none" => Ok(json!({})),
        "site.register" => {
            let id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO hazard_sites (code, name, kind, division_code, longitude, latitude,
                     threatened_people, threatened_property, registered_by_approval)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (code) DO NOTHING RETURNING id",
            )
            .bind(s("code"))
            .bind(s("name"))
            .bind(s("kind"))
            .bind(division)
            .bind(form["longitude"].as_f64())
            .bind(form["latitude"].as_f64())
            .bind(form["threatened_people"].as_f64().unwrap_or(0.0) as i32)
            .bind(form["threatened_property"].as_f64().unwrap_or(0.0))
            .bind(instance)
            .fetch_optional(&mut *conn)
            .await?;
            match id {
                Some(id) => Ok(json!({"site_id": id})),
                None => Err(FormError::new(
                    "code",
                    "a site with this code was registered meanwhile",
                )),
            }
        }
        "site.retire" => {
            let id: Option<i64> = sqlx::query_scalar(
                "UPDATE hazard_sites SET status = 'closed', retired_at = now(), retired_by_approval = $2,
                     version = version + 1, updated_at = now()
                 WHERE code = $1 AND status <> 'closed' RETURNING id",
            )
            .bind(s("site_code"))
            .bind(instance)
            .fetch_optional(&mut *conn)
            .await?;
            id.map(|id| json!({"site_id": id}))
                .ok_or_else(|| FormError::new("site_code", "the site was retired meanwhile"))
        }
        "device.acceptance" => {
            let id: Option<i64> = sqlx::query_scalar(
                "UPDATE gateways SET accepted_at = now(), accepted_by_approval = $2
                 WHERE code = $1 AND accepted_at IS NULL RETURNING id",
            )
            .bind(s("gateway_code"))
            .bind(instance)
            .fetch_optional(&mut *conn)
            .await?;
            id.map(|id| json!({"gateway_id": id}))
                .ok_or_else(|| FormError::new("gateway_code", "the gateway was accepted meanwhile"))
        }
        "plan.approval" => {
            let site: i64 = sqlx::query_scalar("SELECT id FROM hazard_sites WHERE code = $1")
                .bind(s("site_code"))
                .fetch_one(&mut *conn)
                .await?;
            sqlx::query(
                "INSERT INTO site_plan_approvals (site_id, plan_ref, approval_id) VALUES ($1, $2, $3)
                 ON CONFLICT (site_id, plan_ref)
                 DO UPDATE SET approval_id = EXCLUDED.approval_id, approved_at = now()",
            )
            .bind(site)
            .bind(s("plan_ref"))
            .bind(instance)
            .execute(&mut *conn)
            .await?;
            Ok(json!({"site_id": site, "plan_ref": s("plan_ref")}))
        }
        "threshold.change" => {
            let sensor = form["sensor_id"].as_i64().unwrap_or_default() as i32;
            let before: Option<Value> = sqlx::query_scalar(
                "SELECT params FROM analyzer_rules WHERE scope = 'sensor' AND sensor_id = $1 AND rule = $2",
            )
            .bind(sensor)
            .bind(s("rule"))
            .fetch_optional(&mut *conn)
            .await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO analyzer_rules (scope, sensor_id, rule, params) VALUES ('sensor', $1, $2, $3)
                 ON CONFLICT (scope, sensor_kind, site_id, sensor_id, rule)
                 DO UPDATE SET params = EXCLUDED.params, updated_at = now() RETURNING id",
            )
            .bind(sensor)
            .bind(s("rule"))
            .bind(&form["params"])
            .fetch_one(&mut *conn)
            .await?;
            Ok(json!({"rule_id": id, "params_before": before, "params": form["params"]}))
        }
        other => Err(FormError::new("kind", format!("no effect {other}"))),
    })
}

impl Effects for Shipped {
    fn check<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        kind: &'a str,
        division: &'a str,
        form: &'a Value,
        attachments: &'a [Attachment],
    ) -> BoxFuture<'a, Result<Result<Checked, FormError>, sqlx::Error>> {
        Box::pin(check_form(conn, kind, division, form, attachments))
    }

    fn apply<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        effect: &'a str,
        instance: i64,
        division: &'a str,
        form: &'a Value,
    ) -> BoxFuture<'a, Result<Result<Value, FormError>, sqlx::Error>> {
        Box::pin(apply_effect(conn, effect, instance, division, form))
    }
}
