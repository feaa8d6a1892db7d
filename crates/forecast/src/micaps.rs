//! MICAPS category-4 grid files (第4类数据, 格点数据), the text format Chinese meteorological
//! bureaus exchange gridded forecasts in:
//!
//! ```text
//! diamond 4 <description>
//! year month day hour period level dlon dlat lon1 lon2 lat1 lat2 nlon nlat interval start end smooth bold
//! <nlat rows of nlon values, lat1 first, split over lines at will>
//! ```
//!
//! Values are at grid points (`lon1 + i·dlon`, `lat1 + j·dlat`; `dlat` may be negative);
//! 9999 is missing. The header may span lines; a malformed file is refused with its line.

use chrono::{NaiveDate, NaiveDateTime};
use ndarray::Array2;

use crate::grid::{GridError, GridSpec};

/// A category-4 grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Micaps4 {
    pub description: String,
    /// The forecast's initial time, as the file gives it (Beijing time by convention).
    pub issued: NaiveDateTime,
    /// The forecast period (时效), in hours.
    pub period_h: u32,
    pub level: f64,
    pub lon1: f64,
    pub dlon: f64,
    pub lat1: f64,
    pub dlat: f64,
    pub nlon: usize,
    pub nlat: usize,
    /// `[j, i]`: latitude index (from `lat1`), longitude index; `None` where missing.
    pub values: Array2<Option<f64>>,
}

const MISSING: f64 = 9999.0;

/// Reads a category-4 file.
pub fn read(text: &str) -> Result<Micaps4, GridError> {
    let mut lines = text.lines().enumerate();
    let (first_no, first) = lines
        .by_ref()
        .find(|(_, l)| !l.trim().is_empty())
        .ok_or_else(|| GridError::at(1, "the file is empty"))?;
    let first_no = first_no + 1;
    let first = first.trim_start_matches('\u{feff}');
    let mut words = first.split_whitespace();
    let magic = words.next().unwrap_or_default();
    if !magic.eq_ignore_ascii_case("diamond") {
        return Err(GridError::at(
            first_no,
            format!("a MICAPS file starts with \"diamond\", not {magic:?}"),
        ));
    }
    if words.next() != Some("4") {
        return Err(GridError::at(
            first_no,
            "not a category-4 (grid) file: \"diamond 4\" expected",
        ));
    }
    let description = words.collect::<Vec<_>>().join(" ");
    // Every further token with its line.
    let mut tokens = lines.flat_map(|(i, l)| l.split_whitespace().map(move |w| (i + 1, w)));
    let mut last_line = first_no;
    let mut number = |what: &str| -> Result<(usize, f64), GridError> {
        let (line, w) = tokens
            .next()
            .ok_or_else(|| GridError::at(last_line, format!("the file ends before {what}")))?;
        last_line = line;
        let v: f64 = w
            .parse()
            .map_err(|_| GridError::at(line, format!("{what} is not a number: {w:?}")))?;
        if !v.is_finite() {
            return Err(GridError::at(line, format!("{what} is not finite")));
        }
        Ok((line, v))
    };
    let whole = |(line, v): (usize, f64), what: &str, lo: f64, hi: f64| {
        if v.fract() != 0.0 || v < lo || v > hi {
            Err(GridError::at(
                line,
                format!("{what} must be a whole number from {lo} to {hi}, not {v}"),
            ))
        } else {
            Ok(v as i64)
        }
    };
    let year = whole(number("the year")?, "the year", 0.0, 9999.0)?;
    let year = if year < 100 { 2000 + year } else { year };
    let month = whole(number("the month")?, "the month", 1.0, 12.0)?;
    let (day_line, day) = number("the day")?;
    let day = whole((day_line, day), "the day", 1.0, 31.0)?;
    let hour = whole(number("the hour")?, "the hour", 0.0, 23.0)?;
    let period_h = whole(number("the period")?, "the period", 0.0, 10_000.0)? as u32;
    let (_, level) = number("the level")?;
    let (dlon_line, dlon) = number("the longitude step")?;
    let (dlat_line, dlat) = number("the latitude step")?;
    let (_, lon1) = number("the first longitude")?;
    let (_, lon2) = number("the last longitude")?;
    let (_, lat1) = number("the first latitude")?;
    let (_, lat2) = number("the last latitude")?;
    let nlon = whole(
        number("the longitude count")?,
        "the longitude count",
        1.0,
        10_000.0,
    )? as usize;
    let (nlat_line, nlat) = number("the latitude count")?;
    let nlat = whole((nlat_line, nlat), "the latitude count", 1.0, 10_000.0)? as usize;
    for what in [
        "the contour interval",
        "the first contour",
        "the last contour",
        "the smoothing",
        "the bold line",
    ] {
        number(what)?;
    }
    if dlon == 0.0 || dlat == 0.0 {
        return Err(GridError::at(
            if dlon == 0.0 { dlon_line } else { dlat_line },
            "a grid step is zero",
        ));
    }
    let expect = |a: f64, step: f64, n: usize, b: f64| {
        (a + step * (n - 1) as f64 - b).abs() <= step.abs() * 1e-3
    };
    if !expect(lon1, dlon, nlon, lon2) || !expect(lat1, dlat, nlat, lat2) {
        return Err(GridError::at(
            nlat_line,
            format!(
                "the counts ({nlon} × {nlat}) do not fit the range {lon1}..{lon2} by {dlon}, {lat1}..{lat2} by {dlat}"
            ),
        ));
    }
    let issued = NaiveDate::from_ymd_opt(year as i32, month as u32, day as u32)
        .and_then(|d| d.and_hms_opt(hour as u32, 0, 0))
        .ok_or_else(|| GridError::at(day_line, format!("{year}-{month}-{day} is not a date")))?;
    let mut values = Array2::from_elem((nlat, nlon), None);
    for j in 0..nlat {
        for i in 0..nlon {
            let (_, v) = number(&format!("value {} of {}", j * nlon + i + 1, nlat * nlon))?;
            values[[j, i]] = (v != MISSING).then_some(v);
        }
    }
    if let Some((line, w)) = tokens.next() {
        return Err(GridError::at(
            line,
            format!("more values than {nlon} × {nlat}: {w:?}"),
        ));
    }
    Ok(Micaps4 {
        description,
        issued,
        period_h,
        level,
        lon1,
        dlon,
        lat1,
        dlat,
        nlon,
        nlat,
        values,
    })
}

