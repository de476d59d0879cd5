//! File sharing (issue 10, item 13): the file-sharing tutorial end to end against the mock —
//! upload URL, PUT of the bytes on the mock's own port, the hosted-file event, download URL,
//! GET of the same bytes — and every way a URL, a size, a type or a hosted-file event can be
//! wrong. Socket frames are sent as the public pages print them (permalinks in comments);
//! HTTP goes over a bare HTTP/1.1-over-TLS client, so a test controls every byte (as
//! `curl --upload-file` sends them: a PUT with no Content-Type).

use std::time::Duration;

use crate::harness::https::{read_response, storage, target, tls};
use base64::Engine as _;
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use wiretape_mock_server::client::Consumer;
use wiretape_mock_server::{FileSharing, MockServer, Rule, Severity, Strictness, MAX_FILE_BYTES};

/// https://developers.liveperson.com/messaging-window-api-tutorials-file-sharing.html
/// (`Tutorials/file-sharing.md`), "Using bash", step 3, exactly as printed (a number
/// `fileSize`, four spaces before the closing brace).
const TUTORIAL_UPLOAD: &str = r#"{"kind":"req","id":"3","body":{"fileSize":1000,"fileType":"PNG"},"type":"ms.GenerateURLForUploadFile"    }"#;
/// The same page, step 5 ("Publish Message"), as printed, placeholders included.
const TUTORIAL_PUBLISH: &str = r#"{"kind":"req","id":"22","body":{"dialogId":"__CONVERSATION_ID__","event":{"type":"ContentEvent","message":{"caption":"LivePerson logo","relativePath":"__relative_path__","fileType":"PNG","preview":"data:image/png;base64,<Base64Image>"},"contentType":"hosted/file"}},"type":"ms.PublishEvent"}"#;
/// The same page, step 6 ("Request Download URL"), as printed.
const TUTORIAL_DOWNLOAD: &str = r#"{"kind":"req","id":"33","body":{"relativePath":"__relative_path__"},"type":"ms.GenerateURLForDownloadFile"}"#;

/// A 1000-byte "PNG" (the signature, then filler): the tutorial's `fileSize` 1000.
fn png() -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend((0..992).map(|i| (i % 251) as u8));
    bytes
}

/// The tutorial's upload request, answered.
async fn upload_url(consumer: &mut Consumer) -> Value {
    consumer.send_text(TUTORIAL_UPLOAD).await;
    let resp = consumer.response_to("3").await;
    assert_eq!(resp["code"], 200, "{resp}");
    resp["body"].clone()
}

