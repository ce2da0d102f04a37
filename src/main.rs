//! The `supplyline` binary: one CLI whose subcommands start each part of the product, or all of
//! them in one process, and run its operator tools.

mod audit;
mod bench;
mod cli;
mod demo;
mod keys;
mod output;
mod projector;
mod query;
mod relaying;
mod schemas_export;
mod serve;
mod settings;
mod telemetry;
mod transparency;

use std::process::ExitCode;

use clap::Parser;

/// The allocator of the whole process: mimalloc rather than glibc's. Log readers (projectors,
/// audits, the bench) hold a batch of decoded events, tens of thousands of small JSON
/// allocations, and free it at once; glibc coalesces and consolidates on such frees and the
/// store's log read spent about a quarter more CPU under it (the raw scan, which frees row by
/// row, was unaffected).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
