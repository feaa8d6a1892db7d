//! Each site's emergency plan and its prevention card (防灾明白卡): the page village households
//! are given, one A4 page in Chinese: the hazard, the signal, where to run, whom to call.

use chrono::{DateTime, Utc};
use geohazard_domain::{OfficerId, PersonId, Scope, SiteId, SiteKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgConnection;

/// Whom to call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub name: String,
    pub role: String,
    pub phone: String,
}

/// Where to gather.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssemblyPoint {
    pub name: String,
    pub longitude: f64,
    pub latitude: f64,
    #[serde(default)]
    pub capacity: Option<u32>,
}

/// A site's plan as written (`PUT /api/v1/sites/{id}/plan`).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanInput {
    pub contacts: Vec<Contact>,
    /// GeoJSON FeatureCollection of LineStrings (each feature's `properties.name` its name).
    #[schema(value_type = Object)]
    pub routes: Value,
    pub assembly_points: Vec<AssemblyPoint>,
    pub signal: String,
    #[serde(default)]
    pub resources: String,
}

impl PlanInput {
    /// What is wrong with it, naming the field; `None` when it may be stored.
    pub fn problem(&self) -> Option<String> {
        let long = |s: &str, max: usize| s.chars().count() > max;
        if self.contacts.len() > 20 {
            return Some("contacts: at most 20".into());
        }
        for (i, c) in self.contacts.iter().enumerate() {
            if c.name.trim().is_empty() || long(&c.name, 50) || long(&c.role, 50) {
                return Some(format!(
                    "contacts[{i}]: a name of 1 to 50 characters, a role of at most 50"
                ));
            }
            if !(5..=20).contains(&c.phone.len())
                || !c.phone.bytes().all(|b| b.is_ascii_digit() || b == b'-')
            {
                return Some(format!("contacts[{i}].phone: 5 to 20 digits"));
            }
        }
        if self.assembly_points.len() > 20 {
            return Some("assembly_points: at most 20".into());
        }
        for (i, p) in self.assembly_points.iter().enumerate() {
            if p.name.trim().is_empty() || long(&p.name, 100) {
                return Some(format!("assembly_points[{i}].name: 1 to 100 characters"));
            }
            if !(-180.0..=180.0).contains(&p.longitude) || !(-90.0..=90.0).contains(&p.latitude) {
                return Some(format!(
                    "assembly_points[{i}]: longitude and latitude out of range"
                ));
            }
        }
        if long(&self.signal, 500) {
            return Some("signal: at most 500 characters".into());
        }
        if long(&self.resources, 1000) {
            return Some("resources: at most 1000 characters".into());
        }
        let lines_ok = self.routes["type"] == "FeatureCollection"
            && self.routes["features"].as_array().is_some_and(|f| {
                f.len() <= 20
                    && f.iter().all(|x| {
                        x["geometry"]["type"] == "LineString"
                            && x["geometry"]["coordinates"].as_array().is_some_and(|c| {
                                c.len() >= 2
                                    && c.iter().all(|p| {
                                        p.as_array().is_some_and(|p| {
                                            p.len() >= 2
                                                && p[0]
                                                    .as_f64()
                                                    .is_some_and(|x| (-180.0..=180.0).contains(&x))
                                                && p[1]
                                                    .as_f64()
                                                    .is_some_and(|y| (-90.0..=90.0).contains(&y))
                                        })
                                    })
                            })
                    })
            });
        if !lines_ok {
            return Some("routes: a GeoJSON FeatureCollection of at most 20 LineStrings".into());
        }
        None
    }
}

/// A site's plan as read, with what the card prints of the site.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Plan {
    pub site_id: SiteId,
    pub site_code: String,
    pub site_name: String,
    pub site_kind: String,
    #[serde(rename = "division")]
    pub division_code: String,
    pub division_name: String,
    pub longitude: f64,
    pub latitude: f64,
    pub threatened_people: i32,
    pub scale_class: Option<String>,
    #[sqlx(json)]
    pub contacts: Vec<Contact>,
    #[schema(value_type = Object)]
    pub routes: Value,
    #[sqlx(json)]
    pub assembly_points: Vec<AssemblyPoint>,
    pub signal: String,
    pub resources: String,
    pub updated_at: Option<DateTime<Utc>>,
}

/// Who reads: anyone in scope, or a village monitor only for the sites they answer for.
#[derive(Debug, Clone, Copy)]
pub enum Reader {
    Scope,
    Monitor(PersonId),
}

/// A site's plan in scope (empty fields when none is written yet); `None` when the site is not
/// in scope or not the monitor's.
pub async fn get(
    db: impl sqlx::PgExecutor<'_>,
    scope: &Scope,
    reader: Reader,
    site: SiteId,
) -> sqlx::Result<Option<Plan>> {
    let person = match reader {
        Reader::Scope => None,
        Reader::Monitor(p) => Some(p),
    };
    sqlx::query_as(
        "SELECT h.id AS site_id, h.code AS site_code, h.name AS site_name, h.kind AS site_kind,
                h.division_code, d.name AS division_name, h.longitude, h.latitude,
                h.threatened_people, h.scale_class,
                COALESCE(p.contacts, '[]') AS contacts,
                COALESCE(p.routes, '{\"type\": \"FeatureCollection\", \"features\": []}') AS routes,
                COALESCE(p.assembly_points, '[]') AS assembly_points,
                COALESCE(p.signal, '') AS signal, COALESCE(p.resources, '') AS resources, p.updated_at
         FROM hazard_sites h JOIN divisions d ON d.code = h.division_code
         LEFT JOIN site_plans p ON p.site_id = h.id
         WHERE h.id = $1 AND h.division_code = ANY($2)
           AND ($3::bigint IS NULL OR EXISTS (SELECT 1 FROM site_responsibles r
                                              WHERE r.site_id = h.id AND r.person_id = $3))",
    )
    .bind(site)
    .bind(scope.divisions())
    .bind(person)
    .fetch_optional(db)
    .await
}

