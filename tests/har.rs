//! HAR in and out (issue 13, items 2-4): `wiretape export` checked by the npm package
//! `har-validator` and imported back to the same snapshots; `wiretape import` refusing bad
//! files without writing anything; and mitmproxy's `hardump` of the tutorial, imported,
//! replayed by the mock to the same client, recording the same transcript as `wiretape record`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{json, Value};
use wiretape_fixtures::pki::LocalCa;
use wiretape_fixtures::{transcript, Cassette};
use wiretape_mock_server::{MockServer, Speed, TlsIdentity};

use crate::harness::mitmproxy::{mitmdump, Mitmdump};
use crate::harness::{cassettes, npm, spawn_proxy};
use crate::replay::{consumer_url, record_tutorial, replay_mock, tutorial_client, Variant};

// The forward proxy's HTTP exchanges through a HAR and back; the mock refusing to replay one.
mod exchanges;

/// Where the canonical cassettes live.
const CASSETTES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/cassettes");

fn wiretape(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wiretape"))
        .args(args)
        .output()
        .expect("run wiretape")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `har-validator` (HAR 1.2 JSON Schema) on `har`: `Ok` or its list of errors.
fn har_validator(har: &Path) -> Result<(), String> {
    let script = r#"
        const fs = require("fs");
        require("har-validator")
          .har(JSON.parse(fs.readFileSync(process.argv[1], "utf8")))
          .then(() => console.log("valid"))
          .catch((e) => { console.error(JSON.stringify(e.errors || e.message)); process.exit(1); });
    "#;
    let out = Command::new("node")
        .args(["-e", script, har.to_str().unwrap()])
        .env("NODE_PATH", npm::require())
        .output()
        .expect("run node");
    if out.status.success() && text(&out.stdout).trim() == "valid" {
        Ok(())
    } else {
        Err(text(&out.stderr))
    }
}

fn canonical_cassettes() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(CASSETTES)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    paths.sort();
    paths
}

#[test]
fn the_export_of_every_canonical_cassette_is_valid_har_and_imports_back_to_the_same_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let har = dir.path().join("all.har");
    let paths = canonical_cassettes();
    let mut args = vec!["export"];
    args.extend(paths.iter().map(|p| p.to_str().unwrap()));
    args.extend(["--har", har.to_str().unwrap()]);
    let out = wiretape(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let frames: usize = paths
        .iter()
        .map(|p| Cassette::open(p).unwrap().frames.len())
        .sum();
    assert_eq!(
        text(&out.stdout),
        format!(
            "wrote {}: {} entries, {frames} messages\n",
            har.display(),
            paths.len()
        )
    );
    har_validator(&har).unwrap_or_else(|errors| panic!("not valid HAR 1.2: {errors}"));

    // The validator does refuse what is not HAR 1.2: the same file without its timings.
    let mut broken: Value = serde_json::from_slice(&std::fs::read(&har).unwrap()).unwrap();
    broken["log"]["entries"][0]
        .as_object_mut()
        .unwrap()
        .remove("timings");
    let broken_path = dir.path().join("broken.har");
    std::fs::write(&broken_path, broken.to_string()).unwrap();
    let errors = har_validator(&broken_path).unwrap_err();
    assert!(errors.contains("timings"), "{errors}");

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
    assert_eq!(lines.len(), paths.len() + 1, "{stdout}");
    assert_eq!(
        lines[paths.len()],
        format!(
            "imported {} WebSocket connections and 0 HTTP exchanges from {}; skipped 0 entries (no response, not http(s), or from the browser's cache)",
            paths.len(),
            har.display()
        )
    );
    // One line per cassette, in the HAR's order, naming the file it wrote.
    for (line, original) in lines.iter().zip(&paths) {
        let written = line
            .strip_prefix("wrote ")
            .and_then(|l| l.split_once(": "))
            .map(|(path, _)| PathBuf::from(path))
            .unwrap_or_else(|| panic!("{line}"));
        let imported = Cassette::open(&written).unwrap();
        let original = Cassette::open(original).unwrap();
        assert!(imported.complete, "{}", written.display());
        assert_eq!(
            transcript(&imported),
            transcript(&original),
            "{}",
            original.path.display()
        );
    }
}

