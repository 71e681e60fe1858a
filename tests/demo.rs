//! `orderbus demo` as users run it: the pipeline on the embedded broker, which must end only
//! when every group handled or dead-lettered every event, counted by event, even when a group
//! redelivers (a forced rebalance); and whose screen is the summary, not log lines.

use std::process::Output;

/// Runs the demo with `args` after `demo`; it must succeed.
fn demo(args: &[&str]) -> (String, String) {
    let out: Output = testkit::orderbus!()
        .arg("demo")
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    (stdout, stderr)
}

fn number_after(stdout: &str, prefix: &str) -> u64 {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(prefix)?.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no `{prefix}` line in {stdout}"))
}

/// A group's row of the summary: events, handled (distinct), calls, duplicates, retried,
/// dead letters.
struct Row {
    events: u64,
    handled: u64,
    calls: u64,
    duplicates: u64,
    dead: u64,
}

fn row(stdout: &str, group: &str) -> Row {
    let numbers: Vec<u64> = stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix(group)?
                .split_whitespace()
                .map(|n| n.parse().ok())
                .collect()
        })
        .unwrap_or_else(|| panic!("no row for {group} in {stdout}"));
    let [events, handled, calls, duplicates, _retried, dead] = numbers[..] else {
        panic!("row for {group}: {numbers:?}");
    };
    Row {
        events,
        handled,
        calls,
        duplicates,
        dead,
    }
}

/// Every group was given every event on its topics (the payment group the order events, the
/// others the published ones and the payment group's outcomes, all with the two malformed
/// ones), handled each valid one at least once and dead-lettered the two malformed ones, each
/// once as an event however often a redelivery dead-lettered it again. Gives each group's row.
fn every_event_accounted_for(stdout: &str) -> Vec<(&'static str, Row)> {
    let published = number_after(stdout, "published ");
    let outcomes = number_after(stdout, "payment group published ");
    // `published N events for M orders (K order events) ...`
    let order_events = number_after(stdout.split_once(" orders (").expect("order events").1, "");
    let mut rows = Vec::new();
    for group in ["payment", "notification", "analytics", "cache-warming"] {
        let r = row(stdout, group);
        let given = if group == "payment" {
            order_events
        } else {
            published + outcomes
        };
        assert_eq!(r.events, given + 2, "{group} events: {stdout}");
        assert_eq!(r.dead, 2, "{group} dead letters: {stdout}");
        assert_eq!(r.handled, r.events - 2, "{group} handled: {stdout}");
        assert!(
            r.calls >= r.handled + r.duplicates,
            "{group} calls: {stdout}"
        );
        rows.push((group, r));
    }
    assert!(stdout.contains("\nduplicates: "), "{stdout}");
    rows
}

#[test]
fn the_demo_runs_the_pipeline_on_the_embedded_broker() {
    let (stdout, stderr) = demo(&["--orders", "60"]);
    // scripts/test.sh exports DATABASE_URL and REDIS_URL, so the real stores answer here.
    assert!(stdout.contains("PostgreSQL: answers"), "{stdout}");
    assert!(stdout.contains("Redis: answers"), "{stdout}");
    every_event_accounted_for(&stdout);
    assert!(
        stdout.contains("order cache: 60 of 60 orders have an entry"),
        "{stdout}"
    );
    // Analytics saw every order: its status table covers all 60.
    let statuses: u64 = stdout
        .lines()
        .skip_while(|l| !l.starts_with("status"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum();
    assert_eq!(statuses, 60, "orders per status: {stdout}");
    assert!(
        stdout.contains("notification   missing_field x1, not_json x1"),
        "{stdout}"
    );
    // A quiet screen: no log line (one per message sent used to flood it), and the warnings
    // counted in one line each after the summary.
    assert!(
        !stderr.contains(" INFO ") && !stderr.contains(" WARN "),
        "{stderr}"
    );
    assert!(!stdout.contains("would send"), "{stdout}");
    assert!(stdout.contains("\nwarnings: "), "{stdout}");
}

#[test]
fn a_group_that_redelivers_still_makes_the_demo_wait_for_every_event() {
    // A second notification member joins after 50 of its ~360 handler calls, and the first
    // member's further calls wait for it: the rebalance redelivers what was in flight, so the
    // group's handler calls pass its number of events before every event was handled.
    let (stdout, _) = demo(&["--orders", "60", "--rebalance-after", "50"]);
    assert!(
        stdout.contains("rebalance: a second member joins demo-notification-"),
        "{stdout}"
    );
    let rows = every_event_accounted_for(&stdout);
    let (_, notification) = rows
        .iter()
        .find(|(g, _)| *g == "notification")
        .expect("notification row");
    assert!(
        notification.duplicates > 0,
        "the rebalance redelivered nothing, so this run proved nothing: {stdout}"
    );
    assert!(
        stdout.contains("duplicates: notification "),
        "the duplicates line names the group: {stdout}"
    );
}
