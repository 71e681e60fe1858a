//! Overhead of the resilience wrapper on the hot path (breaker closed, success, no retry):
//! a bare no-op async call against the same call through `Resilience::call`, on a
//! current-thread tokio runtime, timed in a tight loop per sample (`iter_custom`) so the
//! runtime's `block_on` cost is not part of the figure. `resilient` is what workers call: a
//! no-op SMS provider through `Resilient<S>` (the trait's boxed futures, and the metrics: attempt
//! latency, outcome, breaker gauge), with no recorder installed and with one (`_recorded`, the
//! `metrics-util` debugging recorder, whose handles are atomics like the Prometheus ones).
//!
//! Run: `cargo bench -p adapters --bench resilience`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use std::sync::Arc;

use adapters::metrics::Kind;
use adapters::resilience::{RateLimitConfig, Resilience, ResilienceConfig};
use adapters::resilient::Resilient;
use adapters::sms::{Sms, SmsReceipt, SmsSender};
use adapters::{BoxFuture, Error, Result};
use criterion::{Criterion, criterion_group, criterion_main};
use metrics_util::debugging::DebuggingRecorder;

#[inline(never)]
async fn noop(x: u64) -> Result<u64> {
    Ok(black_box(x))
}

/// An SMS provider that takes every message at once.
#[derive(Debug)]
struct AtOnce;

impl SmsSender for AtOnce {
    fn provider(&self) -> &'static str {
        "bench"
    }

    fn send<'a>(&'a self, _sms: &'a Sms) -> BoxFuture<'a, Result<SmsReceipt>> {
        Box::pin(async {
            Ok(SmsReceipt {
                provider: "bench",
                id: String::new(),
            })
        })
    }
}

fn resilient() -> Resilient<AtOnce> {
    let policy = Resilience::new("bench", &ResilienceConfig::default()).expect("config");
    Resilient::new(Kind::Sms, AtOnce, Arc::new(policy))
}

/// Times `iters` sends through `client` on `rt`.
fn sends(rt: &tokio::runtime::Runtime, client: &Resilient<AtOnce>, iters: u64) -> Duration {
    let sms = Sms {
        to: "+14155550100".into(),
        body: String::new(),
        template: None,
        reference: String::new(),
    };
    rt.block_on(async {
        let start = Instant::now();
        for _ in 0..iters {
            black_box(client.send(&sms).await.ok());
        }
        start.elapsed()
    })
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let plain = Resilience::new("bench", &ResilienceConfig::default()).expect("config");
    let limited = Resilience::new(
        "bench",
        &ResilienceConfig {
            rate_limit: Some(RateLimitConfig {
                per_second: u32::MAX,
                burst: None,
            }),
            ..ResilienceConfig::default()
        },
    )
    .expect("config");

    let mut group = c.benchmark_group("resilience");
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("bare", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    black_box(noop(i).await.ok());
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("wrapped", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    black_box(plain.call(|| noop(i)).await.ok());
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("wrapped_rate_limited", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    black_box(limited.call(|| noop(i)).await.ok());
                }
                start.elapsed()
            })
        })
    });
    let client = resilient();
    group.bench_function("resilient", |b| {
        b.iter_custom(|iters| sends(&rt, &client, iters))
    });
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let recorded = metrics::with_local_recorder(&recorder, resilient);
    group.bench_function("resilient_recorded", |b| {
        b.iter_custom(|iters| {
            // Drained outside the timing, as the exporter's upkeep would: the samples would
            // otherwise pile up for the whole run.
            drop(snapshotter.snapshot());
            sends(&rt, &recorded, iters)
        })
    });
    group.finish();

    // The pieces of the hot path, to see where the overhead goes.
    let mut parts = c.benchmark_group("resilience_parts");
    parts.measurement_time(Duration::from_secs(2));
    parts.bench_function("tokio_instant_now", |b| {
        b.iter(|| black_box(tokio::time::Instant::now()))
    });
    let now = tokio::time::Instant::now();
    parts.bench_function("breaker_allow", |b| {
        b.iter(|| black_box(plain.breaker().allow_at(black_box(now))))
    });
    parts.bench_function("breaker_record", |b| {
        b.iter(|| plain.breaker().record_at(black_box(now), true))
    });
    parts.bench_function("budget_deposit", |b| {
        b.iter(|| plain.budget().deposit_at(black_box(now)))
    });
    parts.bench_function("manual_sequence", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    let now = tokio::time::Instant::now();
                    if plain.breaker().allow_at(now) {
                        plain.budget().deposit_at(now);
                        black_box(noop(i).await.ok());
                        plain.breaker().record_at(now, true);
                    }
                }
                start.elapsed()
            })
        })
    });
    parts.finish();
    // Keep the error type linked in so the comparison includes its size on the stack.
    black_box(std::mem::size_of::<Error>());
}

criterion_group!(benches, bench);
criterion_main!(benches);
