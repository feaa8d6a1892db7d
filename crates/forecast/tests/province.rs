//! A synthetic province: a susceptibility grid and a few days of rain written in the formats the
//! agencies exchange (ESRI ASCII, MICAPS category 4, station CSV), read back, and the day's
//! levels, areas, divisions and sites checked against hand computations.

use chrono::NaiveDate;
use geo::{Area, Contains, MultiPolygon, Point, Polygon, Rect, coord};
use geohazard_domain::WarningLevel::{self, Blue, Orange, Red, Yellow};
use geohazard_forecast::areas::{self, Division, SitePoint};
use geohazard_forecast::grid::{self, GridSpec};
use geohazard_forecast::micaps::{self, Micaps4};
use geohazard_forecast::model::{self, ModelParams};
use geohazard_forecast::{stations, zoning};
use ndarray::Array2;

const NROWS: usize = 10;
const NCOLS: usize = 12;

fn spec() -> GridSpec {
    GridSpec {
        west: 103.0,
        south: 28.0,
        cell: 0.1,
        ncols: NCOLS,
        nrows: NROWS,
    }
}

/// Classes by quadrant (south-west 1, south-east 4, north-west 2, north-east 3), a strip of
/// class 0 (a lake) on the western edge; written north first as the format wants.
fn susceptibility_file() -> String {
    let mut out = format!(
        "ncols {NCOLS}\nnrows {NROWS}\nxllcorner 103.0\nyllcorner 28.0\ncellsize 0.1\nNODATA_value -9999\n"
    );
    for row in (0..NROWS).rev() {
        let line: Vec<String> = (0..NCOLS)
            .map(|c| {
                let k = match (row >= 5, c >= 6) {
                    _ if c == 0 => -9999,
                    (false, false) => 1,
                    (false, true) => 4,
                    (true, false) => 2,
                    (true, true) => 3,
                };
                k.to_string()
            })
            .collect();
        out.push_str(&line.join(" "));
        out.push('\n');
    }
    out
}

/// Rain in mm for a day: a storm centred east of the middle, `scale` its strength.
fn rain_day(scale: f64) -> Array2<f64> {
    Array2::from_shape_fn((NROWS, NCOLS), |(r, c)| {
        let d2 = (r as f64 - 5.0).powi(2) + (c as f64 - 7.0).powi(2);
        ((scale * (-d2 / 18.0).exp()) * 10.0).round() / 10.0
    })
}

/// A real-format category-4 file: the header over two lines as some bureaus write it, values
/// wrapped at 6 per line.
fn micaps_file(values: &Array2<f64>) -> String {
    let mut out = String::from("diamond 4 24小时降水量预报 2026年07月01日08时\n");
    out.push_str(
        "26 07 01 08 24 999 0.1 0.1 103.05 104.15 28.05\n28.95 12 10 10.0 0.0 100.0 1.0 50.0\n",
    );
    let flat: Vec<String> = values.iter().map(|v| format!("{v:.1}")).collect();
    for chunk in flat.chunks(6) {
        out.push_str(&chunk.join("  "));
        out.push('\n');
    }
    out
}

fn params() -> ModelParams {
    ModelParams {
        decay: 0.8,
        antecedent_days: 3,
        min_area_cells: 3,
        ..ModelParams::default()
    }
}

