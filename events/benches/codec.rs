//! Encode + validate and decode cost per event type (goal: under 2 µs each).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use events::{EventType, samples::Generator};
use std::hint::black_box;

fn codec(c: &mut Criterion) {
    let mut generator = Generator::new(42, "bench");
    let mut encode = c.benchmark_group("encode_validate");
    for t in EventType::ALL {
        let event = generator.one(t, 1);
        encode.throughput(Throughput::Elements(1));
        encode.bench_with_input(BenchmarkId::from_parameter(t), &event, |b, e| {
            b.iter(|| black_box(e).encode())
        });
    }
    encode.finish();
    let mut decode = c.benchmark_group("decode");
    for t in EventType::ALL {
        let bytes = generator.one(t, 1).encode().expect("valid sample");
        decode.throughput(Throughput::Elements(1));
        decode.bench_with_input(BenchmarkId::from_parameter(t), &bytes, |b, bytes| {
            b.iter(|| events::decode(black_box(bytes)))
        });
    }
    decode.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
