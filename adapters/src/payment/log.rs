//! The log payment provider: moves no money, logs a line per operation and keeps a bounded
//! record, answering with made-up ids, for the demo, tests and environments without a gateway.

use std::sync::atomic::{AtomicU64, Ordering};

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::payment::{Capture, Charge, Operation, PaymentGateway, PaymentResult, Refund};
use crate::record::Recorder;
use crate::resilience::ResilienceConfig;

/// `provider = "log"` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogPaymentConfig {
    /// Operations kept in memory (the newest).
    pub keep: usize,
    /// Whether a charge is captured at once (`succeeded`) or only authorised
    /// (`requires_capture`).
    pub capture_immediately: bool,
    /// Resilience (the log provider goes through the same wrapper as real ones).
    pub resilience: ResilienceConfig,
}

impl Default for LogPaymentConfig {
    fn default() -> Self {
        Self {
            keep: 1_000,
            capture_immediately: false,
            resilience: ResilienceConfig::default(),
        }
    }
}

/// One recorded operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRecord {
    /// What was asked.
    pub operation: Operation,
    /// The order.
    pub order_id: String,
    /// The payment the operation was about (made up for a charge).
    pub payment_id: String,
    /// Amount in minor units, when one was given.
    pub amount_minor: Option<i64>,
}

/// Records payment operations instead of performing them.
#[derive(Debug)]
pub struct LogPayments {
    record: Recorder<PaymentRecord>,
    next_id: AtomicU64,
    capture_immediately: bool,
}

impl LogPayments {
    /// A log provider keeping `cfg.keep` operations.
    pub fn new(cfg: &LogPaymentConfig) -> Self {
        Self {
            record: Recorder::new(cfg.keep),
            next_id: AtomicU64::new(1),
            capture_immediately: cfg.capture_immediately,
        }
    }

    /// What would have been done.
    pub fn record(&self) -> &Recorder<PaymentRecord> {
        &self.record
    }

    fn log(&self, rec: PaymentRecord, id: String, status: &str) -> Result<PaymentResult> {
        tracing::info!(
            provider = "log",
            operation = rec.operation.as_str(),
            order_id = %rec.order_id,
            payment_id = %rec.payment_id,
            amount_minor = ?rec.amount_minor,
            "would call payment gateway"
        );
        let amount_minor = rec.amount_minor;
        self.record.push(rec);
        Ok(PaymentResult {
            provider: "log",
            id,
            status: status.to_owned(),
            amount_minor,
        })
    }

    fn id(&self, prefix: &str) -> String {
        format!(
            "{prefix}_log_{}",
            self.next_id.fetch_add(1, Ordering::Relaxed)
        )
    }
}

impl PaymentGateway for LogPayments {
    fn provider(&self) -> &'static str {
        "log"
    }

    fn charge<'a>(&'a self, charge: &'a Charge) -> BoxFuture<'a, Result<PaymentResult>> {
        Box::pin(async move {
            let id = self.id("pi");
            let status = if self.capture_immediately {
                "succeeded"
            } else {
                "requires_capture"
            };
            let rec = PaymentRecord {
                operation: Operation::Charge,
                order_id: charge.order_id.clone(),
                payment_id: id.clone(),
                amount_minor: Some(charge.amount.amount_minor),
            };
            self.log(rec, id, status)
        })
    }

    fn capture<'a>(&'a self, capture: &'a Capture) -> BoxFuture<'a, Result<PaymentResult>> {
        Box::pin(async move {
            let rec = PaymentRecord {
                operation: Operation::Capture,
                order_id: capture.order_id.clone(),
                payment_id: capture.payment_id.clone(),
                amount_minor: capture.amount.map(|m| m.amount_minor),
            };
            self.log(rec, capture.payment_id.clone(), "succeeded")
        })
    }

    fn refund<'a>(&'a self, refund: &'a Refund) -> BoxFuture<'a, Result<PaymentResult>> {
        Box::pin(async move {
            let rec = PaymentRecord {
                operation: Operation::Refund,
                order_id: refund.order_id.clone(),
                payment_id: refund.payment_id.clone(),
                amount_minor: refund.amount.map(|m| m.amount_minor),
            };
            self.log(rec, self.id("re"), "succeeded")
        })
    }
}
