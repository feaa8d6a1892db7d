//! The lines of a report as people read them, in Chinese with the English beside: the same
//! rows for the printable page, the PDF and the workbook.

use crate::figures::{Exception, Figures};
use crate::period::{CST, PeriodKind};

/// A percentage with one decimal, `—` when there is nothing to count.
pub fn percent(r: Option<f64>) -> String {
    r.map(|r| format!("{:.1}%", r * 100.0))
        .unwrap_or_else(|| "—".into())
}

fn minutes(s: Option<f64>) -> String {
    s.map(|s| format!("{:.1}", s / 60.0))
        .unwrap_or_else(|| "—".into())
}

/// The report's title.
pub fn title(f: &Figures) -> (String, String) {
    match f.period.kind {
        PeriodKind::Day => (
            format!("{} 值班日报 {}", f.division_name, f.period.label),
            format!("{} daily duty report {}", f.division_name, f.period.label),
        ),
        PeriodKind::Month => (
            format!("{} 监管月报 {}", f.division_name, f.period.label),
            format!("{} monthly report {}", f.division_name, f.period.label),
        ),
    }
}

/// When the figures were counted to, in China Standard Time, labelled.
pub fn counted_to(f: &Figures) -> String {
    format!(
        "{}（北京时间 / China Standard Time）",
        f.counted_to.with_timezone(&CST).format("%Y-%m-%d %H:%M")
    )
}

/// The summary: (指标, metric, value).
pub fn summary(f: &Figures) -> Vec<(&'static str, &'static str, String)> {
    let w = &f.warnings;
    let n = &f.notifications;
    let a = &f.approvals;
    vec![
        ("设备在线率", "Device online rate", percent(f.online_rate)),
        ("数据完整率", "Data completeness", percent(f.completeness)),
        (
            "应收数据条数",
            "Readings expected",
            f.readings_expected.to_string(),
        ),
        (
            "实收数据条数",
            "Readings received",
            f.readings_received.to_string(),
        ),
        ("蓝色预警", "Blue warnings", w.blue.to_string()),
        ("黄色预警", "Yellow warnings", w.yellow.to_string()),
        ("橙色预警", "Orange warnings", w.orange.to_string()),
        ("红色预警", "Red warnings", w.red.to_string()),
        (
            "已确认预警",
            "Warnings acknowledged",
            f.responses.acknowledged.to_string(),
        ),
        (
            "平均确认时长（分钟）",
            "Mean time to acknowledge (min)",
            minutes(f.responses.ack_mean_s),
        ),
        (
            "最长确认时长（分钟）",
            "Longest time to acknowledge (min)",
            minutes(f.responses.ack_max_s),
        ),
        (
            "已立案预警",
            "Warnings with an incident",
            f.responses.incidents.to_string(),
        ),
        (
            "平均立案时长（分钟）",
            "Mean time to open an incident (min)",
            minutes(f.responses.incident_mean_s),
        ),
        (
            "最长立案时长（分钟）",
            "Longest time to open an incident (min)",
            minutes(f.responses.incident_max_s),
        ),
        (
            "队伍已到场预警",
            "Warnings with a team on site",
            f.responses.on_site.to_string(),
        ),
        (
            "平均到场时长（分钟）",
            "Mean time to a team on site (min)",
            minutes(f.responses.on_site_mean_s),
        ),
        (
            "最长到场时长（分钟）",
            "Longest time to a team on site (min)",
            minutes(f.responses.on_site_max_s),
        ),
        ("通知发出", "Notifications queued", n.queued.to_string()),
        (
            "通知已送达",
            "Notifications delivered",
            n.delivered.to_string(),
        ),
        (
            "通知已确认",
            "Notifications confirmed",
            n.confirmed.to_string(),
        ),
        ("通知失败", "Notifications failed", n.failed.to_string()),
        (
            "审批按时办结",
            "Approval steps on time",
            a.on_time.to_string(),
        ),
        ("审批逾期办结", "Approval steps late", a.late.to_string()),
        (
            "审批逾期未办",
            "Approval steps overdue",
            a.open_overdue.to_string(),
        ),
        ("巡查完成率", "Patrols kept", percent(f.patrol_rate)),
        ("隐患点数", "Hazard sites", f.sites.to_string()),
        (
            "无有效监测隐患点",
            "Sites without working monitoring",
            f.sites_without_monitoring.len().to_string(),
        ),
    ]
}

/// An exception's kind, in Chinese.
pub fn exception_zh(kind: &str) -> &'static str {
    match kind {
        "gateway_offline" => "网关离线",
        "sensor_incomplete" => "数据缺失",
        "site_unmonitored" => "隐患点无有效监测",
        "warning_unacknowledged" => "预警未确认",
        "approval_overdue" => "审批逾期",
        "patrol_missed" => "巡查未按时",
        _ => "异常",
    }
}

/// What makes an exception one, in Chinese with the English after it: from its figure, level,
/// step and time where the figures hold them (reports stored before they did keep the English).
pub fn exception_detail(e: &Exception) -> String {
    let at =
        e.at.map(|t| t.with_timezone(&CST).format("%Y-%m-%d %H:%M").to_string());
    let zh = match (e.kind.as_str(), &at) {
        ("gateway_offline", _) => format!("在线率 {}", percent(e.figure)),
        ("sensor_incomplete", _) => format!("数据完整率 {}", percent(e.figure)),
        ("patrol_missed", _) => format!("巡查完成率 {}", percent(e.figure)),
        ("site_unmonitored", _) => "统计期末 24 小时无监测数据".to_owned(),
        ("warning_unacknowledged", Some(at)) => format!(
            "{}预警 {at} 发布，未确认",
            level_zh(e.level.as_deref().unwrap_or(""))
        ),
        ("approval_overdue", Some(at)) => {
            format!("{} 时限 {at}", e.step.as_deref().unwrap_or(""))
        }
        _ => return e.detail.clone(),
    };
    format!("{zh}（{}）", e.detail)
}

fn level_zh(level: &str) -> &'static str {
    match level {
        "blue" => "蓝色",
        "yellow" => "黄色",
        "orange" => "橙色",
        "red" => "红色",
        _ => "",
    }
}
