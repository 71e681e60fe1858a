//! The `orderbus` binary as a test runs it: only the settings the test gives (no orderbus.toml
//! from the working directory, no stray `ORDERBUS_*` variable), pointed at the shared broker.
//! Cargo tells only the binary's own package where it is, so call this through
//! [`orderbus!`](crate::orderbus).

use std::process::Command;

use producers::TopicsConfig;

/// `orderbus` with an empty working directory of its own and no inherited `ORDERBUS_*`
/// variables, pointed at `KAFKA_BOOTSTRAP_SERVERS` when that is set.
pub fn command(bin: &str) -> Command {
    let mut cmd = Command::new(bin);
    cmd.current_dir(tempfile::tempdir().expect("tempdir").keep());
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("ORDERBUS_")) {
        cmd.env_remove(k);
    }
    if let Ok(b) = std::env::var("KAFKA_BOOTSTRAP_SERVERS") {
        cmd.env("ORDERBUS_KAFKA__BOOTSTRAP_SERVERS", b);
    }
    cmd
}

/// Points `cmd` at the test's topics.
pub fn with_topics<'c>(cmd: &'c mut Command, topics: &TopicsConfig) -> &'c mut Command {
    cmd.env("ORDERBUS_TOPICS__ORDER_EVENTS", &topics.order_events)
        .env("ORDERBUS_TOPICS__PAYMENT_EVENTS", &topics.payment_events)
}

/// The `orderbus` binary of the calling package's tests, as [`command`] sets it up.
#[macro_export]
macro_rules! orderbus {
    () => {
        $crate::cli::command(env!("CARGO_BIN_EXE_orderbus"))
    };
}
