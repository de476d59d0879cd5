//! mitmproxy (PyPI, pinned) as a third-party producer of HAR files: installed into
//! `.venv-mitmproxy` by `.ci/install-mitmproxy.sh` (the one install, also used by `.ci/run` and
//! `benches/compare-mitmproxy.sh`) the first time a test needs it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// `.venv-mitmproxy/bin/mitmdump`, installed on first use; `Err` says why it could not be
/// (no python3, no network to PyPI): the caller skips and prints it.
pub(crate) fn mitmdump() -> Result<PathBuf, String> {
    static INSTALLED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
            let output = Command::new("bash")
                .arg(root.join(".ci/install-mitmproxy.sh"))
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("cannot run .ci/install-mitmproxy.sh: {e}"))?;
            if !output.status.success() {
                return Err(format!(
                    ".ci/install-mitmproxy.sh failed ({}): {}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr).trim()
                ));
            }
            Ok(root.join(".venv-mitmproxy/bin/mitmdump"))
        })
        .clone()
}

/// A running `mitmdump --mode reverse:https://127.0.0.1:PORT` writing a HAR when it stops.
pub(crate) struct Mitmdump {
    child: Option<Child>,
    /// Its port on 127.0.0.1.
    pub(crate) port: u16,
    /// Its stderr and stdout, for failure messages.
    log: PathBuf,
}

impl Mitmdump {
    /// Starts mitmdump in front of `https://127.0.0.1:upstream_port` (its certificate not
    /// verified: the test's own CA signed it), with `confdir` holding its CA
    /// (`mitmproxy-ca.pem`), recording a HAR into `har` (`--set hardump=`). Ready on return.
    pub(crate) async fn reverse(
        mitmdump: &Path,
        upstream_port: u16,
        confdir: &Path,
        har: &Path,
    ) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = confdir.join("mitmdump.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(mitmdump)
            .args([
                "--mode",
                &format!("reverse:https://127.0.0.1:{upstream_port}"),
            ])
            .args([
                "--listen-host",
                "127.0.0.1",
                "--listen-port",
                &port.to_string(),
            ])
            .args(["--set", &format!("confdir={}", confdir.display())])
            .args(["--set", "ssl_insecure=true"])
            .args(["--set", &format!("hardump={}", har.display())])
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start mitmdump");
        let mut me = Self {
            child: Some(child),
            port,
            log,
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            if let Some(status) = me.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("mitmdump exited ({status}): {}", me.log());
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "mitmdump did not listen within 60 s: {}",
                me.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        me
    }

    /// What mitmdump printed.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops it with SIGINT, as Ctrl-C would, so it writes its HAR, and waits (at most 20 s).
    pub(crate) async fn stop(mut self) {
        let mut child = self.child.take().unwrap();
        Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "mitmdump exited {status}: {}", self.log());
                return;
            }
            if tokio::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "mitmdump did not stop within 20 s of SIGINT: {}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Mitmdump {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
