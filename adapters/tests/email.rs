//! SendGrid against a local server speaking its v3 shape, and SMTP against a tiny fake SMTP
//! server written here: success and message content, retryable and permanent answers, timeouts,
//! and that credentials never show.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use adapters::email::{
    Email, EmailConfig, EmailSender, ResilientEmail, SendgridConfig, SmtpConfig, SmtpEmail,
    SmtpSecurity,
};
use adapters::{Error, FailureKind};
use events::Secret;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "SG.key-s3cr3t";
const SMTP_PASSWORD: &str = "smtp-pa55word";

fn email() -> Email {
    Email {
        to: "ana@example.com".into(),
        to_name: Some("Ana".into()),
        subject: "Order ord_42 shipped".into(),
        text: "Your parcel is on its way.".into(),
        reference: "0190b6d2-evt".into(),
    }
}

fn sendgrid_config(base: &str) -> SendgridConfig {
    SendgridConfig {
        api_key: Secret::new(KEY),
        from: "shop@example.com".into(),
        from_name: Some("Shop".into()),
        base_url: base.into(),
        resilience: testkit::resilience::quick(),
    }
}

fn sendgrid(server: &MockServer) -> ResilientEmail {
    EmailConfig::Sendgrid(sendgrid_config(&server.uri()))
        .build()
        .unwrap()
}

fn accepted() -> ResponseTemplate {
    ResponseTemplate::new(202).insert_header("X-Message-Id", "msg-1")
}

async fn count(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}

#[tokio::test]
async fn sendgrid_posts_v3_json_with_bearer_auth() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v3/mail/send"))
        .respond_with(accepted())
        .mount(&server)
        .await;
    let receipt = sendgrid(&server).send(&email()).await.unwrap();
    assert_eq!(receipt.id, "msg-1");
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        testkit::http::header(&requests[0], "authorization"),
        format!("Bearer {KEY}")
    );
    let body: serde_json::Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(
        body,
        json!({
            "personalizations": [{"to": [{"email": "ana@example.com", "name": "Ana"}]}],
            "from": {"email": "shop@example.com", "name": "Shop"},
            "subject": "Order ord_42 shipped",
            "content": [{"type": "text/plain", "value": "Your parcel is on its way."}],
            "custom_args": {"reference": "0190b6d2-evt"}
        })
    );
}

#[tokio::test]
async fn sendgrid_429_with_http_date_retry_after_then_success() {
    let server = MockServer::start().await;
    let at = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(2));
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", at.as_str()))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(accepted())
        .mount(&server)
        .await;
    let sender = sendgrid(&server);
    sender.send(&email()).await.unwrap();
    assert_eq!(count(&server).await, 2);
    assert_eq!(sender.resilience().stats().retry_after_waits, 1);
}

#[tokio::test]
async fn sendgrid_5xx_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(accepted())
        .mount(&server)
        .await;
    sendgrid(&server).send(&email()).await.unwrap();
    assert_eq!(count(&server).await, 2);
}

#[tokio::test]
async fn sendgrid_bad_address_is_permanent_and_sent_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"errors": [{
            "message": "Does not contain a valid address.",
            "field": "personalizations.0.to.0.email",
            "help": "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html"
        }]})))
        .mount(&server)
        .await;
    let err = sendgrid(&server).send(&email()).await.unwrap_err();
    assert_eq!(err.failure().unwrap().kind, FailureKind::InvalidRecipient);
    assert!(err.to_string().contains("Does not contain a valid address"));
    assert!(!err.is_retryable());
    assert_eq!(count(&server).await, 1);
}

#[tokio::test]
async fn sendgrid_timeouts_are_retried_until_attempts_are_spent() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(accepted().set_delay(Duration::from_secs(2)))
        .mount(&server)
        .await;
    let sender = sendgrid(&server);
    let err = sender.send(&email()).await.unwrap_err();
    assert_eq!(err.failure().unwrap().kind, FailureKind::Timeout, "{err}");
    assert!(err.is_retryable());
    assert_eq!(sender.resilience().stats().timeouts, 3);
    assert_eq!(count(&server).await, 3);
    let shown = format!("{err:?} {sender:?}");
    assert!(!shown.contains(KEY), "{shown}");
}

/// How the fake SMTP server answers `RCPT TO`, one reply per connection in turn (the last one
/// repeats).
struct FakeSmtp {
    port: u16,
    transcript: Arc<Mutex<Vec<String>>>,
}

