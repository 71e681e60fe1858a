//! [`Resilient<S>`]: an adapter `S` with its provider's [`Resilience`] around it, the way tower's
//! `Retry<P, S>` wraps a service. It implements [`SmsSender`](crate::sms::SmsSender),
//! [`EmailSender`](crate::email::EmailSender) and [`PaymentGateway`](crate::payment::PaymentGateway)
//! whenever `S` does; those impls live beside their traits (`sms/`, `email/`, `payment/`), so this
//! module depends on the resilience policy only and nothing here names a provider kind.
//!
//! Workers hold the wrapped trait objects by the names [`ResilientSms`](crate::sms::ResilientSms),
//! [`ResilientEmail`](crate::email::ResilientEmail) and
//! [`ResilientPayments`](crate::payment::ResilientPayments), and watch the shared policy through
//! [`Resilient::resilience`] (`would_allow` to pause, the breaker's metrics).

use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::error::Result;
use crate::resilience::Resilience;

/// An adapter with resilience around it: every call goes through [`Resilience::call`].
#[derive(Debug, Clone)]
pub struct Resilient<S> {
    inner: S,
    policy: Arc<Resilience>,
}

impl<S> Resilient<S> {
    /// Wraps `inner` in `policy`.
    pub fn new(inner: S, policy: Arc<Resilience>) -> Self {
        Self { inner, policy }
    }

    /// The policy: breaker state and metrics, `would_allow`, counters.
    pub fn resilience(&self) -> &Arc<Resilience> {
        &self.policy
    }

    /// The bare adapter: one attempt per call, no retries.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Runs one adapter operation under the policy, `op` once per attempt, boxed the way the
    /// adapter traits return their futures. The only allocation is that box: the adapter's own
    /// future is awaited inside it, and `op` is a closure, so nothing is dispatched dynamically
    /// beyond what `S` itself does.
    pub(crate) fn call<'a, T, F, Fut>(&'a self, mut op: F) -> BoxFuture<'a, Result<T>>
    where
        S: Sync,
        F: FnMut(&'a S) -> Fut + Send + 'a,
        Fut: Future<Output = Result<T>> + Send + 'a,
        T: Send + 'a,
    {
        let inner = &self.inner;
        Box::pin(self.policy.call(move || op(inner)))
    }
}
