//! A county's register of hazard sites as a file (XLSX or CSV, one row a site under the usual
//! Chinese headings): reading it into sites with a row-by-row report of what is wrong, applying
//! it whole (new codes added, known codes updated), and writing the register back out in the
//! same shape, so that an export imported again changes nothing.

use std::collections::{HashMap, HashSet};

use geohazard_domain::{Scope, SiteStatus};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;

use crate::site_edit::{self, Actor, Outcome, RegisteredSite};
use crate::site_input::{self, FIELDS, FieldError, Reason, SiteInput, SiteRecord};
pub use crate::table_file::RowProblem;
use crate::table_file::{Cell, Layout, Table};

/// Other headings registers use for a field (the catalogue's names in both languages and the
/// API's name are always understood).
const ALIASES: &[(&str, &str)] = &[
    ("编号", "code"),
    ("灾害点编号", "code"),
    ("隐患点编号", "code"),
    ("野外编号", "code"),
    ("灾害点名称", "name"),
    ("隐患点名称", "name"),
    ("类型", "type"),
    ("行政区划", "division_code"),
    ("区划代码", "division_code"),
    ("行政区代码", "division_code"),
    ("东经", "longitude"),
    ("北纬", "latitude"),
    ("规模", "scale_class"),
    ("体积", "volume_m3"),
    ("体积(m3)", "volume_m3"),
    ("威胁人口", "threatened_people"),
    ("威胁人口(人)", "threatened_people"),
    ("威胁人数(人)", "threatened_people"),
    ("威胁财产", "threatened_property"),
    ("潜在经济损失(万元)", "threatened_property"),
    ("监测人", "monitor_name"),
    ("群测群防员", "monitor_name"),
    ("电话", "monitor_phone"),
    ("手机", "monitor_phone"),
    ("监测人电话", "monitor_phone"),
];

/// The columns of a register of sites.
pub const SITES: Layout = Layout {
    fields: &FIELDS,
    aliases: ALIASES,
    named: &[],
    sheet: "登记表",
};

/// The field a column heading names, if any.
pub fn field_of_heading(heading: &str) -> Option<&'static str> {
    SITES.field_of_heading(heading)
}

/// Reads a register file (XLSX, XLS, ODS, or CSV in UTF-8); `None` when the bytes are none.
pub fn read_table(bytes: &[u8]) -> Option<Table> {
    SITES.read(bytes)
}

/// A file read and checked.
#[derive(Debug, Default)]
pub struct Checked {
    /// The good rows' sites, with their row numbers.
    pub sites: Vec<(u32, SiteRecord)>,
    pub problems: Vec<RowProblem>,
    /// Headings no field has: their columns were not read.
    pub ignored_columns: Vec<String>,
    /// The heading of the codes' column (as the report names it).
    pub code_column: String,
}

/// Checks every row of `table` for an officer with `scope`; rows without a division take
/// `default_division`. Report texts are in `lang`.
pub fn check_table(
    table: &Table,
    scope: &Scope,
    default_division: Option<&str>,
    lang: &str,
) -> Checked {
    let columns = SITES.columns(table);
    let mut checked = Checked {
        ignored_columns: columns.ignored.clone(),
        code_column: columns.column_of("code", lang),
        ..Checked::default()
    };
    let mut seen: HashMap<String, u32> = HashMap::new();
    for (row, cells) in table.filled_rows() {
        let text = |field: &str| columns.text(cells, field);
        let number = |field: &str| Some(columns.cell(cells, field)).filter(|v| !v.is_null());
        let input = SiteInput {
            code: text("code"),
            name: text("name"),
            kind: text("type"),
            division_code: text("division_code")
                .filter(|d| !d.trim().is_empty())
                .or(default_division.map(str::to_owned)),
            longitude: number("longitude"),
            latitude: number("latitude"),
            threat_zone: text("threat_zone")
                .filter(|z| !z.trim().is_empty())
                .map(|z| serde_json::from_str(&z).unwrap_or(Value::String(z))),
            scale_class: text("scale_class"),
            volume_m3: number("volume_m3"),
            threatened_people: number("threatened_people"),
            threatened_property: number("threatened_property"),
            status: text("status"),
            monitor_name: text("monitor_name"),
            monitor_phone: text("monitor_phone"),
        };
        let mut problems: Vec<FieldError> = Vec::new();
        let record = match site_input::check(&input, scope) {
            Ok(r) => Some(r),
            Err(e) => {
                problems = e;
                None
            }
        };
        if let Some(code) = input
            .code
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            && seen.insert(code.to_lowercase(), *row).is_some()
        {
            problems.push(FieldError::new("code", code, Reason::DuplicateCode));
        }
        if problems.is_empty() {
            if let Some(r) = record {
                checked.sites.push((*row, r));
            }
        } else {
            checked
                .problems
                .extend(columns.problems(*row, problems, lang));
        }
    }
    checked
}

