//! `supplyline bench all`: every benchmark in one go, then one table of every figure beside
//! its ceiling and ratio. `--quick` runs each briefly (a smoke run, not figures to quote).

use std::sync::Mutex;

use super::{
    CommandBenchOptions, HotBenchOptions, ProcessBenchOptions, ProjectionBenchOptions,
    QueryBenchOptions, RelayBenchOptions, StoreBenchOptions, TransparencyBenchOptions,
};

/// One figure of a run, for the table.
struct Figure {
    bench: &'static str,
    what: String,
    value: String,
    ceiling: String,
    ratio: Option<f64>,
}

/// The figures the benches recorded in this process.
static FIGURES: Mutex<Vec<Figure>> = Mutex::new(Vec::new());

/// Records a figure of `bench` for the table of `bench all`: what was measured, its value,
/// the ceiling beside it (if any) and their ratio.
pub(crate) fn record(
    bench: &'static str,
    what: impl Into<String>,
    value: impl Into<String>,
    ceiling: Option<String>,
    ratio: Option<f64>,
) {
    if let Ok(mut figures) = FIGURES.lock() {
        figures.push(Figure {
            bench,
            what: what.into(),
            value: value.into(),
            ceiling: ceiling.unwrap_or_else(|| "-".into()),
            ratio,
        });
    }
}

/// Runs every benchmark on PostgreSQL (`admin_url`), each on a scratch database of its own
/// (the relay's into the NATS server at `nats_url`), then prints the table.
pub async fn run(admin_url: &str, nats_url: &str, quick: bool) -> anyhow::Result<()> {
    let (seconds, scale) = if quick { (0.3, 100) } else { (10.0, 1) };
    super::run_store(
        admin_url,
        StoreBenchOptions {
            seconds: seconds / 2.0,
            read_events: 200_000 / scale,
            memory_events: 1_000_000 / scale,
        },
    )
    .await?;
    println!();
    super::run_commands(admin_url, CommandBenchOptions { seconds }).await?;
    println!();
    super::run_hot(
        admin_url,
        HotBenchOptions {
            seconds,
            history: 100_000 / scale,
        },
    )
    .await?;
    println!();
    super::run_projections(
        admin_url,
        ProjectionBenchOptions {
            events: 1_000_000 / scale,
            rate: 200,
            seconds,
            sqlite_events: 200_000 / scale,
        },
    )
    .await?;
    println!();
    super::run_processes(
        admin_url,
        ProcessBenchOptions {
            seconds,
            rate: 100,
            max_rate: if quick { 200 } else { 25_600 },
        },
    )
    .await?;
    println!();
    super::run_queries(
        admin_url,
        QueryBenchOptions {
            orders: 100_000 / scale,
            seconds,
            clients: 16,
        },
    )
    .await?;
    println!();
    super::run_relay(
        admin_url,
        RelayBenchOptions {
            events: 200_000 / scale,
            rate: 500,
            seconds,
            nats_url: nats_url.to_owned(),
        },
    )
    .await?;
    println!();
    super::run_transparency(
        admin_url,
        TransparencyBenchOptions {
            events: 1_000_000 / scale,
            proofs: if quick { 50 } else { 2_000 },
        },
    )
    .await?;
    print_table();
    Ok(())
}

/// Prints every recorded figure as one table.
fn print_table() {
    let Ok(figures) = FIGURES.lock() else {
        return;
    };
    println!(
        "\n{:<12} {:<46} {:<34} {:<22} {:>5}",
        "bench", "figure", "value", "ceiling", "ratio"
    );
    for figure in figures.iter() {
        let ratio = figure
            .ratio
            .map_or_else(|| "-".to_owned(), |r| format!("{r:.2}"));
        println!(
            "{:<12} {:<46} {:<34} {:<22} {:>5}",
            figure.bench, figure.what, figure.value, figure.ceiling, ratio
        );
    }
}
