//! Discovery and identity (issue 11, item 1) over real TLS: CSDS (JSON and the JSONP form),
//! account pinning, the IdP's signup and authenticate (and that the consumer socket takes
//! their JWTs as their `sub`), the agent login service (login, a pinned pair, refresh,
//! logout), precise errors, and no secret in the report. Then the tutorial's prerequisites with
//! the built binary and the real curl.

use std::process::Command;

use base64::Engine as _;
use serde_json::{json, Value};
use wiretape_fixtures::pki::LocalCa;
use wiretape_mock_server::client::Consumer;
use wiretape_mock_server::MockServer;

use crate::harness::https::{request, HttpResponse};
use crate::harness::json::fake_jwt_with;
use crate::harness::process::Wiretape;

async fn get(server: &MockServer, target: &str) -> HttpResponse {
    request(server, "GET", target, &[], b"").await
}

async fn post(server: &MockServer, target: &str, headers: &[&str], body: &Value) -> HttpResponse {
    let json = ["Content-Type: application/json"];
    let headers: Vec<&str> = json.iter().chain(headers).copied().collect();
    request(
        server,
        "POST",
        target,
        &headers,
        body.to_string().as_bytes(),
    )
    .await
}

/// The claims of a JWT.
fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn csds_names_the_mock_itself_for_every_service() {
    let server = MockServer::builder().manual_agent().start().await;
    let resp = get(
        &server,
        "/api/account/87654321/service/baseURI.json?version=1.0",
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let body = resp.json();
    let host = server.address().to_string();
    let services: Vec<&str> = body["baseURIs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["account"], "87654321", "{e}");
            assert_eq!(e["baseURI"], host.as_str(), "{e}");
            e["service"].as_str().unwrap()
        })
        .collect();
    for needed in ["asyncMessagingEnt", "idp", "agentVep", "facadeMsg"] {
        assert!(services.contains(&needed), "{needed} in {services:?}");
    }
    let one = get(
        &server,
        "/api/account/87654321/service/agentVep/baseURI.json?version=1.0",
    )
    .await;
    assert_eq!(
        one.json(),
        json!({"service":"agentVep","account":"87654321","baseURI":host})
    );
    let unknown = get(&server, "/api/account/87654321/service/nope/baseURI.json").await;
    assert_eq!(unknown.status, 404);
    assert!(unknown.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("nope"));
}

#[tokio::test]
async fn csds_jsonp_wraps_the_entry_in_the_callback_and_checks_its_name() {
    let server = MockServer::builder().manual_agent().start().await;
    let path = "/csdr/account/87654321/service/asyncMessagingEnt/baseURI.lpCsds?version=1.0";
    let resp = get(&server, &format!("{path}&cb=lpCb_1")).await;
    assert_eq!(resp.status, 200);
    assert!(resp
        .header("content-type")
        .unwrap()
        .starts_with("application/javascript"));
    let expected = json!({"service":"asyncMessagingEnt","account":"87654321",
        "baseURI": server.address().to_string()});
    assert_eq!(resp.text(), format!("lpCb_1({expected});"));
    let bad = get(&server, &format!("{path}&cb=alert(1)")).await;
    assert_eq!(bad.status, 400);
    assert!(!bad.text().contains("alert(1)("), "{}", bad.text());
}

