//! The duty-room console: a single-page app served at `/`, its files embedded in the binary.
//!
//! `web/` holds the console's own files; `web/vendor/` the third-party libraries (Leaflet,
//! Leaflet.markercluster, uPlot) copied from the npm packages pinned in `web/package-lock.json`
//! by `web/vendor.sh`. Both are committed, so building needs no npm and running needs no
//! internet: a duty room may have none.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::error::ApiError;
use crate::state::AppState;

struct Asset {
    path: &'static str,
    mime: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $mime:expr) => {
        Asset {
            path: $path,
            mime: $mime,
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/", $path)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

static ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("app.js", JS),
    asset!("i18n.js", JS),
    asset!("app.css", CSS),
    asset!("vendor/leaflet.js", JS),
    asset!("vendor/leaflet.css", CSS),
    asset!("vendor/leaflet.markercluster.js", JS),
    asset!("vendor/MarkerCluster.css", CSS),
    asset!("vendor/MarkerCluster.Default.css", CSS),
    asset!("vendor/uPlot.iife.min.js", JS),
    asset!("vendor/uPlot.min.css", CSS),
    asset!("vendor/images/layers.png", "image/png"),
    asset!("vendor/images/layers-2x.png", "image/png"),
    asset!("vendor/images/marker-icon.png", "image/png"),
    asset!("vendor/images/marker-icon-2x.png", "image/png"),
    asset!("vendor/images/marker-shadow.png", "image/png"),
];

/// The console's own scripts and styles change with the binary; a release must not be mixed
/// with a cached older one, so nothing is cached without asking.
const CACHE: &str = "no-cache";

/// Scripts only from here; images also from the configured tile server (any host, since the
/// URL is configuration); sockets back to here.
const CSP: &str = "default-src 'self'; img-src 'self' data: blob: http: https:; \
                   style-src 'self' 'unsafe-inline'; connect-src 'self' ws: wss:; \
                   media-src 'self' data:; frame-ancestors 'none'";

fn serve(path: &str) -> Result<Response, ApiError> {
    let asset = ASSETS
        .iter()
        .find(|a| a.path == path)
        .ok_or(ApiError::NotFound)?;
    let mut response = asset.bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.mime));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(CACHE));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if asset.mime.starts_with("text/html") {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    Ok(response)
}

/// `/` (the console) and `/assets/...` (its files).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { serve("index.html") }))
        .route(
            "/assets/{*path}",
            get(|Path(path): Path<String>| async move { serve(&path) }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_content_and_unknown_paths_are_not_found() {
        for a in ASSETS {
            assert!(!a.bytes.is_empty(), "{} is empty", a.path);
        }
        assert!(serve("app.js").is_ok());
        assert!(matches!(serve("../Cargo.toml"), Err(ApiError::NotFound)));
    }

    #[test]
    fn every_quarantine_reason_has_a_name_in_both_languages() {
        let texts = include_str!("../web/i18n.js");
        for reason in geohazard_protocol::QuarantineReason::ALL {
            let key = format!("\"reason.{}\":", reason.as_str());
            assert_eq!(texts.matches(&key).count(), 2, "{key}");
        }
    }
}
