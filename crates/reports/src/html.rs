//! A report as a printable zh-CN page (English beside): what the console prints and what
//! headless Chromium turns into the PDF.

use crate::figures::Figures;
use crate::render::{self, exception_zh, percent};

/// Escapes text for HTML.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page.
pub fn page(f: &Figures) -> String {
    let (title_zh, title_en) = render::title(f);
    let mut rows = String::new();
    for (zh, en, value) in render::summary(f) {
        rows.push_str(&format!(
            "<tr><td>{zh}</td><td class=en>{en}</td><td class=num>{}</td></tr>",
            escape(&value)
        ));
    }
    let mut gateways = String::new();
    for g in &f.gateways {
        gateways.push_str(&format!(
            "<tr><td>{}</td><td>{} {}</td><td class=num>{}/{}</td><td class=num>{}</td></tr>",
            escape(&g.gateway),
            escape(&g.site),
            escape(&g.site_name),
            g.online_slots,
            g.slots,
            percent((g.slots > 0).then(|| g.online_slots as f64 / g.slots as f64))
        ));
    }
    let mut exceptions = String::new();
    for e in &f.exceptions {
        exceptions.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=num>{}</td><td>{}</td></tr>",
            exception_zh(&e.kind),
            escape(&e.name),
            escape(e.site.as_deref().unwrap_or("")),
            percent(e.figure),
            escape(&render::exception_detail(e))
        ));
    }
    if exceptions.is_empty() {
        exceptions.push_str("<tr><td colspan=5>无 None</td></tr>");
    }
    format!(
        r#"<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{t}</title>
<style>
 @page {{ size: A4; margin: 16mm; }}
 body {{ font-family: "Noto Sans CJK SC", "Noto Sans SC", sans-serif; font-size: 11pt; color: #111; }}
 h1 {{ font-size: 16pt; margin: 0 0 2pt; }} h2 {{ font-size: 12pt; margin: 14pt 0 4pt; }}
 .en {{ color: #555; }} .num {{ text-align: right; font-variant-numeric: tabular-nums; }}
 table {{ border-collapse: collapse; width: 100%; }} td, th {{ border: 1px solid #999; padding: 2pt 5pt; }}
 th {{ background: #eee; text-align: left; }}
</style></head><body>
<h1>{t}</h1><div class=en>{te}</div>
<div>统计区域 Division: {dname}（{dcode}） · 统计至 Counted to: {counted}</div>
<h2>概要 Summary</h2>
<table><tr><th>指标</th><th>Metric</th><th>数值 Value</th></tr>{rows}</table>
<h2>网关在线 Gateways</h2>
<table><tr><th>网关 Gateway</th><th>隐患点 Site</th><th>在线时段 Online slots</th><th>在线率 Rate</th></tr>{gateways}</table>
<h2>异常清单 Exceptions</h2>
<table><tr><th>类别 Kind</th><th>对象 Name</th><th>隐患点 Site</th><th>数值 Figure</th><th>说明 Detail</th></tr>{exceptions}</table>
</body></html>"#,
        t = escape(&title_zh),
        te = escape(&title_en),
        dname = escape(&f.division_name),
        dcode = escape(&f.division_code),
        counted = render::counted_to(f),
    )
}
