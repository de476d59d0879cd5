//! Locating the real `wscat` client, installing it into `.ci/node_modules` on first use.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The wscat version the README's recipes are written for.
pub(crate) const VERSION: &str = "6.1.0";

fn local() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci/node_modules/.bin/wscat")
}

/// The `wscat` executable: `$WIRETAPE_WSCAT`, else `.ci/node_modules/.bin/wscat`, installed
/// there with npm (not globally) the first time a test needs it. Panics with what to do when
/// npm is missing: a test that needs wscat fails, it is never skipped.
pub(crate) fn require() -> PathBuf {
    static WSCAT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    WSCAT
        .get_or_init(|| {
            if let Some(p) = std::env::var_os("WIRETAPE_WSCAT") {
                return Ok(PathBuf::from(p));
            }
            if local().exists() {
                return Ok(local());
            }
            let prefix = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci");
            let status = Command::new("npm")
                .args([
                    "install",
                    "--no-save",
                    "--no-package-lock",
                    "--no-audit",
                    "--no-fund",
                ])
                .arg("--prefix")
                .arg(&prefix)
                .arg(format!("wscat@{VERSION}"))
                .status()
                .map_err(|e| {
                    format!("cannot run npm to install wscat ({e}); install Node.js and npm")
                })?;
            if !status.success() || !local().exists() {
                return Err(format!(
                    "npm install --prefix .ci wscat@{VERSION} failed ({status}); \
                     or set WIRETAPE_WSCAT to a wscat 6 executable"
                ));
            }
            Ok(local())
        })
        .clone()
        .unwrap_or_else(|e| panic!("wscat unavailable: {e}"))
}

/// The `node_modules` folder wscat was installed into (it holds `ws`, the WebSocket library
/// of node-based clients), for `NODE_PATH`; installs wscat first if needed.
pub(crate) fn node_modules() -> PathBuf {
    let wscat = require();
    wscat
        .parent()
        .and_then(|bin| bin.parent())
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("{} is not in a node_modules/.bin folder", wscat.display()))
}

/// Runs `wscat --ca CA [-H HEADER].. -c URL -x MESSAGE -w 1`: sends one message, waits a
/// second for what comes back, and returns wscat's output (stdin stays open until then:
/// wscat exits as soon as its stdin closes).
pub(crate) async fn exchange(
    ca: &std::path::Path,
    url: &str,
    headers: &[&str],
    message: &str,
) -> std::process::Output {
    let mut command = Command::new(require());
    command.arg("--ca").arg(ca);
    for header in headers {
        command.args(["-H", header]);
    }
    command.args(["-c", url, "-x", message, "-w", "1"]);
    tokio::task::spawn_blocking(move || {
        use std::process::Stdio;
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run wscat");
        let stdin = child.stdin.take();
        let output = child.wait_with_output().unwrap();
        drop(stdin);
        output
    })
    .await
    .unwrap()
}
