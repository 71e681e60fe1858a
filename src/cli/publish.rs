//! `orderbus publish`: one event from flags or `--json`, or many from JSON Lines (`--file`, `-`
//! for stdin). Bad lines are reported with their number and reason; good lines are sent. Exit
//! code 1 when any line failed (invalid or undelivered), 0 otherwise.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::ArgGroup;
use events::{Envelope, TraceParent};
use producers::{EventProducer, PendingDelivery};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader};

use crate::config::Config;

/// Longest line accepted; Kafka's default `message.max.bytes` is about 1 MB.
const MAX_LINE_BYTES: usize = 1_000_000;

#[derive(Debug, clap::Args)]
#[command(group(ArgGroup::new("input").required(true).args(["event_type", "json", "file"])))]
pub struct Args {
    /// Event type, e.g. order.created (with --order-id and --data).
    #[arg(long = "type", value_name = "EVENT_TYPE", requires_all = ["order_id", "data"])]
    event_type: Option<String>,
    /// Order ID (the message key).
    #[arg(long, requires = "event_type")]
    order_id: Option<String>,
    /// The event's `data` as JSON.
    #[arg(long, requires = "event_type")]
    data: Option<String>,
    /// A whole event as JSON; event_id, occurred_at, schema_version and producer may be left out.
    #[arg(long)]
    json: Option<String>,
    /// JSON Lines file, one event per line as for --json; `-` reads stdin.
    #[arg(long, short)]
    file: Option<PathBuf>,
    /// Stop at the first bad line instead of reporting it and going on.
    #[arg(long)]
    stop_on_error: bool,
    /// Continue this W3C trace (default: a new trace per event).
    #[arg(long)]
    traceparent: Option<String>,
    /// Deliveries awaited at once when reading a file.
    #[arg(long, default_value_t = 10_000)]
    max_in_flight: usize,
}

pub async fn run(config: &Config, args: Args) -> anyhow::Result<ExitCode> {
    let trace = args
        .traceparent
        .as_deref()
        .map(str::parse::<TraceParent>)
        .transpose()?;
    let producer = EventProducer::new(&config.kafka, &config.producer, &config.topics)?;
    let single = match (&args.event_type, &args.json) {
        (Some(t), _) => Some(serde_json::json!({
            "event_type": t,
            "order_id": args.order_id,
            "data": serde_json::from_str::<serde_json::Value>(args.data.as_deref().unwrap_or_default())
                .context("--data is not JSON")?,
        })
        .to_string()),
        (None, Some(json)) => Some(json.clone()),
        (None, None) => None,
    };
    if let Some(text) = single {
        let event = events::decode_publish_input(&text, producer.name())?;
        let delivery = producer.enqueue(&event, trace).await?.await?;
        println!(
            "{} {} -> {}[{}]@{} event_id={}",
            event.event_type(),
            event.order_id,
            delivery.topic,
            delivery.partition,
            delivery.offset,
            delivery.event_id
        );
        return Ok(ExitCode::SUCCESS);
    }
    let path = args
        .file
        .clone()
        .context("one of --type, --json or --file is required")?;
    let report = if path.as_os_str() == "-" {
        publish_lines(&producer, BufReader::new(tokio::io::stdin()), &args, trace).await?
    } else {
        let file = tokio::fs::File::open(&path)
            .await
            .with_context(|| format!("cannot open {}", path.display()))?;
        publish_lines(&producer, BufReader::new(file), &args, trace).await?
    };
    eprintln!(
        "published {} of {} events; {} lines failed ({} invalid, {} undelivered)",
        report.delivered,
        report.lines,
        report.invalid + report.undelivered,
        report.invalid,
        report.undelivered
    );
    Ok(if report.invalid + report.undelivered == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[derive(Debug, Default)]
struct Report {
    lines: u64,
    delivered: u64,
    invalid: u64,
    undelivered: u64,
}

async fn publish_lines(
    producer: &EventProducer,
    mut reader: impl AsyncBufRead + Unpin,
    args: &Args,
    trace: Option<TraceParent>,
) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let mut in_flight: VecDeque<(u64, PendingDelivery)> = VecDeque::new();
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    loop {
        buf.clear();
        // Bytes, not `lines()`: a line that is not UTF-8 is reported, not fatal to the read.
        if reader.read_until(b'\n', &mut buf).await? == 0 {
            break;
        }
        line_no += 1;
        let line = trim_newline(&buf);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        report.lines += 1;
        match parse_line(line, producer.name()) {
            Ok(event) => match producer.enqueue(&event, trace.map(|t| t.child())).await {
                Ok(pending) => in_flight.push_back((line_no, pending)),
                Err(e) if e.is_retryable() => {
                    report.undelivered += 1;
                    eprintln!("line {line_no}: not sent: {e}");
                }
                Err(e) => {
                    report.invalid += 1;
                    eprintln!("line {line_no}: {e}");
                }
            },
            Err(reason) => {
                report.invalid += 1;
                eprintln!("line {line_no}: {reason}");
                if args.stop_on_error {
                    eprintln!("stopping at line {line_no} (--stop-on-error)");
                    break;
                }
            }
        }
        while in_flight.len() >= args.max_in_flight.max(1) {
            if let Some((n, pending)) = in_flight.pop_front() {
                settle(n, pending.await, &mut report);
            }
        }
    }
    for (n, pending) in in_flight {
        settle(n, pending.await, &mut report);
    }
    producer.flush(Duration::from_secs(30)).await?;
    Ok(report)
}

fn settle(line: u64, outcome: producers::Result<producers::Delivery>, report: &mut Report) {
    match outcome {
        Ok(_) => report.delivered += 1,
        Err(e) => {
            report.undelivered += 1;
            eprintln!("line {line}: delivery failed: {e}");
        }
    }
}

fn trim_newline(buf: &[u8]) -> &[u8] {
    let buf = buf.strip_suffix(b"\n").unwrap_or(buf);
    buf.strip_suffix(b"\r").unwrap_or(buf)
}

fn parse_line(line: &[u8], producer: &str) -> Result<Envelope, String> {
    if line.len() > MAX_LINE_BYTES {
        return Err(format!(
            "line is {} bytes; the limit is {MAX_LINE_BYTES}",
            line.len()
        ));
    }
    let text = std::str::from_utf8(line).map_err(|e| {
        events::Error::NotUtf8 {
            valid_up_to: e.valid_up_to(),
        }
        .to_string()
    })?;
    events::decode_publish_input(text, producer).map_err(|e| e.to_string())
}
