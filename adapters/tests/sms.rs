//! Twilio and Aliyun specifics against local servers speaking their API shapes: Twilio's form
//! and basic auth, Aliyun's signed query and its HTTP-200 flow-control answer, and that
//! credentials never show. What every HTTP provider does alike (retries, `Retry-After`,
//! permanent refusals, timeouts) is in the contract suite (`tests/contract`).

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use adapters::sms::{AliyunSms, ResilientSms, SmsConfig, SmsSender, SmsTemplate, TwilioSms};
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use testkit::http::count;
use testkit::providers::{self, ALIYUN_SECRET, TWILIO_ACCOUNT, TWILIO_TOKEN, sms};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn twilio(server: &MockServer) -> ResilientSms {
    SmsConfig::Twilio(providers::twilio(&server.uri()))
        .build()
        .unwrap()
}

fn accepted() -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({"sid": "SM1", "status": "queued"}))
}

#[tokio::test]
async fn twilio_sends_a_form_with_basic_auth() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/2010-04-01/Accounts/{TWILIO_ACCOUNT}/Messages.json"
        )))
        .respond_with(accepted())
        .mount(&server)
        .await;
    let receipt = twilio(&server).send(&sms()).await.unwrap();
    assert_eq!(receipt.id, "SM1");
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let auth = base64::engine::general_purpose::STANDARD
        .encode(format!("{TWILIO_ACCOUNT}:{TWILIO_TOKEN}"));
    assert_eq!(
        testkit::http::header(&requests[0], "authorization"),
        format!("Basic {auth}")
    );
    let form = testkit::http::form(&requests[0].body);
    assert_eq!(form["To"], "+14155550100");
    assert_eq!(form["From"], "+15005550006");
    assert_eq!(form["Body"], "Your order ord_42 has shipped");
}

#[tokio::test]
async fn twilio_token_never_shows() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"code": 20003, "message": "Authenticate", "status": 401})),
        )
        .mount(&server)
        .await;
    let sender = twilio(&server);
    let err = sender.send(&sms()).await.unwrap_err();
    let cfg = providers::twilio("http://x");
    let shown = format!(
        "{err} {err:?} {sender:?} {cfg:?} {}",
        serde_json::to_string(&cfg).unwrap()
    );
    assert!(!shown.contains(TWILIO_TOKEN), "{shown}");
    assert!(shown.contains("***"));
    // A connection error's message carries no URL and no credentials either.
    let dead = TwilioSms::new(
        &providers::twilio("http://127.0.0.1:9"),
        Duration::from_secs(1),
    )
    .unwrap();
    let err = dead.send(&sms()).await.unwrap_err();
    assert!(err.is_retryable());
    assert!(!format!("{err} {err:?}").contains(TWILIO_TOKEN));
}

fn aliyun(server: &MockServer) -> ResilientSms {
    SmsConfig::Aliyun(providers::aliyun(&server.uri()))
        .build()
        .unwrap()
}

fn aliyun_answer(code: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "Code": code, "Message": if code == "OK" { "OK" } else { "refused" },
        "RequestId": "F655A8D5-B967-440B-8683-DAD6FF8DE990", "BizId": "900619746936498440^0"
    }))
}

/// Recomputes the signature from the parameters the server received.
fn verify_signature(query: &[(String, String)]) {
    const POP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    let enc = |s: &str| percent_encoding::utf8_percent_encode(s, POP).to_string();
    let mut params: Vec<_> = query.iter().filter(|(k, _)| k != "Signature").collect();
    params.sort();
    let canonical = params
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&");
    let mut mac =
        Hmac::<sha1::Sha1>::new_from_slice(format!("{ALIYUN_SECRET}&").as_bytes()).unwrap();
    mac.update(format!("GET&%2F&{}", enc(&canonical)).as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let got = &query.iter().find(|(k, _)| k == "Signature").unwrap().1;
    assert_eq!(got, &expected);
}

#[tokio::test]
async fn aliyun_sends_a_signed_sendsms_request() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/"))
        .respond_with(aliyun_answer("OK"))
        .mount(&server)
        .await;
    let mut message = sms();
    message.template = Some(SmsTemplate {
        code: "SMS_71390007".into(),
        params: [("order".to_owned(), "ord_42".to_owned())].into(),
    });
    let receipt = aliyun(&server).send(&message).await.unwrap();
    assert_eq!(receipt.id, "900619746936498440^0");
    let requests = server.received_requests().await.unwrap();
    let query: Vec<(String, String)> = requests[0].url.query_pairs().into_owned().collect();
    let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("Action"), Some("SendSms"));
    assert_eq!(get("Version"), Some("2017-05-25"));
    assert_eq!(get("Format"), Some("JSON"));
    assert_eq!(get("SignatureMethod"), Some("HMAC-SHA1"));
    assert_eq!(get("SignatureVersion"), Some("1.0"));
    assert_eq!(get("AccessKeyId"), Some("LTAI-test"));
    assert_eq!(get("PhoneNumbers"), Some("+14155550100"));
    assert_eq!(get("SignName"), Some("OrderBus"));
    assert_eq!(get("TemplateCode"), Some("SMS_71390007"));
    assert_eq!(get("TemplateParam"), Some(r#"{"order":"ord_42"}"#));
    assert_eq!(get("OutId"), Some("evt-1"));
    assert!(get("Timestamp").unwrap().ends_with('Z'));
    verify_signature(&query);
    assert!(!requests[0].url.as_str().contains(ALIYUN_SECRET));
}

/// Per-number frequency limits come as HTTP 200 with a `Code`: retried, not taken for success.
#[tokio::test]
async fn aliyun_flow_control_answer_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(aliyun_answer("isv.BUSINESS_LIMIT_CONTROL"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(aliyun_answer("OK"))
        .with_priority(2)
        .mount(&server)
        .await;
    let sender = aliyun(&server);
    sender.send(&sms()).await.unwrap();
    assert_eq!(count(&server).await, 2);
    assert_eq!(sender.resilience().stats().retries, 1);
}

#[tokio::test]
async fn aliyun_secret_and_signed_url_never_show() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(aliyun_answer("OK").set_delay(Duration::from_secs(2)))
        .mount(&server)
        .await;
    let cfg = providers::aliyun(&server.uri());
    let direct = AliyunSms::new(&cfg, Duration::from_millis(200)).unwrap();
    let err = direct.send(&sms()).await.unwrap_err();
    let shown = format!("{err} {err:?} {direct:?} {cfg:?}");
    assert!(!shown.contains(ALIYUN_SECRET), "{shown}");
    // The signed URL is not part of the (timeout) error either.
    assert!(!shown.contains("Signature="), "{shown}");
}
