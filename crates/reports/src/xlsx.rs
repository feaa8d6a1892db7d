//! A report as an XLSX workbook: the summary, the gateways, the sensors and the exceptions, one
//! sheet each, in Chinese with the English beside.

use rust_xlsxwriter::{Format, Workbook, XlsxError};

use crate::figures::Figures;
use crate::render::{self, exception_zh, percent};

/// The workbook's bytes.
pub fn workbook(f: &Figures) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let (title_zh, title_en) = render::title(f);

    let sheet = book.add_worksheet();
    sheet.set_name("概要 Summary")?;
    sheet.write_string_with_format(0, 0, &title_zh, &bold)?;
    sheet.write_string(1, 0, &title_en)?;
    sheet.write_string(
        2,
        0,
        format!("统计至 Counted to: {}", render::counted_to(f)),
    )?;
    sheet.write_string_with_format(4, 0, "指标", &bold)?;
    sheet.write_string_with_format(4, 1, "Metric", &bold)?;
    sheet.write_string_with_format(4, 2, "数值 Value", &bold)?;
    for (i, (zh, en, value)) in render::summary(f).into_iter().enumerate() {
        let row = 5 + i as u32;
        sheet.write_string(row, 0, zh)?;
        sheet.write_string(row, 1, en)?;
        sheet.write_string(row, 2, value)?;
    }
    sheet.set_column_width(0, 24)?;
    sheet.set_column_width(1, 34)?;
    sheet.set_column_width(2, 14)?;

    let sheet = book.add_worksheet();
    sheet.set_name("网关 Gateways")?;
    for (c, h) in [
        "网关 Gateway",
        "隐患点 Site",
        "时段 Slots",
        "在线时段 Online",
        "在线率 Rate",
    ]
    .iter()
    .enumerate()
    {
        sheet.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    for (i, g) in f.gateways.iter().enumerate() {
        let row = 1 + i as u32;
        sheet.write_string(row, 0, &g.gateway)?;
        sheet.write_string(row, 1, format!("{} {}", g.site, g.site_name))?;
        sheet.write_number(row, 2, g.slots as f64)?;
        sheet.write_number(row, 3, g.online_slots as f64)?;
        sheet.write_string(
            row,
            4,
            percent((g.slots > 0).then(|| g.online_slots as f64 / g.slots as f64)),
        )?;
    }

    let sheet = book.add_worksheet();
    sheet.set_name("传感器 Sensors")?;
    for (c, h) in [
        "网关/通道 Gateway/channel",
        "隐患点 Site",
        "采样间隔(s) Interval",
        "应收 Expected",
        "实收 Received",
        "完整率 Completeness",
    ]
    .iter()
    .enumerate()
    {
        sheet.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    for (i, s) in f.sensors.iter().enumerate() {
        let row = 1 + i as u32;
        sheet.write_string(row, 0, format!("{}/{}", s.gateway, s.channel))?;
        sheet.write_string(row, 1, &s.site)?;
        sheet.write_number(row, 2, s.interval_s)?;
        sheet.write_number(row, 3, s.expected as f64)?;
        sheet.write_number(row, 4, s.received as f64)?;
        sheet.write_string(
            row,
            5,
            percent(
                (s.expected > 0).then(|| s.received.min(s.expected) as f64 / s.expected as f64),
            ),
        )?;
    }

    let sheet = book.add_worksheet();
    sheet.set_name("异常 Exceptions")?;
    for (c, h) in [
        "类别 Kind",
        "对象 Name",
        "隐患点 Site",
        "数值 Figure",
        "说明 Detail",
    ]
    .iter()
    .enumerate()
    {
        sheet.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    for (i, e) in f.exceptions.iter().enumerate() {
        let row = 1 + i as u32;
        sheet.write_string(row, 0, format!("{} {}", exception_zh(&e.kind), e.kind))?;
        sheet.write_string(row, 1, &e.name)?;
        sheet.write_string(row, 2, e.site.as_deref().unwrap_or(""))?;
        sheet.write_string(row, 3, percent(e.figure))?;
        sheet.write_string(row, 4, render::exception_detail(e))?;
    }
    book.save_to_buffer()
}
