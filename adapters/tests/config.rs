//! Provider configs: unknown keys refused, bad values named by their dotted field, secrets shown
//! as `***`, and the log providers built from config and called through the wrapper.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use adapters::Error;
use adapters::email::{Email, EmailConfig, EmailSender};
use adapters::metrics::Kind;
use adapters::payment::{
    Charge, LogPaymentConfig, LogPayments, PaymentConfig, PaymentGateway, ResilientPayments,
};
use adapters::resilience::Resilience;
use adapters::sms::{Sms, SmsConfig, SmsSender};
use events::{Currency, Money};
use serde_json::json;

#[test]
fn unknown_keys_are_refused() {
    let err = serde_json::from_value::<SmsConfig>(json!({
        "provider": "twilio", "account_sid": "AC1", "auth_token": "t", "from": "+1", "form": "+2"
    }))
    .unwrap_err();
    assert!(err.to_string().contains("unknown field `form`"), "{err}");
    let err = serde_json::from_value::<PaymentConfig>(json!({
        "provider": "stripe", "api_key": "sk", "resilience": {"retry": {"attempts": 3}}
    }))
    .unwrap_err();
    assert!(
        err.to_string().contains("unknown field `attempts`"),
        "{err}"
    );
}

#[test]
fn bad_values_name_their_field() {
    let cfg: SmsConfig = serde_json::from_value(json!({
        "provider": "twilio", "account_sid": "AC1", "auth_token": "t", "from": "+1",
        "resilience": {"breaker": {"k": 0.5}}
    }))
    .unwrap();
    let err = cfg.build().unwrap_err();
    assert!(
        matches!(&err, Error::Config { field, .. } if field == "sms.resilience.breaker.k"),
        "{err}"
    );
    let cfg: EmailConfig = serde_json::from_value(json!({
        "provider": "sendgrid", "api_key": "k", "from": "shop@example.com", "base_url": "ftp://x"
    }))
    .unwrap();
    let err = cfg.build().unwrap_err();
    assert!(
        matches!(&err, Error::Config { field, .. } if field == "email.base_url"),
        "{err}"
    );
    let cfg: SmsConfig = serde_json::from_value(json!({
        "provider": "twilio", "account_sid": "AC1", "auth_token": "t"
    }))
    .unwrap();
    assert!(cfg.build().unwrap_err().to_string().contains("sms.from"));
}

#[test]
fn secrets_print_as_stars() {
    let cfg: PaymentConfig = serde_json::from_value(json!({
        "provider": "stripe", "api_key": "sk_live_topsecret"
    }))
    .unwrap();
    let shown = format!("{cfg:?} {}", serde_json::to_string(&cfg).unwrap());
    assert!(!shown.contains("topsecret"), "{shown}");
    let built = cfg.build().unwrap();
    assert!(!format!("{built:?}").contains("topsecret"));
}

#[tokio::test]
async fn log_providers_build_from_config_and_record() {
    let sms = SmsConfig::Log(Default::default()).build().unwrap();
    let receipt = sms
        .send(&Sms {
            to: "+14155550100".into(),
            body: "hi".into(),
            template: None,
            reference: "e1".into(),
        })
        .await
        .unwrap();
    assert_eq!(receipt.provider, "log");
    let email = EmailConfig::Log(Default::default()).build().unwrap();
    email
        .send(&Email {
            to: "a@example.com".into(),
            to_name: None,
            subject: "s".into(),
            text: "t".into(),
            reference: "e1".into(),
        })
        .await
        .unwrap();

    // Kept as the concrete type, the record is readable behind the wrapper.
    let cfg = LogPaymentConfig {
        keep: 2,
        ..LogPaymentConfig::default()
    };
    let log = Arc::new(LogPayments::new(&cfg));
    let gateway = ResilientPayments::new(
        Kind::Payment,
        log.clone(),
        Arc::new(Resilience::new("log", &cfg.resilience).unwrap()),
    );
    for i in 0..3 {
        let result = gateway
            .charge(&Charge {
                order_id: format!("ord_{i}"),
                event_id: uuid::Uuid::from_u128(i),
                amount: Money::new(100, Currency::new("EUR").unwrap()),
                payment_method: "pm_card_visa".into(),
                description: None,
            })
            .await
            .unwrap();
        assert_eq!(result.status, "requires_capture");
    }
    assert_eq!(log.record().count(), 3);
    let kept: Vec<_> = log
        .record()
        .records()
        .into_iter()
        .map(|r| r.order_id)
        .collect();
    assert_eq!(kept, vec!["ord_1", "ord_2"]);
}
