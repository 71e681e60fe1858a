//! `orderbus bench consume --rate`: for each variant, publishes at a fixed rate while that
//! variant consumes, and prints publish-to-handled latency percentiles. Measuring starts after a
//! warm-up (see `load::warmup`), so the percentiles are the steady state's.

use super::consume::Session;
use super::load::{produce, warmup};
use super::stats::{Sink, print_consume_row, reset_peak_rss};

pub async fn run(session: &Session<'_>, rate: u64) -> anyhow::Result<()> {
    let (config, args) = (session.config, session.args);
    for variant in session.variants() {
        // A topic per variant: each must read only what was published while it was reading.
        let topic = session.make_topic(variant).await?;
        reset_peak_rss();
        let (sink, rx) = Sink::new()?;
        let group = session.group_for(variant)?;
        // The reader also takes the warm-up, which the producer sends first.
        let reader = session.reader(group, &topic, args.events + warmup(rate), &sink);
        let reader = tokio::spawn(async move { reader.read(variant, rx).await });
        produce(
            session.kafka(),
            config,
            &topic,
            args.events,
            Some((rate, &sink)),
        )
        .await?;
        reader.await??;
        let (from, elapsed) = sink.measured_from();
        print_consume_row(variant, &sink, from, elapsed, true);
    }
    Ok(())
}