#[test]
fn import_refuses_what_is_not_json_or_not_a_har_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let good = |n: u64| {
        json!({"startedDateTime": "2026-12-01T22:49:00.871Z", "time": 1,
            "request": {"method": "GET", "url": format!("wss://h/ws_api/{n}?v=3"), "headers": []},
            "response": {"status": 101, "headers": []}, "cache": {}, "timings": {},
            "_resourceType": "websocket",
            "_webSocketMessages": [{"type": "send", "time": 1_796_165_341.0_f64, "opcode": 1, "data": "{}"}]})
    };
    let mut bad_message = good(2);
    bad_message["_webSocketMessages"][0]["type"] = json!("sideways");
    let cases = [
        ("html.har", "<html></html>".to_owned(), "not JSON: "),
        (
            "other.har",
            r#"{"entries": []}"#.to_owned(),
            "not a HAR: no `log.entries` array",
        ),
        (
            "half.har",
            json!({"log": {"entries": [good(1), bad_message]}}).to_string(),
            r#"entry 2, message 1: type "sideways" is neither send nor receive"#,
        ),
    ];
    for (name, content, reason) in cases {
        let file = dir.path().join(name);
        std::fs::write(&file, content).unwrap();
        let out = wiretape(&[
            "import",
            file.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        let stderr = text(&out.stderr);
        assert!(
            stderr.starts_with(&format!("wiretape: error: {}: {reason}", file.display())),
            "{name}: {stderr}"
        );
        assert_eq!(text(&out.stdout), "", "{name}");
        assert!(!out_dir.exists(), "{name}: something was written");
    }
    // The same file without its bad entry imports.
    let file = dir.path().join("good.har");
    std::fs::write(&file, json!({"log": {"entries": [good(1)]}}).to_string()).unwrap();
    let out = wiretape(&[
        "import",
        file.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(cassettes(&out_dir).len(), 1);
}

/// Issue 13, item 4: mitmproxy (a real third-party producer) in reverse mode in front of the
/// mock writes the tutorial as a HAR; `wiretape import` turns it into a cassette; the mock
/// replays it to the same client, through `wiretape record`'s proxy; that recording has the
/// transcript of the same client recorded live through the proxy. The imported cassette itself
/// differs from a live recording only in what a mitmproxy HAR does not hold: close frames and
/// how the connection ended.
#[tokio::test]
async fn a_mitmproxy_hardump_of_the_tutorial_imports_and_replays_as_wiretape_recorded_it() {
    let mitmdump = match mitmdump() {
        Ok(path) => path,
        Err(why) => {
            eprintln!("SKIPPED: mitmproxy cannot be installed into .venv-mitmproxy: {why}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    // mitmproxy signs its leaves with the test's CA (its confdir's `mitmproxy-ca.pem`: key and
    // certificate), so the same client trusts mitmproxy, the proxy and the mock alike.
    let home = dir.path().join("ca");
    let ca = LocalCa::load_or_create(&home).unwrap();
    let confdir = dir.path().join("mitmproxy");
    std::fs::create_dir_all(&confdir).unwrap();
    let key = std::fs::read_to_string(home.join("ca-key.pem")).unwrap();
    std::fs::write(
        confdir.join("mitmproxy-ca.pem"),
        format!("{key}{}", ca.cert_pem()),
    )
    .unwrap();

    // 1. The tutorial through mitmdump in front of the live mock.
    let mock = MockServer::builder()
        .tls(TlsIdentity::from_ca(&ca).unwrap())
        .auto_agent(Duration::ZERO)
        .start()
        .await;
    let har = dir.path().join("tutorial.har");
    let mitm = Mitmdump::reverse(&mitmdump, mock.address().port(), &confdir, &har).await;
    let url = consumer_url(&format!("wss://127.0.0.1:{}", mitm.port));
    let errors = tutorial_client(&url, &ca, Variant::Faithful).await;
    assert!(errors.is_empty(), "{errors:?}\n{}", mitm.log());
    mitm.stop().await;
    mock.shutdown().await;

    // 2. Imported by the binary.
    let imported_dir = dir.path().join("imported");
    let out = wiretape(&[
        "import",
        har.to_str().unwrap(),
        "--out",
        imported_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    // mitmproxy 11.0.2 writes the connection once, when it ends (the first hardump releases
    // also wrote the answered handshake alone: import counts such a repeat and skips it).
    assert_eq!(
        stdout.lines().last(),
        Some(
            format!(
                "imported 1 WebSocket connection and 0 HTTP exchanges from {}; skipped 0 entries (no response, not http(s), or from the browser's cache)",
                har.display()
            )
            .as_str()
        ),
        "{stdout}"
    );
    let mut imported = cassettes(&imported_dir);
    assert_eq!(imported.len(), 1, "{stdout}");
    let imported = imported.remove(0);

    // 3. The same client, live, through `wiretape record`'s proxy.
    let live_dir = dir.path().join("live");
    let live = record_tutorial(&ca, &live_dir, Duration::ZERO).await;

    let without_close = |c: &Cassette| {
        let mut t = transcript(c);
        let frames = t["frames"].as_array_mut().unwrap();
        frames.retain(|f| f["kind"] != "close");
        t["end"] = Value::Null;
        t["complete"] = json!(false);
        t
    };
    assert_eq!(without_close(&imported), transcript(&imported));
    assert_eq!(without_close(&imported), without_close(&live));
    insta::assert_json_snapshot!("mitmproxy_hardump_imported", transcript(&imported));

    // 4. Replayed by the mock to the same client, recorded through the proxy.
    let replay = replay_mock(&ca, imported, Speed::INSTANT).await;
    let replayed_dir = dir.path().join("replayed");
    let proxy = spawn_proxy(&ca, &replay.url(), &replayed_dir).await;
    let errors = tutorial_client(&consumer_url(&proxy.url()), &ca, Variant::Faithful).await;
    assert!(errors.is_empty(), "{errors:?}");
    proxy.shutdown().await;
    let report = replay.report();
    assert!(report.violations.is_empty(), "{report}");
    assert_eq!(
        report.summary.valid, 2,
        "ACCEPT and READ validated: {report}"
    );
    let replayed = &cassettes(&replayed_dir)[0];
    assert_eq!(transcript(replayed), transcript(&live));
}
