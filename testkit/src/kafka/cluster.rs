//! Brokers a test starts for itself: [`Cluster::three`] is the 3-node KRaft cluster of the
//! fault tests (replication factor 3, `min.insync.replicas=2`), [`Cluster::single`] one node,
//! e.g. with a `SASL_SSL` listener. Every node is broker and controller at once, so any one of
//! three can be killed and the quorum keeps a majority.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};

use super::node::Node;
use super::{broker_ids, free_port, plain_client};
use crate::names::unique;

/// How long a cluster may take to list every node before the test fails.
const READY_BOUND: Duration = Duration::from_secs(120);

/// What to start.
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    nodes: usize,
    props: Vec<String>,
    listeners: Vec<(String, String)>,
    scram: Vec<String>,
    heap: String,
}

impl ClusterBuilder {
    /// A broker property for every node (`key=value`); later ones win.
    pub fn prop(mut self, key: &str, value: impl std::fmt::Display) -> Self {
        self.props.push(format!("{key}={value}"));
        self
    }

    /// Another listener on every node, on a port of its own.
    pub fn listener(mut self, name: &str, protocol: &str) -> Self {
        self.listeners.push((name.to_owned(), protocol.to_owned()));
        self
    }

    /// A SCRAM user created when the nodes are formatted, e.g.
    /// `SCRAM-SHA-512=[name=alice,password=secret]`.
    pub fn scram(mut self, spec: &str) -> Self {
        self.scram.push(spec.to_owned());
        self
    }

    /// Starts every node and waits until each serves and the cluster lists all of them.
    pub fn start(self) -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("orderbus-kafka-")
            .tempdir()
            .expect("temp dir");
        let cluster_id = unique("cluster");
        let ids: Vec<i32> = (1..=self.nodes as i32).collect();
        let controllers: Vec<u16> = ids.iter().map(|_| free_port()).collect();
        let voters = (self.nodes > 1).then(|| {
            ids.iter()
                .zip(&controllers)
                .map(|(id, port)| format!("{id}@127.0.0.1:{port}"))
                .collect::<Vec<_>>()
                .join(",")
        });
        let mut nodes = Vec::with_capacity(self.nodes);
        for (&id, &controller) in ids.iter().zip(&controllers) {
            let port = free_port();
            let node_dir = dir.path().join(format!("node-{id}"));
            let listeners: Vec<(String, String, u16)> = self
                .listeners
                .iter()
                .map(|(name, protocol)| (name.clone(), protocol.clone(), free_port()))
                .collect();
            let mut args = vec![
                "--dir".to_owned(),
                node_dir.display().to_string(),
                "--id".to_owned(),
                id.to_string(),
                "--port".to_owned(),
                port.to_string(),
                "--controller-port".to_owned(),
                controller.to_string(),
                "--cluster-id".to_owned(),
                cluster_id.clone(),
                "--heap".to_owned(),
                self.heap.clone(),
            ];
            if let Some(v) = &voters {
                args.extend(["--voters".to_owned(), v.clone()]);
            }
            for (name, protocol, lport) in &listeners {
                args.extend([
                    "--listener".to_owned(),
                    format!("{name}:{protocol}:{lport}"),
                ]);
            }
            for p in &self.props {
                args.extend(["--prop".to_owned(), p.clone()]);
            }
            for s in &self.scram {
                args.extend(["--scram".to_owned(), s.clone()]);
            }
            nodes.push(Node::new(id, port, listeners, node_dir, args));
        }
        // All at once: a KRaft quorum needs a majority of its voters up before any node serves.
        for node in &mut nodes {
            node.spawn();
        }
        for node in &mut nodes {
            node.wait_started(0);
        }
        let cluster = Cluster { nodes, dir };
        cluster.wait_listed(&ids);
        cluster
    }
}

/// Running brokers, killed when dropped. The data directories are removed with it, unless the
/// test failed: then they are kept and their path printed, logs included.
#[derive(Debug)]
pub struct Cluster {
    nodes: Vec<Node>,
    dir: tempfile::TempDir,
}

impl Cluster {
    /// One node, replication factor 1.
    pub fn single() -> ClusterBuilder {
        ClusterBuilder {
            nodes: 1,
            props: Vec::new(),
            listeners: Vec::new(),
            scram: Vec::new(),
            heap: "512m".to_owned(),
        }
    }

