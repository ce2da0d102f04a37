//! `supplyline projector`, `projections status` and `projections rebuild`: the read side's
//! workers and its operator tools.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use event_store::EventStore;
use executors::Executors;
use indicatif::{ProgressBar, ProgressStyle};
use projections::runtime::lag;
use projections::{
    Progress, Projection, ReadDb, RebuildReport, Runtime, RuntimeSettings, models, processes,
    rebuild, status,
};
use relay::RelayCheckpoint;

use crate::output::say;

/// Connections of the read models' pool: one per projection, and a few for queries.
const READ_DB_CONNECTIONS: u32 = 12;

/// Opens the read models' database beside `store`'s log.
pub async fn read_db(store: &EventStore) -> anyhow::Result<ReadDb> {
    ReadDb::open(store, READ_DB_CONNECTIONS)
        .await
        .context("cannot open the read models' database")
}

/// Which workers a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workers {
    /// The read models' projectors and the process managers.
    All,
    /// The read models' projectors only.
    ReadModels,
}

/// Starts the projectors (and the process managers, with [`Workers::All`]) over the store
/// `executors` write to; the process managers issue their commands through `executors`.
pub async fn start(
    executors: &Executors,
    workers: Workers,
    settings: RuntimeSettings,
) -> anyhow::Result<Runtime> {
    let store = executors.store();
    let db = read_db(store).await?;
    let mut all = models::all();
    if workers == Workers::All {
        all.extend(processes::all(executors));
    }
    Runtime::start(store.clone(), db, all, settings)
        .await
        .context("cannot start the projectors")
}

/// `supplyline projector`: every projector and process manager, and `/health`, `/ready` and
/// `/metrics` on `listen`, until SIGTERM.
pub async fn run(
    executors: Executors,
    listen: &str,
    workers: Workers,
    settings: RuntimeSettings,
) -> anyhow::Result<()> {
    let store = executors.store().clone();
    store
        .migrate()
        .await
        .context("cannot migrate the event store")?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let metrics = command_api::prometheus();
    let runtime = start(&executors, workers, settings).await?;
    let router = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/ready", get(ready))
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move { metrics.render() }
            }),
        )
        .with_state(store);
    tracing::info!(address = %listener.local_addr()?, "projector running");
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(command_api::shutdown_signal())
        .await;
    // Each worker finishes its batch and commits before it stops.
    runtime.stop().await;
    served.context("the operations server failed")
}

async fn ready(State(store): State<EventStore>) -> impl IntoResponse {
    match store.ready().await {
        Ok(()) => (StatusCode::OK, "ready".to_owned()),
        Err(error) => (StatusCode::SERVICE_UNAVAILABLE, error.to_string()),
    }
}

/// `supplyline projections status`: every projection's position, lag, state and last error.
pub async fn print_status(store: &EventStore) -> anyhow::Result<()> {
    let db = read_db(store).await?;
    let rows = match status::all(&db).await {
        Ok(rows) => rows,
        Err(projections::ProjectionError::Database(error))
            if error.to_string().contains("projection_status") =>
        {
            Vec::new()
        }
        Err(error) => return Err(error.into()),
    };
    let relays = relay::checkpoints(&db)
        .await
        .context("cannot read the relays' checkpoints")?;
    if rows.is_empty() && relays.is_empty() {
        say!("no projection has run yet: start `supplyline serve` or `supplyline projector`");
        return Ok(());
    }
    let head = store.head().await?;
    if let Some(age) = head.horizon_age_seconds.filter(|age| *age >= 1.0) {
        say!(
            "the oldest open transaction in the database is {age:.1} s old: events written \
             since it began are not readable yet, so the lag below may show less"
        );
    }
    say!(
        "{:<18} {:<9} {:>10} {:>10} {:>9}  {:<20}  last error",
        "projection",
        "state",
        "position",
        "lag",
        "lag (s)",
        "rebuilt at"
    );
    for row in rows {
        let lag = lag(store, row.checkpoint()?).await?;
        say!(
            "{:<18} {:<9} {:>10} {:>10} {:>9.1}  {:<20}  {}",
            row.name,
            row.state,
            row.applied,
            lag.events,
            lag.seconds,
            row.rebuilt_at
                .as_deref()
                .map_or("-", |t| &t[..t.len().min(19)]),
            row.last_error.as_deref().unwrap_or("-"),
        );
        if let (Some(event), Some(position)) = (&row.error_event, &row.error_position) {
            say!("{:<18} fails on {event} at position {position}", "");
        }
        if let (Some(applied), Some(started)) = (row.build_applied, &row.build_started_at) {
            let silent = row
                .build_heartbeat
                .as_deref()
                .and_then(projections::time::from_text)
                .map(|beat| (chrono::Utc::now() - beat).num_seconds());
            let total = row.build_total.map_or("?".to_owned(), |t| t.to_string());
            match silent {
                Some(seconds) if seconds > 30 => say!(
                    "{:<18} a rebuild started {started} stopped at {applied} of {total} \
                     events ({seconds} s ago); the next rebuild starts over",
                    ""
                ),
                _ => say!(
                    "{:<18} rebuilding since {started}: {applied} of {total} events",
                    ""
                ),
            }
        }
    }
    print_relays(store, relays).await
}

