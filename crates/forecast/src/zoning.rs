//! Susceptibility zoning (易发性分区): a class per cell, 0 (not susceptible, or no data) to 4
//! (very high), from an ESRI ASCII grid or a GeoTIFF of classes or from GeoJSON zoning polygons rasterised
//! onto a grid (a cell takes the highest class whose polygon holds its centre).

use geo::{Contains, MultiPolygon, Point};
use geojson::GeoJson;
use ndarray::Array2;

use crate::geotiff::GeoTiffError;
use crate::grid::{Grid, GridError, GridSpec, read_esri_ascii_lines};

/// The highest susceptibility class.
pub const MAX_CLASS: u8 = 4;

/// Reads a grid of classes 0–4 (no data: 0).
pub fn from_esri_ascii(text: &str) -> Result<Grid<u8>, GridError> {
    let (g, row_lines) = read_esri_ascii_lines(text)?;
    classes(&g).map_err(|(r, c, x)| {
        GridError::at(
            row_lines[r],
            format!(
                "a susceptibility class is 0 to {MAX_CLASS}, not {x} (column {})",
                c + 1
            ),
        )
    })
}

/// Reads a GeoTIFF of classes 0–4 (no data: 0), as [`crate::geotiff::read`] takes it.
pub fn from_geotiff(bytes: &[u8]) -> Result<Grid<u8>, GeoTiffError> {
    let g = crate::geotiff::read(bytes)?;
    classes(&g).map_err(|(r, c, x)| {
        GeoTiffError(format!(
            "a susceptibility class is 0 to {MAX_CLASS}, not {x} (row {} from the north, column {})",
            g.spec.nrows - r,
            c + 1
        ))
    })
}

/// A grid's values as classes (no data: 0); Err names the first cell that is not a class.
fn classes(g: &Grid<Option<f64>>) -> Result<Grid<u8>, (usize, usize, f64)> {
    let mut values = Array2::zeros(g.spec.shape());
    for ((r, c), v) in g.values.indexed_iter() {
        values[[r, c]] = match v {
            None => 0,
            Some(x) if x.fract() == 0.0 && (0.0..=MAX_CLASS as f64).contains(x) => *x as u8,
            Some(x) => return Err((r, c, *x)),
        };
    }
    Ok(Grid {
        spec: g.spec,
        values,
    })
}

/// The class a zoning feature's `class` property names: 1–4, or low / medium / high /
/// very_high, or 低 / 中 / 高 / 极高 (易发区).
pub fn class_of(v: &serde_json::Value) -> Option<u8> {
    if let Some(n) = v.as_u64() {
        return (1..=MAX_CLASS as u64).contains(&n).then_some(n as u8);
    }
    let s = v
        .as_str()?
        .trim()
        .trim_end_matches("易发区")
        .trim_end_matches("易发");
    match s {
        "1" | "low" | "低" => Some(1),
        "2" | "medium" | "中" => Some(2),
        "3" | "high" | "高" => Some(3),
        "4" | "very_high" | "极高" => Some(4),
        _ => None,
    }
}

/// Rasterises a GeoJSON FeatureCollection of zoning polygons, each with a `class` property.
/// A feature that is not a polygon or has no class is refused, naming it by position.
pub fn from_geojson(text: &str, spec: GridSpec) -> Result<Grid<u8>, String> {
    let gj: GeoJson = text.parse().map_err(|e| format!("not GeoJSON: {e}"))?;
    let GeoJson::FeatureCollection(fc) = gj else {
        return Err("zoning must be a FeatureCollection".into());
    };
    let mut zones: Vec<(u8, MultiPolygon<f64>)> = Vec::new();
    for (n, f) in fc.features.iter().enumerate() {
        let class = f.property("class").and_then(class_of).ok_or_else(|| {
            format!(
                "feature {}: property class must be 1–4 or low/medium/high/very_high",
                n + 1
            )
        })?;
        let geom = f
            .geometry
            .as_ref()
            .ok_or_else(|| format!("feature {}: no geometry", n + 1))?;
        let mp: MultiPolygon<f64> = match geo::Geometry::<f64>::try_from(geom) {
            Ok(geo::Geometry::Polygon(p)) => MultiPolygon(vec![p]),
            Ok(geo::Geometry::MultiPolygon(mp)) => mp,
            _ => {
                return Err(format!(
                    "feature {}: geometry must be a Polygon or MultiPolygon",
                    n + 1
                ));
            }
        };
        zones.push((class, mp));
    }
    let mut values = Array2::zeros(spec.shape());
    for ((r, c), v) in values.indexed_iter_mut() {
        let (lon, lat) = spec.centre(r, c);
        let p = Point::new(lon, lat);
        *v = zones
            .iter()
            .filter(|(_, mp)| mp.contains(&p))
            .map(|(k, _)| *k)
            .max()
            .unwrap_or(0);
    }
    Ok(Grid { spec, values })
}
