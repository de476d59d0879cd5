//! The store's bounds, path parsing and expiry arithmetic.

use std::time::Duration;

use axum::body::Bytes;

use super::*;

fn store(max_bytes: u64, max_files: usize) -> FileStore {
    FileStore::new(FileSharing {
        max_stored_bytes: max_bytes,
        max_stored_files: max_files,
        ..FileSharing::default()
    })
}

#[test]
fn the_store_drops_the_oldest_files_to_stay_within_its_bounds() {
    let s = store(10, 2);
    assert!(s.put("/a", Bytes::from_static(b"1234")));
    assert!(s.put("/b", Bytes::from_static(b"1234")));
    assert!(
        s.put("/c", Bytes::from_static(b"12")),
        "third file: the oldest goes"
    );
    assert!(s.get("/a").is_none());
    assert!(
        s.put("/d", Bytes::from_static(b"123456789")),
        "bytes: /b and /c go"
    );
    assert!(s.get("/b").is_none() && s.get("/c").is_none());
    assert_eq!(s.get("/d").unwrap().bytes, Bytes::from_static(b"123456789"));
    assert!(
        !s.put("/e", Bytes::from_static(b"12345678901")),
        "larger than the store"
    );
    assert!(s.get("/d").is_some(), "a refused file drops nothing");
    assert!(s.put("/d", Bytes::from_static(b"x")), "replacing a file");
    assert_eq!(s.get("/d").unwrap().bytes, Bytes::from_static(b"x"));
}

#[test]
fn file_paths_are_the_captured_shape_only() {
    let p = FilePath::parse(
        "/v1/AUTH_async-images/qa57221676/8a66a22f-81ee-4447-b92f-78e9c3ecc819.PNG",
    )
    .unwrap();
    assert_eq!((p.account, p.extension), ("qa57221676", "PNG"));
    for bad in [
        "1234.JPG",
        "/v1/AUTH_async-images/123/",
        "/v1/AUTH_async-images/123/noext",
        "/v1/AUTH_async-images/123/a/b.PNG",
        "/v1/AUTH_async-images/../b.PNG",
        "/v1/AUTH_async-images/123/.PNG",
        "/v1/AUTH_async-images/123/a b.PNG",
        "/v1/AUTH_other/123/a.PNG",
    ] {
        assert_eq!(FilePath::parse(bad), None, "{bad}");
    }
}

#[test]
fn expiry_is_whole_seconds_rounded_up() {
    let with = |validity| {
        FileStore::new(FileSharing {
            url_validity: validity,
            ..FileSharing::default()
        })
        .expiry(1_000)
    };
    assert_eq!(
        with(Duration::from_secs(60)),
        1_060,
        "the tutorial's 1 minute"
    );
    assert_eq!(with(Duration::from_millis(1)), 1_001);
    assert_eq!(with(Duration::ZERO), 1_000);
}

#[test]
fn content_types_follow_the_extension() {
    assert_eq!(content_type("PNG"), "image/png");
    assert_eq!(content_type("jpeg"), "image/jpeg");
    assert_eq!(content_type("GIF"), "image/gif");
    assert_eq!(content_type("BIN"), "application/octet-stream");
}
