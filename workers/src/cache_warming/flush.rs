//! Writing a batch of updates to Redis: one pipeline of `EVALSHA` calls, one round trip. Each
//! flush task keeps its pooled connection between batches (taking one from the pool costs a
//! `PING`) and gives it back after an error.
//!
//! When Redis has lost the script (a restart, `SCRIPT FLUSH`), every `EVALSHA` of the pipeline
//! fails with `NOSCRIPT` before running; the batch is then sent again with `EVAL`, which runs
//! the body and caches it again, and later batches go back to `EVALSHA`. Sending an update twice
//! is harmless: the second one finds its own version stored and changes nothing.

use std::sync::Arc;

use deadpool_redis::{Connection, Pool};
use redis::{ErrorKind, RedisError, RedisResult, Script, ServerErrorKind};

use super::update::Update;
use crate::support::batch::{Flush, Outcome, fail_all};
use consumers::runtime::HandlerError;

/// One flush task's writer.
pub(crate) struct RedisFlusher {
    pub(crate) pool: Pool,
    pub(crate) conn: Option<Connection>,
    pub(crate) script: Arc<Script>,
    pub(crate) script_body: Arc<str>,
    pub(crate) ttl_secs: u64,
}

#[derive(Clone, Copy)]
enum Via {
    Sha,
    Body,
}

impl Flush for RedisFlusher {
    type Item = Update;

    async fn flush(&mut self, items: &[Update]) -> Vec<Outcome> {
        let mut results = match self.send(items, Via::Sha).await {
            Ok(r) => r,
            Err(e) => return fail_all(items, &e),
        };
        if results.iter().any(|r| r.as_ref().is_err_and(is_noscript)) {
            tracing::info!("redis lost the cache-warming script; sending the batch with EVAL");
            results = match self.send(items, Via::Body).await {
                Ok(r) => r,
                Err(e) => return fail_all(items, &e),
            };
        }
        results
            .into_iter()
            .map(|r| r.map(|_| ()).map_err(classify_item))
            .collect()
    }
}

impl RedisFlusher {
    /// Sends the pipeline; `Err` when the round trip itself failed (all items retryable).
    async fn send(
        &mut self,
        items: &[Update],
        how: Via,
    ) -> Result<Vec<RedisResult<i64>>, HandlerError> {
        let mut pipe = redis::pipe();
        // Per-command results: one bad entry (wrong type) must not fail its neighbours.
        pipe.ignore_errors();
        for u in items {
            let mut cmd = match how {
                Via::Sha => {
                    let mut c = redis::cmd("EVALSHA");
                    c.arg(self.script.get_hash());
                    c
                }
                Via::Body => {
                    let mut c = redis::cmd("EVAL");
                    c.arg(&*self.script_body);
                    c
                }
            };
            cmd.arg(1).arg(&u.key);
            u.push_args(&mut cmd, self.ttl_secs);
            pipe.add_command(cmd);
        }
        let conn =
            match &mut self.conn {
                Some(c) => c,
                None => self.conn.insert(self.pool.get().await.map_err(|e| {
                    HandlerError::retryable(format!("cache warming: redis pool: {e}"))
                })?),
            };
        match pipe.query_async::<Vec<RedisResult<i64>>>(conn).await {
            Ok(results) if results.len() == items.len() => Ok(results),
            Ok(results) => {
                self.conn = None;
                Err(HandlerError::retryable(format!(
                    "cache warming: {} replies to {} commands",
                    results.len(),
                    items.len()
                )))
            }
            Err(e) => {
                // The connection may be broken or out of step; let the pool check it.
                self.conn = None;
                Err(HandlerError::retryable(format!(
                    "cache warming: redis: {e}"
                )))
            }
        }
    }
}

fn is_noscript(e: &RedisError) -> bool {
    e.kind() == ErrorKind::Server(ServerErrorKind::NoScript)
}

/// A command's own error. The key holding another type (`WRONGTYPE`) or the script failing on
/// the data (`ERR`) will not change by trying again; anything else (loading, OOM, read-only
/// replica, ...) may.
fn classify_item(e: RedisError) -> HandlerError {
    let permanent = matches!(e.code(), Some("WRONGTYPE") | Some("ERR"));
    let reason = format!("cache warming: redis: {e}");
    if permanent {
        HandlerError::permanent(reason)
    } else {
        HandlerError::retryable(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_trouble_is_retryable_and_noscript_is_recognised() {
        let io = RedisError::from((ErrorKind::Io, "connection reset"));
        assert!(matches!(classify_item(io), HandlerError::Retryable(_)));
        let lost = RedisError::from((ErrorKind::Server(ServerErrorKind::NoScript), "no script"));
        assert!(is_noscript(&lost));
    }
}
