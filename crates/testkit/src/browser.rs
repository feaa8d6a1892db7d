//! Debian's chromium driven through chromedriver (WebDriver), for the console's browser tests
//! and its map benchmark. Nothing downloads a browser: `deploy/install-deps.sh` installs
//! `chromium`, `chromium-driver` and `chromium-l10n` (Chromium's own texts in Chinese). The
//! browser speaks zh-CN unless a caller passes `--lang=`. Screenshots go to `target/screenshots/`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use fantoccini::Locator;
use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};

use crate::free_port;

/// Longest one WebDriver call may take: past it the test fails naming the call instead of
/// waiting for ever (a browser whose link a test made weak, or one stuck in a page's script).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// `call` (what the browser was asked, `what`) within [`CALL_TIMEOUT`], or a failure saying so.
async fn bounded<T>(what: &str, call: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(v) => v,
        Err(_) => panic!("the browser did not answer {what} within {CALL_TIMEOUT:?}"),
    }
}

/// Debian's chromium under chromedriver, in a process group of its own so that dropping it
/// ends the browser too, whatever the test did.
pub struct Browser {
    pub client: Client,
    driver: Child,
    driver_addr: std::net::SocketAddr,
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
    local(&[]).await
}

/// A browser that, like a duty-room PC, keeps sound off until the page is clicked (Chromium's
/// own autoplay policy; `browser()` lets pages play sound at once).
pub async fn browser_with_autoplay_policy() -> Browser {
    local(&["--autoplay-policy=document-user-activation-required"]).await
}

async fn local(args: &[&str]) -> Browser {
    let port = free_port();
    let mut driver = Command::new("chromedriver");
    driver.arg(format!("--port={port}"));
    start(
        driver,
        std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        args,
    )
    .await
}

/// Chromium under chromedriver inside the network namespace `ns` (for WebRTC through Janus:
/// see `netns`), with `args` added to its command line (e.g. fake media devices). The test
/// drives it over the namespace's veth pair.
pub async fn browser_in(ns: &crate::netns::NetNs, args: &[&str]) -> Browser {
    let port = free_port();
    let mut driver = ns.command("chromedriver");
    driver
        .arg(format!("--port={port}"))
        .arg(format!("--allowed-ips={}", ns.host_ip));
    start(driver, std::net::SocketAddr::from((ns.ns_ip, port)), args).await
}

/// The language Chromium speaks unless a caller's `--lang=` asks for another: the console's
/// own, so its own controls (a file input's button, a date picker) read Chinese in the zh-CN
/// screens too.
const LANG: &str = "zh-CN";

async fn start(mut driver: Command, addr: std::net::SocketAddr, extra: &[&str]) -> Browser {
    use std::os::unix::process::CommandExt;
    let lang = extra
        .iter()
        .find_map(|a| a.strip_prefix("--lang="))
        .unwrap_or(LANG);
    // On Linux Chromium takes the language of its own texts from the environment, not from
    // `--lang` (which sets what pages are told); the texts are Debian's `chromium-l10n`.
    let driver = driver
        .env("LANGUAGE", lang.replace('-', "_"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("chromedriver (Debian's chromium-driver package; deploy/install-deps.sh)");
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not listen on {addr}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let profile = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1600,1000",
    ]
    .iter()
    .chain(extra)
    .map(|a| a.to_string())
    .collect();
    if !extra.iter().any(|a| a.starts_with("--lang=")) {
        args.push(format!("--lang={lang}"));
    }
    // Sound at once unless the caller asked for Chromium's own policy.
    if !extra.iter().any(|a| a.starts_with("--autoplay-policy=")) {
        args.push("--autoplay-policy=no-user-gesture-required".into());
    }
    args.push(format!("--user-data-dir={}", profile.path().display()));
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": args,
            // What pages are told the reader prefers (`Accept-Language`, `navigator.languages`).
            "prefs": { "intl.accept_languages": accept_languages(lang) },
        }),
    );
    // The DevTools network events, for tests of what the console requests.
    caps.insert("goog:loggingPrefs".into(), json!({ "performance": "ALL" }));
    let client = bounded(
        "a new session",
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://{addr}")),
    )
    .await
    .expect("a chromium session");
    Browser {
        client,
        driver,
        driver_addr: addr,
        _profile: profile,
    }
}

