//! File sharing, as in LivePerson's file-sharing tutorial: `ms.GenerateURLForUploadFile`
//! answers a signed temporary URL, the client PUTs the file there, publishes a `hosted/file`
//! `ContentEvent` naming it, and `ms.GenerateURLForDownloadFile` answers a signed URL the file
//! is read back from with GET.
//!
//! The live service's storage is an OpenStack Swift host of its own (`{swiftDomain}`); the
//! mock serves the same paths, `/v1/AUTH_async-images/{account}/{uuid}.{EXT}`, itself, on its
//! own port and scheme, so the whole flow works offline (see `docs/protocol-decisions.md`).
//!
//! This module owns the settings, the signatures and the store; it imports nothing of the
//! server. Its two users: `handler::files` (the two socket requests and the `hosted/file`
//! event check) and `storage` (the HTTP side, PUT and GET on those paths, with the size limit
//! enforced while reading the body).
//!
//! - `sign`: Swift temp-URL signatures (HMAC-SHA1 of method, expiry and path; per server key).
//!
//! Files are kept in memory, bounded by [`FileSharing::max_stored_bytes`] and
//! [`FileSharing::max_stored_files`]: when a new file does not fit, the oldest are dropped.

pub(crate) mod sign;

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use axum::body::Bytes;

use sign::Signer;

/// The path prefix of LivePerson's image storage (the Swift account), before `/{account}/`.
pub(crate) const PATH_PREFIX: &str = "/v1/AUTH_async-images/";

/// The largest file the file-sharing tutorial allows: "Each file can be up to 3MB" (read as
/// 3 MiB).
pub const MAX_FILE_BYTES: u64 = 3 * 1024 * 1024;

/// The largest file `--lenient` accepts (recorded as a warning): 10 MiB, the mock's limit
/// before it followed the tutorial; no LivePerson source names a larger one.
pub const LENIENT_MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;

/// The largest `preview` of a `hosted/file` event: "the preview must be under 30KB" (the
/// tutorial), counted over the data URL as sent.
pub const MAX_PREVIEW_BYTES: usize = 30 * 1024;

/// File sharing settings ([`Config::files`](crate::Config::files)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSharing {
    /// How long an upload or download URL stays valid: `temp_url_expires` is the time of the
    /// request plus this, in whole epoch seconds (rounded up). Default 1 minute, as the
    /// tutorial says ("File expiration is set to 1 minute by default"). `Duration::ZERO`
    /// makes a URL valid until the end of the current second (tests of expiry).
    pub url_validity: Duration,
    /// At most this many bytes of files are kept; older files are dropped to make room.
    pub max_stored_bytes: u64,
    /// At most this many files are kept; the oldest is dropped to make room.
    pub max_stored_files: usize,
}

impl Default for FileSharing {
    fn default() -> Self {
        Self {
            url_validity: Duration::from_secs(60),
            max_stored_bytes: 64 * 1024 * 1024,
            max_stored_files: 256,
        }
    }
}

/// One stored file.
#[derive(Debug, Clone)]
pub(crate) struct StoredFile {
    /// Its `relativePath`.
    pub path: String,
    /// The bytes as uploaded.
    pub bytes: Bytes,
}

/// The files of one server, and the key their URLs are signed with.
#[derive(Debug)]
pub(crate) struct FileStore {
    pub settings: FileSharing,
    pub signer: Signer,
    /// Oldest first, so eviction pops the front. A `std` mutex: never held across `.await`.
    files: Mutex<VecDeque<StoredFile>>,
}

impl FileStore {
    /// An empty store with a fresh signing key.
    pub(crate) fn new(settings: FileSharing) -> Self {
        Self {
            settings,
            signer: Signer::random(),
            files: Mutex::new(VecDeque::new()),
        }
    }

    /// Stores (or replaces) the file at `path`, dropping the oldest files until it fits.
    /// Returns `false`, storing nothing, when it alone exceeds `max_stored_bytes`.
    pub(crate) fn put(&self, path: &str, bytes: Bytes) -> bool {
        let size = bytes.len() as u64;
        if size > self.settings.max_stored_bytes || self.settings.max_stored_files == 0 {
            return false;
        }
        let mut files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        files.retain(|f| f.path != path);
        let total = |files: &VecDeque<StoredFile>| -> u64 {
            files.iter().map(|f| f.bytes.len() as u64).sum()
        };
        while files.len() >= self.settings.max_stored_files
            || total(&files) + size > self.settings.max_stored_bytes
        {
            match files.pop_front() {
                Some(old) => {
                    tracing::info!(path = %old.path, "file store full: dropped the oldest file")
                }
                None => break,
            }
        }
        files.push_back(StoredFile {
            path: path.to_owned(),
            bytes,
        });
        true
    }

    /// The file at `path`.
    pub(crate) fn get(&self, path: &str) -> Option<StoredFile> {
        let files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        files.iter().find(|f| f.path == path).cloned()
    }

    /// `temp_url_expires` for a URL issued at `now` (epoch seconds).
    pub(crate) fn expiry(&self, now: u64) -> u64 {
        let validity = self.settings.url_validity;
        let secs = validity.as_secs() + u64::from(validity.subsec_nanos() > 0);
        now.saturating_add(secs)
    }
}

/// A storage path, `/v1/AUTH_async-images/{account}/{name}.{EXT}`, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FilePath<'a> {
    pub account: &'a str,
    /// The extension as written (upper case in every capture).
    pub extension: &'a str,
}

impl<'a> FilePath<'a> {
    /// Parses `path`; `None` unless it is the prefix, an account, and one file name with an
    /// extension, all without `/`, `..` or control characters.
    pub(crate) fn parse(path: &'a str) -> Option<Self> {
        let rest = path.strip_prefix(PATH_PREFIX)?;
        let (account, name) = rest.split_once('/')?;
        let (stem, extension) = name.rsplit_once('.')?;
        let clean = |s: &str| {
            !s.is_empty()
                && s != ".."
                && !s.contains('/')
                && s.bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'?' && b != b'%')
        };
        (clean(account) && clean(stem) && clean(extension)).then_some(Self { account, extension })
    }
}

/// The `Content-Type` a stored file is served with, from its extension.
pub(crate) fn content_type(extension: &str) -> &'static str {
    match extension.to_ascii_uppercase().as_str() {
        "JPG" | "JPEG" => "image/jpeg",
        "PNG" => "image/png",
        "GIF" => "image/gif",
        "PDF" => "application/pdf",
        "TXT" => "text/plain",
        _ => "application/octet-stream",
    }
}

/// The current time in epoch seconds.
pub(crate) fn now_secs() -> u64 {
    crate::model::now_ms() / 1000
}

#[cfg(test)]
mod tests;
