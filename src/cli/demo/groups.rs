//! The demo's consumer groups while they run, and the progress bars that watch each until it
//! has finished every event of its topics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use consumers::runtime::{ConsumerGroup, GroupConfig, GroupStats, Handler, retry_topic};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use producers::{EventProducer, KafkaConfig, TopicsConfig};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::settle;
use super::tally::Tally;

/// A running group.
pub struct Group {
    name: String,
    pub stats: Arc<GroupStats>,
    stop: oneshot::Sender<()>,
    run: tokio::task::JoinHandle<consumers::Result<()>>,
}

impl Group {
    pub fn start(
        name: &str,
        config: GroupConfig,
        kafka: &KafkaConfig,
        topics: &TopicsConfig,
        handler: impl Handler,
        producer: &EventProducer,
    ) -> anyhow::Result<Self> {
        let group = ConsumerGroup::new(
            name,
            config,
            kafka.clone(),
            topics,
            handler,
            producer.clone(),
        )?;
        let stats = group.stats();
        let (stop, stopped) = oneshot::channel::<()>();
        let run = tokio::spawn(group.run(async move {
            let _ = stopped.await;
        }));
        Ok(Self {
            name: name.to_owned(),
            stats,
            stop,
            run,
        })
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.run.await??;
        Ok(())
    }
}

/// A second member of a running group, started once the group's handler has been called
/// `after` times: the forced rebalance of `--rebalance-after`. The group's partitions are then
/// shared anew, and what the first member had not committed yet is redelivered (`hold` makes
/// sure there is some).
pub struct Joiner {
    after: u64,
    cancel: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<Option<Group>>>,
}

impl Joiner {
    /// Waits in the background for the calls, then runs `start` and says so above the bars.
    pub fn spawn(
        after: u64,
        tally: Arc<Tally>,
        progress: MultiProgress,
        start: impl FnOnce() -> anyhow::Result<Group> + Send + 'static,
    ) -> Self {
        let (cancel, cancelled) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            tokio::select! {
                () = tally.reached(after) => {}
                _ = cancelled => return Ok(None),
            }
            let group = start()?;
            progress.suspend(|| {
                println!(
                    "rebalance: a second member joins {} after {after} handler calls",
                    group.name
                );
            });
            Ok(Some(group))
        });
        Self {
            after,
            cancel,
            task,
        }
    }

    /// Stops the second member and gives its counters; None when the group finished before
    /// it was due to join.
    pub async fn stop(self) -> anyhow::Result<Option<Arc<GroupStats>>> {
        let _ = self.cancel.send(());
        let Some(group) = self.task.await?? else {
            println!(
                "rebalance: none, the group finished before {} handler calls",
                self.after
            );
            return Ok(None);
        };
        let stats = Arc::clone(&group.stats);
        group.stop().await?;
        Ok(Some(stats))
    }
}

/// Shows a bar per group until each has finished every event of its topics (by its commits,
/// see `settle`); fails if none moves for a minute.
pub async fn watch(
    progress: &MultiProgress,
    kafka: &KafkaConfig,
    groups: &[(&str, &Group, &settle::Ends)],
) -> anyhow::Result<()> {
    let style = ProgressStyle::with_template(
        "{prefix:>14} [{bar:30}] {pos:>6}/{len:6} {per_sec:>12} {msg}",
    )?
    .progress_chars("=> ");
    let bars: Vec<ProgressBar> = groups
        .iter()
        .map(|(name, _, ends)| {
            let bar = progress.add(ProgressBar::new(ends.total()));
            bar.set_style(style.clone());
            bar.set_prefix((*name).to_owned());
            bar
        })
        .collect();
    let mut last_move = Instant::now();
    let mut last_total = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tick.tick().await;
        let mut done = true;
        let mut total = 0;
        let mut state = Vec::new();
        for ((name, group, ends), bar) in groups.iter().zip(&bars) {
            let p = settle::progress(kafka, &group.name, ends, &retry_topic(&group.name)).await?;
            total += p.finished;
            bar.set_position(p.finished.min(ends.total()));
            state.push(format!("{name} {}/{}", p.finished, ends.total()));
            if !p.settled(ends) {
                done = false;
                if p.parked > 0 {
                    bar.set_message(format!("{} parked", p.parked));
                }
            } else if !bar.is_finished() {
                bar.finish_with_message("done");
            }
        }
        if done {
            return Ok(());
        }
        if total != last_total {
            (last_total, last_move) = (total, Instant::now());
        } else if last_move.elapsed() > Duration::from_secs(60) {
            bail!(
                "the demo's groups made no progress for a minute: {}",
                state.join(", ")
            );
        }
    }
}
