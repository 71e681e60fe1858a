//! The `orderbus` binary: parse arguments, load config, call into the crates. All logic lives in
//! `events`, `producers`, `consumers` and `adapters`; this stays thin.

mod cli;
mod config;
mod telemetry;

use std::process::ExitCode;

use clap::Parser;

// Many threads (tokio's workers, librdkafka's, the poll threads) allocate and free each event's
// buffers; glibc's arenas contend on that and fragment. Measured with `orderbus bench consume`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
