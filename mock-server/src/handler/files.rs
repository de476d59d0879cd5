//! The socket side of file sharing: `ms.GenerateURLForUploadFile`,
//! `ms.GenerateURLForDownloadFile`, and the check of a published `hosted/file` event.
//!
//! Strict by default, as the sources say (types JPG, JPEG, PNG, GIF; up to 3 MB; a preview
//! under 30 KB); `--lenient` accepts what the live service plausibly would (PDF and TXT, up
//! to 10 MB, a larger preview, a mismatched `fileType`) and records each as a warning.

use base64::Engine as _;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::{record_violation, Reply};
use crate::config::Strictness;
use crate::conn::ConnCtx;
use crate::files::{
    now_secs, FilePath, LENIENT_MAX_FILE_BYTES, MAX_FILE_BYTES, MAX_PREVIEW_BYTES, PATH_PREFIX,
};
use crate::hub::Hub;
use crate::protocol::{response, types, Rejection, ReqId};
use crate::validation::{short, Finding, Rule};

/// The upload types of the tutorial and of `GenerateURLForUploadFileBody.json`.
const UPLOAD_TYPES: [&str; 4] = ["JPG", "JPEG", "PNG", "GIF"];
/// What `--lenient` also takes: the other types of `HostedFile.json`'s `fileType`.
const LENIENT_TYPES: [&str; 2] = ["PDF", "TXT"];

const UPLOAD: &str = "ms.GenerateURLForUploadFile";

/// Collects what `--lenient` lets through as warnings; otherwise each is the rejection.
struct Findings {
    lenient: bool,
    warnings: Vec<Finding>,
}

impl Findings {
    fn new(hub: &Hub) -> Self {
        Self {
            lenient: hub.settings.strictness == Strictness::Lenient,
            warnings: Vec::new(),
        }
    }

    /// A rule the live service most plausibly does not enforce: a warning with `--lenient`.
    fn tolerable(&mut self, finding: Finding) -> Result<(), Rejection> {
        if self.lenient {
            self.warnings.push(Finding {
                severity: crate::validation::Severity::Warning,
                ..finding
            });
            return Ok(());
        }
        Err(rejection(finding))
    }

    /// Records the warnings (once the request is served).
    fn record(self, hub: &Hub, ctx: &ConnCtx, request: (&ReqId, &str)) {
        for warning in &self.warnings {
            record_violation(hub, ctx, (Some(request.0), Some(request.1)), warning, None);
        }
    }
}

fn rejection(finding: Finding) -> Rejection {
    Rejection {
        code: 400,
        finding: Box::new(finding),
    }
}

fn violation(rule: Rule, field: &str, value: &Value, message: String) -> Rejection {
    Rejection::from(Finding::violation(rule, field, value.clone(), message))
}

/// `ms.GenerateURLForUploadFile` `{fileSize, fileType}`: a URL signed for `PUT` on a new path
/// `/v1/AUTH_async-images/{account}/{uuid}.{FILETYPE}` (upper case, as captured).
pub(crate) fn upload_url(
    hub: &Hub,
    ctx: &ConnCtx,
    id: &ReqId,
    body: &Map<String, Value>,
) -> Result<Reply, Rejection> {
    let mut findings = Findings::new(hub);
    let file_type = upload_type(body.get("fileType"), &mut findings)?;
    upload_size(body.get("fileSize"), &mut findings)?;
    findings.record(hub, ctx, (id, UPLOAD));
    let path = format!(
        "{PATH_PREFIX}{}/{}.{file_type}",
        ctx.account,
        Uuid::new_v4()
    );
    Ok(url_reply(hub, id, "PUT", &path))
}

/// `ms.GenerateURLForDownloadFile` `{relativePath}`: a URL signed for `GET` on that path,
/// which must be a file path of this socket's account (whether a file is there is the GET's
/// business: 404).
pub(crate) fn download_url(
    hub: &Hub,
    ctx: &ConnCtx,
    id: &ReqId,
    body: &Map<String, Value>,
) -> Result<Reply, Rejection> {
    let field = "body.relativePath";
    let path = match body.get("relativePath") {
        Some(Value::String(path)) => path,
        other => {
            let value = other.cloned().unwrap_or(Value::Null);
            let message = format!("relativePath must be a string, got {}", short(&value));
            return Err(violation(Rule::FilePath, field, &value, message));
        }
    };
    own_path(ctx, path, field)?;
    Ok(url_reply(hub, id, "GET", path))
}

