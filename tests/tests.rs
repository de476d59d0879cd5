//! The one integration test binary (ripgrep style): one module per feature area.

mod harness;
