//! The outside world: SMS, e-mail and payment providers behind traits, each wrapped the same way
//! by [`resilience`] (circuit breaker, rate limit, timeout, retries with a budget).
//!
//! - [`sms`]: [`SmsSender`](sms::SmsSender); Twilio, Aliyun SendSms, and a log provider.
//! - [`email`]: [`EmailSender`](email::EmailSender); SendGrid v3, SMTP (lettre), and a log
//!   provider.
//! - [`payment`]: [`PaymentGateway`](payment::PaymentGateway); Stripe PaymentIntents and
//!   refunds with deterministic idempotency keys, and a log provider.
//! - [`resilience`]: [`Resilience`](resilience::Resilience), the one wrapper: breaker (SRE
//!   adaptive throttling), retry (backon), retry budget, rate limit (governor).
//! - [`resilient`]: [`Resilient<S>`](resilient::Resilient), any adapter with its resilience
//!   around it; `sms`, `email` and `payment` implement their traits for it and name what workers
//!   hold ([`ResilientSms`](sms::ResilientSms), [`ResilientEmail`](email::ResilientEmail),
//!   [`ResilientPayments`](payment::ResilientPayments)).
//! - [`metrics`]: what every call through a wrapper records in the process's metrics (calls
//!   by outcome, attempt latency, breaker state per provider), and the names.
//! - [`record`]: the bounded in-memory record the log providers keep.
//! - `http`: the one exchange every HTTP provider's call goes through (send, read the body,
//!   classify status and `Retry-After`), the provider parsing its bodies as two hooks; the client.
//! - [`error`]: the crate's one error type; every provider answer maps to retryable or
//!   permanent.
//!
//! Build a provider from config with `SmsConfig::build`, `EmailConfig::build` or
//! `PaymentConfig::build`: the result implements the trait with resilience around it and hands
//! out its [`Resilience`](resilience::Resilience) for breaker metrics and pausing.

pub mod email;
pub mod error;
mod http;
pub mod metrics;
pub mod payment;
pub mod record;
pub mod resilience;
pub mod resilient;
pub mod sms;

pub use error::{Error, Failure, FailureKind, Result};
pub use futures::future::BoxFuture;
