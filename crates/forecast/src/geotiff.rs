//! The GeoTIFF reader (a grid of one band, through the `tiff` crate): georeferenced by
//! ModelPixelScale and one ModelTiepoint (or a ModelTransformation without rotation), in
//! longitude/latitude with square cells; GDAL's nodata tag gives the cells without data.
//! Rotated, projected or otherwise unsupported georeferencing is refused with the reason, as is
//! a file that is not a TIFF. Values land in the same [`Grid`] as the ESRI ASCII reader's: row
//! 0 the southernmost (the file's first row is the northernmost).

use std::io::Cursor;

use ndarray::Array2;
use tiff::decoder::{Decoder, DecodingResult};
use tiff::tags::Tag;

use crate::grid::{Grid, GridSpec};

/// A GeoTIFF refused, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("GeoTIFF: {0}")]
pub struct GeoTiffError(pub String);

fn refuse<T>(why: impl Into<String>) -> Result<T, GeoTiffError> {
    Err(GeoTiffError(why.into()))
}

/// Largest grid accepted (cells).
const MAX_CELLS: u64 = 16_000_000;
/// GeoKey ids (GeoTIFF 1.1, 6.2).
const GT_MODEL_TYPE: u16 = 1024;
const GT_RASTER_TYPE: u16 = 1025;
const MODEL_TYPE_GEOGRAPHIC: u16 = 2;
const RASTER_PIXEL_IS_POINT: u16 = 2;

