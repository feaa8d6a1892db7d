//! Debian's chromium driven through chromedriver (WebDriver), for the console's browser tests
//! and its map benchmark. Nothing downloads a browser: `deploy/install-deps.sh` installs
//! `chromium` and `chromium-driver`. Screenshots go to `target/screenshots/`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use fantoccini::Locator;
use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};

use crate::{free_port, wait_for_port};

/// Debian's chromium under chromedriver, in a process group of its own so that dropping it
/// ends the browser too, whatever the test did.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.wait();
    }
}

pub async fn browser() -> Browser {
    use std::os::unix::process::CommandExt;
    let port = free_port();
    let driver = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("chromedriver (Debian's chromium-driver package; deploy/install-deps.sh)");
    wait_for_port(port, Duration::from_secs(20)).await.unwrap();
    let profile = tempfile::tempdir().unwrap();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1600,1000", "--lang=zh-CN",
                     "--autoplay-policy=no-user-gesture-required",
                     format!("--user-data-dir={}", profile.path().display())],
        }),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a chromium session");
    Browser {
        client,
        driver,
        _profile: profile,
    }
}

impl Browser {
    /// Evaluates `script` (a function body that returns a value) until it is truthy.
    pub async fn until(&self, what: &str, timeout: Duration, script: &str) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.client.execute(script, vec![]).await.unwrap();
            let ok = !(v.is_null() || v == json!(false) || v == json!("") || v == json!(0));
            if ok {
                return v;
            }
            if Instant::now() > deadline {
                self.screenshot(&format!("failed-{}", what.replace(' ', "-")))
                    .await;
                let error = self.js("return window.__error || null").await;
                panic!(
                    "timed out after {timeout:?} waiting for {what} (last: {v}; page error: {error})"
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    pub async fn screenshot(&self, name: &str) {
        let dir = screenshots_dir();
        std::fs::create_dir_all(&dir).unwrap();
        if let Ok(png) = self.client.screenshot().await {
            std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
        }
    }

    pub async fn sign_in(&self, base: &str, username: &str, password: &str) {
        self.client.goto(base).await.unwrap();
        self.until(
            "the sign-in form",
            Duration::from_secs(10),
            "return !document.getElementById('login').hidden",
        )
        .await;
        self.client
            .find(Locator::Id("login-user"))
            .await
            .unwrap()
            .send_keys(username)
            .await
            .unwrap();
        self.client
            .find(Locator::Id("login-pass"))
            .await
            .unwrap()
            .send_keys(password)
            .await
            .unwrap();
        self.client
            .find(Locator::Id("login-submit"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        self.until(
            "the live link",
            Duration::from_secs(10),
            "return document.getElementById('link').classList.contains('up')",
        )
        .await;
    }

    /// Clicks the element `css` names, finding it again if a re-render replaced it between
    /// the look-up and the click.
    pub async fn click(&self, css: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let clicked = match self.client.find(Locator::Css(css)).await {
                Ok(e) => e.click().await,
                Err(e) => Err(e),
            };
            match clicked {
                Ok(()) => return,
                Err(e) if Instant::now() > deadline => panic!("clicking {css}: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

/// `target/screenshots/`, found from the running binary: a test runs from
/// `target/<profile>/deps/`, a benchmark example from `target/<profile>/examples/`, wherever the
/// target folder is and whatever the working directory.
fn screenshots_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the running binary's path");
    match exe.ancestors().nth(3) {
        Some(target) => target.join("screenshots"),
        None => PathBuf::from("target/screenshots"),
    }
}
