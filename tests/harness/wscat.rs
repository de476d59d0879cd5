//! Locating the real `wscat` client (installed into `.ci/node_modules` on first use) and
//! running it.

use std::path::PathBuf;
use std::process::Command;

fn local() -> PathBuf {
    super::npm::node_modules().join(".bin/wscat")
}

/// The `wscat` executable: `$WIRETAPE_WSCAT`, else `.ci/node_modules/.bin/wscat`, installed
/// there with npm (not globally, see [`super::npm`]) the first time a test needs it.
pub(crate) fn require() -> PathBuf {
    match std::env::var_os("WIRETAPE_WSCAT") {
        Some(p) => PathBuf::from(p),
        None => {
            super::npm::require();
            local()
        }
    }
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
    run_to_end(command).await
}

/// Runs a client (wscat, curl, node) to completion off the async runtime, its output
/// captured. wscat exits as soon as its stdin closes: stdin stays open until the client is
/// done.
pub(crate) async fn run_to_end(mut command: Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        use std::process::Stdio;
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("run {:?}: {e}", command.get_program()));
        let stdin = child.stdin.take();
        let output = child.wait_with_output().unwrap();
        drop(stdin);
        output
    })
    .await
    .unwrap()
}
