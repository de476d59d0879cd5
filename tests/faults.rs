//! Issue 6, item 2: faults through the proxy, over real sockets, every wait bounded.
//!
//! Covered elsewhere and not repeated here (see `docs/hardening.md`): an upstream refusal,
//! an unreachable upstream, an untrusted upstream CA, an upstream dropping mid-stream (1011)
//! and shutdown (1001) in `record.rs`; `kill -9` mid-session in `cli.rs`.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use time::OffsetDateTime;
use tokio_tungstenite::tungstenite::Message;
use wiretape_fixtures::cassette::EndedBy;
use wiretape_fixtures::pki::LocalCa;
use wiretape_proxy::UpstreamTrust;

use crate::harness::cassettes;
use crate::harness::client::connect;
use crate::harness::process::Wiretape;
use crate::harness::proxy::{wait_for_cassettes, Proxied};
use crate::harness::upstream::{Behavior, Seen, SelfSigned, Upstream};

const PATH: &str = "/ws_api/account/12345/messaging/consumer?v=3";

#[tokio::test]
async fn a_client_that_vanishes_without_a_close_gets_the_upstream_a_1001_promptly() {
    let (Proxied { ca, dir, proxy }, upstream) = Proxied::behind(Behavior::Echo).await;
    let (mut client, _) = connect(&format!("{}{PATH}", proxy.url()), ca.client_config(), &[])
        .await
        .unwrap();
    client.send(Message::text("hello")).await.unwrap();
    let echo = tokio::time::timeout(Duration::from_secs(5), client.next()).await;
    assert_eq!(echo.unwrap().unwrap().unwrap(), Message::text("hello"));
    // Dropping the stream closes the TCP socket: no close frame, no TLS close_notify.
    drop(client);
    let got_1001 = |seen: &[Seen]| matches!(seen[0].messages.last(), Some(Message::Close(Some(f))) if u16::from(f.code) == 1001);
    let took = upstream.wait_until(Duration::from_secs(3), got_1001).await;
    assert!(
        took.is_some(),
        "the upstream got no 1001: {:?}",
        upstream.seen(0).messages
    );
    eprintln!(
        "upstream got 1001 {:?} after the client vanished",
        took.unwrap()
    );
    proxy.shutdown().await;
    let cassette = &cassettes(dir.path())[0];
    let end = cassette.end.as_ref().expect("an end line");
    assert_eq!(end.by, EndedBy::Client, "{end:?}");
    assert!(
        end.error.is_some(),
        "the cassette says it was no close: {end:?}"
    );
}

/// Starts the in-process proxy in front of an upstream serving `leaf` (signed by the CA the
/// proxy trusts) and returns the 502 body a client gets, checking nothing reached the upstream.
async fn refused_502(ca: LocalCa, leaf: wiretape_fixtures::pki::Leaf) -> String {
    let upstream = Upstream::start_with_tls(leaf.server_config().unwrap(), Behavior::Echo).await;
    let proxied = Proxied::in_front_of(ca, &upstream.url()).await;
    let (status, body) = proxied.refused(PATH).await;
    assert_eq!(status, 502);
    assert_eq!(body.trim_end().lines().count(), 1, "one line: {body}");
    let (cassettes, _dir) = proxied.finish().await;
    assert!(
        upstream.seen.lock().unwrap().is_empty(),
        "no upgrade request, no frame reached the upstream"
    );
    let cassette = &cassettes[0];
    assert_eq!(cassette.open.status, 502);
    assert!(cassette.frames.is_empty());
    body
}

#[tokio::test]
async fn an_upstream_certificate_for_another_host_gives_502_naming_the_host() {
    let ca = LocalCa::generate().unwrap();
    let leaf = ca.issue_leaf(&["wrong.example"]).unwrap();
    let body = refused_502(ca, leaf).await;
    assert!(
        body.contains("TLS handshake (upstream) failed")
            && body.contains("not valid for name")
            && body.contains("wrong.example"),
        "{body}"
    );
}

