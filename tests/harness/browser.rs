//! A real Chromium for the Agent Workspace tests: Debian's `chromium` driven through
//! `chromedriver` (WebDriver) with fantoccini. chromedriver runs on a free loopback port,
//! Chromium headless; every wait is bounded.
//!
//! When Chromium or chromedriver is missing (and `.ci/run` could not install them), the tests
//! print why and return: [`Browser::start`] gives `None`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::error::CmdError;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// How long any one wait for the page lasts.
pub(crate) const WAIT: Duration = Duration::from_secs(15);

/// One Chromium at a time: the tests run in parallel on two cores, and several browsers
/// starting at once would eat the bounded waits.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A headless Chromium session; chromedriver is killed on drop.
pub(crate) struct Browser {
    pub(crate) client: Client,
    driver: Child,
    /// This test's turn with the browser, until it is dropped.
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

/// `/usr/bin/NAME` or the first `NAME` on `PATH`.
fn executable(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::iter::once(PathBuf::from("/usr/bin"))
        .chain(std::env::split_paths(&path))
        .collect();
    names
        .iter()
        .flat_map(|name| dirs.iter().map(move |d| d.join(name)))
        .find(|p| p.is_file())
}

/// Options for one session.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// `prefers-color-scheme: dark`.
    pub(crate) dark: bool,
}

impl Window {
    pub(crate) const DESKTOP: Window = Window {
        width: 1280,
        height: 860,
        dark: false,
    };
    pub(crate) const PHONE: Window = Window {
        width: 360,
        height: 780,
        dark: false,
    };
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session, or says why not and returns
    /// `None` when either program is not installed.
    pub(crate) async fn start(window: Window) -> Option<Self> {
        let (Some(chromium), Some(chromedriver)) = (
            executable(&["chromium", "chromium-browser"]),
            executable(&["chromedriver"]),
        ) else {
            eprintln!(
                "SKIPPED: Chromium or chromedriver is not installed (Debian: apt-get install -y \
                 chromium chromium-driver); the Agent Workspace browser test did not run"
            );
            return None;
        };
        let turn = TURN.lock().await;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
        let mut guard = DriverGuard(Some(driver));
        let deadline = Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen within {WAIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let client = session(port, &chromium, window).await;
        Some(Self {
            client,
            driver: guard.0.take().expect("the driver"),
            _turn: turn,
        })
    }

    /// The element for `css`, once it exists (bounded by [`WAIT`]).
    pub(crate) async fn find(&self, css: &str) -> Element {
        let found = self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await;
        match found {
            Ok(element) => element,
            Err(e) => panic!(
                "no element {css} within {WAIT:?}: {e}\n{}",
                self.text().await
            ),
        }
    }

    /// Does `act` on the element for `css`, finding it again when the page redrew it in
    /// between (a stale element reference), until [`WAIT`] runs out.
    pub(crate) async fn on<T, F, Fut>(&self, css: &str, act: F) -> T
    where
        F: Fn(Element) -> Fut,
        Fut: std::future::Future<Output = Result<T, CmdError>>,
    {
        let deadline = Instant::now() + WAIT;
        loop {
            match act(self.find(css).await).await {
                Ok(done) => return done,
                Err(e) if e.is_stale_element_reference() && Instant::now() < deadline => continue,
                Err(e) => panic!("{css}: {e}\n{}", self.text().await),
            }
        }
    }

    /// Clicks the element for `css`.
    pub(crate) async fn click(&self, css: &str) {
        self.on(css, |e| async move { e.click().await.map(drop) })
            .await;
    }

    /// Types `keys` into the element for `css` (`\u{E007}` is Enter).
    pub(crate) async fn type_into(&self, css: &str, keys: &str) {
        self.on(css, |e| async move { e.send_keys(keys).await })
            .await;
    }

    /// The visible text of the element for `css`.
    pub(crate) async fn text_of(&self, css: &str) -> String {
        self.on(css, |e| async move { e.text().await }).await
    }

    /// An attribute of the element for `css`.
    pub(crate) async fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.on(css, |e| async move { e.attr(name).await }).await
    }

    /// A computed CSS property of the element for `css`.
    pub(crate) async fn css_value(&self, css: &str, property: &str) -> String {
        self.on(css, |e| async move { e.css_value(property).await })
            .await
    }

    /// The page's visible text, for failure messages.
    pub(crate) async fn text(&self) -> String {
        match self.client.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Waits until `condition` (JavaScript returning a boolean) holds.
    pub(crate) async fn until(&self, what: &str, condition: &str) {
        let script = format!("return !!({condition});");
        let deadline = Instant::now() + WAIT;
        loop {
            let holds = self.client.execute(&script, vec![]).await.unwrap();
            if holds == json!(true) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not within {WAIT:?}\n{}",
                self.text().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Opens the Agent Workspace at `url` and waits until it is connected (logged in,
    /// subscribed).
    pub(crate) async fn open_connected(&self, url: &str) {
        self.client.goto(url).await.unwrap();
        self.until(
            "the page is connected",
            "document.getElementById('connection').textContent.startsWith('Connected')",
        )
        .await;
    }

    /// The PNG of the window, written to `dir/name` when `dir` is given.
    pub(crate) async fn screenshot(&self, dir: Option<&Path>, name: &str) -> Vec<u8> {
        let png = self.client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        if let Some(dir) = dir {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(dir.join(name), &png).unwrap();
        }
        png
    }

    /// Ends the session and chromedriver.
    pub(crate) async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Kills chromedriver if the session cannot be started.
struct DriverGuard(Option<Child>);

impl Drop for DriverGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn session(port: u16, chromium: &Path, window: Window) -> Client {
    let mut args = vec![
        "--headless=new".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        "--no-first-run".to_owned(),
        "--hide-scrollbars".to_owned(),
        // The mock's certificate is issued by a CA made in memory for the test; the page and
        // its socket are on loopback only.
        "--ignore-certificate-errors".to_owned(),
        format!("--window-size={},{}", window.width, window.height),
    ];
    if window.dark {
        args.push("--force-dark-mode".to_owned());
        args.push("--blink-settings=preferredColorScheme=0".to_owned());
    }
    let capabilities = json!({
        "browserName": "chrome",
        "acceptInsecureCerts": true,
        "goog:chromeOptions": {"binary": chromium, "args": args},
    });
    let serde_json::Value::Object(capabilities) = capabilities else {
        unreachable!()
    };
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .unwrap_or_else(|e| panic!("no Chromium session from chromedriver: {e}"));
    // --window-size sets the outer window in headless mode; make the viewport exact.
    client
        .set_window_size(window.width, window.height)
        .await
        .unwrap();
    client
}