#[test]
fn the_levels_of_chosen_cells_match_a_hand_computation() {
    let sus = zoning::from_esri_ascii(&susceptibility_file()).unwrap();
    assert_eq!(sus.spec, spec());
    // Row 0 is the south: the south-east quadrant is class 4.
    assert_eq!(sus.values[[0, 11]], 4);
    assert_eq!(sus.values[[9, 1]], 2);
    assert_eq!(sus.values[[4, 0]], 0, "no data is class 0");

    let forecast_values = rain_day(80.0);
    let forecast = micaps::read(&micaps_file(&forecast_values)).unwrap();
    assert_eq!(forecast.period_h, 24);
    assert_eq!(
        forecast.issued,
        NaiveDate::from_ymd_opt(2026, 7, 1)
            .unwrap()
            .and_hms_opt(8, 0, 0)
            .unwrap()
    );
    let forecast = forecast.on_cells(&sus.spec).unwrap();
    assert_eq!(forecast, forecast_values);
    // Yesterday, the day before, three days ago.
    let past = [rain_day(30.0), rain_day(50.0), rain_day(10.0)];
    let levels = model::levels(&params(), &sus, &past, &forecast);

    // By hand: effective = F + 0.8·r1 + 0.64·r2 + 0.512·r3, against the class's lines
    // (class 1: 70/100/150/220, 2: 50/75/110/160, 3: 35/55/80/120, 4: 25/40/60/90).
    let hand = |r: usize, c: usize| {
        let eff = forecast_values[[r, c]]
            + 0.8 * past[0][[r, c]]
            + 0.64 * past[1][[r, c]]
            + 0.512 * past[2][[r, c]];
        (eff * 1000.0).round() / 1000.0
    };
    // The storm's centre (5, 7), class 3: 80 + 24 + 32 + 5.12 = 141.12 ≥ 120: red.
    assert!((hand(5, 7) - 141.12).abs() < 1e-9);
    assert_eq!(levels[[5, 7]], Some(Red));
    // (4, 7), class 4: rain·e^(-1/18) = 75.7, 28.4, 47.3, 9.5 → 75.7 + 22.72 + 30.272 + 4.864 = 133.556: red.
    assert!((hand(4, 7) - 133.556).abs() < 1e-9, "{}", hand(4, 7));
    assert_eq!(levels[[4, 7]], Some(Red));
    // (5, 2), class 2: e^(-25/18) → 19.9, 7.5, 12.5, 2.5 → 19.9 + 6 + 8 + 1.28 = 35.18 < 50: none.
    assert!((hand(5, 2) - 35.18).abs() < 1e-9, "{}", hand(5, 2));
    assert_eq!(levels[[5, 2]], None);
    // (1, 3), class 1: e^(-32/18) → 13.5, 5.1, 8.4, 1.7 → 13.5 + 4.08 + 5.376 + 0.8704 = 23.8264: none.
    assert_eq!(levels[[1, 3]], None);
    // (5, 4), class 2: e^(-9/18) → 48.5, 18.2, 30.3, 6.1 → 48.5 + 14.56 + 19.392 + 3.1232 = 85.5752: yellow.
    assert!((hand(5, 4) - 85.575).abs() < 1e-3, "{}", hand(5, 4));
    assert_eq!(levels[[5, 4]], Some(Yellow));
    // (9, 7), class 3: e^(-16/18) → 32.9, 12.3, 20.6, 4.1 → 32.9 + 9.84 + 13.184 + 2.0992 = 58.0232: yellow.
    assert_eq!(levels[[9, 7]], Some(Yellow));
    // (0, 11), class 4: e^(-41/18) → 8.2, 3.1, 5.1, 1.0 → 8.2 + 2.48 + 3.264 + 0.512 = 14.456: none.
    assert_eq!(levels[[0, 11]], None);
    // The lake never has a level, whatever the rain.
    assert!((0..NROWS).all(|r| levels[[r, 0]].is_none()));
    // Every cell agrees with the lines applied by hand.
    let lines = params().lines;
    for r in 0..NROWS {
        for c in 0..NCOLS {
            let class = sus.values[[r, c]];
            let expected = if class == 0 {
                None
            } else {
                let row = lines.by_class[class as usize - 1];
                let eff = forecast_values[[r, c]]
                    + 0.8 * past[0][[r, c]]
                    + 0.64 * past[1][[r, c]]
                    + 0.512 * past[2][[r, c]];
                WarningLevel::ALL
                    .into_iter()
                    .rev()
                    .find(|l| eff >= row[l.rank()] - 1e-9)
            };
            assert_eq!(levels[[r, c]], expected, "cell ({r}, {c})");
        }
    }
}

fn day_levels() -> (GridSpec, Array2<Option<WarningLevel>>) {
    let sus = zoning::from_esri_ascii(&susceptibility_file()).unwrap();
    let past = [rain_day(30.0), rain_day(50.0), rain_day(10.0)];
    let levels = model::levels(&params(), &sus, &past, &rain_day(80.0));
    (sus.spec, levels)
}

