//! Locations read from `longitude` and `latitude` columns, written as GeoJSON Points.

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

/// A GeoJSON Point as the OpenAPI document describes it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct GeoJsonPoint {
    /// Always `Point`.
    r#type: String,
    /// [longitude, latitude]
    coordinates: [f64; 2],
}

/// A location, written as a GeoJSON Point.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Point {
    pub longitude: f64,
    pub latitude: f64,
}

impl Serialize for Point {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut point = s.serialize_struct("Point", 2)?;
        point.serialize_field("type", "Point")?;
        point.serialize_field("coordinates", &[self.longitude, self.latitude])?;
        point.end()
    }
}

/// A location that may be unknown: a Point, or null.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MaybePoint {
    pub longitude: Option<f64>,
    pub latitude: Option<f64>,
}

impl Serialize for MaybePoint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match (self.longitude, self.latitude) {
            (Some(longitude), Some(latitude)) => Point {
                longitude,
                latitude,
            }
            .serialize(s),
            _ => s.serialize_none(),
        }
    }
}
