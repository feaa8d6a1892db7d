//! The register's people, gateways and sensors as files (XLSX or CSV, one row an entry under
//! the usual Chinese headings), read and written like the register of sites
//! ([`crate::site_file`]): every row checked and applied in the caller's transaction through
//! the same code as a change from the console, each problem reported by row and column; a row
//! naming an entry already in scope (a person by phone, else by name and division; a gateway
//! by code; a sensor by gateway and point) updates it, so an export imported again changes
//! nothing. The caller commits only when no row is bad.

use std::collections::HashMap;

use geohazard_domain::{AuditAction, Scope, SensorId, SensorKind, SiteId, catalogue};
use serde_json::{Value, json};
use sqlx::PgConnection;

use crate::gateway_keys::{self, GatewayInput, Registered};
use crate::people::{self, PersonInput};
use crate::sensor_edit::{self, Saved, SensorInput};
use crate::site_file::ImportSummary;
use crate::site_input::{self, FieldError, Reason};
use crate::table_file::{Cell, Columns, Layout, RowProblem, Table};

geohazard_domain::closed_set!(
    /// A list of the register kept as a file, by its name in the API's paths
    /// (`/api/v1/register/<list>/import`) and in a file's name (`people-511525.xlsx`).
    List {
        People => "people",
        Gateways => "gateways",
        Sensors => "sensors",
    }
);

const SITE_CODE_ALIASES: [(&str, &str); 4] = [
    ("统一编号", "site_code"),
    ("灾害点编号", "site_code"),
    ("隐患点", "site_code"),
    ("site", "site_code"),
];

const PEOPLE: Layout = Layout {
    fields: &["name", "phone", "division_code"],
    aliases: &[
        ("人员", "name"),
        ("电话", "phone"),
        ("手机", "phone"),
        ("手机号", "phone"),
        ("手机号码", "phone"),
        ("行政区划", "division_code"),
        ("区划代码", "division_code"),
        ("行政区代码", "division_code"),
    ],
    named: &[("name", "姓名")],
    sheet: "人员",
};

const GATEWAYS: Layout = Layout {
    fields: &["gateway_code", "name", "site_code"],
    aliases: &[
        ("网关", "gateway_code"),
        ("code", "gateway_code"),
        ("设备编号", "gateway_code"),
        ("网关名称", "name"),
        SITE_CODE_ALIASES[0],
        SITE_CODE_ALIASES[1],
        SITE_CODE_ALIASES[2],
        SITE_CODE_ALIASES[3],
    ],
    named: &[],
    sheet: "网关",
};

const SENSORS: Layout = Layout {
    fields: &[
        "site_code",
        "gateway_code",
        "channel",
        "kind",
        "unit",
        "sampling_interval_s",
        "longitude",
        "latitude",
        "elevation_m",
        "depth_m",
        "active",
    ],
    aliases: &[
        SITE_CODE_ALIASES[0],
        SITE_CODE_ALIASES[1],
        SITE_CODE_ALIASES[2],
        SITE_CODE_ALIASES[3],
        ("网关", "gateway_code"),
        ("测点", "channel"),
        ("通道", "channel"),
        ("测点编号", "channel"),
        ("类型", "kind"),
        ("传感器", "kind"),
        ("采样间隔", "sampling_interval_s"),
        ("采样间隔(s)", "sampling_interval_s"),
        ("东经", "longitude"),
        ("北纬", "latitude"),
        ("高程", "elevation_m"),
        ("埋深", "depth_m"),
        ("深度", "depth_m"),
        ("是否启用", "active"),
    ],
    named: &[],
    sheet: "传感器",
};

impl List {
    pub fn layout(self) -> &'static Layout {
        match self {
            List::People => &PEOPLE,
            List::Gateways => &GATEWAYS,
            List::Sensors => &SENSORS,
        }
    }
}

/// One entry changed by an import, for the audit log (before: none when added).
#[derive(Debug, Clone)]
pub struct Change {
    pub action: AuditAction,
    pub target: String,
    pub division_code: Option<String>,
    pub before: Option<Value>,
    pub after: Value,
}

/// What an import did in its transaction: commit it only when `problems` is empty.
#[derive(Debug, Default)]
pub struct Imported {
    pub summary: ImportSummary,
    pub changes: Vec<Change>,
    pub problems: Vec<RowProblem>,
    pub ignored_columns: Vec<String>,
    /// Rows read (blank rows left out).
    pub rows: usize,
}

