//! `orderbus bench publish`: sends N realistic events through orderbus's producer and the same
//! bytes through a bare rdkafka producer, alternating rounds in one process against one broker,
//! and prints events/s, delivery latency percentiles and peak RSS for each.

use std::time::{Duration, Instant};

use events::Envelope;
use producers::{EventProducer, TopicsConfig};

use super::PublishArgs;
use super::bare;
use super::broker::Broker;
use super::load::{Sample, Target, pace, samples};
use super::stats::{Outcome, peak_rss_kib, print_publish_heading, print_publish_row};
use crate::config::Config;

/// Events delivered and seconds taken, summed over the rounds.
#[derive(Default)]
struct Total {
    delivered: u64,
    seconds: f64,
}

impl Total {
    fn add(&mut self, o: &Outcome) {
        self.delivered += o.delivered;
        self.seconds += o.seconds;
    }

    fn rate(&self) -> f64 {
        self.delivered as f64 / self.seconds
    }
}

/// The three variants' totals; `raw` stays empty without `--raw`.
#[derive(Default)]
struct Totals {
    bare: Total,
    orderbus: Total,
    raw: Total,
}

pub async fn run(config: &Config, args: &PublishArgs) -> anyhow::Result<()> {
    let broker = Broker::open(config, args.embedded)?;
    let (events, samples) = samples(config, args.events)?;
    let bytes: usize = samples.iter().map(|s| s.payload.len()).sum();
    println!(
        "broker {}; {} events per run (avg {} bytes), {} rounds, {}",
        broker.kafka().bootstrap_servers,
        args.events,
        bytes / samples.len().max(1),
        args.rounds,
        args.rate
            .map_or("unpaced".to_owned(), |r| format!("paced at {r}/s"))
    );
    print_publish_heading();
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let mut totals = Totals::default();
    for round in 1..=args.rounds {
        let round = Round {
            broker: &broker,
            config,
            args,
            run_id: &run_id[..8],
            round,
        };
        round.run(&events, &samples, &mut totals).await?;
    }
    let (bare_rate, ours_rate) = (totals.bare.rate(), totals.orderbus.rate());
    println!(
        "\nall rounds: bare {bare_rate:.0} events/s, orderbus {ours_rate:.0} events/s, ratio {:.2}x",
        ours_rate / bare_rate
    );
    if args.raw {
        let raw_rate = totals.raw.rate();
        println!(
            "ob-raw (orderbus producer, pre-encoded bytes) {raw_rate:.0} events/s, ratio {:.2}x",
            raw_rate / bare_rate
        );
    }
    println!("peak RSS: {} MiB", peak_rss_kib().unwrap_or(0) / 1024);
    Ok(())
}

/// One round: each variant in turn on topics of its own.
struct Round<'a> {
    broker: &'a Broker,
    config: &'a Config,
    args: &'a PublishArgs,
    run_id: &'a str,
    round: usize,
}

impl Round<'_> {
    async fn run(
        &self,
        events: &[Envelope],
        samples: &[Sample],
        totals: &mut Totals,
    ) -> anyhow::Result<()> {
        let to_bare = self.target("bare");
        let to_ours = self.target("orderbus");
        let to_raw = self.target("raw");
        let names = [&to_bare, &to_ours, &to_raw].into_iter().flat_map(|t| {
            [
                t.topics.order_events.clone(),
                t.topics.payment_events.clone(),
            ]
        });
        self.broker
            .create_topics(names, self.args.partitions)
            .await?;
        let bare = bare::publish(&to_bare, samples).await?;
        print_publish_row(self.round, "bare", &bare);
        let ours = run_orderbus(&to_ours, events).await?;
        print_publish_row(self.round, "orderbus", &ours);
        if self.args.raw {
            let raw = run_raw(&to_raw, samples).await?;
            print_publish_row(self.round, "ob-raw", &raw);
            totals.raw.add(&raw);
        }
        totals.bare.add(&bare);
        totals.orderbus.add(&ours);
        Ok(())
    }

    /// Each variant gets its own order and payment topics, routed the same way.
    fn target(&self, variant: &str) -> Target<'_> {
        let (run_id, round) = (self.run_id, self.round);
        let topics = TopicsConfig {
            order_events: format!("bench-{variant}-{run_id}-{round}-orders"),
            payment_events: format!("bench-{variant}-{run_id}-{round}-payments"),
            ..self.config.topics.clone()
        };
        Target {
            kafka: self.broker.kafka(),
            config: self.config,
            topics,
            rate: self.args.rate,
        }
    }
}

async fn run_orderbus(target: &Target<'_>, events: &[Envelope]) -> anyhow::Result<Outcome> {
    let producer = target.orderbus_producer()?;
    // Warm-up, untimed, as for the bare producer: one event per topic, awaited.
    let order = events
        .iter()
        .find(|e| e.event_type().stream() == events::Stream::Order);
    let payment = events
        .iter()
        .find(|e| e.event_type().stream() == events::Stream::Payment);
    for e in order.into_iter().chain(payment) {
        producer.publish(e).await?;
    }
    timed(&producer, events.len(), target.rate, async |i| {
        // The high-throughput path: no await per event; every outcome is counted by the
        // producer and failures are kept, so dropping the pending delivery loses nothing.
        drop(producer.enqueue(&events[i], None).await?);
        Ok(())
    })
    .await
}

async fn run_raw(target: &Target<'_>, samples: &[Sample]) -> anyhow::Result<Outcome> {
    let producer = target.orderbus_producer()?;
    fn raw<'a>(topics: &'a TopicsConfig, s: &'a Sample) -> producers::RawRecord<'a> {
        producers::RawRecord {
            topic: s.topic(topics),
            key: s.key.as_bytes(),
            payload: &s.payload,
            headers: s.headers().to_vec(),
            partition: None,
            timestamp_ms: None,
        }
    }
    let record = |s| raw(&target.topics, s);
    for s in [events::Stream::Order, events::Stream::Payment] {
        if let Some(sample) = samples.iter().find(|x| x.stream == s) {
            producer
                .enqueue_raw(record(sample), uuid::Uuid::nil())
                .await?
                .await?;
        }
    }
    timed(&producer, samples.len(), target.rate, async |i| {
        drop(
            producer
                .enqueue_raw(record(&samples[i]), uuid::Uuid::nil())
                .await?,
        );
        Ok(())
    })
    .await
}

/// Sends `n` messages with `send`, then flushes; counts and latency exclude what the producer
/// did before (the warm-up).
async fn timed(
    producer: &EventProducer,
    n: usize,
    rate: Option<u64>,
    mut send: impl AsyncFnMut(usize) -> anyhow::Result<()>,
) -> anyhow::Result<Outcome> {
    let before = producer.stats();
    let latency_before = producer.delivery_latency_us();
    let start = Instant::now();
    for i in 0..n {
        pace(start, i, rate).await;
        send(i).await?;
    }
    producer.flush(Duration::from_secs(120)).await?;
    let seconds = start.elapsed().as_secs_f64();
    let stats = producer.stats();
    let mut latency_us = producer.delivery_latency_us();
    latency_us.subtract(&latency_before)?;
    Ok(Outcome {
        seconds,
        delivered: stats.delivered - before.delivered,
        failed: stats.failed - before.failed,
        latency_us,
    })
}
