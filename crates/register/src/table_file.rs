//! A list of the register as a file (XLSX or CSV, one row an entry under headings), whatever
//! the list (sites, people, gateways, sensors): read into a table, its headings matched to
//! fields (the usual Chinese headings, the catalogue's names in both languages, the API's
//! names), each problem reported by row and column in the officer's language, and the list
//! written back out under the same headings.

use std::collections::HashMap;
use std::io::Cursor;

use calamine::{Data, Reader};
use geohazard_domain::catalogue;
use serde::Serialize;
use serde_json::Value;

use crate::site_input::{self, FieldError, Reason};

/// The columns of one list: its fields in file order (an export's headings are their
/// catalogue names, `register.field.<field>`, in Chinese) and other headings registers use.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub fields: &'static [&'static str],
    pub aliases: &'static [(&'static str, &'static str)],
    /// Headings this list writes for a field instead of its catalogue name (a person's 姓名).
    pub named: &'static [(&'static str, &'static str)],
    /// The sheet an export writes.
    pub sheet: &'static str,
}

/// A heading as compared: no spaces, ASCII brackets, lower case.
fn normalise(heading: &str) -> String {
    heading
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '（' => '(',
            '）' => ')',
            '³' => '3',
            c => c,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

impl Layout {
    /// The field a column heading names, if any.
    pub fn field_of_heading(&self, heading: &str) -> Option<&'static str> {
        let h = normalise(heading);
        if h.is_empty() {
            return None;
        }
        self.fields
            .iter()
            .copied()
            .find(|f| {
                normalise(f) == h
                    || catalogue::LANGUAGES.iter().any(|lang| {
                        catalogue::message(&format!("register.field.{f}"), lang)
                            .is_some_and(|t| normalise(t) == h)
                    })
            })
            .or_else(|| {
                self.aliases
                    .iter()
                    .map(|(alias, f)| (*alias, *f))
                    .chain(self.named.iter().map(|(f, heading)| (*heading, *f)))
                    .find(|(alias, _)| normalise(alias) == h)
                    .map(|(_, f)| f)
            })
    }

    /// The export's headings: the register's Chinese names of every field.
    pub fn headings(&self) -> Vec<&'static str> {
        self.fields
            .iter()
            .map(|f| {
                self.named
                    .iter()
                    .find(|(named, _)| named == f)
                    .map(|(_, heading)| *heading)
                    .or_else(|| catalogue::message(&format!("register.field.{f}"), "zh-CN"))
                    .unwrap_or(f)
            })
            .collect()
    }

    /// Reads the first sheet of an XLSX (or XLS, ODS) file, or a CSV file in UTF-8 whose first
    /// line names at least one of the fields; `None` when the bytes are neither.
    pub fn read(&self, bytes: &[u8]) -> Option<Table> {
        if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
            read_workbook(bytes)
        } else {
            let table = read_csv(bytes)?;
            table
                .headings
                .iter()
                .any(|h| self.field_of_heading(h).is_some())
                .then_some(table)
        }
    }

    /// Which column holds each field of `table` (the first that names it), and the headings
    /// that name none.
    pub fn columns(&self, table: &Table) -> Columns {
        let mut columns = Columns {
            headings: table.headings.clone(),
            ..Columns::default()
        };
        for (i, heading) in table.headings.iter().enumerate() {
            match self.field_of_heading(heading) {
                Some(f) if !columns.index.contains_key(f) => {
                    columns.index.insert(f, i);
                }
                _ if !heading.trim().is_empty() => columns.ignored.push(heading.clone()),
                _ => {}
            }
        }
        columns
    }
}

/// A sheet: its headings and its rows, each with its row number as a spreadsheet shows it.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub headings: Vec<String>,
    pub rows: Vec<(u32, Vec<Value>)>,
}

impl Table {
    /// The rows with anything in them.
    pub fn filled_rows(&self) -> impl Iterator<Item = &(u32, Vec<Value>)> {
        self.rows
            .iter()
            .filter(|(_, cells)| !cells.iter().all(is_blank))
    }
}

fn read_workbook(bytes: &[u8]) -> Option<Table> {
    let mut book = calamine::open_workbook_auto_from_rs(Cursor::new(bytes)).ok()?;
    let range = book.worksheet_range_at(0)?.ok()?;
    let first_row = range.start().map_or(0, |(r, _)| r);
    let first_col = range.start().map_or(0, |(_, c)| c) as usize;
    let mut rows = range.rows().enumerate();
    let (_, head) = rows.next()?;
    let mut headings = vec![String::new(); first_col];
    headings.extend(head.iter().map(|c| text_of_cell(c).unwrap_or_default()));
    let rows = rows
        .map(|(i, cells)| {
            let mut values = vec![Value::Null; first_col];
            values.extend(cells.iter().map(value_of_cell));
            (first_row + i as u32 + 1, values)
        })
        .collect();
    Some(Table { headings, rows })
}

fn value_of_cell(cell: &Data) -> Value {
    match cell {
        Data::Int(i) => Value::from(*i),
        Data::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Data::Empty => Value::Null,
        other => Value::String(text_of_cell(other).unwrap_or_default()),
    }
}

fn text_of_cell(cell: &Data) -> Option<String> {
    Some(match cell {
        Data::Empty => return None,
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        other => other.to_string(),
    })
}

fn read_csv(bytes: &[u8]) -> Option<Table> {
    let text = std::str::from_utf8(bytes).ok()?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let headings: Vec<String> = records.next()?.ok()?.iter().map(str::to_owned).collect();
    let mut rows = Vec::new();
    for (i, record) in records.enumerate() {
        let record = record.ok()?;
        rows.push((
            i as u32 + 2,
            record.iter().map(|c| Value::String(c.to_owned())).collect(),
        ));
    }
    Some(Table { headings, rows })
}

