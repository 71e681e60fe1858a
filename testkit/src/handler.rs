//! The handler `Context` a runtime would pass, for tests that call a worker directly.

use consumers::runtime::Context;
use tokio_util::sync::CancellationToken;

/// The context of attempt `attempt` at offset 0 of `order-events`, in group `group`.
pub fn context(group: &str, attempt: u32) -> Context {
    Context {
        group: group.into(),
        topic: "order-events".into(),
        partition: 0,
        offset: 0,
        attempt,
        replay: false,
        cancel: CancellationToken::new(),
    }
}

/// A first attempt: [`context`] with attempt 1.
pub fn ctx(group: &str) -> Context {
    context(group, 1)
}
