//! A regular longitude/latitude grid and the ESRI ASCII grid reader. Values are an
//! `ndarray::Array2` indexed `[row, col]`, row 0 the southernmost (files that list the north
//! first are turned over on reading).

use geo::{Coord, LineString, Polygon};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

/// A file refused, with the line that is wrong (1-based) and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct GridError {
    pub line: usize,
    pub message: String,
}

impl GridError {
    pub fn at(line: usize, message: impl Into<String>) -> GridError {
        GridError {
            line,
            message: message.into(),
        }
    }
}

/// Where a grid's cells are: the south-west corner of cell (0, 0), the cell size in degrees,
/// and the number of columns (west to east) and rows (south to north).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GridSpec {
    pub west: f64,
    pub south: f64,
    pub cell: f64,
    pub ncols: usize,
    pub nrows: usize,
}

impl GridSpec {
    /// The centre of cell `(row, col)` as (longitude, latitude).
    pub fn centre(&self, row: usize, col: usize) -> (f64, f64) {
        (
            self.west + (col as f64 + 0.5) * self.cell,
            self.south + (row as f64 + 0.5) * self.cell,
        )
    }

    /// The cell holding a point, none outside the grid.
    pub fn cell_at(&self, lon: f64, lat: f64) -> Option<(usize, usize)> {
        let c = ((lon - self.west) / self.cell).floor();
        let r = ((lat - self.south) / self.cell).floor();
        (c >= 0.0 && r >= 0.0 && (c as usize) < self.ncols && (r as usize) < self.nrows)
            .then_some((r as usize, c as usize))
    }

    /// The square of cell `(row, col)`.
    pub fn cell_polygon(&self, row: usize, col: usize) -> Polygon<f64> {
        let x0 = self.west + col as f64 * self.cell;
        let y0 = self.south + row as f64 * self.cell;
        let (x1, y1) = (x0 + self.cell, y0 + self.cell);
        Polygon::new(
            LineString::from(vec![
                Coord { x: x0, y: y0 },
                Coord { x: x1, y: y0 },
                Coord { x: x1, y: y1 },
                Coord { x: x0, y: y1 },
                Coord { x: x0, y: y0 },
            ]),
            vec![],
        )
    }

    /// The area of one cell in square degrees.
    pub fn cell_area(&self) -> f64 {
        self.cell * self.cell
    }

    pub fn shape(&self) -> (usize, usize) {
        (self.nrows, self.ncols)
    }
}

/// Values on a grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid<T> {
    pub spec: GridSpec,
    pub values: Array2<T>,
}

/// Reads an ESRI ASCII grid (`ncols`, `nrows`, `xllcorner`/`xllcenter`, `yllcorner`/
/// `yllcenter`, `cellsize`, optional `NODATA_value`, then the rows north first). No-data cells
/// are `None`.
pub fn read_esri_ascii(text: &str) -> Result<Grid<Option<f64>>, GridError> {
    read_esri_ascii_lines(text).map(|(g, _)| g)
}

/// [`read_esri_ascii`], with the file's line of each grid row (index: row, south first).
pub fn read_esri_ascii_lines(text: &str) -> Result<(Grid<Option<f64>>, Vec<usize>), GridError> {
    let mut header = std::collections::HashMap::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((i, line)) = lines.peek().copied() {
        let mut words = line.split_whitespace();
        let Some(key) = words.next() else {
            lines.next();
            continue;
        };
        if !key.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) {
            break;
        }
        let key = key.to_ascii_lowercase();
        let value = words
            .next()
            .ok_or_else(|| GridError::at(i + 1, format!("{key} has no value")))?;
        let value: f64 = value
            .parse()
            .map_err(|_| GridError::at(i + 1, format!("{key} is not a number: {value:?}")))?;
        header.insert(key, (i + 1, value));
        lines.next();
    }
    let get = |k: &str| {
        header
            .get(k)
            .map(|(_, v)| *v)
            .ok_or_else(|| GridError::at(1, format!("the header has no {k}")))
    };
    let count = |k: &str| -> Result<usize, GridError> {
        let v = get(k)?;
        if v < 1.0 || v.fract() != 0.0 || v > 100_000.0 {
            return Err(GridError::at(
                header[k].0,
                format!("{k} must be a whole number from 1 to 100000, not {v}"),
            ));
        }
        Ok(v as usize)
    };
    let ncols = count("ncols")?;
    let nrows = count("nrows")?;
    let cell = get("cellsize")?;
    if cell <= 0.0 || !cell.is_finite() {
        return Err(GridError::at(
            header["cellsize"].0,
            "cellsize must be positive",
        ));
    }
    let (west, south) = match (header.get("xllcorner"), header.get("xllcenter")) {
        (Some((_, x)), _) => (*x, get("yllcorner")?),
        (None, Some((_, x))) => (x - cell / 2.0, get("yllcenter")? - cell / 2.0),
        (None, None) => return Err(GridError::at(1, "the header has no xllcorner")),
    };
    let nodata = header.get("nodata_value").map(|(_, v)| *v);
    let mut values = Array2::from_elem((nrows, ncols), None);
    let mut row_lines = vec![0; nrows];
    let mut file_row = 0;
    let mut last_line = header.values().map(|(l, _)| *l).max().unwrap_or(0);
    for (i, line) in lines {
        last_line = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        if file_row >= nrows {
            return Err(GridError::at(
                i + 1,
                format!("more rows than nrows ({nrows})"),
            ));
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() != ncols {
            return Err(GridError::at(
                i + 1,
                format!("{} values where ncols is {ncols}", words.len()),
            ));
        }
        let row = nrows - 1 - file_row;
        row_lines[row] = i + 1;
        for (col, w) in words.iter().enumerate() {
            let v: f64 = w
                .parse()
                .map_err(|_| GridError::at(i + 1, format!("not a number: {w:?}")))?;
            values[[row, col]] = (Some(v) != nodata && v.is_finite()).then_some(v);
        }
        file_row += 1;
    }
    if file_row != nrows {
        return Err(GridError::at(
            last_line,
            format!("{file_row} rows where nrows is {nrows}"),
        ));
    }
    let spec = GridSpec {
        west,
        south,
        cell,
        ncols,
        nrows,
    };
    Ok((Grid { spec, values }, row_lines))
}

/// Writes a grid as ESRI ASCII (north first), `-9999` for no data.
pub fn write_esri_ascii(grid: &Grid<Option<f64>>) -> String {
    let s = grid.spec;
    let mut out = format!(
        "ncols {}\nnrows {}\nxllcorner {}\nyllcorner {}\ncellsize {}\nNODATA_value -9999\n",
        s.ncols, s.nrows, s.west, s.south, s.cell
    );
    for row in (0..s.nrows).rev() {
        let line: Vec<String> = (0..s.ncols)
            .map(|c| match grid.values[[row, c]] {
                Some(v) => format!("{v}"),
                None => "-9999".into(),
            })
            .collect();
        out.push_str(&line.join(" "));
        out.push('\n');
    }
    out
}
