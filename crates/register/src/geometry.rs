//! Areas the register keeps as GeoJSON: a site's threat zone (a Polygon) and a division's
//! boundary (a Polygon or MultiPolygon), checked with `geo` before they are stored: closed
//! rings of WGS 84 positions that make a valid area (no self-crossing, holes inside).

use geo::{Closest, ClosestPoint, Contains, Distance, Haversine, MultiPolygon, Point, Validation};
use serde_json::Value;

/// Positions in one area, at most (a county's boundary at survey detail stays well below).
pub const MAX_POSITIONS: usize = 500_000;

/// The area `v` describes: a GeoJSON Polygon, or also a MultiPolygon when `multi`; else what
/// is wrong with it, in a few words (English, technical: the reason's text is the officer's).
pub fn polygon(v: &Value, multi: bool) -> Result<MultiPolygon<f64>, String> {
    let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
    let coordinates = v.get("coordinates").ok_or("no coordinates")?;
    let polygons: Vec<&Value> = match kind {
        "Polygon" => vec![coordinates],
        "MultiPolygon" if multi => coordinates
            .as_array()
            .ok_or("coordinates: not a list")?
            .iter()
            .collect(),
        other if multi => return Err(format!("{other}: not a Polygon or MultiPolygon")),
        other => return Err(format!("{other}: not a Polygon")),
    };
    if polygons.is_empty() {
        return Err("no polygon".into());
    }
    let mut positions = 0usize;
    for rings in &polygons {
        let rings = rings.as_array().ok_or("a polygon: not a list of rings")?;
        if rings.is_empty() || rings.len() > 10_000 {
            return Err("a polygon has no ring, or too many".into());
        }
        for ring in rings {
            let points = ring.as_array().ok_or("a ring: not a list of positions")?;
            if points.len() < 4 {
                return Err("a ring of fewer than four positions".into());
            }
            positions += points.len();
            if positions > MAX_POSITIONS {
                return Err(format!("more than {MAX_POSITIONS} positions"));
            }
            let at = |p: &Value| -> Option<(f64, f64)> {
                let p = p.as_array()?;
                let (x, y) = (p.first()?.as_f64()?, p.get(1)?.as_f64()?);
                ((-180.0..=180.0).contains(&x) && (-90.0..=90.0).contains(&y)).then_some((x, y))
            };
            let mut first = None;
            let mut last = None;
            for p in points {
                let xy = at(p).ok_or_else(|| format!("{p}: not a WGS 84 position"))?;
                first.get_or_insert(xy);
                last = Some(xy);
            }
            if first != last {
                return Err("a ring that is not closed".into());
            }
        }
    }
    let g: geojson::Geometry = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
    let area = match geo::Geometry::<f64>::try_from(g).map_err(|e| e.to_string())? {
        geo::Geometry::Polygon(p) => MultiPolygon(vec![p]),
        geo::Geometry::MultiPolygon(mp) => mp,
        _ => return Err("not a polygon".into()),
    };
    match area.check_validation() {
        Ok(()) => Ok(area),
        Err(e) => Err(e.to_string()),
    }
}

/// How far (metres, on the sphere) the point lies from `area`: 0 inside it.
pub fn distance_m(area: &MultiPolygon<f64>, lon: f64, lat: f64) -> f64 {
    let p = Point::new(lon, lat);
    if area.contains(&p) {
        return 0.0;
    }
    match area.closest_point(&p) {
        Closest::Intersection(q) | Closest::SinglePoint(q) => Haversine.distance(p, q),
        Closest::Indeterminate => f64::INFINITY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn square(x: f64, y: f64, d: f64) -> Value {
        json!({"type": "Polygon", "coordinates": [[[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]]})
    }

    #[test]
    fn a_polygon_is_closed_valid_and_in_wgs84() {
        assert!(polygon(&square(104.6, 28.8, 0.01), false).is_ok());
        let bow_tie =
            json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]});
        assert!(polygon(&bow_tie, false).is_err(), "a ring crossing itself");
        let open = json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]});
        assert!(polygon(&open, false).is_err());
        let off_globe =
            json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 95], [0, 0]]]});
        assert!(polygon(&off_globe, false).is_err());
        assert!(polygon(&json!({"type": "Point", "coordinates": [1, 2]}), true).is_err());
        let multi = json!({"type": "MultiPolygon", "coordinates": [square(0.0, 0.0, 1.0)["coordinates"], square(5.0, 5.0, 1.0)["coordinates"]]});
        assert!(polygon(&multi, true).is_ok());
        assert!(
            polygon(&multi, false).is_err(),
            "a threat zone is one Polygon"
        );
    }

    #[test]
    fn the_distance_from_an_area_is_zero_inside_and_metres_outside() {
        let a = polygon(&square(104.6, 28.8, 0.01), false).unwrap();
        assert_eq!(distance_m(&a, 104.605, 28.805), 0.0);
        // 0.01° of latitude is about 1.1 km.
        let d = distance_m(&a, 104.605, 28.82);
        assert!((1_000.0..1_200.0).contains(&d), "{d}");
    }
}