#[tokio::test]
async fn the_file_sharing_tutorial_end_to_end() {
    let server = MockServer::builder().manual_agent().start().await;
    server.expect_no_invalid_receipts();
    let mut consumer = Consumer::connect(&server).await;
    // Step 2, as printed: {"kind":"req","id":1,"type":"cm.ConsumerRequestConversation"}
    consumer
        .send_text(r#"{"kind":"req","id":1,"type":"cm.ConsumerRequestConversation"}"#)
        .await;
    let conversation = consumer.response_to(1).await["body"]["conversationId"]
        .as_str()
        .unwrap()
        .to_owned();

    // Step 3: the answer has the capture's shape — type ms.BaseGenerateURLResponse, an
    // upper-case extension, 40 hex of signature, 10 digits of epoch seconds.
    consumer.send_text(TUTORIAL_UPLOAD).await;
    let resp = consumer.response_to("3").await;
    assert_eq!(resp["type"], "ms.BaseGenerateURLResponse", "{resp}");
    let upload = resp["body"].clone();
    let path = upload["relativePath"].as_str().unwrap().to_owned();
    let prefix = format!("/v1/AUTH_async-images/{}/", server.account());
    let name = path
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{path}"));
    let uuid = name
        .strip_suffix(".PNG")
        .unwrap_or_else(|| panic!("{name}"));
    assert_eq!((uuid.len(), uuid.matches('-').count()), (36, 4), "{uuid}");
    let sig = upload["queryParams"]["temp_url_sig"].as_str().unwrap();
    assert!(
        sig.len() == 40 && sig.bytes().all(|b| b.is_ascii_hexdigit()),
        "{sig}"
    );
    let expires = upload["queryParams"]["temp_url_expires"].as_str().unwrap();
    let expires: u64 = expires.parse().unwrap();
    let now = now_secs();
    assert!(
        (now + 59..=now + 61).contains(&expires),
        "1 minute: {expires} vs {now}"
    );

    // Step 4: PUT the bytes; 201 CREATED.
    let bytes = png();
    let put = storage(&server, "PUT", &upload, &bytes).await;
    assert_eq!(put.status, 201, "{}", put.text());

    // Step 5: publish the hosted file, placeholders filled in.
    let preview = base64::engine::general_purpose::STANDARD.encode(&bytes[..64]);
    let publish = TUTORIAL_PUBLISH
        .replace("__CONVERSATION_ID__", &conversation)
        .replace("__relative_path__", &path)
        .replace("<Base64Image>", &preview);
    consumer.send_text(&publish).await;
    let published = consumer.response_to("22").await;
    assert_eq!(published["code"], 200, "{published}");
    let sequence = published["body"]["sequence"].as_u64().unwrap();
    let echo = consumer.notification("ms.MessagingEventNotification").await;
    let event = &echo["body"]["changes"][0]["event"];
    assert_eq!(event["contentType"], "hosted/file", "{echo}");
    assert_eq!(event["message"]["relativePath"], path.as_str());
    // The agent side sees it.
    let seen = server.latest_conversation().unwrap();
    let stored = seen.events.iter().find(|e| e.sequence == sequence).unwrap();
    assert_eq!(stored.event["message"]["caption"], "LivePerson logo");
    assert_eq!(stored.event["message"]["fileType"], "PNG");

    // Step 6: the download URL names the same path, signed for GET.
    let download = TUTORIAL_DOWNLOAD.replace("__relative_path__", &path);
    consumer.send_text(&download).await;
    let resp = consumer.response_to("33").await;
    assert_eq!(resp["type"], "ms.BaseGenerateURLResponse", "{resp}");
    assert_eq!(resp["body"]["relativePath"], path.as_str());

    // Step 7: GET serves the same bytes back.
    let get = storage(&server, "GET", &resp["body"], b"").await;
    assert_eq!(get.status, 200, "{}", get.text());
    assert_eq!(get.header("content-type"), Some("image/png"));
    assert_eq!(get.body, bytes);
    assert!(server.violations().is_empty(), "{:?}", server.violations());
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn the_reference_pages_samples_are_served() {
    let server = MockServer::builder().manual_agent().start().await;
    let mut consumer = Consumer::connect(&server).await;
    // https://developers.liveperson.com/messaging-window-api-api-reference-generate-upload-url.html
    // (request startval, verbatim): a string fileSize, JPG.
    consumer
        .send_text(r#"{"kind":"req","id":"0","type":"ms.GenerateURLForUploadFile","body":{"fileSize":"1024","fileType":"JPG"}}"#)
        .await;
    let up = consumer.response_to("0").await;
    assert_eq!(up["code"], 200, "{up}");
    assert!(up["body"]["relativePath"]
        .as_str()
        .unwrap()
        .ends_with(".JPG"));
    // https://developers.liveperson.com/messaging-window-api-api-reference-generate-download-url.html
    // (request startval, verbatim, on the sample's account 12345678, the mock's default): a
    // well-formed path of this account is signed; nothing was uploaded there, so GET is 404.
    consumer
        .send_text(r#"{"kind":"req","id":"0","type":"ms.GenerateURLForDownloadFile","body":{"relativePath":"/v1/AUTH_async-images/12345678/8ccc728c-2cac-4a81-878a-ab482d3f37b7_uuid_4d91eedb-2eda-433c-b469-06244fd1c3fa_17-04-2018_09-37-15-082.JPG"}}"#)
        .await;
    let down = consumer.response_to("0").await;
    assert_eq!(down["code"], 200, "{down}");
    let get = storage(&server, "GET", &down["body"], b"").await;
    assert_eq!(get.status, 404, "{}", get.text());
    // The tutorial's generic step 6 example ("relativePath": "1234.JPG") is no storage path.
    consumer
        .send_text(r#"{"kind":"req","id":1,"body":{"relativePath":"1234.JPG"},"type":"ms.GenerateURLForDownloadFile"}"#)
        .await;
    let bad = consumer.response_to(1).await;
    assert_eq!(bad["code"], 400, "{bad}");
    assert!(
        bad["body"].as_str().unwrap().contains("(rule file-path"),
        "{bad}"
    );
}

#[tokio::test]
async fn a_tampered_or_misused_url_is_401_temp_url_invalid() {
    let server = MockServer::builder().manual_agent().start().await;
    let mut consumer = Consumer::connect(&server).await;
    let upload = upload_url(&mut consumer).await;
    let mut tampered = upload.clone();
    let sig = upload["queryParams"]["temp_url_sig"].as_str().unwrap();
    let flipped = if sig.starts_with('0') { "1" } else { "0" };
    tampered["queryParams"]["temp_url_sig"] = format!("{flipped}{}", &sig[1..]).into();
    let put = storage(&server, "PUT", &tampered, &png()).await;
    assert_eq!(put.status, 401);
    assert!(
        put.text()
            .starts_with("401 Unauthorized: Temp URL invalid\n"),
        "{}",
        put.text()
    );
    assert!(
        put.text().contains("temp_url_sig does not match"),
        "{}",
        put.text()
    );
    // A later expiry with the same signature.
    let mut extended = upload.clone();
    extended["queryParams"]["temp_url_expires"] = "9999999999".into();
    assert_eq!(storage(&server, "PUT", &extended, &png()).await.status, 401);
    // The upload URL is for PUT only: GET with it is refused (it is not the download URL).
    assert_eq!(storage(&server, "PUT", &upload, &png()).await.status, 201);
    let get = storage(&server, "GET", &upload, b"").await;
    assert_eq!(get.status, 401, "{}", get.text());
    // No query at all.
    let mut io = tls(&server).await;
    let path = upload["relativePath"].as_str().unwrap();
    io.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let bare = read_response(io).await;
    assert_eq!(bare.status, 401);
    assert!(
        bare.text().contains("temp_url_sig is missing"),
        "{}",
        bare.text()
    );
    consumer.assert_alive().await;
}

#[tokio::test]
async fn an_expired_url_is_401() {
    // Valid until the end of the second it was issued in.
    let server = MockServer::builder()
        .manual_agent()
        .file_sharing(FileSharing {
            url_validity: Duration::ZERO,
            ..FileSharing::default()
        })
        .start()
        .await;
    let mut consumer = Consumer::connect(&server).await;
    let upload = upload_url(&mut consumer).await;
    let expires: u64 = upload["queryParams"]["temp_url_expires"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // Await exactly the expiry: the first instant of the next second.
    let expiry = std::time::UNIX_EPOCH + Duration::from_secs(expires + 1);
    if let Ok(left) = expiry.duration_since(std::time::SystemTime::now()) {
        tokio::time::sleep(left).await;
    }
    let put = storage(&server, "PUT", &upload, &png()).await;
    assert_eq!(put.status, 401, "{}", put.text());
    assert!(
        put.text()
            .contains(&format!("temp_url_expires {expires} has passed")),
        "{}",
        put.text()
    );
}

#[tokio::test]
async fn an_oversized_file_is_refused_without_being_buffered() {
    let server = MockServer::builder().manual_agent().start().await;
    let mut consumer = Consumer::connect(&server).await;
    // The tutorial's upload request with a size over its 3MB.
    consumer
        .send_text(r#"{"kind":"req","id":"3","body":{"fileSize":3145729,"fileType":"PNG"},"type":"ms.GenerateURLForUploadFile"}"#)
        .await;
    let refused = consumer.response_to("3").await;
    assert_eq!(refused["code"], 400);
    assert_eq!(
        refused["body"],
        "Bad Request, fileSize 3145729 is over the 3MB limit (3145728 bytes) (rule file-size, field body.fileSize)"
    );
    let upload = upload_url(&mut consumer).await;

    // A declared Content-Length over the limit: 413 before a single byte of body is sent.
    let mut io = tls(&server).await;
    let head = format!(
        "PUT {} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        target(&upload),
        MAX_FILE_BYTES + 1
    );
    io.write_all(head.as_bytes()).await.unwrap();
    let declared = read_response(io).await;
    assert_eq!(declared.status, 413, "{}", declared.text());
    assert!(
        declared.text().contains("at most 3145728 bytes"),
        "{}",
        declared.text()
    );

    // A chunked body that passes the limit: 413 while the body is still open (the request
    // never ends), so the server stopped reading at the limit instead of waiting for it all.
    let mut io = tls(&server).await;
    let head = format!(
        "PUT {} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        target(&upload)
    );
    io.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b'x'; 64 * 1024];
    let mut sent = 0u64;
    while sent <= MAX_FILE_BYTES {
        io.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await
            .unwrap();
        io.write_all(&chunk).await.unwrap();
        io.write_all(b"\r\n").await.unwrap();
        sent += chunk.len() as u64;
    }
    io.flush().await.unwrap();
    let streamed = read_response(io).await;
    assert_eq!(streamed.status, 413, "{}", streamed.text());
    // Nothing was stored: the download URL finds no file.
    let path = upload["relativePath"].as_str().unwrap();
    consumer
        .send_text(&TUTORIAL_DOWNLOAD.replace("__relative_path__", path))
        .await;
    let down = consumer.response_to("33").await;
    assert_eq!(
        storage(&server, "GET", &down["body"], b"").await.status,
        404
    );
    consumer.assert_alive().await;
}

#[tokio::test]
async fn an_unknown_type_is_400_naming_the_rule_and_lenient_records_a_warning() {
    // The tutorial's step 3 request with fileType PDF (allowed by no upload source).
    let pdf = r#"{"kind":"req","id":"3","body":{"fileSize":1000,"fileType":"PDF"},"type":"ms.GenerateURLForUploadFile"}"#;
    let server = MockServer::builder().manual_agent().start().await;
    let mut consumer = Consumer::connect(&server).await;
    consumer.send_text(pdf).await;
    let refused = consumer.response_to("3").await;
    assert_eq!(refused["code"], 400);
    assert_eq!(refused["type"], "ms.BaseGenerateURLResponse");
    assert_eq!(
        refused["body"],
        "Bad Request, fileType \"PDF\" is not one of JPG, JPEG, PNG, GIF (rule file-type, field body.fileType)"
    );
    let recorded = server.violations();
    assert_eq!(recorded[0].finding.rule, Rule::FileType);
    assert_eq!(recorded[0].response_code, Some(400));

    let lenient = MockServer::builder()
        .manual_agent()
        .strictness(Strictness::Lenient)
        .start()
        .await;
    let mut consumer = Consumer::connect(&lenient).await;
    consumer.send_text(pdf).await;
    let accepted = consumer.response_to("3").await;
    assert_eq!(accepted["code"], 200, "{accepted}");
    assert!(accepted["body"]["relativePath"]
        .as_str()
        .unwrap()
        .ends_with(".PDF"));
    let warning = &lenient.violations()[0];
    assert_eq!(
        (
            warning.finding.rule,
            warning.finding.severity,
            warning.response_code
        ),
        (Rule::FileType, Severity::Warning, None)
    );
}

/// Sends `frame` as given and asserts its 400 response's body contains `says`.
async fn refused(consumer: &mut Consumer, frame: &str, id: impl Into<Value>, says: &str) {
    consumer.send_text(frame).await;
    let resp = consumer.response_to(id).await;
    assert_eq!(resp["code"], 400, "{resp}");
    let body = resp["body"].as_str().unwrap_or_default();
    assert!(body.contains(says), "{body:?} should say {says:?}");
}

#[tokio::test]
async fn a_hosted_file_must_name_an_uploaded_file_of_this_account() {
    let server = MockServer::builder().manual_agent().start().await;
    let mut consumer = Consumer::connect(&server).await;
    let mut bystander = Consumer::connect(&server).await;
    let conversation = consumer.create_conversation().await;
    let publish = TUTORIAL_PUBLISH.replace("__CONVERSATION_ID__", &conversation);

    // Sent with the page's placeholders as printed: no such file.
    refused(&mut consumer, &publish, "22", "(rule file-path").await;

    // A path that was signed but never uploaded.
    let upload = upload_url(&mut consumer).await;
    let path = upload["relativePath"].as_str().unwrap();
    let not_uploaded = publish.replace("__relative_path__", path);
    refused(&mut consumer, &not_uploaded, "22", "no file was uploaded").await;

    // Uploaded: a bad preview (the page's "<Base64Image>" left in) and a wrong fileType.
    assert_eq!(storage(&server, "PUT", &upload, &png()).await.status, 201);
    refused(&mut consumer, &not_uploaded, "22", "is not valid base64").await;
    let gif = not_uploaded
        .replace(r#""fileType":"PNG""#, r#""fileType":"GIF""#)
        .replace("<Base64Image>", "iVBORw0KGgo=");
    refused(&mut consumer, &gif, "22", "(rule file-type").await;

    // The tutorial's generic step 5 example (empty relativePath, empty preview).
    let generic = format!(
        r#"{{"kind":"req","id":1,"body":{{"dialogId":"{conversation}","event":{{"type":"ContentEvent","contentType":"hosted/file","message":{{"caption":"Hello Kitten","relativePath":"","fileType":"JPG","preview":""}}}}}},"type":"ms.PublishEvent"}}"#
    );
    refused(&mut consumer, &generic, 1, "(rule file-path").await;

    // Another account's consumer cannot name this account's file.
    let mut other = Consumer::connect_to(
        &server.consumer_url_for("87654321"),
        server.client_tls(),
        Some("other"),
    )
    .await;
    let theirs = other.create_conversation().await;
    let foreign = gif
        .replace(&conversation, &theirs)
        .replace(r#""fileType":"GIF""#, r#""fileType":"PNG""#);
    refused(
        &mut other,
        &foreign,
        "22",
        "not a file path of account 87654321",
    )
    .await;

    let rules: Vec<Rule> = server.violations().iter().map(|v| v.finding.rule).collect();
    assert_eq!(
        rules,
        [
            Rule::FilePath,
            Rule::FilePath,
            Rule::HostedFile,
            Rule::FileType,
            Rule::FilePath,
            Rule::FilePath
        ]
    );
    bystander.assert_alive().await;
    consumer.assert_alive().await;
}

/// The automatic agent answers a hosted file by its caption, as it answers text by the text.
#[tokio::test]
async fn the_automatic_agent_reads_a_hosted_files_caption() {
    let server = MockServer::builder()
        .auto_agent(Duration::ZERO)
        .start()
        .await;
    let mut consumer = Consumer::connect(&server).await;
    let conversation = consumer.create_conversation().await;
    let upload = upload_url(&mut consumer).await;
    let put = storage(&server, "PUT", &upload, &png()).await;
    assert_eq!(put.status, 201, "{}", put.text());
    let publish = TUTORIAL_PUBLISH
        .replace("__CONVERSATION_ID__", &conversation)
        .replace(
            "__relative_path__",
            upload["relativePath"].as_str().unwrap(),
        )
        .replace(",\"preview\":\"data:image/png;base64,<Base64Image>\"", "");
    consumer.send_text(&publish).await;
    assert_eq!(consumer.response_to("22").await["code"], 200);
    let answer = tokio::time::timeout(
        Duration::from_secs(5),
        server.wait_for_conversation(|c| {
            c.agent_messages()
                .into_iter()
                .map(|(_, text)| text)
                .find(|text| text.contains("LivePerson logo"))
        }),
    )
    .await
    .expect("the agent answers the file");
    assert_eq!(answer, "You said: LivePerson logo");
}
