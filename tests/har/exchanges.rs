//! HTTP exchanges through a HAR: what the forward proxy recorded from curl (a JSON login, a
//! CSDS lookup, a 502 for a dead host) exports beside a WebSocket connection as valid HAR 1.2
//! HTTP entries and imports back to the same snapshots; `wiretape mock --replay` refuses such
//! a cassette at startup.

use std::path::PathBuf;

use serde_json::Value;
use wiretape_fixtures::pki::LocalCa;
use wiretape_fixtures::{transcript, Cassette};

use super::{har_validator, text, wiretape, CASSETTES};
use crate::forward::{curl, curl_login, dead_port, mock, status, Forward};

#[tokio::test]
async fn recorded_exchanges_export_as_valid_har_entries_and_import_back_to_the_same_snapshots() {
    let upstream_ca = LocalCa::generate().unwrap();
    let password = concat!("hunter2", "-not-in-the-har");
    let server = mock(&upstream_ca, ("bot", password)).await;
    let fwd = Forward::start(&upstream_ca, &[]).await;
    let origin = format!("https://{}", server.address());
    let account = server.account().to_owned();
    let ca = fwd.ca().display().to_string();
    let (_, answer) = curl_login(
        &fwd,
        &format!("{origin}/api/account/{account}/login?v=1.3"),
        password,
        &[],
    )
    .await;
    let bearer = answer["bearer"].as_str().unwrap().to_owned();
    let (head, body) = curl(
        &fwd.url(),
        &[
            "--cacert",
            &ca,
            &format!("{origin}/api/account/{account}/service/baseURI.json?version=1.0"),
        ],
    )
    .await;
    assert_eq!(status(&head), 200, "{head}\n{body}");
    let dead = dead_port().await;
    let (head, _) = curl(
        &fwd.url(),
        &["--cacert", &ca, &format!("https://127.0.0.1:{dead}/x")],
    )
    .await;
    assert_eq!(status(&head), 502);
    // Stopped (every cassette complete), its directory kept for the export.
    let Forward {
        proxy,
        dir: recordings,
        ..
    } = fwd;
    proxy.shutdown().await;
    let recorded = crate::harness::cassettes(recordings.path());
    assert_eq!(recorded.len(), 3, "{recorded:#?}");
    assert!(recorded.iter().all(Cassette::is_http_exchange));

    // The three exchanges and a WebSocket connection in one HAR.
    let mut paths: Vec<PathBuf> = recorded.iter().map(|c| c.path.clone()).collect();
    paths.push(PathBuf::from(CASSETTES).join("tutorial.jsonl"));
    let dir = tempfile::tempdir().unwrap();
    let har = dir.path().join("mixed.har");
    let mut args = vec!["export"];
    args.extend(paths.iter().map(|p| p.to_str().unwrap()));
    args.extend(["--har", har.to_str().unwrap()]);
    let out = wiretape(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let frames = Cassette::open(&paths[3]).unwrap().frames.len();
    assert_eq!(
        text(&out.stdout),
        format!("wrote {}: 4 entries, {frames} messages\n", har.display())
    );
    har_validator(&har).unwrap_or_else(|errors| panic!("not valid HAR 1.2: {errors}"));
    let written = std::fs::read_to_string(&har).unwrap();
    for secret in [password, bearer.as_str()] {
        assert!(!written.contains(secret), "{secret} in the HAR");
    }
    let exported: Value = serde_json::from_str(&written).unwrap();
    let entries = exported["log"]["entries"].as_array().unwrap();
    let login = &entries[0];
    assert_eq!(login["_resourceType"], "fetch");
    assert_eq!(login["request"]["method"], "POST");
    assert_eq!(
        login["request"]["url"],
        format!("{origin}/api/account/{account}/login?v=1.3")
    );
    assert_eq!(login["request"]["postData"]["mimeType"], "application/json");
    assert_eq!(
        login["request"]["postData"]["text"],
        r#"{"username":"bot","password":"<redacted>"}"#
    );
    assert_eq!(login["response"]["status"], 200);
    let content = &login["response"]["content"];
    assert_eq!(content["mimeType"], "application/json");
    let answer: Value = serde_json::from_str(content["text"].as_str().unwrap()).unwrap();
    assert_eq!(answer["bearer"], "<redacted>");
    assert_eq!(entries[2]["response"]["status"], 502);
    assert_eq!(entries[3]["_resourceType"], "websocket");

    // Back: one cassette per entry, the same snapshots.
    let back = dir.path().join("back");
    let out = wiretape(&[
        "import",
        har.to_str().unwrap(),
        "--out",
        back.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{stdout}");
    assert_eq!(
        lines[4],
        format!(
            "imported 1 WebSocket connection and 3 HTTP exchanges from {}; skipped 0 entries (no response, not http(s), or from the browser's cache)",
            har.display()
        )
    );
    let login_line = lines[0].split_once(": ").unwrap().1;
    assert_eq!(
        login_line,
        format!(
            "HTTP POST {origin}/api/account/{account}/login?v=1.3 (200), request {} bytes, response {} bytes",
            format!(r#"{{"username":"bot","password":"{password}"}}"#).len(),
            recorded[0].exchanges[0].response_body.as_ref().unwrap().length
        )
    );
    let mut imported = Vec::new();
    for (line, original) in lines.iter().zip(&paths) {
        let written = line
            .strip_prefix("wrote ")
            .and_then(|l| l.split_once(": "))
            .map(|(path, _)| PathBuf::from(path))
            .unwrap_or_else(|| panic!("{line}"));
        let back = Cassette::open(&written).unwrap();
        let original = Cassette::open(original).unwrap();
        assert_eq!(
            transcript(&back),
            transcript(&original),
            "{}",
            original.path.display()
        );
        imported.push(written);
    }

    // The mock replays WebSocket cassettes only: an exchange is refused before anything binds.
    // (The port given is taken, so a mock that did start would fail differently.)
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = taken.local_addr().unwrap().to_string();
    let home = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wiretape"))
        .env("WIRETAPE_HOME", home.path())
        .args(["mock", "--listen", &listen, "--replay"])
        .arg(&imported[3])
        .arg("--replay")
        .arg(&imported[0])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr).trim_end(),
        format!(
            "wiretape: error: --replay {}: an HTTP exchange (POST {origin}/api/account/{account}/login?v=1.3, recorded by `wiretape record --forward` or imported from a HAR), not a WebSocket connection: replay serves WebSocket cassettes only; leave it out",
            imported[0].display()
        )
    );
}
