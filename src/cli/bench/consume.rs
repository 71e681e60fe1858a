//! `orderbus bench consume`: pre-produces N events (order and payment events, on a topic and its
//! `-payments` twin), then reads them with a bare rdkafka consumer and with the orderbus runtime
//! (no-op handler or `--worker`, ordering on), each in its own group; prints events/s and peak
//! RSS of each phase. With `--rate` the measuring is `latency`'s; the set-up and the readers are
//! shared from here.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::Context as _;
use consumers::runtime::{
    ConsumerGroup, Context, GroupConfig, Handler, HandlerError, dead_letter_topic, retry_topic,
};
use events::Envelope;
use producers::{EventProducer, KafkaConfig};
use tokio::sync::watch;
use workers::{AnyWorker, WorkerKind};

use super::ConsumeArgs;
use super::bare;
use super::broker::Broker;
use super::load::{payments_of, produce};
use super::stats::{Sink, print_consume_heading, print_consume_row, reset_peak_rss};
use crate::config::Config;

/// What every variant of one `bench consume` run shares.
pub struct Session<'a> {
    pub config: &'a Config,
    pub args: &'a ConsumeArgs,
    broker: Broker,
    id: String,
}

impl<'a> Session<'a> {
    /// Opens the broker and prints the run's heading.
    pub fn start(config: &'a Config, args: &'a ConsumeArgs) -> anyhow::Result<Self> {
        let broker = Broker::open(config, args.embedded)?;
        println!(
            "broker {}; {} events, {} partitions, orderbus processors={} (ordering per order on), worker {}",
            broker.kafka().bootstrap_servers,
            args.events,
            args.partitions,
            args.processors,
            args.worker.map_or("none (no-op)", WorkerKind::as_str)
        );
        print_consume_heading();
        let id = uuid::Uuid::new_v4().simple().to_string();
        Ok(Self {
            config,
            args,
            broker,
            id,
        })
    }

    pub fn kafka(&self) -> &KafkaConfig {
        self.broker.kafka()
    }

    /// The variants to run: both, or `--only`'s.
    pub fn variants(&self) -> Vec<&'static str> {
        ["bare", "orderbus"]
            .into_iter()
            .filter(|v| self.args.only.as_deref().is_none_or(|o| o == *v))
            .collect()
    }

    /// Creates a new topic (and its payments twin) for `variant`, or for all (`shared`).
    pub async fn make_topic(&self, variant: &str) -> anyhow::Result<String> {
        let name = format!("bench-consume-{}-{variant}", &self.id[..8]);
        self.broker
            .create_topics([name.clone(), payments_of(&name)], self.args.partitions)
            .await?;
        Ok(name)
    }

    /// A fresh group name for `variant`, with its dead-letter and retry topics on the embedded
    /// broker.
    pub fn group_for(&self, variant: &str) -> anyhow::Result<String> {
        let group = format!("bench-{variant}-{}", uuid::Uuid::new_v4().simple());
        self.broker.create_if_embedded(
            [dead_letter_topic(&group), retry_topic(&group)],
            self.args.partitions,
        )?;
        Ok(group)
    }

    /// A reader of `events` events of `topic` in `group`, counting in `sink`.
    pub fn reader(&self, group: String, topic: &str, events: u64, sink: &Arc<Sink>) -> Reader {
        Reader {
            group,
            kafka: self.kafka().clone(),
            config: self.config.clone(),
            topic: topic.to_owned(),
            events,
            processors: self.args.processors,
            worker: self.args.worker,
            sink: Arc::clone(sink),
        }
    }
}

/// Without `--rate`: fills one topic (unless `--topic` names one), then each variant reads all
/// of it as fast as it can.
pub async fn run(session: &Session<'_>) -> anyhow::Result<()> {
    let (config, args, kafka) = (session.config, session.args, session.kafka());
    let topic = match &args.topic {
        Some(t) => t.clone(),
        None => {
            let topic = session.make_topic("shared").await?;
            produce(kafka, config, &topic, args.events, None).await?;
            topic
        }
    };
    if args.produce_only {
        println!("filled {topic}");
        return Ok(());
    }
    for variant in session.variants() {
        reset_peak_rss();
        let (sink, rx) = Sink::new()?;
        let group = session.group_for(variant)?;
        let reader = session.reader(group, &topic, args.events, &sink);
        let started = reader.read(variant, rx).await?;
        print_consume_row(variant, &sink, 0, started.elapsed(), false);
    }
    Ok(())
}