#[tokio::test]
async fn a_pinned_account_is_the_only_one_discovered() {
    let server = MockServer::builder().account("12345678").start().await;
    let other = get(&server, "/api/account/87654321/service/baseURI.json").await;
    assert_eq!(other.status, 404);
    let signup = post(&server, "/api/account/87654321/signup", &[], &json!({})).await;
    assert_eq!(signup.status, 404);
    let ok = get(&server, "/api/account/12345678/service/baseURI.json").await;
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn signup_issues_a_uuid_identity_the_consumer_connects_as() {
    let server = MockServer::builder().manual_agent().start().await;
    let resp = request(&server, "POST", "/api/account/87654321/signup", &[], b"").await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let jwt = resp.json()["jwt"].as_str().unwrap().to_owned();
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(jwt.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "JWT");
    assert!(header["kid"].is_string());
    let payload = claims(&jwt);
    let sub = payload["sub"].as_str().unwrap().to_owned();
    assert_eq!(uuid_version(&sub), Some('4'), "{sub}");
    assert_eq!(payload["aud"], "acc:87654321");
    assert!(payload["iss"].is_string());
    assert!(payload["exp"].as_u64().unwrap() > payload["iat"].as_u64().unwrap());

    let url = server.consumer_url_for("87654321");
    let mut consumer = Consumer::connect_to(&url, server.client_tls(), Some(&jwt)).await;
    consumer.create_conversation().await;
    assert_eq!(server.latest_conversation().unwrap().consumer_id, sub);
    let again = request(&server, "POST", "/api/account/87654321/signup", &[], b"").await;
    assert_ne!(
        claims(again.json()["jwt"].as_str().unwrap())["sub"],
        sub.as_str()
    );
}

/// The version digit of a UUID's text form.
fn uuid_version(s: &str) -> Option<char> {
    (s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4)
        .then(|| s.chars().nth(14))
        .flatten()
}

#[tokio::test]
async fn authenticate_gives_the_same_consumer_for_the_same_external_identity() {
    let server = MockServer::builder().manual_agent().start().await;
    let external = fake_jwt_with(&json!({"iss":"https://brand.example","sub":"customer-1"}));
    let mut subs = Vec::new();
    for _ in 0..2 {
        let resp = post(
            &server,
            "/api/account/12345678/authenticate",
            &[],
            &json!({"authCode": external}),
        )
        .await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        subs.push(claims(resp.json()["jwt"].as_str().unwrap())["sub"].clone());
    }
    assert_eq!(subs[0], subs[1]);
    let sub = subs[0].as_str().unwrap();
    assert_eq!(sub.len(), 64);
    assert!(sub.bytes().all(|b| b.is_ascii_hexdigit()));
    let other = fake_jwt_with(&json!({"iss":"https://brand.example","sub":"customer-2"}));
    let resp = post(
        &server,
        "/api/account/12345678/authenticate",
        &[],
        &json!({"authCode": other}),
    )
    .await;
    assert_ne!(claims(resp.json()["jwt"].as_str().unwrap())["sub"], subs[0]);

    let missing = post(
        &server,
        "/api/account/12345678/authenticate",
        &[],
        &json!({}),
    )
    .await;
    assert_eq!(missing.status, 400);
    assert_eq!(
        missing.json()["error"]["message"],
        "field authCode is missing"
    );
    let opaque = post(
        &server,
        "/api/account/12345678/authenticate",
        &[],
        &json!({"authCode":"x"}),
    )
    .await;
    assert_eq!(opaque.status, 401);
}

/// The `session_id=...` pair of a login response's `Set-Cookie`.
fn session_cookie(resp: &HttpResponse) -> String {
    let set = resp.header("set-cookie").expect("Set-Cookie");
    assert!(set.contains("Secure") && set.contains("HttpOnly"), "{set}");
    set.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn agents_log_in_refresh_and_log_out_and_secrets_stay_out_of_the_report() {
    let server = MockServer::builder().manual_agent().start().await;
    let login = "/api/account/12345678/login?v=1.3";
    let resp = post(
        &server,
        login,
        &["User-Agent: NodeAgentSDK/1.2.0"],
        &json!({"username":"u","password":"p"}),
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let body = resp.json();
    let (bearer, csrf) = (
        body["bearer"].as_str().unwrap(),
        body["csrf"].as_str().unwrap(),
    );
    assert!(bearer.len() >= 32 && csrf.len() >= 32 && bearer != csrf);
    let user_id = body["config"]["userId"].clone();
    assert!(user_id
        .as_str()
        .unwrap()
        .bytes()
        .all(|b| b.is_ascii_digit()));
    assert!(body["config"]["userPid"].is_string());
    let cookie = session_cookie(&resp);

    // The same login name is the same agent, with a new bearer.
    let again = post(
        &server,
        login,
        &[],
        &json!({"username":"u","password":"other"}),
    )
    .await
    .json();
    assert_eq!(again["config"]["userId"], user_id);
    assert_ne!(again["bearer"], body["bearer"]);
    let bot = post(
        &server,
        login,
        &[],
        &json!({"username":"bot","appKey":"k","secret":"s",
        "accessToken":"dummy","accessTokenSecret":"dummy"}),
    )
    .await
    .json();
    assert_ne!(bot["config"]["userId"], user_id);

    let refresh = "/api/account/12345678/refresh?v=1.3";
    let cookie_header = format!("Cookie: {cookie}");
    let ok = post(&server, refresh, &[&cookie_header], &json!({"csrf": csrf})).await;
    assert_eq!((ok.status, ok.text()), (200, String::new()));
    let wrong = post(
        &server,
        refresh,
        &[&cookie_header],
        &json!({"csrf": "nope"}),
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.json()["error"]["internalCode"], 10);
    let no_cookie = post(&server, refresh, &[], &json!({"csrf": csrf})).await;
    assert_eq!(no_cookie.status, 401);

    let logout = post(
        &server,
        "/api/account/12345678/logout",
        &[&cookie_header],
        &json!({"csrf": csrf}),
    )
    .await;
    assert_eq!(logout.status, 200);
    let after = post(&server, refresh, &[&cookie_header], &json!({"csrf": csrf})).await;
    assert_eq!(
        after.status, 401,
        "a logged-out session cannot be refreshed"
    );

    let report = serde_json::to_string(&server.report()).unwrap();
    for secret in [
        bearer,
        csrf,
        cookie.trim_start_matches("session_id="),
        "\"p\"",
    ] {
        assert!(!report.contains(secret), "{secret} in {report}");
    }
}

#[tokio::test]
async fn a_pinned_agent_login_refuses_other_pairs_with_the_sdks_error_body() {
    let server = MockServer::builder().agent_login("a", "b").start().await;
    let login = "/api/account/12345678/login?v=1.3";
    let wrong = post(&server, login, &[], &json!({"username":"a","password":"x"})).await;
    assert_eq!(wrong.status, 401);
    let error = &wrong.json()["error"];
    assert_eq!(error["responseStatus"], "UNAUTHORIZED");
    assert!(
        error["message"].is_string() && error["time"].is_string(),
        "{error}"
    );
    assert!(!wrong.text().contains("\"x\""));
    let right = post(&server, login, &[], &json!({"username":"a","password":"b"})).await;
    assert_eq!(right.status, 200);
}

#[tokio::test]
async fn bad_requests_get_precise_json_errors() {
    let server = MockServer::builder().manual_agent().start().await;
    let login = "/api/account/12345678/login?v=1.3";
    let cases: [(&str, &str, &[u8], u16, &str); 5] = [
        ("POST", login, b"{not json", 400, "malformed JSON body"),
        ("POST", login, b"[1]", 400, "the body must be a JSON object"),
        (
            "POST",
            login,
            br#"{"username":"u"}"#,
            400,
            "field password is missing",
        ),
        (
            "POST",
            login,
            br#"{"jwt":"dummy","assertion":"a"}"#,
            400,
            "SAML assertion login",
        ),
        ("GET", login, b"", 405, "method not allowed here; use POST"),
    ];
    for (method, target, body, status, message) in cases {
        let resp = request(&server, method, target, &[], body).await;
        assert_eq!(
            resp.status,
            status,
            "{method} {}",
            String::from_utf8_lossy(body)
        );
        let got = resp.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(got.starts_with(message), "{got}");
    }
    let post_csds = request(
        &server,
        "POST",
        "/api/account/1/service/baseURI.json",
        &[],
        b"",
    )
    .await;
    assert_eq!(
        (post_csds.status, post_csds.header("allow")),
        (405, Some("GET"))
    );
}

/// The done-when of issue 11 with the built binary and the real curl: CSDS, then signup,
/// then the consumer connects with that JWT as its `sub`; nothing secret on stderr.
#[tokio::test]
async fn the_tutorials_prerequisites_with_curl_against_the_binary() {
    // Never skipped: .ci/run installs curl (and a test that cannot run must fail).
    assert!(
        Command::new("curl").arg("--version").output().is_ok(),
        "curl is not installed: apt-get install curl"
    );
    let home = tempfile::tempdir().unwrap();
    let mut mock = Wiretape::start(
        home.path(),
        &["mock", "--listen", "127.0.0.1:0", "--agent-login", "a:b"],
    );
    let host = mock.url.trim_start_matches("wss://").to_owned();
    let mut banner = String::new();
    while !banner.contains("LP_CSDS=") {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut mock.stdout, &mut line).unwrap();
        assert!(!line.is_empty(), "banner ended without LP_CSDS: {banner}");
        banner.push_str(&line);
    }
    assert!(banner.contains(&format!("LP_CSDS={host}")), "{banner}");
    let ca = home.path().join("ca.pem");
    let ca = ca.to_str().unwrap();
    let curl = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-sS", "--cacert", ca])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let csds = curl(&[&format!(
        "https://{host}/api/account/87654321/service/baseURI.json?version=1.0"
    )]);
    let messaging = csds["baseURIs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["service"] == "asyncMessagingEnt")
        .unwrap()["baseURI"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(messaging, host);
    let jwt = curl(&[
        "-X",
        "POST",
        &format!("https://{host}/api/account/87654321/signup"),
    ])["jwt"]
        .as_str()
        .unwrap()
        .to_owned();
    let login = curl(&[
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"username":"a","password":"b"}"#,
        &format!("https://{host}/api/account/87654321/login?v=1.3"),
    ]);
    let bearer = login["bearer"].as_str().unwrap().to_owned();

    let tls = LocalCa::load_or_create(home.path())
        .unwrap()
        .client_config();
    let url = format!("wss://{messaging}/ws_api/account/87654321/messaging/consumer?v=3");
    let mut consumer = Consumer::connect_to(&url, Some(tls), Some(&jwt)).await;
    let conversation = consumer.create_conversation().await;
    let listed = curl(&[&format!("https://{host}/mock/api/conversations")]);
    let text = listed.to_string();
    assert!(text.contains(&conversation), "{text}");
    assert!(
        text.contains(claims(&jwt)["sub"].as_str().unwrap()),
        "{text}"
    );
    drop(consumer);
    let (_, stderr) = mock.terminate();
    assert!(
        !stderr.contains(&bearer) && !stderr.contains(&jwt),
        "{stderr}"
    );
}
