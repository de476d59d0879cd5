//! The npm packages the tests drive (the real `wscat`, LivePerson's `node-agent-sdk`,
//! `har-validator`), installed
//! together into `.ci/node_modules` (never globally) the first time a test needs one.
//!
//! They are installed in one `npm install`: a later install of one package alone would prune
//! the others (there is no package.json to keep them). `.ci/run` installs the same list.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// Every package the tests use, pinned: the versions the README's recipes are written for.
/// har-validator checks `wiretape export` against the HAR 1.2 schema (tests/har.rs).
pub(crate) const PACKAGES: &[&str] =
    &["wscat@6.1.0", "node-agent-sdk@1.2.0", "har-validator@5.1.5"];

/// `.ci/node_modules`.
pub(crate) fn node_modules() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci/node_modules")
}

/// `.ci/node_modules`, with every package of [`PACKAGES`] in it (installed on first use).
/// Panics with what to do when npm is missing or fails: a test that needs a package fails, it
/// is never skipped.
pub(crate) fn require() -> PathBuf {
    static INSTALLED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let missing = PACKAGES.iter().any(|p| {
                let name = p.rsplit_once('@').map_or(*p, |(name, _)| name);
                !node_modules().join(name).join("package.json").exists()
            });
            if !missing {
                return Ok(node_modules());
            }
            let prefix = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci");
            let status = Command::new("npm")
                .args(["install", "--no-save", "--no-package-lock", "--no-audit"])
                .arg("--no-fund")
                .arg("--prefix")
                .arg(&prefix)
                .args(PACKAGES)
                .status()
                .map_err(|e| format!("cannot run npm ({e}); install Node.js and npm"))?;
            if !status.success() {
                return Err(format!(
                    "npm install --prefix .ci {} failed ({status})",
                    PACKAGES.join(" ")
                ));
            }
            Ok(node_modules())
        })
        .clone()
        .unwrap_or_else(|e| panic!("npm packages unavailable: {e}"))
}

/// A `NODE_PATH` under which `require('ws')` is the current `ws` (wscat's, 8.x), not the 1.x
/// that node-agent-sdk brings to the top of `.ci/node_modules`.
pub(crate) fn node_path_for_ws() -> String {
    let modules = require();
    format!(
        "{}:{}",
        modules.join("wscat/node_modules").display(),
        modules.display()
    )
}