impl Micaps4 {
    /// The value of the grid point nearest to a point, none outside the grid (by more than
    /// half a step) or where missing.
    pub fn nearest(&self, lon: f64, lat: f64) -> Option<f64> {
        let i = ((lon - self.lon1) / self.dlon).round();
        let j = ((lat - self.lat1) / self.dlat).round();
        if i < 0.0 || j < 0.0 || i as usize >= self.nlon || j as usize >= self.nlat {
            return None;
        }
        self.values[[j as usize, i as usize]]
    }

    /// The value for every cell of `spec` (the nearest grid point to its centre); an error
    /// names the first cell the file does not cover.
    pub fn on_cells(&self, spec: &GridSpec) -> Result<Array2<f64>, String> {
        let mut out = Array2::zeros(spec.shape());
        for ((r, c), v) in out.indexed_iter_mut() {
            let (lon, lat) = spec.centre(r, c);
            *v = self.nearest(lon, lat).ok_or_else(|| {
                format!(
                    "the forecast has no value at {lon:.3}°E {lat:.3}°N (cell row {r}, column {c})"
                )
            })?;
        }
        Ok(out)
    }

    /// Writes a category-4 file: one grid row per line.
    pub fn write(&self) -> String {
        let lon2 = self.lon1 + self.dlon * (self.nlon - 1) as f64;
        let lat2 = self.lat1 + self.dlat * (self.nlat - 1) as f64;
        let mut out = format!(
            "diamond 4 {}\n{} {} {} {} {} {} {} {} {} {} {} {} {} {} 10 0 100 0 50\n",
            self.description,
            self.issued.format("%Y"),
            self.issued.format("%m"),
            self.issued.format("%d"),
            self.issued.format("%H"),
            self.period_h,
            self.level,
            self.dlon,
            self.dlat,
            self.lon1,
            lon2,
            self.lat1,
            lat2,
            self.nlon,
            self.nlat
        );
        for j in 0..self.nlat {
            let row: Vec<String> = (0..self.nlon)
                .map(|i| format!("{:.1}", self.values[[j, i]].unwrap_or(MISSING)))
                .collect();
            out.push_str(&row.join(" "));
            out.push('\n');
        }
        out
    }

    /// A file on the cell centres of `spec`, south first, from values per cell.
    pub fn from_cells(
        spec: &GridSpec,
        values: &Array2<f64>,
        issued: NaiveDateTime,
        period_h: u32,
        description: &str,
    ) -> Micaps4 {
        let (lon1, lat1) = spec.centre(0, 0);
        Micaps4 {
            description: description.into(),
            issued,
            period_h,
            level: 0.0,
            lon1,
            dlon: spec.cell,
            lat1,
            dlat: spec.cell,
            nlon: spec.ncols,
            nlat: spec.nrows,
            values: values.mapv(Some),
        }
    }
}
