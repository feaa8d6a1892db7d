//! From levels per cell to what is issued: contiguous cells of a level (4-neighbours) as
//! polygons, specks (areas under a minimum size) removed by giving them their surroundings'
//! level, each division's highest level, and the registered sites inside each level's area.

use std::collections::{BTreeMap, VecDeque};

use geo::{Area, Contains, Intersects, MultiPolygon, Point, unary_union};
use geohazard_domain::WarningLevel;
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::grid::GridSpec;

pub type Levels = Array2<Option<WarningLevel>>;

/// The 4-connected components of equal level: (level, cells).
pub fn components(levels: &Levels) -> Vec<(WarningLevel, Vec<(usize, usize)>)> {
    let (nr, nc) = levels.dim();
    let mut seen = Array2::from_elem((nr, nc), false);
    let mut out = Vec::new();
    for r in 0..nr {
        for c in 0..nc {
            let Some(level) = levels[[r, c]] else {
                continue;
            };
            if seen[[r, c]] {
                continue;
            }
            seen[[r, c]] = true;
            let mut cells = vec![];
            let mut queue = VecDeque::from([(r, c)]);
            while let Some((y, x)) = queue.pop_front() {
                cells.push((y, x));
                for (dy, dx) in [(-1i64, 0i64), (1, 0), (0, -1), (0, 1)] {
                    let (ny, nx) = (y as i64 + dy, x as i64 + dx);
                    if ny < 0 || nx < 0 || ny as usize >= nr || nx as usize >= nc {
                        continue;
                    }
                    let (ny, nx) = (ny as usize, nx as usize);
                    if !seen[[ny, nx]] && levels[[ny, nx]] == Some(level) {
                        seen[[ny, nx]] = true;
                        queue.push_back((ny, nx));
                    }
                }
            }
            out.push((level, cells));
        }
    }
    out
}

/// Specks removed: each area of fewer than `min_cells` cells takes the level most of the cells
/// bordering it have (no level counting as one; a tie goes to the higher), judged on the levels
/// of the pass, so the order of the specks does not matter; passes repeat while a speck is left
/// (two neighbouring specks may make another), at most 16.
pub fn remove_specks(levels: &Levels, min_cells: usize) -> Levels {
    let mut out = levels.clone();
    for _ in 0..16 {
        let next = remove_specks_once(&out, min_cells);
        if next == out {
            break;
        }
        out = next;
    }
    out
}

fn remove_specks_once(levels: &Levels, min_cells: usize) -> Levels {
    let mut out = levels.clone();
    let (nr, nc) = levels.dim();
    for (level, cells) in components(levels) {
        if cells.len() >= min_cells {
            continue;
        }
        let mut votes: BTreeMap<Option<WarningLevel>, usize> = BTreeMap::new();
        for &(y, x) in &cells {
            for (dy, dx) in [(-1i64, 0i64), (1, 0), (0, -1), (0, 1)] {
                let (ny, nx) = (y as i64 + dy, x as i64 + dx);
                if ny < 0 || nx < 0 || ny as usize >= nr || nx as usize >= nc {
                    continue;
                }
                let n = levels[[ny as usize, nx as usize]];
                if n != Some(level) {
                    *votes.entry(n).or_default() += 1;
                }
            }
        }
        // BTreeMap orders None first, then blue … red: the last of the most voted is the highest.
        let most = votes.values().copied().max().unwrap_or(0);
        let to = votes
            .iter()
            .filter(|(_, n)| **n == most)
            .map(|(l, _)| *l)
            .next_back()
            .unwrap_or(None);
        for (y, x) in cells {
            out[[y, x]] = to;
        }
    }
    out
}

/// The area of one level: the union of its cells.
#[derive(Debug, Clone, PartialEq)]
pub struct LevelArea {
    pub level: WarningLevel,
    pub area: MultiPolygon<f64>,
    pub cells: usize,
}

/// One polygon set per level present, red first.
pub fn level_areas(spec: &GridSpec, levels: &Levels) -> Vec<LevelArea> {
    let mut out = Vec::new();
    for level in WarningLevel::ALL.into_iter().rev() {
        let squares: Vec<_> = levels
            .indexed_iter()
            .filter(|(_, l)| **l == Some(level))
            .map(|((r, c), _)| spec.cell_polygon(r, c))
            .collect();
        if squares.is_empty() {
            continue;
        }
        let cells = squares.len();
        out.push(LevelArea {
            level,
            area: unary_union(&squares),
            cells,
        });
    }
    out
}

