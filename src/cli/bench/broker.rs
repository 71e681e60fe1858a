//! The broker a benchmark runs against: the configured cluster, or with `--embedded` a
//! one-broker MockCluster started for the run.

use std::time::Duration;

use producers::KafkaConfig;
use producers::admin::{TopicSpec, create_topics};

use crate::cli::embedded::Embedded;
use crate::config::Config;

pub enum Broker {
    Embedded(Embedded),
    Configured(KafkaConfig),
}

impl Broker {
    pub fn open(config: &Config, embedded: bool) -> anyhow::Result<Self> {
        Ok(if embedded {
            Broker::Embedded(Embedded::start(1, &config.kafka)?)
        } else {
            Broker::Configured(config.kafka.clone())
        })
    }

    /// Settings for the benchmark's clients.
    pub fn kafka(&self) -> &KafkaConfig {
        match self {
            Broker::Embedded(e) => e.kafka(),
            Broker::Configured(kafka) => kafka,
        }
    }

    /// Creates topics of `partitions` partitions, one replica each.
    pub async fn create_topics(
        &self,
        names: impl IntoIterator<Item = String>,
        partitions: i32,
    ) -> anyhow::Result<()> {
        let specs = specs(names, partitions);
        match self {
            Broker::Embedded(e) => e.create_topics(&specs),
            Broker::Configured(kafka) => {
                create_topics(kafka, &specs, Duration::from_secs(30)).await?;
                Ok(())
            }
        }
    }

    /// Creates topics the runtime makes itself on a real cluster (a group's dead-letter and
    /// retry topics): MockCluster serves no CreateTopics, and orderbus never lets a metadata
    /// request create a topic.
    pub fn create_if_embedded(
        &self,
        names: impl IntoIterator<Item = String>,
        partitions: i32,
    ) -> anyhow::Result<()> {
        match self {
            Broker::Embedded(e) => e.create_topics(&specs(names, partitions)),
            Broker::Configured(_) => Ok(()),
        }
    }
}

fn specs(names: impl IntoIterator<Item = String>, partitions: i32) -> Vec<TopicSpec> {
    names
        .into_iter()
        .map(|name| TopicSpec {
            name,
            partitions,
            replication_factor: 1,
        })
        .collect()
}
