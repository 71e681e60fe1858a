//! Reason codes for a provider call that failed, shared by the workers that call providers
//! (notification, payment). A code is what a failure's `HandlerError` carries: for a permanent
//! failure it becomes the dead letter's `orderbus.dlq.reason`; for a retryable one it is logged
//! when the event is parked and kept in the dead letter's error once the retry rounds run out
//! (the reason is then `retries_exhausted`). Each worker's `codes` module lists every code it
//! gives, these included.

use adapters::{Error as AdapterError, FailureKind};

/// The provider's circuit breaker sheds calls (retryable: the event waits on the retry topic).
pub const BREAKER_OPEN: &str = "breaker_open";
/// The provider failed or asked us to slow down: 5xx, 429, a refused connection, the retry
/// budget spent (retryable).
pub const PROVIDER_UNAVAILABLE: &str = "provider_unavailable";
/// No answer in time: the provider may have acted on the request.
pub const OUTCOME_UNKNOWN: &str = "outcome_unknown";
/// The provider refused our credentials (401/403, an unknown Aliyun key, SMTP 530/535): a
/// configuration problem; fix it, then redrive.
pub const PROVIDER_AUTH: &str = "provider_auth";
/// The provider refused the request for good for a reason no more specific code names (a
/// request it calls malformed, an answer we could not read).
pub const PROVIDER_REJECTED: &str = "provider_rejected";

/// The code of a failed provider call, as far as it says nothing about the recipient or the
/// card (which only the worker can name).
pub fn of(error: &AdapterError) -> &'static str {
    if matches!(error, AdapterError::BreakerOpen { .. }) {
        return BREAKER_OPEN;
    }
    match error.failure().map(|f| f.kind) {
        Some(FailureKind::Timeout) => OUTCOME_UNKNOWN,
        _ if error.is_retryable() => PROVIDER_UNAVAILABLE,
        Some(FailureKind::Unauthorized) => PROVIDER_AUTH,
        _ => PROVIDER_REJECTED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use adapters::Failure;

    #[test]
    fn codes_follow_the_failure_kinds() {
        let f = |kind| Failure::new(kind, "x");
        let shed = AdapterError::BreakerOpen { provider: "p" };
        assert_eq!(of(&shed), BREAKER_OPEN);
        let timeout = AdapterError::retryable("p", f(FailureKind::Timeout));
        assert_eq!(of(&timeout), OUTCOME_UNKNOWN);
        let deadline = AdapterError::DeadlineExceeded {
            provider: "p",
            attempts: 3,
            last: Some(Box::new(timeout)),
        };
        assert_eq!(of(&deadline), OUTCOME_UNKNOWN);
        let server = AdapterError::retryable("p", f(FailureKind::Server));
        assert_eq!(of(&server), PROVIDER_UNAVAILABLE);
        let auth = AdapterError::permanent("p", f(FailureKind::Unauthorized));
        assert_eq!(of(&auth), PROVIDER_AUTH);
        let rejected = AdapterError::permanent("p", f(FailureKind::Rejected));
        assert_eq!(of(&rejected), PROVIDER_REJECTED);
    }
}