/// An administrative division and its boundary.
#[derive(Debug, Clone, PartialEq)]
pub struct Division {
    pub code: String,
    pub name: String,
    pub boundary: MultiPolygon<f64>,
}

/// A registered hazard site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SitePoint {
    pub code: String,
    pub name: String,
    pub division_code: String,
    pub lon: f64,
    pub lat: f64,
}

/// A site inside a level's area.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteAt {
    pub code: String,
    pub name: String,
    pub division_code: String,
    pub level: WarningLevel,
}

/// A division's highest level: the highest level whose area overlaps its boundary by more
/// than a sliver (a hundredth of a cell), none if no area does.
pub fn division_level(spec: &GridSpec, areas: &[LevelArea], d: &Division) -> Option<WarningLevel> {
    use geo::BooleanOps;
    let sliver = spec.cell_area() / 100.0;
    areas
        .iter()
        .filter(|a| a.area.intersects(&d.boundary))
        .find(|a| a.area.intersection(&d.boundary).unsigned_area() > sliver)
        .map(|a| a.level)
}

/// Every site inside a level's area (on its edge counts), with that level; sorted by code.
pub fn sites_inside(areas: &[LevelArea], sites: &[SitePoint]) -> Vec<SiteAt> {
    let mut out: Vec<SiteAt> = sites
        .iter()
        .filter_map(|s| {
            let p = Point::new(s.lon, s.lat);
            // Red first: a site on the edge of two areas takes the higher.
            areas
                .iter()
                .find(|a| a.area.contains(&p) || a.area.intersects(&p))
                .map(|a| SiteAt {
                    code: s.code.clone(),
                    name: s.name.clone(),
                    division_code: s.division_code.clone(),
                    level: a.level,
                })
        })
        .collect();
    out.sort_by(|a, b| a.code.cmp(&b.code));
    out
}

/// A division with its highest level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DivisionAt {
    pub code: String,
    pub name: String,
    pub level: WarningLevel,
}

/// What a set of levels issues: the areas (as GeoJSON geometry), the divisions with a level and
/// the sites inside, highest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub areas: Vec<AreaOut>,
    pub divisions: Vec<DivisionAt>,
    pub sites: Vec<SiteAt>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AreaOut {
    pub level: WarningLevel,
    pub cells: usize,
    /// A GeoJSON MultiPolygon.
    pub geometry: serde_json::Value,
}

impl Product {
    /// The product of `levels` (specks already removed).
    pub fn of(
        spec: &GridSpec,
        levels: &Levels,
        divisions: &[Division],
        sites: &[SitePoint],
    ) -> Product {
        let areas = level_areas(spec, levels);
        let mut divs: Vec<DivisionAt> = divisions
            .iter()
            .filter_map(|d| {
                division_level(spec, &areas, d).map(|level| DivisionAt {
                    code: d.code.clone(),
                    name: d.name.clone(),
                    level,
                })
            })
            .collect();
        divs.sort_by(|a, b| b.level.cmp(&a.level).then(a.code.cmp(&b.code)));
        let mut sites = sites_inside(&areas, sites);
        sites.sort_by(|a, b| b.level.cmp(&a.level).then(a.code.cmp(&b.code)));
        Product {
            areas: areas
                .iter()
                .map(|a| AreaOut {
                    level: a.level,
                    cells: a.cells,
                    geometry: serde_json::to_value(geojson::Geometry::new(
                        geojson::GeometryValue::from(&a.area),
                    ))
                    .unwrap_or_default(),
                })
                .collect(),
            divisions: divs,
            sites,
        }
    }

    /// The highest level issued, none for a quiet day.
    pub fn highest(&self) -> Option<WarningLevel> {
        self.areas.iter().map(|a| a.level).max()
    }
}

/// The area of a level as geo polygons again (for CAP).
pub fn area_polygons(a: &AreaOut) -> MultiPolygon<f64> {
    serde_json::from_value::<geojson::Geometry>(a.geometry.clone())
        .ok()
        .and_then(|g| MultiPolygon::<f64>::try_from(&g).ok())
        .unwrap_or(MultiPolygon(vec![]))
}