/// Whether a published event is a hosted file: a `ContentEvent` with `contentType`
/// `hosted/file` (every capture) or `HostedFile` (the schema's default).
pub(crate) fn is_hosted_file(event: &Map<String, Value>) -> bool {
    event.get("type").and_then(Value::as_str) == Some("ContentEvent")
        && matches!(
            event.get("contentType").and_then(Value::as_str),
            Some("hosted/file" | "HostedFile")
        )
}

/// Checks a hosted-file event's `message` `{caption, relativePath, fileType, preview}`:
/// the path is a file uploaded to this server in this account, `fileType` is its type, the
/// preview a base64 `data:image/…` URL under 30 KB. Records the warnings `--lenient` lets by.
pub(crate) fn check_hosted_file(
    hub: &Hub,
    ctx: &ConnCtx,
    id: &ReqId,
    event: &Map<String, Value>,
) -> Result<(), Rejection> {
    let mut findings = Findings::new(hub);
    let message = match event.get("message") {
        Some(Value::Object(message)) => message,
        other => {
            let value = other.cloned().unwrap_or(Value::Null);
            return Err(violation(
                Rule::HostedFile,
                "body.event.message",
                &value,
                format!(
                    "a hosted/file message must be an object {{caption, relativePath, fileType, \
                     preview}}, got {}",
                    short(&value)
                ),
            ));
        }
    };
    let string = |key: &str, rule: Rule| -> Result<&str, Rejection> {
        let field = format!("body.event.message.{key}");
        match message.get(key) {
            Some(Value::String(s)) => Ok(s),
            Some(other) => Err(violation(
                rule,
                &field,
                other,
                format!("{key} must be a string, got {}", short(other)),
            )),
            None => Err(violation(
                rule,
                &field,
                &Value::Null,
                format!("{key} is missing"),
            )),
        }
    };
    string("caption", Rule::HostedFile)?;
    let path = string("relativePath", Rule::FilePath)?;
    let file = own_path(ctx, path, "body.event.message.relativePath")?;
    if hub.files.get(path).is_none() {
        return Err(violation(
            Rule::FilePath,
            "body.event.message.relativePath",
            &Value::String(path.to_owned()),
            format!(
                "no file was uploaded to {}; PUT it to the upload URL first",
                short(&Value::String(path.to_owned()))
            ),
        ));
    }
    let file_type = string("fileType", Rule::FileType)?;
    if !same_type(file_type, file.extension) {
        findings.tolerable(Finding::violation(
            Rule::FileType,
            "body.event.message.fileType",
            Value::String(file_type.to_owned()),
            format!(
                "fileType {} is not the uploaded file's type {}",
                short(&Value::String(file_type.to_owned())),
                file.extension
            ),
        ))?;
    }
    check_preview(message.get("preview"), &mut findings)?;
    findings.record(hub, ctx, (id, "ms.PublishEvent"));
    Ok(())
}

/// `preview`: optional (the schema does not require it; `""` is the generic example's empty
/// placeholder); else a `data:image/…;base64,…` URL of valid base64, under 30 KB.
fn check_preview(preview: Option<&Value>, findings: &mut Findings) -> Result<(), Rejection> {
    let field = "body.event.message.preview";
    let preview = match preview {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::String(p)) if p.is_empty() => return Ok(()),
        Some(Value::String(p)) => p,
        Some(other) => {
            let message = format!("preview must be a data URL string, got {}", short(other));
            return Err(violation(Rule::HostedFile, field, other, message));
        }
    };
    let value = Value::String(preview.chars().take(40).collect());
    let payload = preview
        .strip_prefix("data:image/")
        .and_then(|rest| rest.split_once(";base64,"))
        .filter(|(subtype, _)| !subtype.is_empty() && !subtype.contains(['/', ',', ';']))
        .map(|(_, payload)| payload);
    let Some(payload) = payload else {
        let message = format!(
            "preview must be a data URL like \"data:image/png;base64,…\", got {}",
            short(&value)
        );
        return Err(violation(Rule::HostedFile, field, &value, message));
    };
    if preview.len() >= MAX_PREVIEW_BYTES {
        findings.tolerable(Finding::violation(
            Rule::HostedFile,
            field,
            value.clone(),
            format!(
                "preview of {} bytes is not under the tutorial's 30KB ({MAX_PREVIEW_BYTES} bytes)",
                preview.len()
            ),
        ))?;
    }
    if let Err(err) = base64::engine::general_purpose::STANDARD.decode(payload) {
        let message = format!("preview is not valid base64 after \";base64,\": {err}");
        return Err(violation(Rule::HostedFile, field, &value, message));
    }
    Ok(())
}

