//! The `log` worker: records each event it is given as a structured log line and succeeds.
//! Idempotent by nature, so safe under redelivery; useful to watch a group work without any
//! third party, and as the smallest example of a [`Handler`].

use events::Envelope;

use consumers::runtime::{Context, Handler, HandlerError};

/// Logs every event at info level.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogWorker;

impl Handler for LogWorker {
    fn name(&self) -> &str {
        "log"
    }

    async fn handle(&self, event: &Envelope, ctx: &Context) -> Result<(), HandlerError> {
        tracing::info!(
            group = %ctx.group,
            event_id = %event.event_id,
            event_type = event.event_type().as_str(),
            order_id = %event.order_id,
            topic = %ctx.topic,
            partition = ctx.partition,
            offset = ctx.offset,
            attempt = ctx.attempt,
            "handled"
        );
        Ok(())
    }
}