/// Two floating-point numbers equal up to rounding in the file.
fn same(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Reads a single-band GeoTIFF in longitude/latitude. No-data cells (GDAL_NODATA, or NaN) are
/// `None`.
pub fn read(bytes: &[u8]) -> Result<Grid<Option<f64>>, GeoTiffError> {
    let mut d = Decoder::new(Cursor::new(bytes))
        .map_err(|e| GeoTiffError(format!("not a readable TIFF file: {e}")))?;
    let (width, height) = d
        .dimensions()
        .map_err(|e| GeoTiffError(format!("no image size: {e}")))?;
    if u64::from(width) * u64::from(height) > MAX_CELLS || width == 0 || height == 0 {
        return refuse(format!(
            "{width} × {height} cells: 1 to {MAX_CELLS} cells are accepted"
        ));
    }
    let colour = d
        .colortype()
        .map_err(|e| GeoTiffError(format!("unsupported pixel layout: {e}")))?;
    if !matches!(colour, tiff::ColorType::Gray(_)) {
        return refuse(format!(
            "{colour:?} pixels: one band (grey) of values per cell is needed"
        ));
    }
    let tag = |d: &mut Decoder<Cursor<&[u8]>>,
               t: Tag,
               name: &str|
     -> Result<Option<Vec<f64>>, GeoTiffError> {
        match d.find_tag(t) {
            Ok(None) => Ok(None),
            Ok(Some(v)) => v
                .into_f64_vec()
                .map(Some)
                .map_err(|e| GeoTiffError(format!("{name} is not a list of numbers: {e}"))),
            Err(e) => Err(GeoTiffError(format!("{name} unreadable: {e}"))),
        }
    };
    let keys = match d.find_tag(Tag::GeoKeyDirectoryTag) {
        Ok(None) => vec![],
        Ok(Some(v)) => v
            .into_u16_vec()
            .map_err(|e| GeoTiffError(format!("GeoKeyDirectory unreadable: {e}")))?,
        Err(e) => return refuse(format!("GeoKeyDirectory unreadable: {e}")),
    };
    let geokey = |id: u16| -> Option<u16> {
        // Header of 4 shorts, then (key, location, count, value) per key; location 0: inline.
        keys.get(4..)?
            .chunks_exact(4)
            .find(|k| k[0] == id && k[1] == 0)
            .map(|k| k[3])
    };
    if let Some(model) = geokey(GT_MODEL_TYPE)
        && model != MODEL_TYPE_GEOGRAPHIC
    {
        return refuse(format!(
            "model type {model} (projected or geocentric): the grid must be in longitude/latitude degrees"
        ));
    }
    let point = geokey(GT_RASTER_TYPE) == Some(RASTER_PIXEL_IS_POINT);
    let scale = tag(&mut d, Tag::ModelPixelScaleTag, "ModelPixelScale")?;
    let tiepoints = tag(&mut d, Tag::ModelTiepointTag, "ModelTiepoint")?;
    let transform = tag(&mut d, Tag::ModelTransformationTag, "ModelTransformation")?;
    // (x of the west edge of column 0, y of the north edge of row 0, cell x, cell y).
    let (west, north, sx, sy) = match (scale, tiepoints, transform) {
        (Some(s), Some(t), None) => {
            if s.len() < 2 {
                return refuse("ModelPixelScale has fewer than 2 values");
            }
            if t.len() != 6 {
                return refuse(format!(
                    "{} tiepoints: one tiepoint with a pixel scale is supported (several tiepoints warp the image)",
                    t.len() / 6
                ));
            }
            let (i, j, x, y) = (t[0], t[1], t[3], t[4]);
            (x - i * s[0], y + j * s[1], s[0], s[1])
        }
        (None, None, Some(m)) => {
            if m.len() != 16 {
                return refuse("ModelTransformation must hold 16 values");
            }
            if m[1] != 0.0 || m[4] != 0.0 {
                return refuse(
                    "a rotated or sheared grid (ModelTransformation with rotation terms) is not supported",
                );
            }
            (m[3], m[7], m[0], -m[5])
        }
        (_, _, Some(_)) => {
            return refuse("both ModelTransformation and ModelPixelScale/ModelTiepoint are given");
        }
        (None, _, None) | (_, None, None) => {
            return refuse(
                "no georeferencing: ModelPixelScale and ModelTiepoint (or ModelTransformation) are needed",
            );
        }
    };
    if !(sx > 0.0 && sy > 0.0 && sx.is_finite() && sy.is_finite()) {
        return refuse(format!(
            "pixel scale {sx} × {sy}: positive sizes with north at the top are needed"
        ));
    }
    if !same(sx, sy) {
        return refuse(format!(
            "cells of {sx} × {sy} degrees: square cells are needed"
        ));
    }
    // PixelIsPoint: the tiepoint is a cell's centre, not its corner.
    let (west, north) = if point {
        (west - sx / 2.0, north + sy / 2.0)
    } else {
        (west, north)
    };
    let (nrows, ncols) = (height as usize, width as usize);
    let south = north - nrows as f64 * sy;
    if !(-180.0..=360.0).contains(&west) || !(-90.0..=90.0).contains(&south) || north > 90.0 {
        return refuse(format!(
            "the grid's corner ({west}, {south}) is not longitude/latitude in degrees"
        ));
    }
    let nodata: Option<f64> = match d.find_tag(Tag::GdalNodata) {
        Ok(None) => None,
        Ok(Some(v)) => {
            let s = v
                .into_string()
                .map_err(|e| GeoTiffError(format!("GDAL_NODATA is not text: {e}")))?;
            let s = s.trim_matches(char::from(0)).trim();
            Some(
                s.parse()
                    .map_err(|_| GeoTiffError(format!("GDAL_NODATA is not a number: {s:?}")))?,
            )
        }
        Err(e) => return refuse(format!("GDAL_NODATA unreadable: {e}")),
    };
    let image = d
        .read_image()
        .map_err(|e| GeoTiffError(format!("the cells cannot be read: {e}")))?;
    let cells: Vec<f64> = match image {
        DecodingResult::U8(v) => v.into_iter().map(f64::from).collect(),
        DecodingResult::U16(v) => v.into_iter().map(f64::from).collect(),
        DecodingResult::U32(v) => v.into_iter().map(f64::from).collect(),
        DecodingResult::I8(v) => v.into_iter().map(f64::from).collect(),
        DecodingResult::I16(v) => v.into_iter().map(f64::from).collect(),
        DecodingResult::I32(v) => v.into_iter().map(f64::from).collect(),
        DecodingResult::F32(v) => v.into_iter().map(f64::from).collect(),
        DecodingResult::F64(v) => v,
        other => {
            return refuse(format!(
                "{} cells are not supported (8–32-bit integers or 32/64-bit floats are)",
                match other {
                    DecodingResult::U64(_) => "64-bit unsigned",
                    DecodingResult::I64(_) => "64-bit signed",
                    _ => "16-bit float",
                }
            ));
        }
    };
    if cells.len() != nrows * ncols {
        return refuse(format!(
            "{} values for {ncols} × {nrows} cells",
            cells.len()
        ));
    }
    let values = Array2::from_shape_fn((nrows, ncols), |(r, c)| {
        let v = cells[(nrows - 1 - r) * ncols + c];
        // GDAL writes the nodata value as text; compare as the cells' own type would.
        let missing = !v.is_finite() || nodata.is_some_and(|n| same(v, n) || v as f32 == n as f32);
        (!missing).then_some(v)
    });
    let spec = GridSpec {
        west,
        south,
        cell: sx,
        ncols,
        nrows,
    };
    Ok(Grid { spec, values })
}