/// What one row did.
enum Applied {
    Unchanged,
    Changed(Change),
}

type RowResult = sqlx::Result<Result<Applied, Vec<FieldError>>>;

/// Reads and applies every row of `table` in `tx` for an officer with `scope`; rows naming no
/// division take `default_division`. Report texts are in `lang`.
pub async fn import(
    tx: &mut PgConnection,
    scope: &Scope,
    list: List,
    table: &Table,
    default_division: Option<&str>,
    lang: &str,
) -> sqlx::Result<Imported> {
    let columns = list.layout().columns(table);
    let mut imported = Imported {
        ignored_columns: columns.ignored.clone(),
        ..Imported::default()
    };
    let mut seen: HashMap<String, u32> = HashMap::new();
    for (row, cells) in table.filled_rows() {
        imported.rows += 1;
        let (key_field, key) = match list {
            List::People => match columns.text(cells, "phone") {
                Some(phone) => ("phone", phone.replace([' ', '-'], "")),
                None => (
                    "name",
                    format!(
                        "{}\u{1f}{}",
                        columns.text(cells, "name").unwrap_or_default(),
                        columns
                            .text(cells, "division_code")
                            .or(default_division.map(str::to_owned))
                            .unwrap_or_default()
                    ),
                ),
            },
            List::Gateways => (
                "gateway_code",
                columns.text(cells, "gateway_code").unwrap_or_default(),
            ),
            List::Sensors => (
                "channel",
                format!(
                    "{}\u{1f}{}",
                    columns.text(cells, "gateway_code").unwrap_or_default(),
                    columns.text(cells, "channel").unwrap_or_default()
                ),
            ),
        };
        let duplicate = !key.trim_matches('\u{1f}').is_empty()
            && seen.insert(key.to_lowercase(), *row).is_some();
        let applied = if duplicate {
            let value = columns.text(cells, key_field).unwrap_or_default();
            Ok(Err(vec![FieldError::new(
                key_field,
                value,
                Reason::DuplicateRow,
            )]))
        } else {
            match list {
                List::People => person_row(tx, scope, &columns, cells, default_division).await,
                List::Gateways => gateway_row(tx, scope, &columns, cells).await,
                List::Sensors => sensor_row(tx, scope, &columns, cells).await,
            }
        };
        match applied? {
            Ok(Applied::Unchanged) => imported.summary.unchanged += 1,
            Ok(Applied::Changed(change)) => {
                if change.before.is_some() {
                    imported.summary.updated += 1;
                } else {
                    imported.summary.created += 1;
                }
                imported.changes.push(change);
            }
            Err(errors) => imported
                .problems
                .extend(columns.problems(*row, errors, lang)),
        }
    }
    Ok(imported)
}

fn changed<T: serde::Serialize + PartialEq>(
    action: AuditAction,
    target: String,
    division_code: Option<String>,
    before: Option<T>,
    after: T,
) -> Applied {
    if before.as_ref() == Some(&after) {
        return Applied::Unchanged;
    }
    Applied::Changed(Change {
        action,
        target,
        division_code,
        before: before.map(|b| json!(b)),
        after: json!(after),
    })
}

async fn person_row(
    tx: &mut PgConnection,
    scope: &Scope,
    columns: &Columns,
    cells: &[Value],
    default_division: Option<&str>,
) -> RowResult {
    let input = PersonInput {
        name: columns.text(cells, "name"),
        phone: columns.text(cells, "phone"),
        division_code: columns
            .text(cells, "division_code")
            .or(default_division.map(str::to_owned)),
    };
    let rec = match people::check_person(&input, scope) {
        Ok(rec) => rec,
        Err(errors) => return Ok(Err(errors)),
    };
    let known: Option<geohazard_domain::PersonId> = sqlx::query_scalar(
        "SELECT id FROM people
         WHERE division_code = ANY($1)
           AND CASE WHEN $2::text IS NULL THEN phone IS NULL AND name = $3 AND division_code = $4
                    ELSE phone = $2 END
         ORDER BY id LIMIT 1",
    )
    .bind(scope.divisions())
    .bind(&rec.phone)
    .bind(&rec.name)
    .bind(&rec.division_code)
    .fetch_optional(&mut *tx)
    .await?;
    let (before, after) = match known {
        Some(id) => {
            let before = people::get(tx, scope, id).await?;
            if before.as_ref().is_some_and(|b| {
                b.name == rec.name && b.phone == rec.phone && b.division_code == rec.division_code
            }) {
                return Ok(Ok(Applied::Unchanged));
            }
            match people::update(tx, scope, id, &rec).await? {
                Some((before, after)) => (Some(before), after),
                None => return Ok(Ok(Applied::Unchanged)),
            }
        }
        None => (None, people::create(tx, scope, &rec).await?),
    };
    let action = if before.is_some() {
        AuditAction::PersonUpdate
    } else {
        AuditAction::PersonCreate
    };
    Ok(Ok(changed(
        action,
        format!("person:{}", after.id.0),
        Some(after.division_code.clone()),
        before,
        after,
    )))
}