#[tokio::test]
async fn an_expired_upstream_certificate_gives_502_saying_expired() {
    let ca = LocalCa::generate().unwrap();
    let now = OffsetDateTime::now_utc();
    let leaf = ca
        .issue_leaf_valid(
            &["127.0.0.1"],
            now - time::Duration::days(30),
            now - time::Duration::days(1),
        )
        .unwrap();
    let body = refused_502(ca, leaf).await;
    assert!(
        body.contains("TLS handshake (upstream) failed") && body.contains("expired"),
        "{body}"
    );
}

/// The proxy trusting the certificates in `ca_file` as `--upstream-ca` does (as CAs, and
/// pinned) in front of an echoing upstream serving `tls`.
async fn trusting(ca_file: &Path, tls: Arc<rustls::ServerConfig>) -> (Proxied, Upstream) {
    let upstream = Upstream::start_with_tls(tls, Behavior::Echo).await;
    let trust = UpstreamTrust::VerifyWith(vec![ca_file.to_path_buf()]);
    let upstream_tls = wiretape_proxy::tls::upstream_client_config(&trust).unwrap();
    let ca = LocalCa::generate().unwrap();
    let proxied = Proxied::configured(ca, &upstream.url(), |config| {
        config.upstream_tls = upstream_tls;
    })
    .await;
    (proxied, upstream)
}

/// A proxy given `cert`'s own file relays to the upstream serving it: a message comes back.
async fn pinned_and_relays(cert: SelfSigned) {
    let (proxied, _upstream) = trusting(&cert.pem_file, cert.tls.clone()).await;
    let mut client = proxied.connect(PATH).await;
    client.send(Message::text("hello")).await.unwrap();
    let echo = tokio::time::timeout(Duration::from_secs(5), client.next()).await;
    assert_eq!(echo.unwrap().unwrap().unwrap(), Message::text("hello"));
    proxied.finish().await;
}

#[tokio::test]
async fn an_openssl_self_signed_ca_certificate_given_as_upstream_ca_is_pinned_and_relays() {
    let dir = tempfile::tempdir().unwrap();
    pinned_and_relays(SelfSigned::openssl(dir.path(), "server")).await;
}

#[tokio::test]
async fn an_rcgen_self_signed_end_entity_certificate_given_as_upstream_ca_is_pinned_and_relays() {
    let dir = tempfile::tempdir().unwrap();
    pinned_and_relays(SelfSigned::rcgen(dir.path(), "server", &["127.0.0.1"])).await;
}

#[tokio::test]
async fn a_self_signed_certificate_that_was_not_given_is_refused_in_plain_words() {
    let dir = tempfile::tempdir().unwrap();
    let served = SelfSigned::openssl(dir.path(), "server");
    let other = SelfSigned::openssl(dir.path(), "other");
    let (proxied, upstream) = trusting(&other.pem_file, served.tls.clone()).await;
    let (status, body) = proxied.refused(PATH).await;
    assert_eq!(status, 502);
    assert!(
        body.contains("upstream certificate for 127.0.0.1 is self-signed and marked as a CA"),
        "{body}"
    );
    assert!(
        !body.contains("Error(") && !body.contains("Other("),
        "no Rust debug value: {body}"
    );
    assert!(
        upstream.seen.lock().unwrap().is_empty(),
        "nothing reached the upstream"
    );
    proxied.finish().await;
}

#[tokio::test]
async fn a_pinned_certificate_for_another_host_is_still_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cert = SelfSigned::rcgen(dir.path(), "server", &["wrong.example"]);
    let (proxied, _upstream) = trusting(&cert.pem_file, cert.tls.clone()).await;
    let (status, body) = proxied.refused(PATH).await;
    assert_eq!(status, 502);
    assert!(
        body.contains(
            "upstream certificate is not valid for name 127.0.0.1 (it is for wrong.example)"
        ),
        "{body}"
    );
    proxied.finish().await;
}