/// What an import did.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct ImportSummary {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
}

/// Reports the good rows whose codes belong to sites outside `scope` (codes are unique across
/// the register: such a row can neither add nor change a site).
pub async fn check_codes_in_store(
    db: &mut PgConnection,
    scope: &Scope,
    checked: &mut Checked,
    lang: &str,
) -> sqlx::Result<()> {
    let codes: Vec<String> = checked
        .sites
        .iter()
        .map(|(_, s)| s.code.to_lowercase())
        .collect();
    let outside: HashSet<String> = sqlx::query_scalar(
        "SELECT lower(code) FROM hazard_sites
         WHERE lower(code) = ANY($2) AND NOT division_code = ANY($1)",
    )
    .bind(scope.divisions())
    .bind(&codes)
    .fetch_all(db)
    .await?
    .into_iter()
    .collect();
    if outside.is_empty() {
        return Ok(());
    }
    let (bad, good): (Vec<_>, Vec<_>) = std::mem::take(&mut checked.sites)
        .into_iter()
        .partition(|(_, s)| outside.contains(&s.code.to_lowercase()));
    checked.sites = good;
    checked
        .problems
        .extend(bad.into_iter().map(|(row, s)| RowProblem {
            row,
            column: checked.code_column.clone(),
            field: "code",
            value: s.code,
            reason: Reason::DuplicateCode,
            message: Reason::DuplicateCode.text(lang).to_owned(),
        }));
    checked.problems.sort_by_key(|p| p.row);
    Ok(())
}

/// Applies checked sites in `tx`: a new code adds a site, a known one (in scope) updates it.
/// `Err` with the problems when the store refuses a row (a code taken meanwhile).
pub async fn apply(
    tx: &mut PgConnection,
    scope: &Scope,
    actor: &Actor,
    sites: &[(u32, SiteRecord)],
) -> sqlx::Result<Result<ImportSummary, Vec<(u32, FieldError)>>> {
    let mut summary = ImportSummary::default();
    let mut refused = Vec::new();
    for (row, rec) in sites {
        let outcome = match site_edit::by_code(tx, scope, &rec.code).await? {
            Some((id, true)) => {
                let before = site_edit::get(tx, scope, id, true).await?;
                if before.is_some_and(|b| b.record == *rec) {
                    summary.unchanged += 1;
                    continue;
                }
                summary.updated += 1;
                site_edit::update(tx, scope, actor, id, None, rec).await?
            }
            Some((_, false)) => Outcome::Invalid(vec![FieldError::new(
                "code",
                rec.code.clone(),
                Reason::DuplicateCode,
            )]),
            None => {
                summary.created += 1;
                site_edit::create(tx, scope, actor, rec).await?
            }
        };
        match outcome {
            Outcome::Done(_) => {}
            Outcome::Invalid(errors) => refused.extend(errors.into_iter().map(|e| (*row, e))),
            Outcome::NotFound | Outcome::Conflict { .. } => refused.push((
                *row,
                FieldError::new("code", rec.code.clone(), Reason::DuplicateCode),
            )),
        }
    }
    Ok(if refused.is_empty() {
        Ok(summary)
    } else {
        Err(refused)
    })
}

