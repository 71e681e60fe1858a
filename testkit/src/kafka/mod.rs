//! Apache Kafka for tests. Most tests share one broker: `KAFKA_BOOTSTRAP_SERVERS`, which
//! `scripts/test.sh` sets to the single KRaft broker it starts (or keeps when it points at another
//! Kafka, such as the docker-compose one). Tests that need brokers of their own (a 3-node cluster
//! to SIGKILL a leader, a `SASL_SSL` listener) start them with [`Cluster`], through the same
//! `scripts/kafka.sh node` the shared broker is started with.

mod cluster;
mod node;

use std::time::Duration;

use producers::KafkaConfig;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

pub use cluster::{Cluster, ClusterBuilder};
pub use node::Node;

use crate::names::unique;

/// The shared broker's bootstrap servers.
pub fn bootstrap() -> String {
    std::env::var("KAFKA_BOOTSTRAP_SERVERS").unwrap_or_else(|_| {
        panic!(
            "KAFKA_BOOTSTRAP_SERVERS is not set: run the suite with scripts/test.sh, which starts \
             an Apache Kafka broker, or point it at a Kafka broker"
        )
    })
}

/// orderbus's Kafka settings for the shared broker, with a client id of the test's own.
pub fn kafka() -> KafkaConfig {
    kafka_at(&bootstrap())
}

/// orderbus's Kafka settings for the brokers at `bootstrap`.
pub fn kafka_at(bootstrap: &str) -> KafkaConfig {
    KafkaConfig {
        bootstrap_servers: bootstrap.to_owned(),
        client_id: unique("orderbus-test"),
        ..KafkaConfig::default()
    }
}

/// A plain rdkafka client config for `bootstrap` (no orderbus code), for readers and probes.
pub fn plain_client(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("allow.auto.create.topics", "false");
    c
}

/// The broker ids the cluster at `bootstrap` lists in its metadata now, or none when it does
/// not answer within `timeout`.
pub fn broker_ids(bootstrap: &str, timeout: Duration) -> Vec<i32> {
    let Ok(consumer) = plain_client(bootstrap).create::<BaseConsumer>() else {
        return Vec::new();
    };
    match consumer.fetch_metadata(None, timeout) {
        Ok(m) => {
            let mut ids: Vec<i32> = m.brokers().iter().map(|b| b.id()).collect();
            ids.sort_unstable();
            ids
        }
        Err(_) => Vec::new(),
    }
}

/// Where `scripts/kafka.sh` is, from any crate of the workspace.
pub(crate) fn script() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("scripts")
        .join("kafka.sh")
}

/// A free TCP port on 127.0.0.1 (bound and released; the broker binds it right after).
pub(crate) fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}
