//! The `supplyline` binary: one CLI whose subcommands start each part of the product, or all of
//! them in one process, and run its operator tools.

mod cli;
mod schemas_export;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