/// The site in scope with the code in the row's `site_code`, or the problem with it.
async fn site_of_row(
    tx: &mut PgConnection,
    scope: &Scope,
    columns: &Columns,
    cells: &[Value],
    errors: &mut Vec<FieldError>,
) -> sqlx::Result<Option<SiteId>> {
    let Some(code) = site_input::checked_text(
        errors,
        "site_code",
        columns.text(cells, "site_code").as_deref(),
        64,
        true,
    ) else {
        return Ok(None);
    };
    let site: Option<SiteId> = sqlx::query_scalar(
        "SELECT id FROM hazard_sites WHERE lower(code) = lower($1) AND division_code = ANY($2)",
    )
    .bind(&code)
    .bind(scope.divisions())
    .fetch_optional(&mut *tx)
    .await?;
    if site.is_none() {
        errors.push(FieldError::new("site_code", code, Reason::OutOfScope));
    }
    Ok(site)
}

/// A problem the register names by the API's field, named by the file's column instead.
fn in_file_terms(errors: Vec<FieldError>) -> Vec<FieldError> {
    errors
        .into_iter()
        .map(|mut e| {
            e.field = match e.field {
                "site_id" => "site_code",
                "code" => "gateway_code",
                other => other,
            };
            e
        })
        .collect()
}

async fn gateway_row(
    tx: &mut PgConnection,
    scope: &Scope,
    columns: &Columns,
    cells: &[Value],
) -> RowResult {
    let mut errors = Vec::new();
    let site_id = site_of_row(tx, scope, columns, cells, &mut errors).await?;
    if !errors.is_empty() {
        return Ok(Err(errors));
    }
    let input = GatewayInput {
        code: columns.text(cells, "gateway_code"),
        name: columns.text(cells, "name"),
        site_id,
    };
    Ok(match gateway_keys::register(tx, scope, &input).await? {
        Registered::Invalid(errors) => Err(in_file_terms(errors)),
        Registered::Done(change) => {
            let (before, after) = *change;
            Ok(changed(
                AuditAction::GatewayRegister,
                format!("gateway:{}", after.code),
                after.division_code.clone(),
                before,
                after,
            ))
        }
    })
}

/// A sensor kind's Chinese label, as the export writes it (`SensorKind::by_name` reads it back).
fn kind_zh(kind: SensorKind) -> String {
    catalogue::message(&format!("sensor.kind.{}", kind.as_str()), "zh-CN")
        .unwrap_or(kind.as_str())
        .to_owned()
}

fn active_of(text: &str) -> Option<bool> {
    match text.trim().to_lowercase().as_str() {
        "是" | "启用" | "true" | "yes" | "y" | "1" => Some(true),
        "否" | "停用" | "false" | "no" | "n" | "0" => Some(false),
        _ => None,
    }
}

/// A number of the row (decimal degrees or degrees-minutes-seconds for a coordinate).
fn number_of_row(
    columns: &Columns,
    cells: &[Value],
    field: &'static str,
    errors: &mut Vec<FieldError>,
) -> Option<f64> {
    let text = columns.text(cells, field)?;
    let parsed = match field {
        "longitude" | "latitude" => site_input::parse_degrees(&text),
        _ => text.trim().parse::<f64>().ok().filter(|v| v.is_finite()),
    };
    if parsed.is_none() {
        let reason = match field {
            "longitude" | "latitude" => Reason::BadCoordinate,
            _ => Reason::NotANumber,
        };
        errors.push(FieldError::new(field, text, reason));
    }
    parsed
}

