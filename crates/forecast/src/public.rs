//! The public page (no sign-in): the regional warnings in force, each with its map (the level
//! areas drawn as SVG, no tiles needed) and its text in Chinese, and the site warnings an officer
//! published. Only released warnings ([`crate::issue::released_now`]) and published site
//! warnings ([`crate::site_release::live`]) are given to it.

use geohazard_domain::WarningLevel;

use crate::cap;
use crate::issue::{CST, Publisher, Stored};
use crate::site_release::Publication;

/// The fill of a level's areas.
pub fn colour(level: WarningLevel) -> &'static str {
    match level {
        WarningLevel::Blue => "#1e6fd9",
        WarningLevel::Yellow => "#f2c200",
        WarningLevel::Orange => "#f07c00",
        WarningLevel::Red => "#d81e06",
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const W: f64 = 640.0;

/// The SVG map of a warning's areas over its grid.
pub fn map_svg(w: &Stored) -> String {
    let s = w.spec;
    let (width, height) = (s.ncols as f64 * s.cell, s.nrows as f64 * s.cell);
    let h = (W * height / width).round();
    let north = s.south + height;
    let px = |lon: f64, lat: f64| {
        format!(
            "{:.1},{:.1}",
            (lon - s.west) / width * W,
            (north - lat) / height * h
        )
    };
    let mut out = format!(
        "<svg class=\"map\" viewBox=\"0 0 {W} {h}\" width=\"{W}\" height=\"{h}\" role=\"img\" aria-label=\"预警区域图\">\
         <rect width=\"{W}\" height=\"{h}\" fill=\"#eef3ec\" stroke=\"#7a8a7a\"/>"
    );
    // Lowest level first, so the higher are drawn on top.
    for a in w.product.areas.iter().rev() {
        let mp = crate::areas::area_polygons(a);
        let mut d = String::new();
        for p in &mp.0 {
            for ring in std::iter::once(p.exterior()).chain(p.interiors()) {
                let pts: Vec<String> = ring.coords().map(|c| px(c.x, c.y)).collect();
                d.push_str(&format!("M{}Z", pts.join("L")));
            }
        }
        out.push_str(&format!(
            "<path d=\"{d}\" fill=\"{}\" fill-opacity=\"0.85\" fill-rule=\"evenodd\" stroke=\"#333\" stroke-width=\"0.6\" data-level=\"{}\"/>",
            colour(a.level),
            a.level.as_str()
        ));
    }
    out.push_str("</svg>");
    out
}

/// The published site warnings: each one's level, headline and description (what its CAP
/// alert says in Chinese), and when it was published.
fn site_section(sites: &[Publication]) -> String {
    let mut out = String::from("<section id=\"site-warnings\"><h2>地质灾害隐患点预警</h2>");
    if sites.is_empty() {
        out.push_str("<p class=\"none\">当前没有发布的隐患点预警。</p>");
    }
    for p in sites {
        out.push_str(&format!(
            "<article class=\"site level-{lvl}\" data-site=\"{code}\"><h3 style=\"border-left:8px solid {colour}\">{headline}</h3>\
             <p>{description}</p><p class=\"instruction\">{instruction}</p>\
             <p class=\"issued\">发布时间：{at}（北京时间）</p></article>",
            lvl = p.level.as_str(),
            code = esc(&p.site_code),
            colour = colour(p.level),
            headline = esc(&p.headline_zh),
            description = esc(&p.description_zh),
            instruction = cap::instruction_zh(p.level),
            at = p
                .published_at
                .with_timezone(&CST)
                .format("%Y年%m月%d日%H:%M"),
        ));
    }
    out.push_str("</section>");
    out
}

/// The page: the regional warnings in force, then the site warnings published.
pub fn page(warnings: &[Stored], sites: &[Publication], publisher: &Publisher) -> String {
    let mut body = String::new();
    if warnings.is_empty() {
        body.push_str("<p class=\"none\">当前没有生效的地质灾害气象风险预警。</p>");
    }
    for w in warnings {
        let from = w.valid_from.with_timezone(&CST);
        let to = w.valid_to.with_timezone(&CST);
        body.push_str("<article class=\"warning\">");
        match w.product.highest() {
            Some(top) => body.push_str(&format!(
                "<h2 style=\"border-left:8px solid {}\">{}</h2>",
                colour(top),
                esc(&cap::headline_zh(&publisher.sender_name, top))
            )),
            None => body.push_str(&format!(
                "<h2>{}：{}无地质灾害气象风险预警</h2>",
                esc(&publisher.sender_name),
                w.for_date.format("%Y年%m月%d日")
            )),
        }
        body.push_str(&format!(
            "<p class=\"valid\">有效时间：{} 至 {}（北京时间）</p>",
            from.format("%Y年%m月%d日%H时"),
            to.format("%m月%d日%H时")
        ));
        body.push_str(&map_svg(w));
        body.push_str("<ul class=\"legend\">");
        for l in WarningLevel::ALL.into_iter().rev() {
            body.push_str(&format!(
                "<li><span style=\"background:{}\"></span>{}预警</li>",
                colour(l),
                l.name_zh()
            ));
        }
        body.push_str("</ul>");
        for a in &w.product.areas {
            let names: Vec<String> = w
                .product
                .divisions
                .iter()
                .filter(|d| d.level == a.level)
                .map(|d| esc(&d.name))
                .collect();
            let sites = w
                .product
                .sites
                .iter()
                .filter(|s| s.level == a.level)
                .count();
            body.push_str(&format!(
                "<p class=\"level level-{}\"><strong>{}预警区</strong>：{}{}。{}</p>",
                a.level.as_str(),
                a.level.name_zh(),
                if names.is_empty() {
                    "图示区域".to_owned()
                } else {
                    names.join("、")
                },
                if sites > 0 {
                    format!("，区内登记隐患点{sites}处")
                } else {
                    String::new()
                },
                cap::instruction_zh(a.level)
            ));
        }
        if !w.text_zh.is_empty() {
            body.push_str(&format!("<p class=\"text\">{}</p>", esc(&w.text_zh)));
        }
        if let Some(at) = w.released_at {
            body.push_str(&format!(
                "<p class=\"issued\">发布时间：{}（北京时间）</p>",
                at.with_timezone(&CST).format("%Y年%m月%d日%H:%M")
            ));
        }
        body.push_str("</article>");
    }
    format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>地质灾害气象风险预警 — {sender}</title>\
         <style>body{{font-family:'Noto Sans CJK SC','Noto Sans SC',sans-serif;margin:0 auto;max-width:720px;padding:16px;color:#222}}\
         h1{{font-size:22px}}h2{{font-size:18px;padding-left:8px}}.map{{max-width:100%;height:auto}}\
         .legend{{list-style:none;padding:0;display:flex;gap:16px}}.legend span{{display:inline-block;width:14px;height:14px;margin-right:4px;vertical-align:middle}}\
         .valid,.issued{{color:#555}}footer{{margin-top:24px;color:#555;font-size:13px}}</style></head>\
         <body><h1>地质灾害气象风险预警</h1>{body}{sites}\
         <footer>{sender} · 订阅：<a href=\"/public/forecast/cap.xml\">CAP 1.2 预警信息源</a></footer></body></html>",
        sender = esc(&publisher.sender_name),
        sites = site_section(sites),
    )
}

/// The public CAP feed: an Atom feed, one entry per published alert (newest first), each with
/// the alert inline (`application/cap+xml`) and linked at `/public/forecast/cap/{identifier}.xml`.
/// Only released warnings ever have alerts ([`crate::issue::cap_feed`]).
pub fn atom_feed(entries: &[crate::issue::CapEntry], publisher: &Publisher) -> String {
    let updated = entries
        .iter()
        .map(|e| e.sent)
        .max()
        .unwrap_or(chrono::DateTime::UNIX_EPOCH)
        .with_timezone(&CST)
        .to_rfc3339();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n\
         <id>urn:geohazard:forecast:cap:{sender}</id>\n<title>{name} 地质灾害气象风险预警 CAP 1.2</title>\n\
         <updated>{updated}</updated>\n<author><name>{name}</name></author>\n\
         <link rel=\"self\" href=\"/public/forecast/cap.xml\"/>\n",
        sender = esc(&publisher.sender),
        name = esc(&publisher.sender_name),
    );
    for e in entries {
        let alert = e
            .xml
            .trim_start()
            .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
            .unwrap_or(&e.xml)
            .trim();
        out.push_str(&format!(
            "<entry>\n<id>{id}</id>\n<title>{kind} {id}</title>\n<updated>{sent}</updated>\n\
             <link rel=\"alternate\" type=\"application/cap+xml\" href=\"/public/forecast/cap/{id}.xml\"/>\n\
             <content type=\"application/cap+xml\">\n{alert}\n</content>\n</entry>\n",
            id = esc(&e.identifier),
            kind = esc(&e.msg_type),
            sent = e.sent.with_timezone(&CST).to_rfc3339(),
        ));
    }
    out.push_str("</feed>\n");
    out
}
