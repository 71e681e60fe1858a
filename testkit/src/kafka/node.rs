//! One Kafka broker process (KRaft, broker and controller combined) started by a test through
//! `scripts/kafka.sh node`: killed with SIGKILL, stopped with SIGTERM, restarted on its own data.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What `scripts/kafka.sh node` prints once the broker serves (KafkaRaftServer's start line).
const STARTED: &str = "Kafka Server started";

/// How long a node may take to start before the test fails with its log.
const START_BOUND: Duration = Duration::from_secs(120);

/// A broker process and what it needs to be started again.
#[derive(Debug)]
pub struct Node {
    /// `node.id`, also its broker id.
    pub id: i32,
    /// The PLAINTEXT listener's port on 127.0.0.1.
    pub port: u16,
    /// Extra listeners: name, protocol, port.
    pub listeners: Vec<(String, String, u16)>,
    dir: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
}

impl Node {
    pub(crate) fn new(
        id: i32,
        port: u16,
        listeners: Vec<(String, String, u16)>,
        dir: PathBuf,
        args: Vec<String>,
    ) -> Self {
        Node {
            id,
            port,
            listeners,
            dir,
            args,
            child: None,
        }
    }

    /// Starts the process (it formats its data directory on the first start only).
    pub(crate) fn spawn(&mut self) {
        assert!(self.child.is_none(), "node {} is running already", self.id);
        let child = Command::new("bash")
            .arg(super::script())
            .arg("node")
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start scripts/kafka.sh node");
        self.child = Some(child);
    }

    /// SIGKILL: the broker gets no chance to flush, hand over leadership or deregister.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait for the process to end: a controlled shutdown.
    pub fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let _ = child.wait();
        }
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The broker's log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("broker.log")
    }

    /// The last lines of the broker's log, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    pub(crate) fn started_count(&self) -> usize {
        count_in(&self.log_path(), STARTED)
    }

    /// Waits until the log shows one more start than `before`; fails with the log's tail if the
    /// process ends first.
    pub(crate) fn wait_started(&mut self, before: usize) {
        let deadline = Instant::now() + START_BOUND;
        while self.started_count() <= before {
            assert!(
                self.is_running(),
                "Kafka node {} exited while starting; its log:\n{}",
                self.id,
                self.log_tail(40)
            );
            assert!(
                Instant::now() < deadline,
                "Kafka node {} did not start; its log:\n{}",
                self.id,
                self.log_tail(40)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

fn count_in(path: &Path, needle: &str) -> usize {
    std::fs::read_to_string(path)
        .map(|t| t.matches(needle).count())
        .unwrap_or(0)
}
