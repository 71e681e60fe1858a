//! The demo's phases over what they share ([`Demo`]): payments first (their outcomes are the
//! rest of the input), then every downstream group side by side, then the check that every
//! group's commits still say it finished everything once it stopped.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use adapters::payment::{LogPaymentConfig, PaymentConfig};
use consumers::runtime::{GroupConfig, Handler, retry_topic};
use indicatif::MultiProgress;
use producers::{EventProducer, KafkaConfig, PaymentProducer, TopicsConfig};
use workers::payment::{PaymentWorker, PaymentWorkerConfig};

use super::account::{self, Expected, GroupRun};
use super::groups::{Group, Joiner, watch};
use super::hold::Hold;
use super::publish::Published;
use super::settle::{self, Ends};
use super::stores::Stores;
use super::tally::{Recorded, Tally};
use super::{DOWNSTREAM, group_config, group_name};

/// How long a revoke waits for the calls `--rebalance-after` holds.
const HELD_DRAIN_MS: u64 = 500;

/// What the demo's phases share.
pub struct Demo<'a> {
    pub kafka: &'a KafkaConfig,
    pub topics: TopicsConfig,
    pub run_id: String,
    /// The producer of the published events, and of every group's outcomes and dead letters.
    pub shared: EventProducer,
    pub progress: MultiProgress,
    /// `--rebalance-after`.
    pub rebalance_after: Option<u64>,
}

