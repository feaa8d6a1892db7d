//! The GeoTIFF import of the susceptibility zoning: a GeoTIFF written with the `tiff` crate's
//! encoder reads to the same cells, grid and no-data as the ESRI ASCII grid of the same data;
//! files that are not TIFF, carry no georeferencing, are rotated or projected, or hold a value
//! that is not a class are refused with the reason.

use std::io::Cursor;

use geohazard_forecast::grid::{Grid, GridSpec, read_esri_ascii, write_esri_ascii};
use geohazard_forecast::{geotiff, zoning};
use ndarray::Array2;
use tiff::encoder::{TiffEncoder, colortype};
use tiff::tags::Tag;

fn spec() -> GridSpec {
    GridSpec {
        west: 103.5,
        south: 27.25,
        cell: 0.25,
        ncols: 7,
        nrows: 5,
    }
}

/// Classes 0–4 with a few no-data cells, row 0 the southernmost.
fn classes() -> Grid<Option<f64>> {
    let s = spec();
    Grid {
        spec: s,
        values: Array2::from_shape_fn(s.shape(), |(r, c)| {
            ((r * 3 + c) % 7 != 6).then_some(((r + 2 * c) % 5) as f64)
        }),
    }
}

/// How the georeferencing is written.
enum Georef {
    ScaleTiepoint,
    Transformation { rotation: f64 },
    None,
}

/// Writes `g` as a 32-bit float GeoTIFF, north row first, nodata -9999.
fn geotiff_of(g: &Grid<Option<f64>>, georef: Georef, model_type: u16) -> Vec<u8> {
    let s = g.spec;
    let north = s.south + s.nrows as f64 * s.cell;
    let mut data = Vec::with_capacity(s.ncols * s.nrows);
    for r in (0..s.nrows).rev() {
        for c in 0..s.ncols {
            data.push(g.values[[r, c]].unwrap_or(-9999.0) as f32);
        }
    }
    let mut out = Cursor::new(Vec::new());
    let mut enc = TiffEncoder::new(&mut out).unwrap();
    let mut image = enc
        .new_image::<colortype::Gray32Float>(s.ncols as u32, s.nrows as u32)
        .unwrap();
    let dir = image.encoder();
    match georef {
        Georef::ScaleTiepoint => {
            dir.write_tag(Tag::ModelPixelScaleTag, &[s.cell, s.cell, 0.0][..])
                .unwrap();
            // Tie the north-west corner of the file's cell (col 2, row 1) to its longitude/latitude.
            let (i, j) = (2.0, 1.0);
            dir.write_tag(
                Tag::ModelTiepointTag,
                &[i, j, 0.0, s.west + i * s.cell, north - j * s.cell, 0.0][..],
            )
            .unwrap();
        }
        Georef::Transformation { rotation } => {
            let m = [
                s.cell, rotation, 0.0, s.west, rotation, -s.cell, 0.0, north, 0.0, 0.0, 0.0, 0.0,
                0.0, 0.0, 0.0, 1.0,
            ];
            dir.write_tag(Tag::ModelTransformationTag, &m[..]).unwrap();
        }
        Georef::None => {}
    }
    // GeoKeyDirectory: version 1.1.0, 2 keys: model type, raster type PixelIsArea.
    dir.write_tag(
        Tag::GeoKeyDirectoryTag,
        &[1u16, 1, 0, 2, 1024, 0, 1, model_type, 1025, 0, 1, 1][..],
    )
    .unwrap();
    dir.write_tag(Tag::GdalNodata, "-9999").unwrap();
    image.write_data(&data).unwrap();
    out.into_inner()
}

#[test]
fn a_geotiff_written_by_the_tiff_encoder_reads_to_the_same_cells_as_the_ascii_grid_of_the_same_data()
 {
    let g = classes();
    let ascii = read_esri_ascii(&write_esri_ascii(&g)).unwrap();
    for georef in [
        Georef::ScaleTiepoint,
        Georef::Transformation { rotation: 0.0 },
    ] {
        let tif = geotiff_of(&g, georef, 2);
        let read = geotiff::read(&tif).unwrap();
        assert_eq!(read.spec.ncols, ascii.spec.ncols);
        assert_eq!(read.spec.nrows, ascii.spec.nrows);
        for (a, b) in [
            (read.spec.west, ascii.spec.west),
            (read.spec.south, ascii.spec.south),
            (read.spec.cell, ascii.spec.cell),
        ] {
            assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        }
        assert_eq!(read.values, ascii.values, "cells, no-data as None");
        assert!(
            read.values.iter().any(Option::is_none),
            "the test has no-data cells"
        );
        // As a zoning: the same classes as the ASCII grid's import (no data: class 0).
        let z_tif = zoning::from_geotiff(&tif).unwrap();
        let z_asc = zoning::from_esri_ascii(&write_esri_ascii(&g)).unwrap();
        assert_eq!(z_tif.values, z_asc.values);
        // Spot cells against the data itself: south-west corner, north-east corner.
        assert_eq!(z_tif.values[[0, 0]], g.values[[0, 0]].unwrap_or(0.0) as u8);
        assert_eq!(z_tif.values[[4, 6]], g.values[[4, 6]].unwrap_or(0.0) as u8);
    }
}

#[test]
fn a_malformed_rotated_projected_or_unreferenced_geotiff_is_refused_with_the_reason() {
    let g = classes();
    let err = |bytes: &[u8]| geotiff::read(bytes).unwrap_err().to_string();

    let not_tiff = err(b"ncols 3\nnrows 2\n");
    assert!(not_tiff.contains("not a readable TIFF"), "{not_tiff}");

    let mut truncated = geotiff_of(&g, Georef::ScaleTiepoint, 2);
    truncated.truncate(40);
    let e = err(&truncated);
    assert!(e.starts_with("GeoTIFF: "), "{e}");

    let rotated = err(&geotiff_of(
        &g,
        Georef::Transformation { rotation: 0.01 },
        2,
    ));
    assert!(rotated.contains("rotated"), "{rotated}");

    let unreferenced = err(&geotiff_of(&g, Georef::None, 2));
    assert!(unreferenced.contains("no georeferencing"), "{unreferenced}");

    let projected = err(&geotiff_of(&g, Georef::ScaleTiepoint, 1));
    assert!(projected.contains("longitude/latitude"), "{projected}");

    // A value that is not a class 0–4, named by its place.
    let mut bad = g.clone();
    bad.values[[4, 3]] = Some(7.0);
    let e = zoning::from_geotiff(&geotiff_of(&bad, Georef::ScaleTiepoint, 2))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("not 7") && e.contains("row 1 from the north, column 4"),
        "{e}"
    );
}
