//! Locating and driving the real `wscat` client (installed by `.ci/run` into `.ci/node_modules`).

use std::path::PathBuf;

/// The `wscat` executable: `$WIRETAPE_WSCAT`, else `.ci/node_modules/.bin/wscat` in the
/// repository, else `wscat` on `PATH`. Returns `None` when none exists.
pub(crate) fn path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("WIRETAPE_WSCAT") {
        return Some(PathBuf::from(p));
    }
    let local = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci/node_modules/.bin/wscat");
    if local.exists() {
        return Some(local);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("wscat"))
            .find(|candidate| candidate.exists())
    })
}

/// The `wscat` executable, or a panic that says how to install it. In CI (`CI` set) a missing
/// wscat is a failure, never a silent skip.
pub(crate) fn require() -> PathBuf {
    path().unwrap_or_else(|| {
        panic!(
            "wscat not found: run `npm install --prefix .ci wscat@6` (what .ci/run does) \
             or set WIRETAPE_WSCAT"
        )
    })
}
