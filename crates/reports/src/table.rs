//! A plain table (a heading row, then rows of text) as a file: CSV (UTF-8 with a byte-order
//! mark, so spreadsheet programs read the Chinese right) or an XLSX workbook of one sheet.

use rust_xlsxwriter::{Format, Workbook, XlsxError};

/// The table as CSV: fields quoted where they must be, lines ended `\r\n`.
pub fn csv(headings: &[&str], rows: &[Vec<String>]) -> Vec<u8> {
    fn field(out: &mut String, s: &str) {
        if s.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&s.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(s);
        }
    }
    let mut out = String::from("\u{feff}");
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        for (i, c) in cells.enumerate() {
            if i > 0 {
                out.push(',');
            }
            field(&mut out, c);
        }
        out.push_str("\r\n");
    };
    line(&mut headings.iter().copied());
    for r in rows {
        line(&mut r.iter().map(String::as_str));
    }
    out.into_bytes()
}

/// The table as an XLSX workbook with one sheet named `sheet`, headings in bold.
pub fn xlsx(sheet: &str, headings: &[&str], rows: &[Vec<String>]) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let ws = book.add_worksheet();
    ws.set_name(sheet)?;
    for (c, h) in headings.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, *h, &bold)?;
        ws.set_column_width(c as u16, (h.chars().count() as f64 * 1.6).max(12.0))?;
    }
    for (i, r) in rows.iter().enumerate() {
        for (c, v) in r.iter().enumerate() {
            ws.write_string(1 + i as u32, c as u16, v)?;
        }
    }
    ws.set_freeze_panes(1, 0)?;
    book.save_to_buffer()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_must_be_and_starts_with_a_byte_order_mark() {
        let out = csv(
            &["名称 Name", "摘要 Summary"],
            &[vec!["高县\"一号\"".into(), "a,b\nc".into()]],
        );
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "\u{feff}名称 Name,摘要 Summary\r\n\"高县\"\"一号\"\"\",\"a,b\nc\"\r\n"
        );
    }

    #[test]
    fn xlsx_is_a_zip_workbook() {
        let out = xlsx("预警 Warnings", &["名称 Name"], &[vec!["高县".into()]]).unwrap();
        assert_eq!(&out[..2], b"PK");
    }
}
