//! The storage side: `PUT` and `GET` on `/v1/AUTH_async-images/{account}/{file}` with
//! `?temp_url_sig=…&temp_url_expires=…`, answered as Swift's `tempurl` middleware does
//! (401 `Temp URL invalid` for a bad or expired URL; 201 Created for an upload), on the
//! mock's own port.
//!
//! An upload is read chunk by chunk and refused with 413 as soon as it passes the limit (or at
//! once when its `Content-Length` does), so no more than the limit is ever buffered.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use axum::Router;
use futures_util::StreamExt;

use crate::config::Strictness;
use crate::files::{
    content_type, now_secs, FilePath, FileStore, LENIENT_MAX_FILE_BYTES, MAX_FILE_BYTES,
    PATH_PREFIX,
};
use crate::hub::Hub;

/// The storage routes (state: the hub, whose `files` they serve). `get` also answers `HEAD`.
pub(crate) fn router() -> Router<Arc<Hub>> {
    Router::new().route(
        &format!("{PATH_PREFIX}{{account}}/{{file}}"),
        put(upload).get(download),
    )
}

/// The largest upload this server takes: the tutorial's 3 MB, or 10 MB with `--lenient`.
fn upload_limit(hub: &Hub) -> u64 {
    match hub.settings.strictness {
        Strictness::Lenient => LENIENT_MAX_FILE_BYTES,
        _ => MAX_FILE_BYTES,
    }
}

/// `PUT`: checks the URL, reads at most the limit, stores the bytes, 201.
async fn upload(State(hub): State<Arc<Hub>>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    if let Err(refused) = check_url(&hub.files, &Method::PUT, &path, req.uri().query()) {
        return refused.into_response();
    }
    let limit = upload_limit(&hub);
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return too_large(limit, declared).into_response();
    }
    let bytes = match read_limited(req.into_body(), limit, declared).await {
        Ok(bytes) => bytes,
        Err(refused) => return refused.into_response(),
    };
    let size = bytes.len();
    if !hub.files.put(&path, bytes) {
        return Refused(
            StatusCode::INSUFFICIENT_STORAGE,
            format!(
                "507 Insufficient Storage: {size} bytes exceed this mock's store of {} bytes\n",
                hub.files.settings.max_stored_bytes
            ),
        )
        .into_response();
    }
    tracing::debug!(%path, size, "file uploaded");
    (StatusCode::CREATED, "").into_response()
}

/// Reads `body` into memory, stopping with 413 as soon as it passes `limit` bytes.
async fn read_limited(body: Body, limit: u64, declared: Option<u64>) -> Result<Bytes, Refused> {
    let capacity = declared.unwrap_or(0).min(limit);
    let mut bytes = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|err| {
            Refused(
                StatusCode::BAD_REQUEST,
                format!("400 Bad Request: the upload broke off: {err}\n"),
            )
        })?;
        if (bytes.len() + chunk.len()) as u64 > limit {
            return Err(too_large(limit, None));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(bytes))
}

/// `GET` (and `HEAD`): checks the URL, then serves the stored bytes with a content type from
/// the extension, or 404.
async fn download(State(hub): State<Arc<Hub>>, req: Request) -> Response {
    let path = req.uri().path();
    if let Err(refused) = check_url(&hub.files, &Method::GET, path, req.uri().query()) {
        return refused.into_response();
    }
    let Some(file) = hub.files.get(path) else {
        return Refused(
            StatusCode::NOT_FOUND,
            format!("404 Not Found: no file was uploaded to {path}\n"),
        )
        .into_response();
    };
    let extension = FilePath::parse(&file.path).map_or("", |p| p.extension);
    (
        [(header::CONTENT_TYPE, content_type(extension))],
        file.bytes,
    )
        .into_response()
}

/// Checks `temp_url_sig` / `temp_url_expires` for `method` on `path`: a malformed path is
/// 404, anything else wrong is Swift's 401 `Temp URL invalid`, with the reason on a second
/// line. `HEAD` is checked as `GET`, as in Swift.
fn check_url(
    files: &FileStore,
    method: &Method,
    path: &str,
    query: Option<&str>,
) -> Result<(), Refused> {
    if FilePath::parse(path).is_none() {
        return Err(Refused(
            StatusCode::NOT_FOUND,
            format!("404 Not Found: {path} is not a file path (/v1/AUTH_async-images/ACCOUNT/NAME.EXT)\n"),
        ));
    }
    let param = |name: &str| {
        query?
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    };
    let params = (param("temp_url_sig"), param("temp_url_expires"));
    files
        .signer
        .verify(method.as_str(), path, params, now_secs())
        .map_err(|invalid| {
            tracing::debug!(%path, %invalid, "temp URL refused");
            Refused(
                StatusCode::UNAUTHORIZED,
                format!("401 Unauthorized: Temp URL invalid\n{invalid}\n"),
            )
        })
}

fn too_large(limit: u64, declared: Option<u64>) -> Refused {
    let size = declared.map_or_else(|| "more".to_owned(), |n| n.to_string());
    Refused(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "413 Request Entity Too Large: {size} bytes sent, a file may have at most {limit} \
             bytes (file-sharing tutorial: up to 3MB)\n"
        ),
    )
}

/// A refusal: the status and a plain-text body saying why.
struct Refused(StatusCode, String);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        (
            self.0,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            self.1,
        )
            .into_response()
    }
}