/// One variant's read of the benchmark topic: what it reads, and where it counts.
pub struct Reader {
    group: String,
    kafka: KafkaConfig,
    config: Config,
    topic: String,
    /// Events to read before returning.
    events: u64,
    processors: usize,
    worker: Option<WorkerKind>,
    sink: Arc<Sink>,
}

impl Reader {
    /// Reads `events` events as `variant` (`bare` or `orderbus`); returns when the first one
    /// arrived.
    pub async fn read(&self, variant: &str, rx: watch::Receiver<u64>) -> anyhow::Result<Instant> {
        if variant == "bare" {
            bare::consume(
                &self.kafka,
                &self.group,
                &self.topic,
                self.events,
                &self.sink,
            )
            .await
        } else {
            self.orderbus(rx).await
        }
    }

    async fn orderbus(&self, rx: watch::Receiver<u64>) -> anyhow::Result<Instant> {
        let group_config = GroupConfig {
            topics: vec![self.topic.clone(), payments_of(&self.topic)],
            processors: self.processors,
            // Enough held events that the handler-free runtime is never the one waiting.
            max_in_flight: 10_000,
            session_timeout_ms: 6_000,
            ..GroupConfig::default()
        };
        let config = &self.config;
        let producer = EventProducer::new(&self.kafka, &config.producer, &config.topics)?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let id = &id[..12];
        let worker = match self.worker {
            Some(name) => Some(bench_worker(config, name, id, &producer).await?),
            None => None,
        };
        let analytics = match &worker {
            Some(AnyWorker::Analytics(a)) => Some(a.pool().clone()),
            Some(AnyWorker::Notification(n)) => Some(n.dedup().pool().clone()),
            _ => None,
        };
        let handler = Measured {
            sink: Arc::clone(&self.sink),
            worker,
        };
        let runtime = ConsumerGroup::new(
            &self.group,
            group_config,
            self.kafka.clone(),
            &config.topics,
            handler,
            producer,
        )?;
        let started = self.run_group(runtime, rx).await?;
        if let Some(pool) = analytics {
            workers::support::postgres::drop_schema(&pool, &format!("bench_{id}")).await?;
        }
        Ok(started)
    }

    /// Runs `runtime` until the sink counted every event; returns when the first one arrived.
    async fn run_group(
        &self,
        runtime: ConsumerGroup<Measured>,
        mut rx: watch::Receiver<u64>,
    ) -> anyhow::Result<Instant> {
        let stats = runtime.stats();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let run = tokio::spawn(runtime.run(async move {
            let _ = stop_rx.await;
        }));
        let first = tokio::spawn(async move {
            while stats.received.load(Ordering::Relaxed) == 0 {
                tokio::time::sleep(std::time::Duration::from_micros(200)).await;
            }
            Instant::now()
        });
        self.sink.wait(&mut rx, self.events).await;
        let _ = stop_tx.send(());
        run.await??;
        Ok(first.await?)
    }
}

/// The benchmark's handler: records each event in the sink after `worker` (if any) took it.
struct Measured {
    sink: Arc<Sink>,
    worker: Option<AnyWorker>,
}

impl Handler for Measured {
    fn name(&self) -> &str {
        self.worker.as_ref().map_or("no-op", Handler::name)
    }

    async fn handle(&self, event: &Envelope, ctx: &Context) -> Result<(), HandlerError> {
        if let Some(w) = &self.worker {
            w.handle(event, ctx).await?;
        }
        self.sink
            .record((event.occurred_at.unix_timestamp_nanos() / 1_000) as i64);
        Ok(())
    }
}

/// The worker to measure, built so that its data stays apart and goes away.
async fn bench_worker(
    config: &Config,
    name: WorkerKind,
    id: &str,
    producer: &EventProducer,
) -> anyhow::Result<AnyWorker> {
    let mut workers = config.workers.clone().with_env_defaults();
    workers.analytics.schema = Some(format!("bench_{id}"));
    workers.notification.schema = Some(format!("bench_{id}"));
    workers.cache_warming.key_prefix = format!("bench:{id}:order:");
    workers.cache_warming.ttl_secs = 600;
    let worker = workers
        .build(name, Some(producer))
        .await
        .with_context(|| format!("starting worker `{name}`"))?;
    Ok(worker)
}
