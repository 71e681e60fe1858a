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
//!
//! Every call is also recorded in the process's metrics ([`metrics`](crate::metrics)): its
//! outcome, each attempt's latency, and the breaker as it found it. The wrapper knows its
//! provider's [`Kind`] only as a label given when it is built.

use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::error::Result;
use crate::metrics::{CallMetrics, Kind};
use crate::resilience::Resilience;

/// An adapter with resilience around it: every call goes through [`Resilience::call`] and is
/// recorded in the metrics.
#[derive(Debug, Clone)]
pub struct Resilient<S> {
    inner: S,
    policy: Arc<Resilience>,
    /// Shared by clones, so the breaker's transitions are logged once for all of them.
    metrics: Arc<CallMetrics>,
}

impl<S> Resilient<S> {
    /// Wraps `inner`, a provider of `kind`, in `policy`. Its metrics handles are made now, in
    /// the recorder installed now, labelled with the policy's provider.
    pub fn new(kind: Kind, inner: S, policy: Arc<Resilience>) -> Self {
        let metrics = Arc::new(CallMetrics::new(policy.provider(), kind));
        Self {
            inner,
            policy,
            metrics,
        }
    }

    /// The policy: breaker state and metrics, `would_allow`, counters.
    pub fn resilience(&self) -> &Arc<Resilience> {
        &self.policy
    }

    /// The bare adapter: one attempt per call, no retries.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Runs one adapter operation under the policy, `op` once per attempt (each timed), boxed
    /// the way the adapter traits return their futures, and records the call's outcome and the
    /// breaker as it found it. The only allocation is that box: the adapter's own future is
    /// awaited inside it, and `op` is a closure, so nothing is dispatched dynamically beyond
    /// what `S` itself does.
    pub(crate) fn call<'a, T, F, Fut>(&'a self, mut op: F) -> BoxFuture<'a, Result<T>>
    where
        S: Sync,
        F: FnMut(&'a S) -> Fut + Send + 'a,
        Fut: Future<Output = Result<T>> + Send + 'a,
        T: Send + 'a,
    {
        let inner = &self.inner;
        let metrics = &*self.metrics;
        Box::pin(async move {
            let result = self.policy.call(move || metrics.timed(op(inner))).await;
            metrics.finished(&result, self.policy.breaker());
            result
        })
    }
}
