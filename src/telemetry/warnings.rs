//! A quiet screen for commands that draw progress bars (`orderbus demo`): instead of log lines
//! written between the bars, this layer counts every warning and error by where it came from and
//! what it says, and the command prints one line per distinct warning with its count once the
//! bars are done. librdkafka's own lines (COMMITFAIL, REQTMOUT, ...) arrive through the `log`
//! bridge under the target `librdkafka` and are counted by their facility, since their text
//! differs every time (broker, thread, timings).

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex, PoisonError};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// Warnings and errors seen so far; a clone shares the counts.
#[derive(Debug, Clone, Default)]
pub struct Warnings(Arc<Mutex<BTreeMap<Key, Seen>>>);

/// What makes two warnings the same one. `Level` sorts errors first.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    level: Level,
    target: String,
    message: String,
}

#[derive(Debug)]
struct Seen {
    count: u64,
    /// The first one's whole text and fields, as an example.
    first: String,
}

/// How much of the first warning's text a line shows.
const EXAMPLE_CHARS: usize = 200;

impl Warnings {
    /// Warnings and errors counted.
    pub fn total(&self) -> u64 {
        self.lock().values().map(|s| s.count).sum()
    }

    /// One line per distinct warning, errors first: count, level, target, message, and the
    /// first one's fields.
    pub fn lines(&self) -> Vec<String> {
        self.lock()
            .iter()
            .map(|(k, s)| {
                let line = format!("{:>7} {:<5} {}: {}", s.count, k.level, k.target, k.message);
                if s.first.is_empty() {
                    return line;
                }
                let example: String = s.first.chars().take(EXAMPLE_CHARS).collect();
                format!("{line}  (first: {example})")
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Key, Seen>> {
        // A panic elsewhere while counting leaves counts that are still worth printing.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<S: Subscriber> Layer<S> for Warnings {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let meta = event.metadata();
        if *meta.level() > Level::WARN {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let target = fields
            .log_target
            .take()
            .unwrap_or_else(|| meta.target().to_owned());
        let (kind, detail) = split(&target, &fields.message);
        let key = Key {
            level: *meta.level(),
            message: kind.to_owned(),
            target,
        };
        let first = format!("{detail}{}", fields.rest).trim().to_owned();
        self.lock()
            .entry(key)
            .or_insert(Seen { count: 0, first })
            .count += 1;
    }
}

/// What counts as the same warning, and what is particular to this one. A warning is its
/// message, except librdkafka's, whose message is `librdkafka: FACILITY [thread]: text` with
/// text that changes every time: it is its facility.
fn split<'a>(target: &str, message: &'a str) -> (&'a str, &'a str) {
    if target == "librdkafka" {
        let rest = message.strip_prefix("librdkafka: ").unwrap_or(message);
        return rest.split_once(' ').unwrap_or((rest, ""));
    }
    (message, "")
}

/// An event's message, the target a `log` record had, and its other fields as `k=v`.
#[derive(Default)]
struct Fields {
    message: String,
    log_target: Option<String>,
    rest: String,
}

impl Fields {
    fn put(&mut self, name: &str, text: String) {
        match name {
            "message" => self.message = text,
            "log.target" => self.log_target = Some(text),
            // The rest of what the `log` bridge adds (module, file, line) is noise here.
            n if n.starts_with("log.") => {}
            n => {
                let _ = write!(self.rest, " {n}={text}");
            }
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field.name(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field.name(), format!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[test]
    fn counts_warnings_and_errors_by_target_and_message_and_ignores_the_rest() {
        let warnings = Warnings::default();
        let subscriber = tracing_subscriber::registry().with(warnings.clone());
        tracing::subscriber::with_default(subscriber, || {
            for group in ["a", "b", "c"] {
                tracing::warn!(%group, "offset commit failed");
            }
            tracing::error!(code = 7, "cannot store");
            tracing::info!("partitions assigned");
            tracing::debug!("would send sms");
        });
        assert_eq!(warnings.total(), 4);
        let lines = warnings.lines();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].contains("ERROR") && lines[0].contains("cannot store  (first: code=7)"));
        assert!(lines[1].trim_start().starts_with("3 WARN"), "{lines:?}");
        assert!(
            lines[1].ends_with("offset commit failed  (first: group=a)"),
            "{lines:?}"
        );
    }

    #[test]
    fn librdkafka_lines_are_the_same_warning_when_their_facility_is() {
        let a = "librdkafka: REQTMOUT [thrd:127.0.0.1:4001/1]: 1 request(s) timed out";
        let b = "librdkafka: REQTMOUT [thrd:127.0.0.1:4002/2]: 3 request(s) timed out";
        assert_eq!(split("librdkafka", a).0, "REQTMOUT");
        assert_eq!(split("librdkafka", b).0, "REQTMOUT");
        assert_eq!(
            split("librdkafka", a).1,
            "[thrd:127.0.0.1:4001/1]: 1 request(s) timed out"
        );
        assert_eq!(split("orderbus", a), (a, ""));
    }
}