impl Demo<'_> {
    pub fn group(&self, worker: &str) -> String {
        group_name(&self.run_id, worker)
    }

    /// Starts `worker`'s group; `start()` runs it, now or later (a second member).
    fn starter(
        &self,
        worker: &str,
        config: GroupConfig,
        handler: impl Handler,
    ) -> impl FnOnce() -> anyhow::Result<Group> + Send + 'static {
        let name = self.group(worker);
        let (kafka, all, shared) = (self.kafka.clone(), self.topics.clone(), self.shared.clone());
        move || Group::start(&name, config, &kafka, &all, handler, &shared)
    }

    /// Starts `worker`'s group over `topics` with its handler recorded.
    fn start_recorded<H: Handler + Clone>(
        &self,
        worker: &str,
        topics: &[String],
        handler: H,
    ) -> anyhow::Result<(Arc<Tally>, Group)> {
        let recorded = Recorded::new(handler);
        let group = self.starter(worker, group_config(topics.to_vec()), recorded.clone())()?;
        Ok((recorded.tally(), group))
    }

    /// The notification group, and with `--rebalance-after` the second member that joins it
    /// (see `hold` for why the first member's calls wait for it).
    fn start_notification(
        &self,
        stores: &Stores,
        topics: &[String],
    ) -> anyhow::Result<(Arc<Tally>, Group, Option<Joiner>)> {
        let notification = Arc::clone(&stores.notification);
        let Some(after) = self.rebalance_after else {
            let (tally, group) = self.start_recorded("notification", topics, notification)?;
            return Ok((tally, group, None));
        };
        let recorded = Recorded::new(notification);
        let (first, second) = Hold::pair(after);
        // A held call does not finish, so the revoke must soon give up waiting for it.
        let config = || GroupConfig {
            drain_timeout_ms: HELD_DRAIN_MS,
            ..group_config(topics.to_vec())
        };
        let group = self.starter("notification", config(), recorded.holding(first))()?;
        let start = self.starter("notification", config(), recorded.holding(second));
        let joiner = Joiner::spawn(after, recorded.tally(), self.progress.clone(), start);
        Ok((recorded.tally(), group, Some(joiner)))
    }

    /// Phase 1: payments. The payment worker publishes its outcomes, which phase 2 then reads.
    pub async fn pay(&self, published: &Published) -> anyhow::Result<(GroupRun, Ends)> {
        let gateway = PaymentConfig::Log(LogPaymentConfig::default()).build()?;
        let payment = Recorded::new(PaymentWorker::new(
            gateway,
            PaymentProducer::new(self.shared.clone()),
            PaymentWorkerConfig::default(),
        )?);
        let tally = payment.tally();
        let orders = vec![self.topics.order_events.clone()];
        let order_ends = Ends::now(self.kafka, &orders).await?;
        let paying = self.starter("payment", group_config(orders.clone()), payment)()?;
        let stats = Arc::clone(&paying.stats);
        watch(
            &self.progress,
            self.kafka,
            &[("payment", &paying, &order_ends)],
        )
        .await?;
        paying.stop().await?;
        self.shared.flush(Duration::from_secs(30)).await?;
        let expected = Expected {
            ids: published.order_events.clone(),
            malformed: published.malformed.clone(),
        };
        let run = GroupRun {
            name: "payment".to_owned(),
            stats: vec![stats],
            tally,
            expected: Arc::new(expected),
        };
        Ok((run, order_ends))
    }

    /// What the downstream groups are given: every published event and the payment outcomes.
    async fn downstream_events(&self, published: &Published) -> anyhow::Result<Expected> {
        let (on_payments, messages) =
            account::ids_on(self.kafka, &self.topics.payment_events).await?;
        let outcomes: HashSet<_> = on_payments.difference(&published.events).copied().collect();
        let published_payments = published.events.len() - published.order_events.len();
        // A redelivered order event republishes its outcome under the same event id.
        let again = messages.saturating_sub((published_payments + outcomes.len()) as u64);
        println!(
            "payment group published {} payment outcomes{}",
            outcomes.len(),
            if again > 0 {
                format!(" ({again} of them twice: redelivered orders)")
            } else {
                String::new()
            }
        );
        Ok(Expected {
            ids: published.events.union(&outcomes).copied().collect(),
            malformed: published.malformed.clone(),
        })
    }

    /// Phase 2: everything downstream, side by side, over both topics.
    pub async fn downstream(
        &self,
        stores: &Stores,
        published: &Published,
    ) -> anyhow::Result<(Vec<GroupRun>, Ends)> {
        let both = vec![
            self.topics.order_events.clone(),
            self.topics.payment_events.clone(),
        ];
        let expected = Arc::new(self.downstream_events(published).await?);
        let all = Ends::now(self.kafka, &both).await?;
        let (notified, n, joiner) = self.start_notification(stores, &both)?;
        let recorded = [
            (notified, n),
            self.start_recorded("analytics", &both, Arc::clone(&stores.analytics))?,
            self.start_recorded("cache-warming", &both, Arc::clone(&stores.cache))?,
        ];
        let watched: Vec<(&str, &Group, &Ends)> = DOWNSTREAM
            .iter()
            .zip(&recorded)
            .map(|(name, (_, g))| (*name, g, &all))
            .collect();
        watch(&self.progress, self.kafka, &watched).await?;
        let mut joined = match joiner {
            Some(j) => j.stop().await?,
            None => None,
        };
        let mut runs = Vec::new();
        for (name, (tally, g)) in DOWNSTREAM.iter().zip(recorded) {
            let mut stats = vec![Arc::clone(&g.stats)];
            // The second member, if one joined, was the notification group's.
            if *name == "notification" {
                stats.extend(joined.take());
            }
            g.stop().await?;
            runs.push(GroupRun {
                name: (*name).to_owned(),
                stats,
                tally,
                expected: Arc::clone(&expected),
            });
        }
        self.shared.flush(Duration::from_secs(30)).await?;
        Ok((runs, all))
    }

    /// The stops committed once more; every group must still account for every event. Says
    /// which did not, if one did not.
    pub async fn settled(
        &self,
        runs: &[GroupRun],
        order_ends: &Ends,
        all: &Ends,
    ) -> anyhow::Result<bool> {
        for run in runs {
            let group = self.group(&run.name);
            let ends = if run.name == "payment" {
                order_ends
            } else {
                all
            };
            let p = settle::progress(self.kafka, &group, ends, &retry_topic(&group)).await?;
            if !p.settled(ends) {
                eprintln!(
                    "error: group {} finished {} of {} events ({} still parked)",
                    run.name,
                    p.finished,
                    ends.total(),
                    p.parked
                );
                return Ok(false);
            }
        }
        Ok(true)
    }
}