async fn sensor_row(
    tx: &mut PgConnection,
    scope: &Scope,
    columns: &Columns,
    cells: &[Value],
) -> RowResult {
    let mut errors = Vec::new();
    let site_id = site_of_row(tx, scope, columns, cells, &mut errors).await?;
    let mut number = |field| number_of_row(columns, cells, field, &mut errors);
    let longitude = number("longitude");
    let latitude = number("latitude");
    let elevation_m = number("elevation_m");
    let depth_m = number("depth_m");
    let interval = number("sampling_interval_s");
    let sampling_interval_s = match interval {
        Some(v) if v.fract() != 0.0 => {
            errors.push(FieldError::new(
                "sampling_interval_s",
                v.to_string(),
                Reason::NotAWholeNumber,
            ));
            None
        }
        other => other.map(|v| v.clamp(i64::MIN as f64, i64::MAX as f64) as i64),
    };
    let active = match columns.text(cells, "active") {
        None => None,
        Some(text) => match active_of(&text) {
            Some(a) => Some(a),
            None => {
                errors.push(FieldError::new("active", text, Reason::UnknownStatus));
                None
            }
        },
    };
    let kind = columns
        .text(cells, "kind")
        .map(|k| SensorKind::by_name(&k).map_or(k, |kind| kind.as_str().to_owned()));
    if !errors.is_empty() {
        return Ok(Err(errors));
    }
    let input = SensorInput {
        gateway_code: columns.text(cells, "gateway_code"),
        channel: columns.text(cells, "channel"),
        site_id,
        kind,
        unit: columns.text(cells, "unit"),
        sampling_interval_s,
        longitude,
        latitude,
        elevation_m,
        depth_m,
        active,
    };
    let known: Option<SensorId> = sqlx::query_scalar(
        "SELECT se.id FROM sensors se JOIN gateways g ON g.id = se.gateway_id
         WHERE g.code = $1 AND se.channel = $2",
    )
    .bind(&input.gateway_code)
    .bind(&input.channel)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(match sensor_edit::save(tx, scope, known, &input).await? {
        Saved::Invalid(errors) => Err(in_file_terms(errors)),
        // The point belongs to a sensor of another division.
        Saved::NotFound => Err(vec![FieldError::new(
            "gateway_code",
            input.gateway_code.unwrap_or_default(),
            Reason::OutOfScope,
        )]),
        Saved::Done(change) => {
            let (before, after) = *change;
            Ok(changed(
                AuditAction::SensorRegister,
                format!("sensor:{}", after.id.0),
                Some(after.division_code.clone()),
                before,
                after,
            ))
        }
    })
}

/// The list in scope as rows under its layout's headings (what an import reads back).
pub async fn export(
    db: &mut PgConnection,
    scope: &Scope,
    list: List,
) -> sqlx::Result<Vec<Vec<Cell>>> {
    let text = |t: &str| Cell::Text(t.to_owned());
    Ok(match list {
        List::People => people::list(db, scope, None)
            .await?
            .into_iter()
            .map(|p| {
                vec![
                    text(&p.name),
                    Cell::text(p.phone.as_deref()),
                    text(&p.division_code),
                ]
            })
            .collect(),
        List::Gateways => gateway_keys::list(db, scope)
            .await?
            .into_iter()
            .map(|g| {
                vec![
                    text(&g.code),
                    text(&g.name),
                    Cell::text(g.site_code.as_deref()),
                ]
            })
            .collect(),
        List::Sensors => sensor_edit::list(db, scope, None)
            .await?
            .into_iter()
            .map(|s| {
                vec![
                    text(&s.site_code),
                    text(&s.gateway_code),
                    text(&s.channel),
                    Cell::Text(kind_zh(s.kind)),
                    text(&s.unit),
                    Cell::Number(s.sampling_interval_s.into()),
                    Cell::number(s.longitude),
                    Cell::number(s.latitude),
                    Cell::number(s.elevation_m),
                    Cell::number(s.depth_m),
                    text(if s.active { "是" } else { "否" }),
                ]
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usual_headings_of_each_list_find_their_fields() {
        for (list, heading, field) in [
            (List::People, "姓名", "name"),
            (List::People, "手机号码", "phone"),
            (List::People, "行政区划代码", "division_code"),
            (List::Gateways, "网关编号", "gateway_code"),
            (List::Gateways, "统一编号", "site_code"),
            (List::Sensors, "测点（通道）", "channel"),
            (List::Sensors, "传感器类型", "kind"),
            (List::Sensors, "采样间隔（秒）", "sampling_interval_s"),
            (List::Sensors, "隐患点编号", "site_code"),
            (List::Sensors, "启用", "active"),
        ] {
            assert_eq!(
                list.layout().field_of_heading(heading),
                Some(field),
                "{heading}"
            );
        }
        assert_eq!(List::Gateways.layout().field_of_heading("备注"), None);
    }
}
