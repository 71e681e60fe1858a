//! SendGrid's v3 request shape and key, and SMTP against a tiny fake SMTP server written here:
//! message content, retryable and permanent replies, and that credentials never show. What
//! SendGrid does like every HTTP provider (retries, `Retry-After`, permanent refusals, timeouts)
//! is in the contract suite (`tests/contract`).

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use adapters::email::{
    EmailConfig, EmailSender, ResilientEmail, SmtpConfig, SmtpEmail, SmtpSecurity,
};
use adapters::{Error, FailureKind};
use events::Secret;
use serde_json::json;
use testkit::providers::{self, SENDGRID_KEY, email};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SMTP_PASSWORD: &str = "smtp-pa55word";

fn sendgrid(server: &MockServer) -> ResilientEmail {
    EmailConfig::Sendgrid(providers::sendgrid(&server.uri()))
        .build()
        .unwrap()
}

#[tokio::test]
async fn sendgrid_posts_v3_json_with_bearer_auth() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v3/mail/send"))
        .respond_with(ResponseTemplate::new(202).insert_header("X-Message-Id", "msg-1"))
        .mount(&server)
        .await;
    let receipt = sendgrid(&server).send(&email()).await.unwrap();
    assert_eq!(receipt.id, "msg-1");
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        testkit::http::header(&requests[0], "authorization"),
        format!("Bearer {SENDGRID_KEY}")
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
async fn sendgrid_key_never_shows() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"errors": [{
            "message": "The provided authorization grant is invalid, expired, or revoked",
            "field": null, "help": null
        }]})))
        .mount(&server)
        .await;
    let sender = sendgrid(&server);
    let err = sender.send(&email()).await.unwrap_err();
    let cfg = providers::sendgrid("http://x");
    let shown = format!(
        "{err} {err:?} {sender:?} {cfg:?} {}",
        serde_json::to_string(&cfg).unwrap()
    );
    assert!(!shown.contains(SENDGRID_KEY), "{shown}");
    assert!(shown.contains("***"));
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
