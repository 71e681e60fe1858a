//! Adapters with resilience around them: each wrapper implements the same trait as the adapter
//! it wraps, running every call through [`Resilience::call`], and hands out the shared
//! [`Resilience`] so a consumer group can watch the breaker (`would_allow`) and export metrics.

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::email::{Email, EmailReceipt, EmailSender};
use crate::error::Result;
use crate::payment::{Capture, Charge, PaymentGateway, PaymentResult, Refund};
use crate::resilience::Resilience;
use crate::sms::{Sms, SmsReceipt, SmsSender};

macro_rules! wrapper {
    ($(#[$doc:meta])* $name:ident, $trait:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name {
            inner: Arc<dyn $trait>,
            policy: Arc<Resilience>,
        }

        impl $name {
            /// Wraps `inner` in `policy`.
            pub fn new(inner: Arc<dyn $trait>, policy: Arc<Resilience>) -> Self {
                Self { inner, policy }
            }

            /// The policy: breaker state and metrics, `would_allow`, counters.
            pub fn resilience(&self) -> &Arc<Resilience> {
                &self.policy
            }

            /// The bare adapter.
            pub fn inner(&self) -> &Arc<dyn $trait> {
                &self.inner
            }
        }
    };
}

wrapper!(
    /// An [`SmsSender`] with resilience around it.
    ResilientSms,
    SmsSender
);
wrapper!(
    /// An [`EmailSender`] with resilience around it.
    ResilientEmail,
    EmailSender
);
wrapper!(
    /// A [`PaymentGateway`] with resilience around it.
    ResilientPayments,
    PaymentGateway
);

impl SmsSender for ResilientSms {
    fn provider(&self) -> &'static str {
        self.inner.provider()
    }

    fn send<'a>(&'a self, sms: &'a Sms) -> BoxFuture<'a, Result<SmsReceipt>> {
        Box::pin(self.policy.call(|| self.inner.send(sms)))
    }
}

impl EmailSender for ResilientEmail {
    fn provider(&self) -> &'static str {
        self.inner.provider()
    }

    fn send<'a>(&'a self, email: &'a Email) -> BoxFuture<'a, Result<EmailReceipt>> {
        Box::pin(self.policy.call(|| self.inner.send(email)))
    }
}

impl PaymentGateway for ResilientPayments {
    fn provider(&self) -> &'static str {
        self.inner.provider()
    }

    fn charge<'a>(&'a self, charge: &'a Charge) -> BoxFuture<'a, Result<PaymentResult>> {
        Box::pin(self.policy.call(|| self.inner.charge(charge)))
    }

    fn capture<'a>(&'a self, capture: &'a Capture) -> BoxFuture<'a, Result<PaymentResult>> {
        Box::pin(self.policy.call(|| self.inner.capture(capture)))
    }

    fn refund<'a>(&'a self, refund: &'a Refund) -> BoxFuture<'a, Result<PaymentResult>> {
        Box::pin(self.policy.call(|| self.inner.refund(refund)))
    }
}