#[test]
fn a_speck_takes_its_surroundings_level_and_polygons_cover_exactly_the_cells_of_their_level() {
    let (spec, mut raw) = day_levels();
    // A lone red cell in the quiet north-west: a speck.
    assert_eq!(raw[[9, 1]], None);
    raw[[9, 1]] = Some(Red);
    let levels = areas::remove_specks(&raw, params().min_area_cells);
    assert_eq!(levels[[9, 1]], None, "the speck is gone");
    for (level, cells) in areas::components(&levels) {
        assert!(
            cells.len() >= 3,
            "{level:?} area of {} cells left",
            cells.len()
        );
    }
    let level_areas = areas::level_areas(&spec, &levels);
    let present: Vec<WarningLevel> = level_areas.iter().map(|a| a.level).collect();
    assert_eq!(
        present,
        [Red, Orange, Yellow, Blue],
        "red first, every level present"
    );
    for a in &level_areas {
        let n = levels.iter().filter(|l| **l == Some(a.level)).count();
        assert_eq!(a.cells, n);
        // Exactly the cells: the same area, and every cell centre inside iff it has the level.
        assert!(
            (a.area.unsigned_area() - n as f64 * spec.cell_area()).abs() < 1e-9,
            "{:?}",
            a.level
        );
        for ((r, c), l) in levels.indexed_iter() {
            let (lon, lat) = spec.centre(r, c);
            assert_eq!(
                a.area.contains(&Point::new(lon, lat)),
                *l == Some(a.level),
                "{:?} polygon and cell ({r}, {c})",
                a.level
            );
        }
    }
}

fn rect(w: f64, s: f64, e: f64, n: f64) -> MultiPolygon<f64> {
    let p: Polygon<f64> = Rect::new(coord! { x: w, y: s }, coord! { x: e, y: n }).to_polygon();
    MultiPolygon(vec![p])
}

#[test]
fn each_division_gets_its_highest_level_and_the_listed_sites_are_exactly_those_inside() {
    let (spec, raw) = day_levels();
    let levels = areas::remove_specks(&raw, 3);
    // West and east halves of the province, and a county far away.
    let divisions = vec![
        Division {
            code: "510101".into(),
            name: "西县".into(),
            boundary: rect(103.0, 28.0, 103.6, 29.0),
        },
        Division {
            code: "510102".into(),
            name: "东县".into(),
            boundary: rect(103.6, 28.0, 104.2, 29.0),
        },
        Division {
            code: "510103".into(),
            name: "远县".into(),
            boundary: rect(110.0, 30.0, 111.0, 31.0),
        },
    ];
    // A site in the centre of every third cell, one outside the grid, one on the lake.
    let mut sites = vec![];
    for ((r, c), _) in levels.indexed_iter() {
        if (r * NCOLS + c).is_multiple_of(3) {
            let (lon, lat) = spec.centre(r, c);
            sites.push(SitePoint {
                code: format!("S{r:02}{c:02}"),
                name: format!("隐患点{r}-{c}"),
                division_code: if c < 6 { "510101" } else { "510102" }.into(),
                lon: lon + 0.03,
                lat: lat - 0.02,
            });
        }
    }
    sites.push(SitePoint {
        code: "FAR".into(),
        name: "远处".into(),
        division_code: "510103".into(),
        lon: 110.5,
        lat: 30.5,
    });
    let product = areas::Product::of(&spec, &levels, &divisions, &sites);

    let highest = |cols: std::ops::Range<usize>| {
        levels
            .indexed_iter()
            .filter(|((_, c), _)| cols.contains(c))
            .filter_map(|(_, l)| *l)
            .max()
    };
    let got: Vec<(String, WarningLevel)> = product
        .divisions
        .iter()
        .map(|d| (d.code.clone(), d.level))
        .collect();
    let mut want = vec![];
    for (code, cols) in [("510101", 0..6), ("510102", 6..12)] {
        if let Some(l) = highest(cols) {
            want.push((code.to_owned(), l));
        }
    }
    want.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    assert_eq!(got, want);
    assert!(product.divisions.iter().all(|d| d.code != "510103"));

    // The sites inside: exactly those whose cell has a level, at that level.
    let mut want_sites: Vec<(String, WarningLevel)> = sites
        .iter()
        .filter_map(|s| {
            let (r, c) = spec.cell_at(s.lon, s.lat)?;
            levels[[r, c]].map(|l| (s.code.clone(), l))
        })
        .collect();
    want_sites.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let got_sites: Vec<(String, WarningLevel)> = product
        .sites
        .iter()
        .map(|s| (s.code.clone(), s.level))
        .collect();
    assert_eq!(got_sites, want_sites);
    assert!(
        got_sites.len() >= 5 && got_sites.len() < sites.len() - 5,
        "{} of {}",
        got_sites.len(),
        sites.len()
    );
}

