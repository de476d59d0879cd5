//! The committed fuzz corpus (`fuzz/corpus/`), crash regressions included, replayed through the
//! same entry points the fuzz targets call, so `cargo test` catches what the fuzzer once found.

use std::path::Path;

fn each_input(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let replay = std::panic::catch_unwind(|| check(&data));
        assert!(replay.is_ok(), "{} fails again", path.display());
        count += 1;
    }
    assert!(count > 0, "no corpus in {}", dir.display());
}

#[test]
fn the_cassette_corpus_reads() {
    each_input("cassette", wiretape_fixtures::fuzzing::read_cassette);
}

#[test]
fn the_request_corpus_parses() {
    each_input("request", wiretape_mock_server::fuzzing::parse_request);
}

#[test]
fn the_receipt_corpus_validates() {
    each_input(
        "receipt",
        wiretape_mock_server::fuzzing::check_receipt_bytes,
    );
}