    /// Three nodes; every topic (internal ones included) has three replicas and needs two in
    /// sync to accept an `acks=all` write. A node that stops heartbeating is fenced after 3 s,
    /// so a killed leader is replaced within seconds.
    pub fn three() -> ClusterBuilder {
        ClusterBuilder {
            nodes: 3,
            props: Vec::new(),
            listeners: Vec::new(),
            scram: Vec::new(),
            heap: "384m".to_owned(),
        }
        .prop("default.replication.factor", 3)
        .prop("min.insync.replicas", 2)
        .prop("offsets.topic.replication.factor", 3)
        .prop("transaction.state.log.replication.factor", 3)
        .prop("transaction.state.log.min.isr", 2)
        .prop("share.coordinator.state.topic.replication.factor", 3)
        .prop("share.coordinator.state.topic.min.isr", 2)
        .prop("broker.heartbeat.interval.ms", 500)
        .prop("broker.session.timeout.ms", 3000)
    }

    /// The PLAINTEXT bootstrap list of every node.
    pub fn bootstrap(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The bootstrap list of the extra listener `name`.
    pub fn listener_bootstrap(&self, name: &str) -> String {
        self.nodes
            .iter()
            .filter_map(|n| {
                n.listeners
                    .iter()
                    .find(|(l, _, _)| l == name)
                    .map(|(_, _, port)| format!("127.0.0.1:{port}"))
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The node with broker id `id`.
    pub fn node(&mut self, id: i32) -> &mut Node {
        self.nodes
            .iter_mut()
            .find(|n| n.id == id)
            .unwrap_or_else(|| panic!("no node {id}"))
    }

    /// Broker ids of every node.
    pub fn ids(&self) -> Vec<i32> {
        self.nodes.iter().map(|n| n.id).collect()
    }

    /// SIGKILLs node `id`.
    pub fn kill(&mut self, id: i32) {
        self.node(id).kill();
    }

    /// Starts node `id` again on its data and waits until the cluster lists it.
    pub fn restart(&mut self, id: i32) {
        self.restart_all(&[id]);
    }

    /// SIGKILLs every node.
    pub fn kill_all(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
    }

    /// Starts the nodes `ids` again at once (a quorum that lost its majority needs them
    /// together) and waits until each serves and the cluster lists every node.
    pub fn restart_all(&mut self, ids: &[i32]) {
        let mut before = Vec::with_capacity(ids.len());
        for &id in ids {
            let node = self.node(id);
            before.push((id, node.started_count()));
            node.spawn();
        }
        for (id, count) in before {
            self.node(id).wait_started(count);
        }
        let all = self.ids();
        self.wait_listed(&all);
    }

    /// The leader of `topic`'s `partition` as the cluster reports it now (-1 for none).
    pub fn leader_of(&self, topic: &str, partition: i32) -> i32 {
        let consumer: BaseConsumer = plain_client(&self.bootstrap()).create().expect("client");
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .expect("metadata");
        metadata.topics()[0]
            .partitions()
            .iter()
            .find(|p| p.id() == partition)
            .map_or(-1, |p| p.leader())
    }

    /// Waits until the cluster's metadata lists every broker in `ids` and every partition of
    /// every topic has a leader again.
    fn wait_listed(&self, ids: &[i32]) {
        let deadline = Instant::now() + READY_BOUND;
        loop {
            let listed = broker_ids(&self.bootstrap(), Duration::from_secs(5));
            if ids.iter().all(|id| listed.contains(id)) && self.every_partition_led() {
                return;
            }
            if Instant::now() >= deadline {
                let logs: Vec<String> = self
                    .nodes
                    .iter()
                    .map(|n| format!("node {}:\n{}", n.id, n.log_tail(20)))
                    .collect();
                panic!(
                    "the cluster lists brokers {listed:?}, not {ids:?}; logs:\n{}",
                    logs.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Cluster {
    fn every_partition_led(&self) -> bool {
        let Ok(consumer) = plain_client(&self.bootstrap()).create::<BaseConsumer>() else {
            return false;
        };
        consumer
            .fetch_metadata(None, Duration::from_secs(5))
            .is_ok_and(|m| {
                m.topics()
                    .iter()
                    .flat_map(|t| t.partitions())
                    .all(|p| p.leader() >= 0 && p.error().is_none())
            })
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
        if std::thread::panicking() {
            let kept =
                std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir")).keep();
            eprintln!(
                "kept the failed test's Kafka data and logs in {}",
                kept.display()
            );
        }
    }
}