#[test]
fn the_micaps_reader_refuses_a_malformed_file_naming_its_line() {
    let good = micaps_file(&rain_day(80.0));
    assert!(micaps::read(&good).is_ok());
    // A value that is not a number on line 9 (header: lines 1–3, values from line 4).
    let mut lines: Vec<String> = good.lines().map(str::to_owned).collect();
    lines[8] = lines[8].replacen("  ", "  12,5x  ", 1);
    let e = micaps::read(&lines.join("\n")).unwrap_err();
    assert_eq!(e.line, 9, "{e}");
    assert!(e.to_string().starts_with("line 9: value"), "{e}");
    // A value short: the file ends on its last line.
    let short = good.trim_end().rsplit_once(' ').unwrap().0.to_owned();
    let e = micaps::read(&short).unwrap_err();
    assert_eq!(e.line, short.lines().count(), "{e}");
    assert!(e.message.contains("ends before value 120 of 120"), "{e}");
    // One too many.
    let e = micaps::read(&format!("{good}7.0\n")).unwrap_err();
    assert_eq!(e.line, good.lines().count() + 1, "{e}");
    // Counts that do not fit the range, on the header's second line.
    let e = micaps::read(&good.replacen("28.95 12 10", "28.95 13 10", 1)).unwrap_err();
    assert_eq!(e.line, 3, "{e}");
    // Not category 4.
    let e = micaps::read(&good.replacen("diamond 4", "diamond 3", 1)).unwrap_err();
    assert_eq!(e.line, 1);
    // A month of 13 on line 2.
    let e = micaps::read(&good.replacen("26 07 01", "26 13 01", 1)).unwrap_err();
    assert_eq!((e.line, e.message.contains("month")), (2, true), "{e}");
    // Our own writer's output reads back the same.
    let spec = spec();
    let v = rain_day(55.0);
    let m = Micaps4::from_cells(
        &spec,
        &v,
        NaiveDate::from_ymd_opt(2026, 7, 2)
            .unwrap()
            .and_hms_opt(20, 0, 0)
            .unwrap(),
        24,
        "test",
    );
    assert_eq!(
        micaps::read(&m.write()).unwrap().on_cells(&spec).unwrap(),
        v
    );
}

#[test]
fn ascii_grid_station_and_zoning_inputs_read_and_refuse_bad_lines() {
    // ESRI ASCII: a row short on line 8.
    let mut lines: Vec<String> = susceptibility_file().lines().map(str::to_owned).collect();
    lines[7] = lines[7].rsplit_once(' ').unwrap().0.to_owned();
    let e = grid::read_esri_ascii(&lines.join("\n")).unwrap_err();
    assert_eq!(e.line, 8, "{e}");
    // A class of 7 is refused with its line.
    let mut l2: Vec<String> = susceptibility_file().lines().map(str::to_owned).collect();
    l2[6] = l2[6].replacen(" 2 ", " 7 ", 1);
    let e = zoning::from_esri_ascii(&l2.join("\n")).unwrap_err();
    assert_eq!(e.line, 7, "{e}");

    // Stations: IDW onto the grid; a station at a cell centre gives that cell its value.
    let csv = "station,lon,lat,rain_mm\n57411,103.05,28.05,42.0\n57412,104.15,28.95,8.0\n";
    let st = stations::read_csv(csv).unwrap();
    let g = stations::on_cells(&spec(), &st);
    assert_eq!(g[[0, 0]], 42.0);
    assert_eq!(g[[9, 11]], 8.0);
    assert!(g[[5, 5]] > 8.0 && g[[5, 5]] < 42.0);
    let e = stations::read_csv("station,lon,lat,rain_mm\n1,103,28,5\n2,103,28,-3\n").unwrap_err();
    assert_eq!(e.line, 3, "{e}");
    assert!(e.message.contains("rain_mm"), "{e}");

    // GeoJSON zoning polygons, rasterised: the east half very high, a square in it medium… the higher wins.
    let gj = r#"{"type":"FeatureCollection","features":[
      {"type":"Feature","properties":{"class":"极高"},"geometry":{"type":"Polygon","coordinates":[[[103.6,28.0],[104.2,28.0],[104.2,29.0],[103.6,29.0],[103.6,28.0]]]}},
      {"type":"Feature","properties":{"class":2},"geometry":{"type":"Polygon","coordinates":[[[103.0,28.0],[103.8,28.0],[103.8,28.3],[103.0,28.3],[103.0,28.0]]]}}]}"#;
    let z = zoning::from_geojson(gj, spec()).unwrap();
    assert_eq!(z.values[[0, 11]], 4);
    assert_eq!(z.values[[1, 7]], 4, "overlap: the higher class");
    assert_eq!(z.values[[1, 2]], 2);
    assert_eq!(z.values[[8, 2]], 0);
    let e = zoning::from_geojson(&gj.replace("\"极高\"", "\"huge\""), spec()).unwrap_err();
    assert!(e.contains("feature 1"), "{e}");
}