/// Writes a site's plan (the site in scope): `false` when it is not.
pub async fn put(
    conn: &mut PgConnection,
    scope: &Scope,
    site: SiteId,
    plan: &PlanInput,
    by: OfficerId,
) -> sqlx::Result<bool> {
    let written = sqlx::query(
        "INSERT INTO site_plans (site_id, contacts, routes, assembly_points, signal, resources, updated_by)
         SELECT h.id, $3, $4, $5, $6, $7, $8 FROM hazard_sites h
         WHERE h.id = $1 AND h.division_code = ANY($2)
         ON CONFLICT (site_id) DO UPDATE SET contacts = EXCLUDED.contacts, routes = EXCLUDED.routes,
             assembly_points = EXCLUDED.assembly_points, signal = EXCLUDED.signal,
             resources = EXCLUDED.resources, updated_by = EXCLUDED.updated_by, updated_at = now()",
    )
    .bind(site)
    .bind(scope.divisions())
    .bind(sqlx::types::Json(&plan.contacts))
    .bind(&plan.routes)
    .bind(sqlx::types::Json(&plan.assembly_points))
    .bind(&plan.signal)
    .bind(&plan.resources)
    .bind(by)
    .execute(conn)
    .await?;
    Ok(written.rows_affected() == 1)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The prevention card: a self-contained zh-CN HTML page sized for one A4 sheet.
pub fn card_html(p: &Plan) -> String {
    let contacts: String = p
        .contacts
        .iter()
        .map(|c| {
            format!(
                "<tr><td>{}</td><td>{}</td><td class=\"phone\">{}</td></tr>",
                esc(&c.role),
                esc(&c.name),
                esc(&c.phone)
            )
        })
        .collect();
    let routes: String = p.routes["features"]
        .as_array()
        .map(|f| {
            f.iter()
                .map(|x| {
                    format!(
                        "<li>{}</li>",
                        esc(x["properties"]["name"].as_str().unwrap_or("撤离路线"))
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let points: String = p
        .assembly_points
        .iter()
        .map(|a| {
            format!(
                "<li>{}（东经 {:.4}°，北纬 {:.4}°{}）</li>",
                esc(&a.name),
                a.longitude,
                a.latitude,
                a.capacity
                    .map(|c| format!("，可容纳 {c} 人"))
                    .unwrap_or_default()
            )
        })
        .collect();
    format!(
        r#"<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>防灾明白卡 · {name}</title>
<style>
@page {{ size: A4; margin: 14mm; }}
body {{ font-family: "Noto Sans CJK SC", "Noto Sans SC", "Microsoft YaHei", sans-serif; font-size: 11pt; color: #000; margin: 0; }}
h1 {{ text-align: center; font-size: 20pt; margin: 0 0 4mm; letter-spacing: 4pt; }}
h2 {{ font-size: 12.5pt; margin: 4mm 0 1.5mm; border-left: 4pt solid #000; padding-left: 2mm; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border: 0.6pt solid #000; padding: 1.2mm 2mm; text-align: left; vertical-align: top; }}
th {{ width: 28%; background: #eee; }}
.phone {{ font-size: 13pt; font-weight: bold; }}
.signal {{ font-size: 13pt; font-weight: bold; border: 1.2pt solid #000; padding: 2mm; }}
ul {{ margin: 0; padding-left: 6mm; }}
.foot {{ margin-top: 4mm; font-size: 9pt; color: #333; }}
</style></head><body>
<h1>地质灾害防灾避险明白卡</h1>
<table>
<tr><th>隐患点名称</th><td>{name}（编号 {code}）</td></tr>
<tr><th>灾害类型</th><td>{kind}</td></tr>
<tr><th>所在地</th><td>{division}　东经 {lon:.4}°，北纬 {lat:.4}°</td></tr>
<tr><th>威胁人数</th><td>{people} 人</td></tr>
</table>
<h2>预警信号</h2>
<p class="signal">{signal}</p>
<h2>撤离路线</h2>
<ul>{routes}</ul>
<h2>避险安置点</h2>
<ul>{points}</ul>
<h2>联系电话</h2>
<table>{contacts}</table>
{resources}
<p class="foot">发现山体开裂、房屋墙体开裂、地面鼓胀、井水突然浑浊、异常响声等险情，立即撤离并报告。本卡请张贴在醒目位置。</p>
</body></html>"#,
        name = esc(&p.site_name),
        code = esc(&p.site_code),
        kind = p
            .site_kind
            .parse::<SiteKind>()
            .map_or("地质灾害", SiteKind::name_zh),
        division = esc(&p.division_name),
        lon = p.longitude,
        lat = p.latitude,
        people = p.threatened_people,
        signal = if p.signal.is_empty() {
            "（未填写）".to_owned()
        } else {
            esc(&p.signal)
        },
        routes = routes,
        points = points,
        contacts = contacts,
        resources = if p.resources.is_empty() {
            String::new()
        } else {
            format!("<h2>应急物资</h2><p>{}</p>", esc(&p.resources))
        },
    )
}