/// `fileType` names the uploaded file's type (JPG and JPEG are one type).
fn same_type(file_type: &str, extension: &str) -> bool {
    let norm = |t: &str| match t.to_ascii_uppercase().as_str() {
        "JPEG" => "JPG".to_owned(),
        other => other.to_owned(),
    };
    norm(file_type) == norm(extension)
}

/// `path` as a file path of this socket's account.
fn own_path<'a>(ctx: &ConnCtx, path: &'a str, field: &str) -> Result<FilePath<'a>, Rejection> {
    match FilePath::parse(path) {
        Some(file) if file.account == ctx.account => Ok(file),
        _ => Err(violation(
            Rule::FilePath,
            field,
            &Value::String(path.to_owned()),
            format!(
                "not a file path of account {} ({PATH_PREFIX}{}/NAME.EXT): {}",
                ctx.account,
                ctx.account,
                short(&Value::String(path.to_owned()))
            ),
        )),
    }
}

/// The upper-case extension for an upload's `fileType`.
fn upload_type(value: Option<&Value>, findings: &mut Findings) -> Result<String, Rejection> {
    let field = "body.fileType";
    let file_type = match value {
        Some(Value::String(t)) => t,
        other => {
            let value = other.cloned().unwrap_or(Value::Null);
            let message = format!(
                "fileType must be one of {}, got {}",
                UPLOAD_TYPES.join(", "),
                short(&value)
            );
            return Err(violation(Rule::FileType, field, &value, message));
        }
    };
    if UPLOAD_TYPES.contains(&file_type.as_str()) {
        return Ok(file_type.clone());
    }
    let upper = file_type.to_ascii_uppercase();
    let finding = Finding::violation(
        Rule::FileType,
        field,
        Value::String(file_type.clone()),
        format!(
            "fileType {} is not one of {}",
            short(&Value::String(file_type.clone())),
            UPLOAD_TYPES.join(", ")
        ),
    );
    if UPLOAD_TYPES.contains(&upper.as_str()) || LENIENT_TYPES.contains(&upper.as_str()) {
        findings.tolerable(finding)?;
        return Ok(upper);
    }
    Err(rejection(finding))
}

/// `fileSize`: a string of digits (the schema) or a non-negative integer (the tutorial's
/// capture), at most 3 MB (10 MB with `--lenient`, as a warning).
fn upload_size(value: Option<&Value>, findings: &mut Findings) -> Result<u64, Rejection> {
    let field = "body.fileSize";
    let size = match value {
        Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse::<u64>().ok()
        }
        Some(Value::Number(n)) => n.as_u64(),
        _ => None,
    };
    let Some(size) = size else {
        let value = value.cloned().unwrap_or(Value::Null);
        let message = format!(
            "fileSize must be a number of bytes (\"1000\" or 1000), got {}",
            short(&value)
        );
        return Err(violation(Rule::FileSize, field, &value, message));
    };
    if size > MAX_FILE_BYTES {
        let finding = Finding::violation(
            Rule::FileSize,
            field,
            json!(size),
            format!("fileSize {size} is over the 3MB limit ({MAX_FILE_BYTES} bytes)"),
        );
        if size > LENIENT_MAX_FILE_BYTES {
            return Err(rejection(finding));
        }
        findings.tolerable(finding)?;
    }
    Ok(size)
}

/// The response: `relativePath` and the signed `queryParams`, as captured.
fn url_reply(hub: &Hub, id: &ReqId, method: &str, path: &str) -> Reply {
    let expires = hub.files.expiry(now_secs());
    let signature = hub.files.signer.sign(method, expires, path);
    Reply::one(response(
        Some(id),
        200,
        types::GENERATE_URL_RESPONSE,
        json!({
            "relativePath": path,
            "queryParams": {"temp_url_sig": signature, "temp_url_expires": expires.to_string()},
        }),
    ))
}

#[cfg(test)]
mod tests;
