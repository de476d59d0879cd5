//! nginx as a target beside the direct connection: Debian's package, a TLS-terminating
//! `proxy_pass` WebSocket relay to the same echo upstream that records nothing. The bar for a
//! recording relay is to keep up with a relay that records nothing.
//!
//! The configuration is generated into a temporary directory (unprivileged port, its own
//! error log and pid file, no access log); nginx serves a leaf of the same CA wiretape's
//! clients trust, and does not verify the upstream's certificate (its default).
//! Without an nginx binary (`apt-get install nginx`, or `--nginx PATH`) the bench skips this
//! target and says so.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use wiretape_fixtures::pki::LocalCa;

use crate::load::Target;

/// A running nginx in front of the echo upstream.
pub(crate) struct Nginx {
    child: Child,
    /// Where clients connect.
    pub(crate) target: Target,
}

/// The nginx binary: `--nginx PATH`, else `nginx` on the PATH or in /usr/sbin.
pub(crate) fn find(given: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = given {
        return Some(path.to_path_buf());
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|dir| dir.join("nginx"))
        .find(|p| p.is_file())
}

impl Nginx {
    /// Starts `nginx` on a free port in front of `upstream_port`, serving a leaf of `ca`, with
    /// its configuration in `dir`. Ready when this returns.
    pub(crate) async fn spawn(nginx: &Path, upstream_port: u16, ca: &LocalCa, dir: &Path) -> Self {
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        let leaf = ca.local_leaf().unwrap();
        std::fs::write(dir.join("cert.pem"), &leaf.cert_pem).unwrap();
        std::fs::write(dir.join("key.pem"), &leaf.key_pem).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let d = dir.display();
        let conf = format!(
            r#"daemon off;
worker_processes auto;
pid {d}/nginx.pid;
error_log {d}/error.log error;
events {{ worker_connections 16384; }}
http {{
    access_log off;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {d}/cert.pem;
        ssl_certificate_key {d}/key.pem;
        location / {{
            proxy_pass https://127.0.0.1:{upstream_port};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
            proxy_buffering off;
            tcp_nodelay on;
        }}
    }}
}}
"#
        );
        let conf_file = dir.join("nginx.conf");
        std::fs::write(&conf_file, conf).unwrap();
        let child = Command::new(nginx)
            .arg("-p")
            .arg(dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-c")
            .arg(&conf_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start nginx");
        crate::wait_for_port(port, Duration::from_secs(10), || {
            let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
            format!("nginx did not start: {log}")
        })
        .await;
        Self {
            child,
            target: Target {
                url: format!("wss://127.0.0.1:{port}/bench"),
                tls: ca.client_config(),
                via: None,
            },
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM is nginx's fast shutdown: the master stops its workers too (SIGKILL would
        // leave them running).
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}