/// The proxy process's resident set size now and its peak, in KiB (`/proc/PID/status`).
fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// A plain ws:// upstream that sends `frame`-byte binary messages as fast as it can, up to
/// `total` bytes, counting what its socket accepted in `sent`.
async fn flooding_upstream(
    frame: usize,
    total: u64,
    sent: Arc<AtomicU64>,
) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        let payload = bytes::Bytes::from(vec![0x5a; frame]);
        while sent.load(Ordering::Relaxed) < total {
            if ws.send(Message::Binary(payload.clone())).await.is_err() {
                return;
            }
            sent.fetch_add(frame as u64, Ordering::Relaxed);
        }
    });
    (url, task)
}

/// The proxy's own peak memory may grow by at most this much above its idle size while a
/// client that reads nothing is flooded (the recorder queue alone may hold 16 MiB).
const FLOOD_RSS_BUDGET_MIB: u64 = 64;

#[tokio::test]
async fn a_client_that_reads_nothing_keeps_the_proxys_memory_bounded() {
    const FRAME: usize = 64 << 10;
    const TOTAL: u64 = 1 << 30; // 1 GiB offered; far less can go anywhere but into memory
    let sent = Arc::new(AtomicU64::new(0));
    let (upstream, flood) = flooding_upstream(FRAME, TOTAL, sent.clone()).await;
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("recordings");
    let proxy = Wiretape::start(
        home.path(),
        &[
            "record",
            "--plain",
            "--quiet",
            "--upstream",
            &upstream,
            "--listen",
            "127.0.0.1:0",
        ]
        .into_iter()
        .chain(["--out", out.to_str().unwrap()])
        .collect::<Vec<_>>(),
    );
    let pid = proxy.child.id();
    let idle = rss_kib(pid).0;
    let (client, _) = tokio_tungstenite::connect_async(format!("{}{PATH}", proxy.url))
        .await
        .unwrap();
    // The client never reads. Watch the proxy until the upstream is held back.
    let start = Instant::now();
    let mut last = 0;
    let mut stalled_since = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = sent.load(Ordering::Relaxed);
        if now != last {
            (last, stalled_since) = (now, Instant::now());
        } else if stalled_since.elapsed() > Duration::from_millis(1500) {
            break;
        }
    }
    let (rss, peak) = rss_kib(pid);
    let sent_mib = sent.load(Ordering::Relaxed) >> 20;
    eprintln!(
        "slow client: upstream held back after {sent_mib} MiB of {} MiB offered; proxy RSS \
         idle {} MiB, now {} MiB, peak {} MiB",
        TOTAL >> 20,
        idle >> 10,
        rss >> 10,
        peak >> 10
    );
    assert!(
        sent_mib < 256,
        "the upstream was not held back: {sent_mib} MiB sent"
    );
    assert!(
        peak.saturating_sub(idle) >> 10 < FLOOD_RSS_BUDGET_MIB,
        "proxy peak RSS {} MiB, idle {} MiB",
        peak >> 10,
        idle >> 10
    );
    // Once the client reads, the relay resumes: whole frames, in order, none lost.
    let mut client = client;
    for i in 0..50 {
        let msg = tokio::time::timeout(Duration::from_secs(5), client.next()).await;
        let msg = msg.unwrap_or_else(|_| panic!("frame {i} within 5 s"));
        assert_eq!(msg.unwrap().unwrap().len(), FRAME, "frame {i}");
    }
    // Both peers vanish (the upstream would never answer a close while it floods).
    drop(client);
    flood.abort();
    let ended = wait_for_cassettes(&out, Duration::from_secs(10), |all| {
        all.first().is_some_and(|c| c.end.is_some())
    });
    assert!(
        ended.await.is_some(),
        "the relay ends once both peers are gone"
    );
    let (status, stderr) = proxy.terminate();
    assert!(status.success(), "{status:?}: {stderr}");
}