pub fn is_blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// Where each field of a file is.
#[derive(Debug, Clone, Default)]
pub struct Columns {
    index: HashMap<&'static str, usize>,
    headings: Vec<String>,
    /// Headings no field has: their columns were not read.
    pub ignored: Vec<String>,
}

impl Columns {
    /// The column of `field` as a report names it: its heading in the file, else the field's
    /// name in `lang`.
    pub fn column_of(&self, field: &str, lang: &str) -> String {
        self.index.get(field).map_or_else(
            || {
                catalogue::message(&format!("register.field.{field}"), lang)
                    .unwrap_or(field)
                    .to_owned()
            },
            |&i| self.headings[i].clone(),
        )
    }

    /// The cell of `field` in a row (null when the file has no such column).
    pub fn cell(&self, cells: &[Value], field: &str) -> Value {
        self.index
            .get(field)
            .and_then(|&i| cells.get(i))
            .cloned()
            .unwrap_or(Value::Null)
    }

    /// The cell of `field` as text (a whole number without its `.0`, as a code or a phone
    /// typed as a number); `None` when blank.
    pub fn text(&self, cells: &[Value], field: &str) -> Option<String> {
        let v = self.cell(cells, field);
        (!is_blank(&v)).then(|| site_input::text_of(&v))
    }

    /// The problems of one row as the report lists them.
    pub fn problems(
        &self,
        row: u32,
        errors: Vec<FieldError>,
        lang: &str,
    ) -> impl Iterator<Item = RowProblem> {
        errors.into_iter().map(move |e| RowProblem {
            row,
            column: self.column_of(e.field, lang),
            field: e.field,
            value: e.value,
            reason: e.reason,
            message: e.reason.text(lang).to_owned(),
        })
    }
}

/// One thing wrong in a file: its row (as the spreadsheet numbers it), column (its heading in
/// the file), field, the value found and why it was refused, in the officer's language.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RowProblem {
    pub row: u32,
    pub column: String,
    pub field: &'static str,
    pub value: String,
    pub reason: Reason,
    pub message: String,
}

/// A cell of an export: text, a number, or nothing.
pub enum Cell {
    Text(String),
    Number(f64),
    Empty,
}

impl Cell {
    pub fn text(t: Option<&str>) -> Cell {
        t.map_or(Cell::Empty, |t| Cell::Text(t.to_owned()))
    }

    pub fn number(n: Option<f64>) -> Cell {
        n.map_or(Cell::Empty, Cell::Number)
    }
}

/// A list as an XLSX workbook: one sheet, the layout's headings, then `rows`.
pub fn export_xlsx(layout: &Layout, rows: Vec<Vec<Cell>>) -> anyhow::Result<Vec<u8>> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name(layout.sheet)?;
    for (c, h) in layout.headings().into_iter().enumerate() {
        sheet.write_string(0, c as u16, h)?;
    }
    for (r, cells) in rows.into_iter().enumerate() {
        let row = r as u32 + 1;
        for (c, cell) in cells.into_iter().enumerate() {
            match cell {
                Cell::Text(t) => {
                    sheet.write_string(row, c as u16, t)?;
                }
                Cell::Number(n) => {
                    sheet.write_number(row, c as u16, n)?;
                }
                Cell::Empty => {}
            }
        }
    }
    Ok(book.save_to_buffer()?)
}

/// A list as CSV in UTF-8 with a byte-order mark (so spreadsheet programs read the Chinese
/// right), under the layout's headings.
pub fn export_csv(layout: &Layout, rows: Vec<Vec<Cell>>) -> anyhow::Result<Vec<u8>> {
    let mut out = "\u{feff}".as_bytes().to_vec();
    {
        let mut w = csv::Writer::from_writer(&mut out);
        w.write_record(layout.headings())?;
        for cells in rows {
            w.write_record(cells.into_iter().map(|c| match c {
                Cell::Text(t) => t,
                Cell::Number(n) => format!("{n}"),
                Cell::Empty => String::new(),
            }))?;
        }
        w.flush()?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEOPLE: Layout = Layout {
        fields: &["name", "phone"],
        aliases: &[("人员", "name")],
        named: &[("name", "姓名")],
        sheet: "人员",
    };

    #[test]
    fn a_csv_whose_headings_name_no_field_of_the_list_is_not_read() {
        assert!(PEOPLE.read("a,b\n1,2\n".as_bytes()).is_none());
        let t = PEOPLE.read("姓名,备注\n张三,x\n".as_bytes()).unwrap();
        let cols = PEOPLE.columns(&t);
        assert_eq!(cols.ignored, ["备注"]);
        assert_eq!(cols.text(&t.rows[0].1, "name").as_deref(), Some("张三"));
        assert_eq!(cols.column_of("phone", "en"), "Phone");
    }

    #[test]
    fn an_export_is_read_back_cell_for_cell_in_both_formats() {
        let rows = || {
            vec![vec![
                Cell::Text("李四".into()),
                Cell::Text("13900001111".into()),
            ]]
        };
        for bytes in [
            export_xlsx(&PEOPLE, rows()).unwrap(),
            export_csv(&PEOPLE, rows()).unwrap(),
        ] {
            let t = PEOPLE.read(&bytes).unwrap();
            let cols = PEOPLE.columns(&t);
            assert!(cols.ignored.is_empty(), "{:?}", cols.ignored);
            assert_eq!(t.rows[0].0, 2);
            assert_eq!(cols.text(&t.rows[0].1, "name").as_deref(), Some("李四"));
            assert_eq!(
                cols.text(&t.rows[0].1, "phone").as_deref(),
                Some("13900001111")
            );
        }
    }
}
