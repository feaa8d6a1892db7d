//! A page printed to PDF by headless Chromium (`--print-to-pdf`), with the fonts the machine has
//! (fonts-noto-cjk for Chinese). Nothing is fetched: the page is a local file with no links.

use std::path::PathBuf;
use std::time::Duration;

/// Why no PDF came out.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("running {0}: {1}")]
    Spawn(String, std::io::Error),
    #[error("{0} did not finish printing within {1:?}")]
    Timeout(String, Duration),
    #[error("{0} printed no PDF: {1}")]
    Failed(String, String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Prints `html` to PDF with the Chromium binary `chromium` (e.g. `chromium`).
pub async fn print(chromium: &str, html: &str) -> Result<Vec<u8>, PdfError> {
    let dir = std::env::temp_dir().join(format!(
        "geohazard-report-{}-{:x}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    ));
    tokio::fs::create_dir_all(&dir).await?;
    let result = print_in(chromium, html, &dir).await;
    let _ = tokio::fs::remove_dir_all(&dir).await;
    result
}

async fn print_in(chromium: &str, html: &str, dir: &std::path::Path) -> Result<Vec<u8>, PdfError> {
    let page: PathBuf = dir.join("report.html");
    let out: PathBuf = dir.join("report.pdf");
    tokio::fs::write(&page, html).await?;
    let limit = Duration::from_secs(90);
    let child = tokio::process::Command::new(chromium)
        .arg("--headless")
        .arg("--no-sandbox")
        .arg("--disable-gpu")
        .arg("--disable-dev-shm-usage")
        .arg("--no-first-run")
        .arg("--no-pdf-header-footer")
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg(format!("--print-to-pdf={}", out.display()))
        .arg(format!("file://{}", page.display()))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| PdfError::Spawn(chromium.to_owned(), e))?;
    let output = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .map_err(|_| PdfError::Timeout(chromium.to_owned(), limit))??;
    match tokio::fs::read(&out).await {
        Ok(bytes) if bytes.starts_with(b"%PDF") => Ok(bytes),
        _ => Err(PdfError::Failed(
            chromium.to_owned(),
            String::from_utf8_lossy(&output.stderr)
                .chars()
                .take(2000)
                .collect(),
        )),
    }
}
