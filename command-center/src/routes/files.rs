//! Stored files as the API answers them (field photos, a site's attachments): the type they
//! were checked to be when they came and nothing else, never sniffed by the browser, never
//! run as a page, inline or as a download under their name.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use geohazard_domain::media;

/// The answer carrying a stored file's `bytes` of checked `content_type`; `download_as` names
/// it as an attachment (UTF-8 names kept), else it is shown inline.
pub(super) fn stored(content_type: &str, bytes: Vec<u8>, download_as: Option<&str>) -> Response {
    let content_type = match content_type {
        "image/png" => "image/png",
        "image/jpeg" => "image/jpeg",
        media::PDF => media::PDF,
        media::DOCX => media::DOCX,
        media::XLSX => media::XLSX,
        _ => "application/octet-stream",
    };
    let mut response = (StatusCode::OK, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=86400"),
    );
    if let Some(name) = download_as
        && let Ok(v) = HeaderValue::from_str(&disposition(name, media::extension_of(content_type)))
    {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

/// `attachment; filename="…"; filename*=UTF-8''…`: an ASCII stand-in and the name itself.
fn disposition(name: &str, ext: &str) -> String {
    let ascii: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
        .collect();
    let ascii = if ascii.trim_matches('.').is_empty() || !name.is_ascii() {
        format!("file.{ext}")
    } else {
        ascii
    };
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"._-".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_download_keeps_a_chinese_name_and_offers_an_ascii_one() {
        assert_eq!(
            super::disposition("裂缝.jpg", "jpg"),
            "attachment; filename=\"file.jpg\"; filename*=UTF-8''%E8%A3%82%E7%BC%9D.jpg"
        );
        assert_eq!(
            super::disposition("a\"b.pdf", "pdf"),
            "attachment; filename=\"ab.pdf\"; filename*=UTF-8''a%22b.pdf"
        );
    }
}
