//! The canonical cassettes in `fixtures/cassettes/`: one reviewed snapshot each (insta glob),
//! no secret on disk, `wiretape snapshot` printing the same text, and (in `record`, ignored)
//! the regenerator that records them through the proxy in front of the mock.

mod record;

use std::path::Path;
use std::process::Command;

use wiretape_fixtures::redact::redact_jwts;
use wiretape_fixtures::snapshot::unredacted_secrets;
use wiretape_fixtures::{assert_cassette_snapshot, transcript_text, Cassette};
use wiretape_fixtures::{Timing, TranscriptOptions};

/// Where the canonical cassettes live.
const CASSETTES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/cassettes");

#[test]
fn each_canonical_cassette() {
    let readme = std::fs::read_to_string(Path::new(CASSETTES).join("README.md")).unwrap();
    insta::glob!("../fixtures/cassettes", "*.jsonl", |path| {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let raw = std::fs::read_to_string(path).unwrap();
        assert_eq!(redact_jwts(&raw), None, "{name}: a JWT on disk");
        let cassette = Cassette::open(path).unwrap_or_else(|err| panic!("{err}"));
        assert!(cassette.complete, "{name} is incomplete");
        assert_eq!(
            unredacted_secrets(&cassette),
            Vec::<String>::new(),
            "{name}"
        );
        assert!(
            readme.contains(&format!("`{name}`")),
            "{name} is not described in fixtures/cassettes/README.md"
        );
        assert_cassette_snapshot!(cassette);
    });
}

fn wiretape_snapshot(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_wiretape"))
        .arg("snapshot")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn wiretape_snapshot_prints_the_transcript_and_the_snap_body() {
    let path = format!("{CASSETTES}/tutorial.jsonl");
    let cassette = Cassette::open(&path).unwrap();
    let output = wiretape_snapshot(&[&path]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(stderr, "", "nothing on stderr for a complete cassette");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        stdout,
        transcript_text(&cassette, &TranscriptOptions::default())
    );
    // What a project testing from another language commits is the reviewed .snap's body.
    let snap = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/snapshots/integration__cassettes__each_canonical_cassette@tutorial.jsonl.snap"
    ))
    .unwrap();
    assert_eq!(Some(stdout.as_str()), snap.splitn(3, "---\n").nth(2));

    let output = wiretape_snapshot(&["--timing-bucket", "1000", &path]);
    assert!(output.status.success());
    let bucketed = TranscriptOptions::default().timing(Timing::Bucket(1000));
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        transcript_text(&cassette, &bucketed)
    );
}

#[test]
fn wiretape_snapshot_refuses_a_file_that_is_not_a_cassette() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.jsonl");
    std::fs::write(&path, "{\"hello\":\"world\"}\n").unwrap();
    let output = wiretape_snapshot(&[path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(output.stdout.is_empty());
    assert!(
        stderr.starts_with(&format!(
            "wiretape: error: cannot read the cassette: {}:1: not a cassette line",
            path.display()
        )),
        "{stderr}"
    );

    let missing = dir.path().join("missing.jsonl");
    let output = wiretape_snapshot(&[missing.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("missing.jsonl: No such file")
            && stderr.matches("No such file").count() == 1,
        "the cause once: {stderr}"
    );
}
