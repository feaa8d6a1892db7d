//! The CAP 1.2 output against the OASIS schema (vendored, `schema/CAP-v1.2.xsd`), checked by
//! `xmllint --schema` (Debian's libxml2-utils, installed by deploy/install-deps.sh): an alert,
//! its update and its cancellation validate, and the update and the cancellation reference the
//! original; a broken alert is refused by the same check.

use chrono::{FixedOffset, TimeZone};
use geo::{MultiPolygon, Rect, coord};
use geohazard_domain::WarningLevel::{Orange, Red, Yellow};
use geohazard_forecast::areas::{self, Division, Product, SitePoint};
use geohazard_forecast::cap::{self, MsgType, Reference};
use geohazard_forecast::grid::GridSpec;
use ndarray::Array2;

fn validate(xml: &str) -> Result<(), String> {
    cap::check_with_xmllint(xml)
}

fn product() -> Product {
    let spec = GridSpec {
        west: 103.0,
        south: 28.0,
        cell: 0.1,
        ncols: 8,
        nrows: 6,
    };
    let mut levels = Array2::from_elem((6, 8), None);
    for r in 1..5 {
        for c in 1..7 {
            levels[[r, c]] = Some(Yellow);
        }
    }
    for r in 2..4 {
        for c in 2..5 {
            levels[[r, c]] = Some(Orange);
        }
    }
    levels[[2, 6]] = Some(Red);
    levels[[3, 6]] = Some(Red);
    levels[[4, 6]] = Some(Red);
    let rect = |w, e| {
        MultiPolygon(vec![
            Rect::new(coord! { x: w, y: 28.0 }, coord! { x: e, y: 28.6 }).to_polygon(),
        ])
    };
    let divisions = vec![
        Division {
            code: "511525".into(),
            name: "高县 <&>".into(),
            boundary: rect(103.0, 103.4),
        },
        Division {
            code: "511526".into(),
            name: "珙县".into(),
            boundary: rect(103.4, 103.8),
        },
    ];
    let sites = vec![SitePoint {
        code: "LS-1".into(),
        name: "滑坡1".into(),
        division_code: "511525".into(),
        lon: 103.25,
        lat: 28.25,
    }];
    areas::Product::of(&spec, &levels, &divisions, &sites)
}

#[test]
fn an_alert_its_update_and_its_cancel_validate_against_the_cap_1_2_schema_and_reference_the_original()
 {
    let cst = FixedOffset::east_opt(8 * 3600).unwrap();
    let p = product();
    assert_eq!(p.highest(), Some(Red));
    let sent = cst.with_ymd_and_hms(2026, 7, 1, 9, 30, 0).unwrap();
    let effective = cst.with_ymd_and_hms(2026, 7, 1, 8, 0, 0).unwrap();
    let expires = cst.with_ymd_and_hms(2026, 7, 2, 8, 0, 0).unwrap();
    let alert = |identifier: &str, msg_type, references: Vec<Reference>, sent| cap::Alert {
        identifier: identifier.into(),
        sender: "dzzh@sc.example.cn".into(),
        sender_name: "四川省地质灾害气象风险预警中心".into(),
        sent,
        msg_type,
        references,
        effective,
        expires,
        text_zh: "请各地加强值守 & 巡查。",
        product: &p,
    };
    let original = cap::to_xml(&alert("dzzh.forecast.1.1", MsgType::Alert, vec![], sent));
    validate(&original).unwrap();
    // One info per level and language, red first; polygons and geocodes in the areas.
    assert_eq!(original.matches("<info>").count(), 6);
    assert!(
        original.find("<severity>Extreme</severity>")
            < original.find("<severity>Moderate</severity>")
    );
    assert!(original.contains("<valueName>GB/T 2260</valueName>"));
    assert!(original.contains("<value>511525</value>"));
    assert!(original.contains("高县 &lt;&amp;&gt;"), "names are escaped");
    // The red area (cells of rows 2–4, column 6) as "lat,lon" pairs.
    assert!(
        original.contains("28.5000,103.7000") && original.contains("28.2000,103.6000"),
        "{original}"
    );
    assert!(original.contains("<language>zh-CN</language>"));
    assert!(original.contains("发布地质灾害气象风险红色预警（一级）"));
    assert!(!original.contains("<references>"));

    let r1 = Reference {
        identifier: "dzzh.forecast.1.1".into(),
        sent,
    };
    let later = cst.with_ymd_and_hms(2026, 7, 1, 15, 0, 0).unwrap();
    let update = cap::to_xml(&alert(
        "dzzh.forecast.2.1",
        MsgType::Update,
        vec![r1.clone()],
        later,
    ));
    validate(&update).unwrap();
    assert!(update.contains("<msgType>Update</msgType>"));
    assert!(update.contains(
        "<references>dzzh@sc.example.cn,dzzh.forecast.1.1,2026-07-01T09:30:00+08:00</references>"
    ));

    let r2 = Reference {
        identifier: "dzzh.forecast.2.1".into(),
        sent: later,
    };
    let cancel = cap::to_xml(&alert(
        "dzzh.forecast.2.2",
        MsgType::Cancel,
        vec![r1, r2],
        cst.with_ymd_and_hms(2026, 7, 1, 18, 0, 0).unwrap(),
    ));
    validate(&cancel).unwrap();
    assert!(cancel.contains("<msgType>Cancel</msgType>"));
    assert!(cancel.contains(
        "<references>dzzh@sc.example.cn,dzzh.forecast.1.1,2026-07-01T09:30:00+08:00 dzzh@sc.example.cn,dzzh.forecast.2.1,2026-07-01T15:00:00+08:00</references>"
    ));
    assert!(!cancel.contains("<polygon>"));
}

#[test]
fn the_schema_check_refuses_a_broken_alert() {
    let cst = FixedOffset::east_opt(8 * 3600).unwrap();
    let p = product();
    let t = cst.with_ymd_and_hms(2026, 7, 1, 9, 30, 0).unwrap();
    let xml = cap::to_xml(&cap::Alert {
        identifier: "x.1".into(),
        sender: "s@example.cn".into(),
        sender_name: "中心".into(),
        sent: t,
        msg_type: MsgType::Alert,
        references: vec![],
        effective: t,
        expires: t,
        text_zh: "",
        product: &p,
    });
    validate(&xml).unwrap();
    for broken in [
        xml.replace("<msgType>Alert</msgType>", "<msgType>Warning</msgType>"),
        xml.replace("<severity>Extreme</severity>", ""),
        xml.replace("2026-07-01T09:30:00+08:00", "2026-07-01 09:30"),
    ] {
        assert!(validate(&broken).is_err(), "accepted: {broken}");
    }
}
