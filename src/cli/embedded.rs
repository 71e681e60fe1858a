//! The embedded broker (rdkafka's in-process MockCluster) that `orderbus demo` and
//! `orderbus bench ... --embedded` run on, so they need no cluster set up. The one place that
//! starts one.

use anyhow::Context as _;
use producers::KafkaConfig;
use producers::admin::TopicSpec;
use producers::config::SecurityProtocol;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

/// A running MockCluster and the client settings that reach it.
pub struct Embedded {
    cluster: MockCluster<'static, DefaultProducerContext>,
    kafka: KafkaConfig,
}

impl Embedded {
    /// Starts `brokers` brokers. Clients keep the user's tuning from `base`, none of their
    /// security: the mock brokers speak plaintext only.
    pub fn start(brokers: i32, base: &KafkaConfig) -> anyhow::Result<Self> {
        let cluster = MockCluster::new(brokers).context("cannot start the embedded broker")?;
        let kafka = KafkaConfig {
            bootstrap_servers: cluster.bootstrap_servers(),
            security_protocol: SecurityProtocol::Plaintext,
            sasl: None,
            tls: None,
            ..base.clone()
        };
        Ok(Self { cluster, kafka })
    }

    /// Settings for clients of this broker.
    pub fn kafka(&self) -> &KafkaConfig {
        &self.kafka
    }

    /// MockCluster does not serve the admin API's CreateTopics; it has its own call for that.
    pub fn create_topics(&self, specs: &[TopicSpec]) -> anyhow::Result<()> {
        for spec in specs {
            self.cluster
                .create_topic(&spec.name, spec.partitions, spec.replication_factor)
                .with_context(|| format!("cannot create {} on the embedded broker", spec.name))?;
        }
        Ok(())
    }
}
