//! The demo's closing report: events per group, messages per channel, orders per status,
//! revenue, payment outcomes per provider, the order cache, the dead letters with reasons, and
//! the warnings logged meanwhile.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use consumers::runtime::{GroupStats, dead_letter_topic};
use events::headers;
use producers::KafkaConfig;
use rdkafka::message::{Headers, Message};

use super::stores::Stores;
use crate::telemetry::Warnings;

/// One group's run.
#[derive(Debug)]
pub struct GroupRun {
    /// The worker's name.
    pub name: String,
    /// Its counters.
    pub stats: Arc<GroupStats>,
    /// Events on its topics, each finished (handled or dead-lettered) at least once.
    pub events: u64,
}

/// Dead letters per group: events by reason, counted once however often they were
/// dead-lettered (a redelivered malformed event is dead-lettered again).
pub type DeadLetters = BTreeMap<String, BTreeMap<String, u64>>;

/// Reads every group's dead-letter topic and counts its events by reason.
pub async fn dead_letters(
    kafka: &KafkaConfig,
    groups: &[GroupRun],
    group_of: impl Fn(&str) -> String,
) -> anyhow::Result<DeadLetters> {
    let mut out = DeadLetters::new();
    for run in groups {
        let topic = dead_letter_topic(&group_of(&run.name));
        let letters =
            consumers::snapshot::read_all(kafka, &[topic], Duration::from_secs(30)).await?;
        let reasons = out.entry(run.name.clone()).or_default();
        let mut seen = BTreeSet::new();
        for m in &letters {
            let header = |name: &str| {
                m.headers()
                    .and_then(|h| h.iter().find(|h| h.key == name))
                    .and_then(|h| h.value)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
            };
            let source = [
                headers::SOURCE_TOPIC,
                headers::SOURCE_PARTITION,
                headers::SOURCE_OFFSET,
            ]
            .map(header);
            if seen.insert(source) {
                let reason = header(headers::DLQ_REASON).unwrap_or_else(|| "?".into());
                *reasons.entry(reason).or_default() += 1;
            }
        }
    }
    Ok(out)
}

/// Prints the report.
pub async fn print(
    stores: &Stores,
    groups: &[GroupRun],
    dead: &DeadLetters,
    order_ids: &[String],
) -> anyhow::Result<()> {
    // `again`: handlings and dead-letterings beyond one per event, i.e. redeliveries.
    println!(
        "\n{:<14} {:>7} {:>8} {:>6} {:>7} {:>13}",
        "group", "events", "handled", "again", "retried", "dead letters"
    );
    for run in groups {
        let s = &run.stats;
        let handled = s.handled.load(Ordering::Relaxed);
        let lettered = s.dead_lettered.load(Ordering::Relaxed);
        let distinct_letters: u64 = dead.get(&run.name).map_or(0, |r| r.values().sum());
        println!(
            "{:<14} {:>7} {handled:>8} {:>6} {:>7} {distinct_letters:>13}",
            run.name,
            run.events,
            (handled + lettered).saturating_sub(run.events),
            s.retried.load(Ordering::Relaxed),
        );
    }

    println!("\n{:<8} {:>13}", "channel", "messages sent");
    for (channel, sent) in stores.sent_per_channel().await? {
        println!("{channel:<8} {sent:>13}");
    }

    println!("\n{:<10} {:>7}", "status", "orders");
    for s in stores.statuses().await? {
        println!("{:<10} {:>7}", s.status, s.orders);
    }

    println!(
        "\n{:<10} {:<8} {:>14} {:>14} {:>14}",
        "day", "currency", "captured", "refunded", "net"
    );
    for r in stores.revenue().await? {
        let money = |minor: i64| amount(minor, &r.currency);
        println!(
            "{:<10} {:<8} {:>14} {:>14} {:>14}",
            r.day.to_string(),
            r.currency,
            money(r.captured_minor),
            money(r.refunded_minor),
            money(r.net_minor),
        );
    }

    println!(
        "\n{:<10} {:>10} {:>7} {:>8}",
        "provider", "authorized", "failed", "success"
    );
    for p in stores.providers().await? {
        let rate = p
            .success_rate()
            .map_or("-".to_owned(), |r| format!("{:.1}%", r * 100.0));
        println!(
            "{:<10} {:>10} {:>7} {rate:>8}",
            p.provider, p.authorized, p.failed
        );
    }

    let mut cached = 0;
    let mut sample = None;
    for id in order_ids {
        if let Some(entry) = stores.cached(id).await? {
            cached += 1;
            sample.get_or_insert((id.clone(), entry));
        }
    }
    println!(
        "\norder cache: {cached} of {} orders have an entry",
        order_ids.len()
    );
    if let Some((id, entry)) = sample {
        let fields: BTreeMap<_, _> = entry
            .fields
            .iter()
            .filter(|(k, _)| !k.ends_with("version"))
            .collect();
        println!("  {id}: {fields:?}");
    }

    println!("\ndead letters:");
    for (group, reasons) in dead {
        let listed: Vec<String> = reasons.iter().map(|(r, n)| format!("{r} x{n}")).collect();
        println!(
            "  {group:<14} {}",
            if listed.is_empty() {
                "none".to_owned()
            } else {
                listed.join(", ")
            }
        );
    }
    Ok(())
}

/// The warnings and errors logged during the run, one line per distinct one with its count:
/// counted instead of written over the progress bars.
pub fn warnings(warnings: &Warnings) {
    let total = warnings.total();
    if total == 0 {
        println!("\nwarnings: none");
        return;
    }
    println!("\nwarnings: {total}, by where and what (RUST_LOG=warn shows them as they happen)");
    for line in warnings.lines() {
        println!("{line}");
    }
}

/// `minor` in the currency's major unit (`1234` EUR → `12.34`).
fn amount(minor: i64, currency: &str) -> String {
    let units = events::Currency::new(currency).map_or(2, events::Currency::minor_units);
    if units == 0 {
        return minor.to_string();
    }
    let scale = 10_i64.pow(u32::from(units));
    format!(
        "{}{}.{:0width$}",
        if minor < 0 { "-" } else { "" },
        (minor / scale).abs(),
        (minor % scale).abs(),
        width = usize::from(units)
    )
}
