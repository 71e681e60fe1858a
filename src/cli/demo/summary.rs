//! The demo's closing report: events per group (counted by event, with the duplicates each
//! handled), messages per channel, orders per status, revenue, payment outcomes per provider,
//! the order cache, the dead letters with reasons, and the warnings logged meanwhile.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use super::account::Accounted;
use super::stores::Stores;
use crate::telemetry::Warnings;

/// Prints the report.
pub async fn print(
    stores: &Stores,
    groups: &[Accounted],
    order_ids: &[String],
) -> anyhow::Result<()> {
    events_per_group(groups);
    analytics(stores).await?;
    order_cache(stores, order_ids).await?;
    dead_letters(groups);
    Ok(())
}

/// What the notification and analytics workers' stores hold.
async fn analytics(stores: &Stores) -> anyhow::Result<()> {
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

    Ok(())
}

/// How many orders the cache-warming worker cached, and one entry.
async fn order_cache(stores: &Stores, order_ids: &[String]) -> anyhow::Result<()> {
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
    Ok(())
}

/// Each group's dead-lettered events by reason.
fn dead_letters(groups: &[Accounted]) {
    println!("\ndead letters:");
    for g in groups {
        let listed: Vec<String> = g
            .letters
            .reasons
            .iter()
            .map(|(r, n)| format!("{r} x{n}"))
            .collect();
        println!(
            "  {:<14} {}",
            g.run.name,
            if listed.is_empty() {
                "none".to_owned()
            } else {
                listed.join(", ")
            }
        );
    }
}

/// Per group, counted by event: events given, distinct events handled, handler calls, calls
/// that handled an event again (a redelivery), retries and dead-lettered events; then the
/// duplicates in a sentence.
fn events_per_group(groups: &[Accounted]) {
    println!(
        "\n{:<14} {:>7} {:>8} {:>7} {:>10} {:>7} {:>13}",
        "group", "events", "handled", "calls", "duplicates", "retried", "dead letters"
    );
    let mut again = Vec::new();
    for g in groups {
        let (run, tally) = (&g.run, &g.run.tally);
        let retried: u64 = run
            .stats
            .iter()
            .map(|s| s.retried.load(Ordering::Relaxed))
            .sum();
        println!(
            "{:<14} {:>7} {:>8} {:>7} {:>10} {retried:>7} {:>13}",
            run.name,
            run.expected.events(),
            tally.handled(),
            tally.calls(),
            tally.duplicates(),
            g.letters.events(),
        );
        if tally.duplicates() > 0 {
            again.push(format!("{} {}", run.name, tally.duplicates()));
        }
    }
    if again.is_empty() {
        println!("duplicates: none, no event was handled twice");
    } else {
        println!(
            "duplicates: {} (redelivered events handled again; `handled` counts each once)",
            again.join(", ")
        );
    }
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
