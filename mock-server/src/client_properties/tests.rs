//! Unit tests of the parent module.

use serde_json::json;

use super::*;

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn the_pcs_tutorial_header_is_accepted_with_features_outside_the_schema_enum() {
    // https://developers.liveperson.com/messaging-window-api-tutorials-post-conversation-survey-pcs.html
    let header = r#"{"type":".ClientProperties","appId":"webAsync","integrationVersion":"3.0.5","integration":"WEB_SDK","features":["AUTO_MESSAGES","RICH_CONTENT","CO_BROWSE","PHOTO_SHARING","QUICK_REPLIES","MULTI_DIALOG"]}"#;
    let props = ClientProperties::from_header(header).unwrap();
    assert!(props.has_feature(MULTI_DIALOG));
    assert!(props.has_feature("QUICK_REPLIES"));
    assert_eq!(props.get("integration"), Some("WEB_SDK"));
    assert_eq!(props.get("appId"), Some("webAsync"));
}

#[test]
fn the_schema_type_and_no_type_are_accepted() {
    let init =
        json!({"type":".ams.headers.ClientProperties","deviceFamily":"DESKTOP","os":"WINDOWS"});
    assert_eq!(
        ClientProperties::from_json(&init).unwrap().get("os"),
        Some("WINDOWS")
    );
    assert!(ClientProperties::from_json(&json!({"deviceFamily": "MOBILE"})).is_ok());
    let bad = ClientProperties::from_json(&json!({"type": ".ams.headers.Other"})).unwrap_err();
    assert_eq!(bad.field, "type");
}

#[test]
fn enums_lengths_and_types_are_checked() {
    let bad = ClientProperties::from_json(&json!({"deviceFamily": "PHONE"})).unwrap_err();
    assert_eq!(bad.field, "deviceFamily");
    assert!(bad.message.contains("DESKTOP, TABLET, MOBILE, OTHER"));
    let long = "x".repeat(33);
    let bad = ClientProperties::from_json(&json!({"appVersion": long})).unwrap_err();
    assert_eq!(bad.field, "appVersion");
    assert!(ClientProperties::from_json(&json!({"appVersion": "x".repeat(32)})).is_ok());
    let bad = ClientProperties::from_json(&json!({"os": 3})).unwrap_err();
    assert!(bad.message.contains("must be a string"));
    let bad = ClientProperties::from_json(&json!({"features": "MULTI_DIALOG"})).unwrap_err();
    assert_eq!(bad.field, "features");
    let bad = ClientProperties::from_json(&json!({"features": ["A", 1]})).unwrap_err();
    assert_eq!(bad.field, "features[1]");
    let bad = ClientProperties::from_json(&json!({"ipAddress": "999.1.1.1"})).unwrap_err();
    assert_eq!(bad.field, "ipAddress");
    assert!(ClientProperties::from_header("{not json").is_err());
    assert!(ClientProperties::from_header("[1]").is_err());
}

#[test]
fn unknown_properties_are_ignored() {
    let props = ClientProperties::from_json(&json!({"color": "blue", "os": "IOS"})).unwrap();
    assert_eq!(props.properties.len(), 1);
}

#[test]
fn the_query_form_takes_single_params_and_a_json_param() {
    let q = pairs(&[
        ("v", "3"),
        ("deviceFamily", "MOBILE"),
        ("features", "MULTI_DIALOG, QUICK_REPLIES"),
        ("features", "RICH_CONTENT"),
    ]);
    let props = ClientProperties::from_query(&q).unwrap().unwrap();
    assert_eq!(props.get("deviceFamily"), Some("MOBILE"));
    assert_eq!(
        props.features,
        ["MULTI_DIALOG", "QUICK_REPLIES", "RICH_CONTENT"]
    );
    let q = pairs(&[(
        "clientProperties",
        r#"{"os":"ANDROID","features":["MULTI_DIALOG"]}"#,
    )]);
    let props = ClientProperties::from_query(&q).unwrap().unwrap();
    assert!(props.has_feature(MULTI_DIALOG));
    assert_eq!(
        ClientProperties::from_query(&pairs(&[("v", "3")])).unwrap(),
        None
    );
    let bad = ClientProperties::from_query(&pairs(&[("os", "BEOS")])).unwrap_err();
    assert_eq!(bad.field, "os");
    let bad = ClientProperties::from_query(&pairs(&[("clientProperties", "{")])).unwrap_err();
    assert_eq!(bad.field, "clientProperties");
}

#[test]
fn later_properties_replace_earlier_ones_and_features_join() {
    let mut props = ClientProperties::from_json(&json!({"os": "IOS", "features": ["A"]})).unwrap();
    props
        .merge(ClientProperties::from_json(&json!({"os": "OSX", "features": ["B", "A"]})).unwrap());
    assert_eq!(props.get("os"), Some("OSX"));
    assert_eq!(props.features, ["A", "B"]);
    let text = serde_json::to_value(&props).unwrap();
    assert_eq!(text, json!({"os": "OSX", "features": ["A", "B"]}));
}