/// The relays' rows of `projections status`: how many events each published, its lag, and
/// its last error.
async fn print_relays(store: &EventStore, relays: Vec<RelayCheckpoint>) -> anyhow::Result<()> {
    for row in relays {
        let lag = lag(store, row.checkpoint()?).await?;
        say!(
            "{:<18} {:<9} {:>10} {:>10} {:>9.1}  {:<20}  {}",
            format!("relay:{}", row.name),
            row.state.as_deref().unwrap_or("-"),
            row.published,
            lag.events,
            lag.seconds,
            "-",
            row.last_error.as_deref().unwrap_or("-"),
        );
    }
    Ok(())
}

/// `supplyline projections rebuild`: rebuilds `name` (or every projection) while the live
/// tables keep serving, with a progress bar on a terminal and plain lines otherwise.
pub async fn rebuild_named(store: &EventStore, name: Option<&str>) -> anyhow::Result<()> {
    let mut chosen: Vec<Box<dyn Projection>> = match name {
        Some(name) => match models::by_name(name) {
            Some(projection) => vec![projection],
            None if processes::names().contains(&name) => bail!(
                "`{name}` is a process manager: it issues commands, so it is never rebuilt \
                 (rebuilding it would run its decisions again from the start of the log)"
            ),
            None => bail!(
                "no projection is named `{name}`; the projections are: {}",
                models::names().join(", ")
            ),
        },
        None => models::all(),
    };
    let db = read_db(store).await?;
    let mut refs: Vec<&mut dyn Projection> = chosen.iter_mut().map(|p| p.as_mut()).collect();
    let progress = Terminal::new();
    let report = rebuild(
        &store.clone(),
        &db,
        &mut refs,
        &progress,
        Default::default(),
    )
    .await
    .context("the rebuild failed; read models not yet swapped in are unchanged")?;
    say!(
        "rebuilt {} from {} events in {:.1} s ({:.0} events/s)",
        report.projections.join(", "),
        report.events,
        report.elapsed.as_secs_f64(),
        report.events_per_second()
    );
    Ok(())
}

/// Rebuild progress: a bar with events/s and ETA on a terminal, a line every few seconds
/// otherwise.
struct Terminal {
    bar: Option<ProgressBar>,
    started: Instant,
    last_line: Mutex<Instant>,
    total: Mutex<u64>,
}

impl Terminal {
    fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {msg} [{bar:40}] {pos}/{len} events, {per_sec}, ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar
        });
        Self {
            bar,
            started: Instant::now(),
            last_line: Mutex::new(Instant::now()),
            total: Mutex::new(0),
        }
    }
}

impl Progress for Terminal {
    fn started(&self, total: u64) {
        if let Ok(mut t) = self.total.lock() {
            *t = total;
        }
        match &self.bar {
            Some(bar) => {
                bar.set_length(total);
                bar.set_message("building");
            }
            None => eprintln!("rebuilding from {total} events"),
        }
    }

    fn advanced(&self, applied: u64) {
        match &self.bar {
            Some(bar) => bar.set_position(applied),
            None => {
                let Ok(mut last) = self.last_line.lock() else {
                    return;
                };
                if last.elapsed() >= Duration::from_secs(2) {
                    *last = Instant::now();
                    let seconds = self.started.elapsed().as_secs_f64().max(1e-9);
                    let rate = applied as f64 / seconds;
                    let total = self.total.lock().map_or(0, |t| *t);
                    let eta = total.saturating_sub(applied) as f64 / rate.max(1.0);
                    eprintln!("{applied}/{total} events, {rate:.0} events/s, ETA {eta:.0} s");
                }
            }
        }
    }

    fn phase(&self, message: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(message.to_owned()),
            None => eprintln!("{message}"),
        }
    }

    fn finished(&self, _report: &RebuildReport) {
        if let Some(bar) = &self.bar {
            bar.finish_with_message("swapped in");
        }
    }
}
