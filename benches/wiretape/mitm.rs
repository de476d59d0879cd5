//! mitmproxy as a third target (`--mitmdump PATH`, see benches/compare-mitmproxy.sh): the same
//! load through `mitmdump --mode reverse:...` in the same run, so the README can state the
//! ratio honestly.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use wiretape_fixtures::pki;

use crate::load::Target;

/// A running mitmdump in reverse-proxy mode in front of the echo upstream.
pub(crate) struct Mitm {
    child: Child,
    /// Where clients connect.
    pub target: Target,
}

impl Mitm {
    /// Starts mitmdump on a free port, proxying to `upstream_port`, with its CA in `confdir`.
    pub(crate) async fn spawn(mitmdump: &Path, upstream_port: u16, confdir: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
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
            // The echo upstream's certificate comes from the bench's own test CA.
            .args(["--set", "ssl_insecure=true", "--quiet"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mitmdump");
        crate::wait_for_port(port, Duration::from_secs(60), || {
            "mitmdump did not start".into()
        })
        .await;
        let certs = pki::load_certs(&confdir.join("mitmproxy-ca-cert.pem")).expect("mitmproxy CA");
        let mut roots = rustls::RootCertStore::empty();
        for cert in certs {
            roots.add(cert).unwrap();
        }
        Self {
            child,
            target: Target {
                url: format!("wss://127.0.0.1:{port}/bench"),
                tls: pki::client_config(roots),
                via: None,
            },
        }
    }

    /// Its process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Mitm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