/// Drives 60 echoed 1 KiB messages through a `wiretape record` whose cassette writes start
/// failing after a few KiB, then checks the user was told, the relay went on, and what was
/// written still reads.
async fn recording_fails_midway(proxy: Wiretape, home: &Path, out: &Path, cause: &str) {
    let client_tls = LocalCa::load_or_create(home).unwrap().client_config();
    let (mut client, _) = connect(&format!("{}{PATH}", proxy.url), client_tls, &[])
        .await
        .unwrap();
    for i in 0..60 {
        let msg = Message::text(format!(r#"{{"id":{i},"pad":"{}"}}"#, "x".repeat(1024)));
        client.send(msg.clone()).await.unwrap();
        let echo = tokio::time::timeout(Duration::from_secs(5), client.next()).await;
        assert_eq!(echo.unwrap().unwrap().unwrap(), msg, "message {i} relayed");
    }
    // Finish the close handshake (the upstream's reply comes back) before stopping the proxy.
    client.close(None).await.unwrap();
    let drained = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(_)) = client.next().await {}
    });
    drained.await.expect("the close handshake completes");
    let (status, stderr) = proxy.terminate();
    assert!(status.success(), "{status:?}: {stderr}");
    assert!(
        stderr.contains("RECORDING FAILED for connection #0001") && stderr.contains(cause),
        "told loudly, with the cause {cause:?}: {stderr}"
    );
    let cassettes = cassettes(out);
    let cassette = &cassettes[0];
    assert!(!cassette.complete, "cut short");
    let n = cassette.frames.len();
    assert!(n > 0 && n < 120, "{n} frames kept");
    for (i, frame) in cassette.frames.iter().enumerate() {
        assert_eq!(
            frame.json.as_ref().unwrap()["id"],
            i / 2,
            "frame {i} in order"
        );
    }
}

/// `wiretape record` in front of a TLS echo upstream, with `$WIRETAPE_HOME` at `home`, started
/// through `sh -c SCRIPT`, recording to `out`.
async fn record_behind(script: &str, home: &Path, out: &Path) -> (Wiretape, Upstream) {
    let ca = LocalCa::generate().unwrap();
    let upstream = Upstream::start(&ca, Behavior::Echo).await;
    let ca_file = home.join("upstream-ca.pem");
    std::fs::write(&ca_file, ca.cert_pem()).unwrap();
    let args = [
        "record",
        "--quiet",
        "--upstream",
        &upstream.url(),
        "--upstream-ca",
        ca_file.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--out",
        out.to_str().unwrap(),
    ];
    (Wiretape::start_in_shell(home, script, &args), upstream)
}

#[tokio::test]
async fn a_cassette_that_cannot_grow_is_reported_loudly_the_relay_goes_on_and_it_stays_readable() {
    // RLIMIT_FSIZE at 16 KiB with SIGXFSZ ignored: once the cassette reaches 16 KiB, every
    // write fails with EFBIG, as on a full disk, without privileges.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("recordings");
    let script = r#"trap "" XFSZ; ulimit -f 32; exec "$0" "$@""#;
    let (proxy, _upstream) = record_behind(script, dir.path(), &out).await;
    recording_fails_midway(proxy, dir.path(), &out, "File too large").await;
}

/// A 64 KiB tmpfs mounted at a fresh directory, unmounted on drop; `None` without the
/// privilege to mount.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(at: &Path) -> Option<Self> {
        std::fs::create_dir_all(at).unwrap();
        let ok = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                "size=64k",
                "wiretape-test",
                at.to_str()?,
            ])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Self(at.to_path_buf()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[tokio::test]
async fn a_full_disk_mid_session_is_reported_loudly_and_the_relay_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("recordings");
    let Some(_disk) = SmallDisk::mount(&out) else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root); the EFBIG test covers it");
        return;
    };
    let (proxy, _upstream) = record_behind(r#"exec "$0" "$@""#, dir.path(), &out).await;
    recording_fails_midway(proxy, dir.path(), &out, "No space left on device").await;
}
