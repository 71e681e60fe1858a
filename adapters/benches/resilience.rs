//! Overhead of the resilience wrapper on the hot path (breaker closed, success, no retry):
//! a bare no-op async call against the same call through `Resilience::call`, on a
//! current-thread tokio runtime, timed in a tight loop per sample (`iter_custom`) so the
//! runtime's `block_on` cost is not part of the figure.
//!
//! Run: `cargo bench -p adapters --bench resilience`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use adapters::resilience::{RateLimitConfig, Resilience, ResilienceConfig};
use adapters::{Error, Result};
use criterion::{Criterion, criterion_group, criterion_main};

#[inline(never)]
async fn noop(x: u64) -> Result<u64> {
    Ok(black_box(x))
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