fn status_zh(status: SiteStatus) -> &'static str {
    match status {
        SiteStatus::Monitoring => "监测中",
        SiteStatus::Emergency => "应急",
        SiteStatus::Mitigated => "已治理",
        SiteStatus::Closed => "已核销",
    }
}

fn scale_zh(scale: &str) -> &'static str {
    match scale {
        "small" => "小型",
        "medium" => "中型",
        "large" => "大型",
        _ => "特大型",
    }
}

fn cells_of(s: &SiteRecord) -> Vec<Cell> {
    let text = Cell::text;
    let number = Cell::number;
    vec![
        Cell::Text(s.code.clone()),
        Cell::Text(s.name.clone()),
        Cell::Text(s.kind.name_zh().to_owned()),
        Cell::Text(s.division_code.clone()),
        Cell::Number(s.longitude),
        Cell::Number(s.latitude),
        text(s.scale_class.as_deref().map(scale_zh)),
        number(s.volume_m3),
        Cell::Number(s.threatened_people.into()),
        Cell::Number(s.threatened_property),
        Cell::Text(status_zh(s.status).to_owned()),
        text(s.monitor_name.as_deref()),
        text(s.monitor_phone.as_deref()),
        s.threat_zone
            .as_ref()
            .map_or(Cell::Empty, |z| Cell::Text(z.to_string())),
    ]
}

/// The register's sites as the rows of a file.
pub fn rows_of(sites: &[RegisteredSite]) -> Vec<Vec<Cell>> {
    sites.iter().map(|s| cells_of(&s.record)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_headings_in_chinese_english_or_with_full_width_brackets_find_their_field() {
        for (h, f) in [
            ("统一编号", "code"),
            ("名称", "name"),
            ("灾害类型", "type"),
            ("经度", "longitude"),
            ("纬度", "latitude"),
            ("规模等级", "scale_class"),
            ("威胁人数", "threatened_people"),
            ("威胁财产(万元)", "threatened_property"),
            ("威胁财产（万元）", "threatened_property"),
            (" 监测责任人 ", "monitor_name"),
            ("联系电话", "monitor_phone"),
            ("Division code", "division_code"),
            ("latitude", "latitude"),
        ] {
            assert_eq!(field_of_heading(h), Some(f), "{h}");
        }
        assert_eq!(field_of_heading("备注"), None);
    }

    #[test]
    fn a_csv_register_is_read_with_row_numbers_and_bad_rows_are_reported_by_cell() {
        let csv = "\u{feff}统一编号,名称,灾害类型,经度,纬度,备注\n\
                   HP-1,老屋基,滑坡,104°36'36\"E,28.8,x\n\
                   ,,,,,\n\
                   HP-1,重复,滑坡,104.5,95,\n";
        let table = read_table(csv.as_bytes()).unwrap();
        let scope = Scope::new("511525".into(), vec![], false);
        let checked = check_table(&table, &scope, Some("511525"), "zh-CN");
        assert_eq!(checked.sites.len(), 1);
        assert_eq!(checked.sites[0].0, 2);
        assert_eq!(checked.ignored_columns, ["备注"]);
        let got: Vec<(u32, &str, &str, Reason)> = checked
            .problems
            .iter()
            .map(|p| (p.row, p.column.as_str(), p.value.as_str(), p.reason))
            .collect();
        assert_eq!(
            got,
            [
                (4, "纬度", "95", Reason::OutOfRange),
                (4, "统一编号", "HP-1", Reason::DuplicateCode)
            ]
        );
        assert_eq!(checked.problems[0].message, "数值超出范围");
    }

    #[test]
    fn bytes_that_are_no_register_are_not_read() {
        assert!(read_table(b"\xff\xfe\x00garbage").is_none());
        assert!(read_table(b"PK\x03\x04not really a zip").is_none());
        assert!(read_table("a,b\n1,2\n".as_bytes()).is_none());
    }
}
