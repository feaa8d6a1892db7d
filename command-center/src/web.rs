//! The duty-room console: a single-page app served at `/`, its files embedded in the binary.
//!
//! `web/` holds the console's own files; `web/vendor/` the third-party libraries (Leaflet,
//! supercluster, uPlot) copied from the npm packages pinned in `web/package-lock.json`
//! by `web/vendor.sh`. Both are committed, so building needs no npm and running needs no
//! internet: a duty room may have none.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;
use std::sync::OnceLock;

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
    asset!("main.js", JS),
    asset!("lib/api.js", JS),
    asset!("lib/clusters.js", JS),
    asset!("lib/consult-link.js", JS),
    asset!("lib/html.js", JS),
    asset!("lib/live-view.js", JS),
    asset!("lib/model.js", JS),
    asset!("lib/pages.js", JS),
    asset!("lib/store.js", JS),
    asset!("lib/text.js", JS),
    asset!("views/alerts.js", JS),
    asset!("views/charts.js", JS),
    asset!("views/consult.js", JS),
    asset!("views/evidence.js", JS),
    asset!("views/feed.js", JS),
    asset!("views/health.js", JS),
    asset!("views/incidents.js", JS),
    asset!("views/live.js", JS),
    asset!("views/map.js", JS),
    asset!("views/pages.js", JS),
    asset!("views/panel.js", JS),
    asset!("views/register.js", JS),
    asset!("views/site.js", JS),
    asset!("views/video.js", JS),
    asset!("views/warning.js", JS),
    asset!("views/approvals.js", JS),
    asset!("views/supervision.js", JS),
    // The register's people, rosters, gateway keys and officers (issue 24).
    asset!("views/people.js", JS),
    // A sensor's rules and their backtest, inside the register page (issue 24).
    asset!("views/rules.js", JS),
    asset!("views/lists.js", JS),
    asset!("views/field.js", JS),
    asset!("views/forecast.js", JS),
    // Divisions and the site editor: location, threat zone, attachments (issue 24).
    asset!("views/divisions.js", JS),
    asset!("views/site-editor.js", JS),
    asset!("views/site-sensors.js", JS),
    asset!("views/site-release.js", JS),
    asset!("app.css", CSS),
    asset!("app/index.html", "text/html; charset=utf-8"),
    asset!("app/app.js", JS),
    asset!("app/app.css", CSS),
    asset!("app/sw.js", JS),
    asset!("app/manifest.webmanifest", "application/manifest+json"),
    asset!("app/icon.svg", "image/svg+xml"),
    asset!("vendor/leaflet.js", JS),
    asset!("vendor/leaflet.css", CSS),
    asset!("vendor/supercluster.min.js", JS),
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

/// The message catalogues, every `crates/domain/messages/*.json` (each a flat object
/// `{"key": {"zh-CN": "...", "en": "..."}}`: the console's texts, the server's), as (file name,
/// text); listed by build.rs, embedded in the binary.
const CATALOGUES: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/catalogues.rs"));

/// Every catalogue in one object: what the console looks its texts up in. A key in two
/// catalogues must have the same texts in both.
fn messages() -> Result<serde_json::Map<String, Value>, String> {
    let mut all = serde_json::Map::new();
    for (name, text) in CATALOGUES {
        let catalogue: serde_json::Map<String, Value> =
            serde_json::from_str(text).map_err(|e| format!("{name}: {e}"))?;
        for (key, texts) in catalogue {
            for lang in ["zh-CN", "en"] {
                if texts[lang].as_str().is_none_or(str::is_empty) {
                    return Err(format!("{name}: {key} has no {lang} text"));
                }
            }
            match all.insert(key.clone(), texts.clone()) {
                Some(before) if before != texts => {
                    return Err(format!("{name}: {key} differs from another catalogue's"));
                }
                _ => {}
            }
        }
    }
    Ok(all)
}

/// `GET /api/v1/messages`: every text of every catalogue, for the console (before sign-in too:
/// the sign-in page has texts).
async fn messages_answer() -> Result<Response, ApiError> {
    static JSON: OnceLock<Result<Vec<u8>, String>> = OnceLock::new();
    let body = JSON
        .get_or_init(|| messages().map(|all| serde_json::to_vec(&all).expect("JSON serializes")))
        .as_ref()
        .map_err(|e| anyhow::anyhow!("the message catalogues: {e}"))?;
    let mut response = body.as_slice().into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(CACHE));
    Ok(response)
}

/// `/` (the console), `/app/` (the field app, its service worker at `/app/sw.js` so that it
/// may serve the whole app), `/assets/...` (their files) and `/api/v1/messages` (their texts).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { serve("index.html") }))
        .route(
            "/app",
            get(|| async { axum::response::Redirect::permanent("/app/") }),
        )
        .route("/app/", get(|| async { serve("app/index.html") }))
        .route("/app/sw.js", get(|| async { serve("app/sw.js") }))
        .route("/api/v1/messages", get(messages_answer))
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
        assert!(serve("main.js").is_ok());
        assert!(matches!(serve("../Cargo.toml"), Err(ApiError::NotFound)));
    }

    #[test]
    fn the_catalogues_join_with_both_languages_everywhere() {
        assert!(CATALOGUES.iter().any(|(name, _)| *name == "console.json"));
        assert!(messages().unwrap().len() > 200);
    }

    #[test]
    fn every_quarantine_reason_has_a_name_in_both_languages() {
        let all = messages().unwrap();
        for reason in geohazard_protocol::QuarantineReason::ALL {
            let key = format!("reason.{}", reason.as_str());
            assert!(all.contains_key(&key), "{key}");
        }
    }

    #[test]
    fn every_module_the_console_imports_is_served() {
        for a in ASSETS
            .iter()
            .filter(|a| a.path.ends_with(".js") && !a.path.starts_with("vendor/"))
        {
            let text = std::str::from_utf8(a.bytes).unwrap();
            for import in text.split("from \"").skip(1) {
                let target = import.split('"').next().unwrap();
                let dir = a.path.rsplit_once('/').map_or("", |(d, _)| d);
                let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
                for p in target.split('/') {
                    match p {
                        "." => {}
                        ".." => {
                            parts.pop();
                        }
                        p => parts.push(p),
                    }
                }
                let path = parts.join("/");
                assert!(
                    serve(&path).is_ok(),
                    "{} imports {target} ({path}), not served",
                    a.path
                );
            }
        }
    }
}