async fn fake_smtp(rcpt_replies: Vec<&'static str>) -> FakeSmtp {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let transcript = Arc::new(Mutex::new(Vec::new()));
    let log = transcript.clone();
    tokio::spawn(async move {
        let mut connection = 0;
        while let Ok((stream, _)) = listener.accept().await {
            let reply = rcpt_replies[connection.min(rcpt_replies.len() - 1)];
            connection += 1;
            let log = log.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 fake ESMTP ready\r\n").await.unwrap();
                let mut in_data = false;
                while let Ok(Some(line)) = lines.next_line().await {
                    log.lock().unwrap().push(line.clone());
                    let answer = if in_data {
                        if line != "." {
                            continue;
                        }
                        in_data = false;
                        "250 2.0.0 OK queued as Q1"
                    } else {
                        let verb = line
                            .split([' ', ':'])
                            .next()
                            .unwrap_or("")
                            .to_ascii_uppercase();
                        match verb.as_str() {
                            "EHLO" | "HELO" => "250 fake",
                            "MAIL" => "250 2.1.0 OK",
                            "RCPT" => reply,
                            "DATA" => {
                                in_data = true;
                                "354 end data with <CR><LF>.<CR><LF>"
                            }
                            "QUIT" => {
                                write.write_all(b"221 2.0.0 bye\r\n").await.unwrap();
                                break;
                            }
                            _ => "250 OK",
                        }
                    };
                    write
                        .write_all(format!("{answer}\r\n").as_bytes())
                        .await
                        .unwrap();
                }
            });
        }
    });
    FakeSmtp { port, transcript }
}

fn smtp_config(port: u16) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        security: SmtpSecurity::None,
        username: None,
        password: None,
        from: "shop@example.com".into(),
        from_name: Some("Shop".into()),
        resilience: testkit::resilience::quick(),
    }
}

fn smtp(port: u16) -> ResilientEmail {
    EmailConfig::Smtp(smtp_config(port)).build().unwrap()
}

fn rcpt_count(fake: &FakeSmtp) -> usize {
    let t = fake.transcript.lock().unwrap();
    t.iter()
        .filter(|l| l.to_ascii_uppercase().starts_with("RCPT"))
        .count()
}

#[tokio::test]
async fn smtp_delivers_the_message() {
    let fake = fake_smtp(vec!["250 2.1.5 OK"]).await;
    let receipt = smtp(fake.port).send(&email()).await.unwrap();
    assert_eq!(receipt.id, "<0190b6d2-evt@orderbus.invalid>");
    let transcript = fake.transcript.lock().unwrap().join("\n");
    assert!(
        transcript.contains("MAIL FROM:<shop@example.com>"),
        "{transcript}"
    );
    assert!(
        transcript.contains("RCPT TO:<ana@example.com>"),
        "{transcript}"
    );
    assert!(
        transcript.contains("Subject: Order ord_42 shipped"),
        "{transcript}"
    );
    assert!(
        transcript.contains("From: \"Shop\" <shop@example.com>")
            || transcript.contains("From: Shop <shop@example.com>"),
        "{transcript}"
    );
    assert!(
        transcript.contains("Message-ID: <0190b6d2-evt@orderbus.invalid>"),
        "{transcript}"
    );
    assert!(
        transcript.contains("Your parcel is on its way."),
        "{transcript}"
    );
}

#[tokio::test]
async fn smtp_5xx_on_rcpt_is_permanent_and_tried_once() {
    let fake = fake_smtp(vec!["550 5.1.1 no such user"]).await;
    let sender = smtp(fake.port);
    let err = sender.send(&email()).await.unwrap_err();
    let failure = err.failure().unwrap();
    assert_eq!(failure.kind, FailureKind::InvalidRecipient, "{err}");
    assert_eq!(failure.status, Some(550));
    assert!(matches!(err, Error::Permanent { .. }));
    assert_eq!(rcpt_count(&fake), 1);
}

#[tokio::test]
async fn smtp_4xx_on_rcpt_is_retried() {
    let fake = fake_smtp(vec!["451 4.7.1 greylisted, try again", "250 2.1.5 OK"]).await;
    let sender = smtp(fake.port);
    sender.send(&email()).await.unwrap();
    assert_eq!(rcpt_count(&fake), 2);
    assert_eq!(sender.resilience().stats().retries, 1);
}

#[tokio::test]
async fn smtp_bad_address_fails_without_connecting() {
    let fake = fake_smtp(vec!["250 OK"]).await;
    let mut bad = email();
    bad.to = "not an address".into();
    let err = smtp(fake.port).send(&bad).await.unwrap_err();
    assert_eq!(err.failure().unwrap().kind, FailureKind::InvalidRecipient);
    assert!(fake.transcript.lock().unwrap().is_empty());
}

#[tokio::test]
async fn smtp_refused_connection_is_retryable_and_password_never_shows() {
    let mut cfg = smtp_config(9);
    cfg.username = Some("shop".into());
    cfg.password = Some(Secret::new(SMTP_PASSWORD));
    let direct = SmtpEmail::new(&cfg, Duration::from_secs(1)).unwrap();
    let err = direct.send(&email()).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    let shown = format!("{err} {err:?} {direct:?} {cfg:?}");
    assert!(!shown.contains(SMTP_PASSWORD), "{shown}");
}
