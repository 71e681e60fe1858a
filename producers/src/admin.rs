//! Topic administration: create topics through the admin API, safe to run twice. Brokers
//! without auto-creation (the test brokers, locked-down production clusters) need this before
//! the first publish.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::FromClientConfig;
use rdkafka::error::RDKafkaErrorCode;

use crate::config::{KafkaConfig, check_topic_name};
use crate::error::{Error, Result};

/// A topic to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    /// Name.
    pub name: String,
    /// Partitions.
    pub partitions: i32,
    /// Replication factor.
    pub replication_factor: i32,
}

/// What `create_topics` did with one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicOutcome {
    /// Made now.
    Created,
    /// Was there already, with this many partitions (may differ from what was asked).
    AlreadyExists {
        /// Partitions it has.
        partitions: usize,
    },
}

/// Creates each topic, treating "already exists" as success and reporting its partitions.
pub async fn create_topics(
    kafka: &KafkaConfig,
    specs: &[TopicSpec],
    timeout: Duration,
) -> Result<Vec<(TopicSpec, TopicOutcome)>> {
    for s in specs {
        check_topic_name("topic", &s.name)?;
    }
    let admin: AdminClient<DefaultClientContext> = admin_client(kafka)?;
    let new: Vec<NewTopic<'_>> = specs
        .iter()
        .map(|s| {
            NewTopic::new(
                &s.name,
                s.partitions,
                TopicReplication::Fixed(s.replication_factor),
            )
        })
        .collect();
    let options = AdminOptions::new()
        .operation_timeout(Some(timeout))
        .request_timeout(Some(timeout));
    let results = admin.create_topics(&new, &options).await?;
    let mut out = Vec::with_capacity(specs.len());
    for (spec, result) in specs.iter().zip(results) {
        match result {
            Ok(_) => out.push((spec.clone(), TopicOutcome::Created)),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {
                let partitions = partition_count(&admin, &spec.name, timeout)?;
                out.push((spec.clone(), TopicOutcome::AlreadyExists { partitions }));
            }
            Err((topic, code)) => {
                return Err(Error::Topic {
                    topic,
                    problem: code.to_string(),
                });
            }
        }
    }
    Ok(out)
}

/// Makes sure each topic exists: topics already there are left alone (no CreateTopics request
/// at all, so clusters whose ACLs forbid creation work when operations made them), missing ones
/// are created.
pub async fn ensure_topics(
    kafka: &KafkaConfig,
    specs: &[TopicSpec],
    timeout: Duration,
) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = admin_client(kafka)?;
    let mut missing = Vec::new();
    for spec in specs {
        if partition_count(&admin, &spec.name, timeout).is_err() {
            missing.push(spec.clone());
        }
    }
    if !missing.is_empty() {
        create_topics(kafka, &missing, timeout).await?;
    }
    Ok(())
}

/// An admin client whose metadata requests never create a topic: on brokers with
/// auto-creation on, asking about a missing topic would otherwise create it with the broker's
/// default partition count before we create it with ours.
fn admin_client(kafka: &KafkaConfig) -> Result<AdminClient<DefaultClientContext>> {
    let mut config = kafka.client_config();
    config.set("allow.auto.create.topics", "false");
    Ok(AdminClient::from_config(&config)?)
}

/// The partition count of each topic, `None` for a topic the cluster does not have.
pub async fn partition_counts(
    kafka: &KafkaConfig,
    topics: &[String],
    timeout: Duration,
) -> Result<Vec<Option<usize>>> {
    let admin: AdminClient<DefaultClientContext> = admin_client(kafka)?;
    Ok(topics
        .iter()
        .map(|t| partition_count(&admin, t, timeout).ok())
        .collect())
}

fn partition_count(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
    timeout: Duration,
) -> Result<usize> {
    let metadata = admin.inner().fetch_metadata(Some(topic), timeout)?;
    metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .filter(|t| t.error().is_none() && !t.partitions().is_empty())
        .map(|t| t.partitions().len())
        .ok_or_else(|| Error::Topic {
            topic: topic.to_owned(),
            problem: "exists but is missing from the broker's metadata".into(),
        })
}
