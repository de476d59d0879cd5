//! The upload body and hosted-file rules, strict and lenient.

use serde_json::{json, Value};

use super::*;

fn findings(lenient: bool) -> Findings {
    Findings {
        lenient,
        warnings: Vec::new(),
    }
}

fn rule_of(result: Result<impl std::fmt::Debug, Rejection>) -> (Rule, String) {
    let rejection = result.unwrap_err();
    (rejection.finding.rule, rejection.finding.message.clone())
}

#[test]
fn upload_types_are_the_tutorials_four_and_lenient_adds_pdf_and_txt() {
    let mut strict = findings(false);
    for t in UPLOAD_TYPES {
        assert_eq!(upload_type(Some(&json!(t)), &mut strict).unwrap(), t);
    }
    for t in ["PDF", "TXT", "png", "BMP"] {
        let (rule, message) = rule_of(upload_type(Some(&json!(t)), &mut strict));
        assert_eq!(rule, Rule::FileType);
        assert!(
            message.contains("is not one of JPG, JPEG, PNG, GIF"),
            "{message}"
        );
    }
    let (rule, _) = rule_of(upload_type(None, &mut strict));
    assert_eq!(rule, Rule::FileType);
    let (_, message) = rule_of(upload_type(Some(&json!(7)), &mut strict));
    assert!(message.contains("got 7"), "{message}");

    let mut lenient = findings(true);
    assert_eq!(
        upload_type(Some(&json!("pdf")), &mut lenient).unwrap(),
        "PDF"
    );
    assert_eq!(
        upload_type(Some(&json!("png")), &mut lenient).unwrap(),
        "PNG"
    );
    assert!(upload_type(Some(&json!("EXE")), &mut lenient).is_err());
    assert_eq!(lenient.warnings.len(), 2);
    assert!(lenient.warnings.iter().all(|w| !w.is_violation()));
}

#[test]
fn file_sizes_are_strings_or_numbers_up_to_3_mb() {
    let mut strict = findings(false);
    // The schema's string and the tutorial's bash capture's number.
    assert_eq!(
        upload_size(Some(&json!("1000")), &mut strict).unwrap(),
        1000
    );
    assert_eq!(upload_size(Some(&json!(1000)), &mut strict).unwrap(), 1000);
    assert_eq!(
        upload_size(Some(&json!(MAX_FILE_BYTES)), &mut strict).unwrap(),
        MAX_FILE_BYTES
    );
    for bad in [
        json!("1e3"),
        json!("-1"),
        json!(""),
        json!(-1),
        json!(1.5),
        Value::Null,
    ] {
        let (rule, message) = rule_of(upload_size(Some(&bad), &mut strict));
        assert_eq!(rule, Rule::FileSize);
        assert!(message.contains("must be a number of bytes"), "{message}");
    }
    assert_eq!(rule_of(upload_size(None, &mut strict)).0, Rule::FileSize);
    let (_, message) = rule_of(upload_size(Some(&json!(MAX_FILE_BYTES + 1)), &mut strict));
    assert_eq!(
        message,
        "fileSize 3145729 is over the 3MB limit (3145728 bytes)"
    );
    let mut lenient = findings(true);
    assert!(upload_size(Some(&json!(LENIENT_MAX_FILE_BYTES)), &mut lenient).is_ok());
    assert!(upload_size(Some(&json!(LENIENT_MAX_FILE_BYTES + 1)), &mut lenient).is_err());
    assert_eq!(lenient.warnings.len(), 1);
}

#[test]
fn previews_are_small_base64_image_data_urls() {
    let mut strict = findings(false);
    let png = "data:image/png;base64,iVBORw0KGgo=";
    for ok in [None, Some(json!(null)), Some(json!("")), Some(json!(png))] {
        check_preview(ok.as_ref(), &mut strict).unwrap();
    }
    for (bad, says) in [
        (json!(1), "must be a data URL string"),
        (json!("iVBORw0KGgo="), "must be a data URL like"),
        (
            json!("data:text/plain;base64,aGk="),
            "must be a data URL like",
        ),
        (
            json!("data:image/png,iVBORw0KGgo="),
            "must be a data URL like",
        ),
        (json!("data:image/png;base64,***"), "is not valid base64"),
    ] {
        let (rule, message) = rule_of(check_preview(Some(&bad), &mut strict));
        assert_eq!(rule, Rule::HostedFile);
        assert!(message.contains(says), "{message} vs {says}");
    }
    let big = format!("data:image/png;base64,{}", "A".repeat(MAX_PREVIEW_BYTES));
    let (_, message) = rule_of(check_preview(Some(&json!(big)), &mut strict));
    assert!(
        message.contains("is not under the tutorial's 30KB"),
        "{message}"
    );
    let mut lenient = findings(true);
    check_preview(Some(&json!(big)), &mut lenient).unwrap();
    assert_eq!(lenient.warnings[0].rule, Rule::HostedFile);
}

#[test]
fn jpg_and_jpeg_are_one_type() {
    assert!(same_type("JPEG", "JPG"));
    assert!(same_type("png", "PNG"));
    assert!(!same_type("GIF", "PNG"));
}

#[test]
fn hosted_files_are_content_events_of_the_captured_or_the_schema_content_type() {
    let event = |ct: &str| {
        json!({"type":"ContentEvent","contentType":ct,"message":{}})
            .as_object()
            .unwrap()
            .clone()
    };
    assert!(is_hosted_file(&event("hosted/file")));
    assert!(is_hosted_file(&event("HostedFile")));
    assert!(!is_hosted_file(&event("text/plain")));
}
