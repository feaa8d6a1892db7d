//! Station rainfall tables (CSV: `station,lon,lat,rain_mm` in any column order, a header line
//! naming them) and their spreading onto a grid by inverse-distance weighting.

use ndarray::Array2;

use crate::grid::{GridError, GridSpec};

/// One station's rainfall over the period of its table, in millimetres.
#[derive(Debug, Clone, PartialEq)]
pub struct StationRain {
    pub station: String,
    pub lon: f64,
    pub lat: f64,
    pub rain_mm: f64,
}

/// Reads a station table; a bad line is refused with its number and the column.
pub fn read_csv(text: &str) -> Result<Vec<StationRain>, GridError> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines
        .next()
        .ok_or_else(|| GridError::at(1, "the table is empty"))?;
    let names: Vec<String> = header
        .trim_start_matches('\u{feff}')
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let column = |name: &str| {
        names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| GridError::at(1, format!("the header has no column {name:?}")))
    };
    let (cs, cx, cy, cr) = (
        column("station")?,
        column("lon")?,
        column("lat")?,
        column("rain_mm")?,
    );
    let mut out = Vec::new();
    for (i, line) in lines {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        if cells.len() != names.len() {
            return Err(GridError::at(
                i + 1,
                format!(
                    "{} fields where the header has {}",
                    cells.len(),
                    names.len()
                ),
            ));
        }
        let num = |c: usize, lo: f64, hi: f64| -> Result<f64, GridError> {
            let v: f64 = cells[c].parse().map_err(|_| {
                GridError::at(
                    i + 1,
                    format!("{} is not a number: {:?}", names[c], cells[c]),
                )
            })?;
            if !(lo..=hi).contains(&v) {
                return Err(GridError::at(
                    i + 1,
                    format!("{} must be from {lo} to {hi}, not {v}", names[c]),
                ));
            }
            Ok(v)
        };
        if cells[cs].is_empty() {
            return Err(GridError::at(i + 1, "station is empty"));
        }
        out.push(StationRain {
            station: cells[cs].to_owned(),
            lon: num(cx, -180.0, 180.0)?,
            lat: num(cy, -90.0, 90.0)?,
            rain_mm: num(cr, 0.0, 2000.0)?,
        });
    }
    Ok(out)
}

/// Rainfall per cell: inverse-distance weighting (power 2) of the stations, a station inside a
/// cell's centre distance of 1e-9 degrees giving its own value. No stations: zero everywhere.
pub fn on_cells(spec: &GridSpec, stations: &[StationRain]) -> Array2<f64> {
    let mut out = Array2::zeros(spec.shape());
    if stations.is_empty() {
        return out;
    }
    for ((r, c), v) in out.indexed_iter_mut() {
        let (lon, lat) = spec.centre(r, c);
        let (mut num, mut den) = (0.0, 0.0);
        let mut exact = None;
        for s in stations {
            let d2 = (s.lon - lon).powi(2) + (s.lat - lat).powi(2);
            if d2 < 1e-18 {
                exact = Some(s.rain_mm);
                break;
            }
            num += s.rain_mm / d2;
            den += 1.0 / d2;
        }
        *v = exact.unwrap_or(num / den);
    }
    out
}
