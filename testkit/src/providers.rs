//! Provider configs and messages for adapter tests against a local server (wiremock): each config
//! points at the server's base URL, uses the [`quick`](crate::resilience::quick) resilience
//! settings, and carries a secret of its own that tests look for in anything printed.

use adapters::email::{Email, SendgridConfig};
use adapters::payment::{CaptureMethod, Charge, StripeConfig};
use adapters::sms::{AliyunConfig, Sms, TwilioConfig};
use events::{Currency, Money, Secret};
use uuid::Uuid;

use crate::resilience::quick;

/// The Twilio account SID of [`twilio`] (part of its API paths).
pub const TWILIO_ACCOUNT: &str = "AC123";
/// The Twilio auth token of [`twilio`].
pub const TWILIO_TOKEN: &str = "tw-token-s3cr3t";
/// The Aliyun AccessKey secret of [`aliyun`].
pub const ALIYUN_SECRET: &str = "ali-secret-s3cr3t";
/// The SendGrid API key of [`sendgrid`].
pub const SENDGRID_KEY: &str = "SG.key-s3cr3t";
/// The Stripe secret key of [`stripe`].
pub const STRIPE_KEY: &str = "sk_test_s3cr3t";

/// Twilio sending from `+15005550006`.
pub fn twilio(base: &str) -> TwilioConfig {
    TwilioConfig {
        account_sid: TWILIO_ACCOUNT.into(),
        auth_token: Secret::new(TWILIO_TOKEN),
        from: Some("+15005550006".into()),
        messaging_service_sid: None,
        base_url: base.into(),
        resilience: quick(),
    }
}

/// Aliyun with AccessKey `LTAI-test`, sign name `OrderBus` and template `SMS_100`.
pub fn aliyun(base: &str) -> AliyunConfig {
    AliyunConfig {
        access_key_id: "LTAI-test".into(),
        access_key_secret: Secret::new(ALIYUN_SECRET),
        sign_name: "OrderBus".into(),
        template_code: Some("SMS_100".into()),
        body_param: "content".into(),
        region_id: "cn-hangzhou".into(),
        base_url: base.into(),
        resilience: quick(),
    }
}

/// SendGrid sending from `Shop <shop@example.com>`.
pub fn sendgrid(base: &str) -> SendgridConfig {
    SendgridConfig {
        api_key: Secret::new(SENDGRID_KEY),
        from: "shop@example.com".into(),
        from_name: Some("Shop".into()),
        base_url: base.into(),
        resilience: quick(),
    }
}

/// Stripe with manual capture and `Stripe-Version: 2024-06-20`.
pub fn stripe(base: &str) -> StripeConfig {
    StripeConfig {
        api_key: Secret::new(STRIPE_KEY),
        capture_method: CaptureMethod::Manual,
        api_version: Some("2024-06-20".into()),
        base_url: base.into(),
        resilience: quick(),
    }
}

/// A shipping notice to `+14155550100`, reference `evt-1`.
pub fn sms() -> Sms {
    Sms {
        to: "+14155550100".into(),
        body: "Your order ord_42 has shipped".into(),
        template: None,
        reference: "evt-1".into(),
    }
}

/// A shipping notice to `Ana <ana@example.com>`, reference `0190b6d2-evt`.
pub fn email() -> Email {
    Email {
        to: "ana@example.com".into(),
        to_name: Some("Ana".into()),
        subject: "Order ord_42 shipped".into(),
        text: "Your parcel is on its way.".into(),
        reference: "0190b6d2-evt".into(),
    }
}

/// `cents` US cents.
pub fn usd(cents: i64) -> Money {
    Money::new(cents, Currency::new("USD").unwrap())
}

/// A $19.99 card charge for `ord_42`, caused by event `event` (the idempotency key follows it).
pub fn charge(event: u128) -> Charge {
    Charge {
        order_id: "ord_42".into(),
        event_id: Uuid::from_u128(event),
        amount: usd(1999),
        payment_method: "pm_card_visa".into(),
        description: None,
    }
}
