//! What happens to an event after one handler attempt, decided in one pure function so the
//! policy can be read (and tested) in one place: retry in-process, park on the retry topic for
//! the round's delay, dead-letter, or done.

use std::time::Duration;

use crate::runtime::config::GroupConfig;
use crate::runtime::handler::{Failure, HandlerError};

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The handler returned Ok.
    Handled,
    /// The handler returned an error.
    Failed(HandlerError),
    /// The handler panicked, with the panic's message.
    Panicked(String),
}

/// What to do next with the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Finished: its offset may be committed.
    Done,
    /// Try again in-process after the backoff.
    Retry,
    /// Park it on the retry topic for `delay`, as round `round` (1 for the first parking).
    Park {
        /// The round it is parked as.
        round: u32,
        /// How long it waits there.
        delay: Duration,
        /// The failure that parks it.
        failure: Failure,
    },
    /// It will not succeed: to the dead-letter topic with this reason.
    DeadLetter {
        /// `orderbus.dlq.reason`.
        code: String,
        /// `orderbus.dlq.error`.
        error: String,
    },
}

/// The step after `outcome`, the `attempt_in_round`-th attempt (from 1) of round `round` (0
/// before the event was ever parked). Retryable failures are retried `max_attempts` times per
/// round, then parked for `retry_delays_ms[round]`; after the last round, or with no rounds,
/// they are dead-lettered as `retries_exhausted`. Permanent failures are dead-lettered at once
/// with the handler's code; panics as `handler_panic`.
pub(crate) fn next_step(
    outcome: &Outcome,
    attempt_in_round: u32,
    round: u32,
    config: &GroupConfig,
) -> Step {
    match outcome {
        Outcome::Handled => Step::Done,
        Outcome::Panicked(text) => Step::DeadLetter {
            code: "handler_panic".to_owned(),
            error: text.clone(),
        },
        Outcome::Failed(HandlerError::Permanent(f)) => Step::DeadLetter {
            code: f.code.clone().into_owned(),
            error: f.reason.clone(),
        },
        Outcome::Failed(HandlerError::Retryable(f)) => {
            if attempt_in_round < config.max_attempts {
                return Step::Retry;
            }
            match config.retry_delays_ms.get(round as usize) {
                Some(&ms) => Step::Park {
                    round: round + 1,
                    delay: Duration::from_millis(ms),
                    failure: f.clone(),
                },
                None => Step::DeadLetter {
                    code: "retries_exhausted".to_owned(),
                    error: if f.code == "handler_retryable" {
                        f.reason.clone()
                    } else {
                        format!("{} ({})", f.reason, f.code)
                    },
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(max_attempts: u32, delays: Vec<u64>) -> GroupConfig {
        GroupConfig {
            max_attempts,
            retry_delays_ms: delays,
            ..GroupConfig::default()
        }
    }

    fn retryable() -> Outcome {
        Outcome::Failed(HandlerError::retryable("provider 503").with_code("provider_unavailable"))
    }

    #[test]
    fn success_is_done_whatever_the_attempt() {
        for attempt in 1..5 {
            assert_eq!(
                next_step(&Outcome::Handled, attempt, 2, &config(3, vec![10])),
                Step::Done
            );
        }
    }

    #[test]
    fn retryable_failures_retry_then_park_round_by_round_then_dead_letter() {
        let c = config(3, vec![1_000, 60_000]);
        assert_eq!(next_step(&retryable(), 1, 0, &c), Step::Retry);
        assert_eq!(next_step(&retryable(), 2, 0, &c), Step::Retry);
        let Step::Park {
            round,
            delay,
            failure,
        } = next_step(&retryable(), 3, 0, &c)
        else {
            panic!("round 0 spent: park");
        };
        assert_eq!((round, delay), (1, Duration::from_secs(1)));
        assert_eq!(failure.code, "provider_unavailable");
        assert!(matches!(
            next_step(&retryable(), 3, 1, &c),
            Step::Park { round: 2, delay, .. } if delay == Duration::from_secs(60)
        ));
        assert_eq!(
            next_step(&retryable(), 3, 2, &c),
            Step::DeadLetter {
                code: "retries_exhausted".into(),
                error: "provider 503 (provider_unavailable)".into()
            },
            "after the last round"
        );
    }

    #[test]
    fn without_rounds_spent_retries_dead_letter_at_once() {
        let c = config(1, Vec::new());
        assert!(matches!(
            next_step(&retryable(), 1, 0, &c),
            Step::DeadLetter { code, .. } if code == "retries_exhausted"
        ));
    }

    #[test]
    fn permanent_failures_and_panics_dead_letter_with_their_code() {
        let c = config(5, vec![1_000]);
        let declined =
            Outcome::Failed(HandlerError::permanent("card declined").with_code("card_declined"));
        assert_eq!(
            next_step(&declined, 1, 0, &c),
            Step::DeadLetter {
                code: "card_declined".into(),
                error: "card declined".into()
            }
        );
        let plain = Outcome::Failed(HandlerError::permanent("bad data"));
        assert!(matches!(
            next_step(&plain, 1, 0, &c),
            Step::DeadLetter { code, .. } if code == "handler_permanent"
        ));
        assert!(matches!(
            next_step(&Outcome::Panicked("boom".into()), 1, 0, &c),
            Step::DeadLetter { code, error } if code == "handler_panic" && error == "boom"
        ));
    }
}
