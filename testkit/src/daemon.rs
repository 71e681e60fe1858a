//! `orderbus consume` as a child process: started with JSON logs, read line by line for what
//! its `log` worker handled and the HTTP address it listens on, signalled, and killed if the
//! test fails before it ends. Plus a bare HTTP GET for its health, readiness and metrics.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What the log worker reported handling.
#[derive(Debug, Clone)]
pub struct Handled {
    /// The event's id.
    pub event_id: String,
    /// Where it was read.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// The line carries the event's span (`log.event_spans`).
    pub in_span: bool,
}

/// A running daemon.
#[derive(Debug)]
pub struct Daemon {
    child: Child,
    lines: mpsc::Receiver<serde_json::Value>,
    /// The HTTP address, once the daemon logged it.
    pub listen: Option<String>,
    /// Every line it wrote to stderr, JSON or not (a panic message, a bug in the log format),
    /// for tests that look for what must never be logged.
    pub raw: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Daemon {
    /// `orderbus consume --group G --config F --listen 127.0.0.1:0`, from `cmd` (e.g.
    /// [`orderbus!`](crate::orderbus)), logging JSON at info.
    pub fn start(mut cmd: Command, config: &std::path::Path, group: &str) -> Daemon {
        cmd.env("ORDERBUS_LOG__FORMAT", "json")
            .env("RUST_LOG", "info,rdkafka=warn")
            .args(["consume", "--group", group, "--listen", "127.0.0.1:0"])
            .arg("--config")
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn daemon");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        let raw: std::sync::Arc<std::sync::Mutex<Vec<String>>> = std::sync::Arc::default();
        let kept = std::sync::Arc::clone(&raw);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let parsed = serde_json::from_str::<serde_json::Value>(&line);
                kept.lock().expect("lock").push(line);
                if let Ok(v) = parsed
                    && tx.send(v).is_err()
                {
                    break;
                }
            }
        });
        Daemon {
            child,
            lines,
            listen: None,
            raw,
        }
    }

    /// Reads log lines until `enough` says stop; collects handled events on the way.
    pub fn read_until(
        &mut self,
        handled: &mut Vec<Handled>,
        enough: impl FnMut(&[Handled]) -> bool,
    ) {
        // A bound that turns a stall into a failure; the assertion is on the events.
        assert!(
            self.read_until_or_stall(handled, enough, Duration::from_secs(180)),
            "daemon stalled after {} handled events",
            handled.len()
        );
    }

    /// [`read_until`](Self::read_until), returning false instead of failing when no line
    /// arrives within `stall`, so a test can say what is missing.
    pub fn read_until_or_stall(
        &mut self,
        handled: &mut Vec<Handled>,
        mut enough: impl FnMut(&[Handled]) -> bool,
        stall: Duration,
    ) -> bool {
        let give_up = Instant::now() + stall;
        while !enough(handled) {
            let remaining = give_up.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(remaining) {
                Ok(line) => self.take(&line, handled),
                Err(_) => return false,
            }
        }
        true
    }

    /// Reads log lines (collecting handled events) until the daemon logged its HTTP address.
    pub fn wait_listen(&mut self, handled: &mut Vec<Handled>) -> String {
        while self.listen.is_none() {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(60))
                .expect("the daemon logs its listen address");
            self.take(&line, handled);
        }
        self.listen.clone().expect("listen")
    }

    /// Takes every line logged so far without waiting, collecting handled events; the lines
    /// themselves are returned for tests that look for a message.
    pub fn drain(&mut self, handled: &mut Vec<Handled>) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        while let Ok(line) = self.lines.try_recv() {
            self.take(&line, handled);
            out.push(line);
        }
        out
    }

    fn take(&mut self, line: &serde_json::Value, handled: &mut Vec<Handled>) {
        let fields = &line["fields"];
        if fields["message"] == "consumer group starting" {
            self.listen = fields["listen"].as_str().map(str::to_owned);
        }
        if fields["message"] == "handled" {
            handled.push(Handled {
                event_id: fields["event_id"].as_str().expect("event_id").to_owned(),
                topic: fields["topic"].as_str().expect("topic").to_owned(),
                partition: fields["partition"].as_i64().expect("partition") as i32,
                offset: fields["offset"].as_i64().expect("offset"),
                in_span: line["span"]["name"] == consumers::runtime::EVENT_SPAN,
            });
        }
    }

    /// Sends the signal `name` (TERM, KILL, ...) to the daemon.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Whether any line written so far contains `text`.
    pub fn wrote(&self, text: &str) -> bool {
        self.raw
            .lock()
            .expect("lock")
            .iter()
            .any(|l| l.contains(text))
    }

    /// Waits for the process to end, then takes every line it logged before it ended (the
    /// reader thread stops at EOF), so nothing handled goes unseen.
    pub fn finish(mut self, handled: &mut Vec<Handled>) -> ExitStatus {
        let status = self.child.wait().expect("wait");
        while let Ok(line) = self.lines.recv() {
            self.take(&line, handled);
        }
        status
    }
}

/// A test that fails midway must not leave its daemon running (and consuming) after it.
impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The distinct event ids among `handled`.
pub fn unique_ids(handled: &[Handled]) -> HashSet<&str> {
    handled.iter().map(|h| h.event_id.as_str()).collect()
}

/// GET `path` from `addr` over a fresh connection: the status code and the body.
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut response = String::new();
    s.read_to_string(&mut response).expect("response");
    let code = response
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status");
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (code, body)
}