/// `zh-CN,zh` for `zh-CN`: the language, then its language without the region.
fn accept_languages(lang: &str) -> String {
    match lang.split_once('-') {
        Some((primary, _)) => format!("{lang},{primary}"),
        None => lang.to_owned(),
    }
}

impl Browser {
    /// Evaluates `script` (a function body that returns a value) until it is truthy.
    pub async fn until(&self, what: &str, timeout: Duration, script: &str) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.js(script).await;
            let ok = !(v.is_null() || v == json!(false) || v == json!("") || v == json!(0));
            if ok {
                return v;
            }
            if Instant::now() > deadline {
                self.screenshot(&format!("failed-{}", what.replace(' ', "-")))
                    .await;
                let error = self.js("return window.consoleErrors || null").await;
                panic!(
                    "timed out after {timeout:?} waiting for {what} (last: {v}; page error: {error})"
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub async fn js(&self, script: &str) -> Value {
        bounded(
            &format!("the script `{}`", script.trim()),
            self.client.execute(script, vec![]),
        )
        .await
        .unwrap()
    }

    /// Resizes the window (a phone's width, say).
    pub async fn set_window_size(&self, width: u32, height: u32) {
        bounded("to resize", self.client.set_window_size(width, height))
            .await
            .unwrap()
    }

    pub async fn screenshot(&self, name: &str) {
        let dir = screenshots_dir();
        std::fs::create_dir_all(&dir).unwrap();
        if let Ok(png) = bounded("a screenshot", self.client.screenshot()).await {
            std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
        }
    }

    pub async fn sign_in(&self, base: &str, username: &str, password: &str) {
        self.submit_sign_in(base, username, password).await;
        self.until(
            "the live link",
            Duration::from_secs(10),
            "return document.getElementById('link').classList.contains('up')",
        )
        .await;
    }

    /// Opens `url` (the console or the field app: both sign in with the same form) and sends
    /// the sign-in form; what shows once signed in is for the caller to wait for.
    pub async fn submit_sign_in(&self, url: &str, username: &str, password: &str) {
        bounded(url, self.client.goto(url)).await.unwrap();
        // The pages report what fails with `gh:error` events (kept for a timeout's message)
        // and a text their catalogue lacks with `gh:missing-text` (a test fails on it at close).
        self.js("window.consoleErrors = [];
                 document.addEventListener('gh:error', (e) => window.consoleErrors.push(e.detail.message));
                 window.missingTexts = [];
                 document.addEventListener('gh:missing-text', (e) => window.missingTexts.push(e.detail.key));
                 return true")
            .await;
        self.until(
            "the sign-in form",
            Duration::from_secs(10),
            "return !document.getElementById('login').hidden",
        )
        .await;
        for (field, keys) in [("login-user", username), ("login-pass", password)] {
            bounded(field, async {
                self.client
                    .find(Locator::Id(field))
                    .await?
                    .send_keys(keys)
                    .await
            })
            .await
            .unwrap();
        }
        self.click("#login-form button[type=submit]").await;
    }

    /// Clicks the element `css` names, finding it again if a re-render replaced it between
    /// the look-up and the click.
    pub async fn click(&self, css: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let clicked = bounded(css, async {
                self.client.find(Locator::Css(css)).await?.click().await
            })
            .await;
            match clicked {
                Ok(()) => return,
                Err(e) if Instant::now() > deadline => panic!("clicking {css}: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// Runs `script` in every page loaded from now on, before the page's own scripts (DevTools'
    /// `Page.addScriptToEvaluateOnNewDocument`): for a test to watch what the page does.
    pub async fn on_every_page(&self, script: &str) {
        let answer = self
            .cdp(
                "Page.addScriptToEvaluateOnNewDocument",
                json!({ "source": script }),
            )
            .await;
        assert!(answer["identifier"].is_string(), "{answer}");
    }

    /// A DevTools command on the page (`Emulation.setDeviceMetricsOverride` for a phone,
    /// `Network.emulateNetworkConditions` to cut the link, `Emulation.setGeolocationOverride`,
    /// `Page.printToPDF`...): its result.
    pub async fn cdp(&self, cmd: &str, params: Value) -> Value {
        let session = bounded("its session", self.client.session_id())
            .await
            .unwrap()
            .expect("a session");
        let answer = driver_post(
            self.driver_addr,
            &format!("/session/{session}/goog/cdp/execute"),
            &json!({ "cmd": cmd, "params": params }),
        );
        assert!(answer["value"].is_object(), "{cmd}: {answer}");
        answer["value"].clone()
    }

    /// Makes the page's clock read in `zone` (an IANA name), as on a PC set to that zone.
    pub async fn set_time_zone(&self, zone: &str) {
        self.cdp(
            "Emulation.setTimezoneOverride",
            json!({ "timezoneId": zone }),
        )
        .await;
    }

    /// Every URL the page requested (documents, scripts, images, fetches, WebSockets) since
    /// the last call, from the browser's own DevTools network events.
    pub async fn requested_urls(&self) -> Vec<String> {
        let session = bounded("its session", self.client.session_id())
            .await
            .unwrap()
            .expect("a session");
        let log = driver_post(
            self.driver_addr,
            &format!("/session/{session}/se/log"),
            &json!({ "type": "performance" }),
        );
        let mut urls = Vec::new();
        for entry in log["value"].as_array().expect("log entries") {
            let event: Value =
                serde_json::from_str(entry["message"].as_str().unwrap_or("{}")).unwrap();
            let params = &event["message"]["params"];
            let url = match event["message"]["method"].as_str() {
                Some("Network.requestWillBeSent") => &params["request"]["url"],
                Some("Network.webSocketCreated") => &params["url"],
                _ => continue,
            };
            urls.extend(url.as_str().map(str::to_owned));
        }
        urls
    }

    /// Ends the browser; fails if the console showed a text its catalogue lacks.
    pub async fn close(self) {
        let missing = bounded(
            "the texts missing",
            self.client
                .execute("return window.missingTexts || []", vec![]),
        )
        .await;
        if let Ok(missing) = missing {
            assert_eq!(missing, json!([]), "texts missing from the catalogue");
        }
        let _ = bounded("to close", self.client.clone().close()).await;
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

/// A WebDriver command fantoccini has no method for: a plain HTTP/1.1 POST to chromedriver on
/// its address (it answers HTTP/1.0 with nothing), its JSON answer (chromedriver sends a
/// Content-Length).
fn driver_post(addr: std::net::SocketAddr, path: &str, body: &Value) -> Value {
    use std::io::{BufRead, BufReader, Read, Write};
    let body = body.to_string();
    let mut stream = std::net::TcpStream::connect_timeout(&addr, CALL_TIMEOUT).unwrap();
    // Like every other call to the browser, bounded (see `CALL_TIMEOUT`).
    stream.set_read_timeout(Some(CALL_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(CALL_TIMEOUT)).unwrap();
    // chromedriver checks the Host header: the address with its port.
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream);
    let mut length = None;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse::<usize>().ok();
        }
    }
    let mut json = vec![0; length.expect("chromedriver's answer has a Content-Length")];
    reader.read_exact(&mut json).unwrap();
    serde_json::from_slice(&json).unwrap_or_else(|e| panic!("chromedriver's answer to {path}: {e}"))
}
