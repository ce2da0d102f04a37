//! The command line: the subcommands, each with only the settings it uses, and dispatch to each.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use command_api::Authenticator;
use executors::{ExecutorSettings, Executors};

use crate::keys::KeySource;
use crate::output::say;
use crate::settings::{
    HttpArgs, IdempotencyArgs, JwtArgs, LogArgs, ProjectorArgs, RelayArgs, SnapshotArgs, StoreArgs,
    TlogArgs, parse_duration,
};
use crate::{
    audit, bench, demo, projector, query, relaying, schemas_export, serve, telemetry, transparency,
};

/// supplyline: an event-sourced CQRS backend for a farm-to-table supply chain.
///
/// Every part (command API, projectors, query API) can run alone against PostgreSQL, or all
/// together with `serve` (on the embedded SQLite store by default). Each subcommand's `--help`
/// lists its settings.
#[derive(Debug, Parser)]
#[command(name = "supplyline", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    action: Action,
}

/// What a long-running service takes: the store, HTTP, tokens and logging.
#[derive(Debug, Args)]
struct ServiceArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    http: HttpArgs,
    #[command(flatten)]
    jwt: JwtArgs,
    #[command(flatten)]
    log: LogArgs,
}

/// What a service that executes commands takes: a service's settings and snapshots.
#[derive(Debug, Args)]
struct CommandServiceArgs {
    #[command(flatten)]
    service: ServiceArgs,
    #[command(flatten)]
    snapshots: SnapshotArgs,
    #[command(flatten)]
    keys: IdempotencyArgs,
}

/// What `serve` takes: a command service's settings and the projectors'.
#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    command: CommandServiceArgs,
    #[command(flatten)]
    projector: ProjectorArgs,
    #[command(flatten)]
    relay: RelayArgs,
    #[command(flatten)]
    tlog: TlogArgs,
    /// Seed a farm-to-table day (farms, restaurants, a driver, an inspector) through the API
    /// once it listens; a database seeded before is left alone.
    #[arg(long)]
    demo: bool,
}

/// What `projector` takes: the store, where to serve its health and metrics, the projectors'
/// settings and logging.
#[derive(Debug, Args)]
struct ProjectorServiceArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The address `/health`, `/ready` and `/metrics` are served on.
    #[arg(long, env = "SUPPLYLINE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    #[command(flatten)]
    projector: ProjectorArgs,
    #[command(flatten)]
    snapshots: SnapshotArgs,
    #[command(flatten)]
    log: LogArgs,
}

/// What `relay` takes: the store, the broker, and how to log.
#[derive(Debug, Args)]
struct RelayServiceArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    relay: RelayArgs,
    #[command(flatten)]
    log: LogArgs,
}

/// What `transparency-log` takes: the store, the signing key, and how to log.
#[derive(Debug, Args)]
struct TlogServiceArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    tlog: TlogArgs,
    #[command(flatten)]
    log: LogArgs,
}

/// What an operator tool takes: the store, and how to log.
#[derive(Debug, Args)]
struct ToolArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    log: LogArgs,
}

impl ToolArgs {
    /// Starts logging and opens the store.
    async fn open(&self) -> anyhow::Result<event_store::EventStore> {
        telemetry::init(self.log.log_format);
        self.store.open().await
    }
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Run everything in one process on one listener (`/v1/...`, `/graphql`, `/health`, ...).
    Serve(ServeArgs),
    /// Run the HTTP command API alone.
    CommandApi(CommandServiceArgs),
    /// Run the projector workers (read models and process managers) alone, with `/health`,
    /// `/ready` and `/metrics`.
    Projector(ProjectorServiceArgs),
    /// Run the GraphQL query API alone.
    QueryApi(ServiceArgs),
    /// Relay every event of the log, in log order, to NATS JetStream (one live relay across
    /// processes; others stand by).
    Relay(RelayServiceArgs),
    /// Run the transparency log's worker alone: every event, in log order, appended to a
    /// Merkle tree, with signed checkpoints; one live worker across processes.
    TransparencyLog(TlogServiceArgs),
    /// Print a JWT signed with the configured key, for development and scripts.
    Token {
        /// The actor id (`sub` claim).
        #[arg(long)]
        sub: String,
        /// The role (`role` claim): farmer, restaurant, distributor, inspector, admin, auditor
        /// or analyst.
        #[arg(long)]
        role: String,
        /// How long the token is valid, e.g. `1h`, `30m`, `7d`.
        #[arg(long, default_value = "1h", value_parser = parse_duration)]
        ttl: Duration,
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        jwt: JwtArgs,
    },
    /// Read-model state and rebuilds.
    Projections {
        #[command(subcommand)]
        command: ProjectionsCommand,
    },
    /// Tamper checks of the log: its hash chains, and its transparency log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Print an aggregate's state at a point in its history.
    Replay {
        /// The aggregate type: stock, order, delivery, inspection or purchase.
        aggregate_type: String,
        /// The aggregate id.
        id: String,
        /// Stop after this stream version.
        #[arg(long, conflicts_with = "at_time")]
        at_version: Option<u64>,
        /// Stop at this time (RFC 3339).
        #[arg(long)]
        at_time: Option<String>,
        #[command(flatten)]
        tool: ToolArgs,
    },
    /// Apply the database migrations.
    Migrate(ToolArgs),
    /// The event JSON Schemas.
    Schemas {
        #[command(subcommand)]
        command: SchemasCommand,
    },
    /// Benchmarks against the raw database ceiling (PostgreSQL).
    Bench {
        #[command(subcommand)]
        target: BenchTarget,
    },
}

/// The NATS server the relay benchmark publishes to.
#[derive(Debug, Args)]
struct BenchNatsArgs {
    /// A NATS server with JetStream (the benchmark makes streams of its own and deletes them).
    #[arg(
        long,
        env = "SUPPLYLINE_NATS_URL",
        default_value = "nats://127.0.0.1:4222"
    )]
    nats_url: String,
}

#[derive(Debug, Subcommand)]
enum BenchTarget {
    /// Appends/s at 1, 16 and 64 writers and global-log reads/s, next to raw PostgreSQL.
    Store {
        /// Seconds each append measurement runs.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Events in the log for the read measurement.
        #[arg(long, default_value_t = 200_000)]
        read_events: u64,
        /// Events in the log for the memory check.
        #[arg(long, default_value_t = 1_000_000)]
        memory_events: u64,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Commands/s and latency over HTTP at 16 and 64 clients, next to the raw append ceiling.
    Commands {
        /// Seconds each measurement runs.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// One hot aggregate: commands/s at 16 and 64 clients from one and from two processes,
    /// and the cost of a command on an item with a long history.
    Hot {
        /// Seconds each measurement runs.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Orders (each reserved and delivered) in the long-lived item's history.
        #[arg(long, default_value_t = 100_000)]
        history: u64,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// The order process: orders placed/s over HTTP and the time from an order's 201 to its
    /// CONFIRMED in the read model, at `--rate` and doubling until it no longer keeps up.
    Processes {
        /// Seconds each rate runs.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// The first rate, in orders/s.
        #[arg(long, default_value_t = 100)]
        rate: u32,
        /// The last rate tried, in orders/s.
        #[arg(long, default_value_t = 25_600)]
        max_rate: u32,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Read models: a rebuild's events/s from a long log next to raw upserts of its rows, the
    /// latency from a command's answer to its effect, and SQLite command latency during a
    /// rebuild.
    Projections {
        /// Events in the PostgreSQL log the rebuild reads.
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// Commands per second while latencies are measured.
        #[arg(long, default_value_t = 200)]
        rate: u32,
        /// Seconds each latency measurement runs.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Events in the SQLite log rebuilt while command latency is measured.
        #[arg(long, default_value_t = 200_000)]
        sqlite_events: u64,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// GraphQL over HTTP: requests/s, p50 and p99 of `orders(first: 50)` and `stockItem(id)`
    /// over read models rebuilt from a log of `--orders` orders, next to the same rows read
    /// by direct SQL through the same pool.
    Queries {
        /// Orders in the read models (each a whole simulated life in the log).
        #[arg(long, default_value_t = 100_000)]
        orders: u64,
        /// Seconds each measurement runs.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Concurrent clients, and tasks of the ceiling.
        #[arg(long, default_value_t = 16)]
        clients: usize,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// The relay to NATS JetStream: events/s relayed from a log of `--events` events next to
    /// the same messages published by a plain async-nats client, and the lag from a
    /// command's answer to the broker's acknowledgement at `--rate` commands/s.
    Relay {
        /// Events in the log the relay publishes.
        #[arg(long, default_value_t = 200_000)]
        events: u64,
        /// Commands per second while the lag is measured.
        #[arg(long, default_value_t = 500)]
        rate: u32,
        /// Seconds the lag is measured.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        #[command(flatten)]
        nats: BenchNatsArgs,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// The transparency log: leaves appended to the tree next to raw SHA-256 of the same
    /// bytes, the worker from a log into the stored tree, and the cost of an inclusion proof.
    Transparency {
        /// Events in the log.
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// Inclusion proofs timed.
        #[arg(long, default_value_t = 2_000)]
        proofs: usize,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Every benchmark above in one go (store, commands, hot, projections, processes,
    /// queries, relay, transparency), then one table of every figure beside its ceiling and
    /// ratio.
    All {
        /// Each briefly, at a hundredth of the data: proves they run, not figures to quote.
        #[arg(long)]
        quick: bool,
        #[command(flatten)]
        nats: BenchNatsArgs,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, Subcommand)]
enum ProjectionsCommand {
    /// Show every read model's position, lag and status.
    Status(ToolArgs),
    /// Rebuild one read model (or all) from the start of the log while the old one serves.
    Rebuild {
        /// The read model's name.
        #[arg(required_unless_present = "all")]
        name: Option<String>,
        /// Rebuild every read model.
        #[arg(long, conflicts_with = "name")]
        all: bool,
        #[command(flatten)]
        tool: ToolArgs,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check the hash chain of one stream or of the whole log; or, with `--checkpoint`, that
    /// the log still holds a held checkpoint's tree unchanged (exits non-zero if not).
    Verify {
        /// Only this aggregate type's stream (with `--id`).
        #[arg(long = "type", requires = "id", conflicts_with = "checkpoint")]
        aggregate_type: Option<String>,
        /// Only this aggregate's stream (with `--type`).
        #[arg(long, requires = "aggregate_type")]
        id: Option<String>,
        /// A checkpoint of the transparency log an auditor kept (a file).
        #[arg(long, requires = "key")]
        checkpoint: Option<PathBuf>,
        /// The verifier key the checkpoint must be signed by (its text, or a file holding it).
        #[arg(long, requires = "checkpoint")]
        key: Option<String>,
        #[command(flatten)]
        tool: ToolArgs,
    },
    /// Print the transparency log's latest signed checkpoint (a C2SP signed note).
    Checkpoint {
        #[command(flatten)]
        tool: ToolArgs,
    },
    /// Print an event's inclusion proof (JSON) against a checkpoint.
    Prove {
        /// The event's id.
        event_id: String,
        /// The tree size to prove against (the latest checkpoint's when absent).
        #[arg(long)]
        size: Option<u64>,
        #[command(flatten)]
        tool: ToolArgs,
    },
    /// Print the consistency proof (JSON) between two tree sizes.
    Consistency {
        /// The older tree's size.
        #[arg(long)]
        from: u64,
        /// The newer tree's size.
        #[arg(long)]
        to: u64,
        #[command(flatten)]
        tool: ToolArgs,
    },
    /// Make a signing key for the transparency log, and print it with its verifier key.
    Keygen {
        /// The key's name, also the log's origin in its checkpoints (e.g. `example.com/log`).
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum SchemasCommand {
    /// Write the JSON Schema of every event version and of the metadata into a directory.
    Export {
        /// The directory to write into (created if missing).
        dir: PathBuf,
    },
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.action {
        Action::Schemas {
            command: SchemasCommand::Export { dir },
        } => {
            let written = schemas_export::export(&dir)?;
            say!("wrote {written} schemas to {}", dir.display());
            Ok(())
        }
        Action::Migrate(tool) => {
            let store = tool.open().await?;
            store.migrate().await?;
            say!("migrated the {} event store", store.backend_name());
            Ok(())
        }
        Action::Audit {
            command:
                AuditCommand::Verify {
                    tool,
                    aggregate_type,
                    id,
                    checkpoint,
                    key,
                },
        } => {
            let store = tool.open().await?;
            if let Some((checkpoint, key)) = checkpoint.zip(key) {
                if !transparency::verify(&store, &checkpoint, &key).await? {
                    bail!("the log no longer holds the checkpoint's tree: events were altered");
                }
                return Ok(());
            }
            if !audit::verify(&store, aggregate_type.zip(id)).await? {
                bail!("the log's hash chain is broken: events were altered");
            }
            Ok(())
        }
        Action::Audit {
            command: AuditCommand::Checkpoint { tool },
        } => transparency::print_checkpoint(&tool.open().await?).await,
        Action::Audit {
            command:
                AuditCommand::Prove {
                    event_id,
                    size,
                    tool,
                },
        } => transparency::print_inclusion(&tool.open().await?, &event_id, size).await,
        Action::Audit {
            command: AuditCommand::Consistency { from, to, tool },
        } => transparency::print_consistency(&tool.open().await?, from, to).await,
        Action::Audit {
            command: AuditCommand::Keygen { name },
        } => transparency::print_new_key(&name),
        Action::TransparencyLog(args) => {
            telemetry::init(args.log.log_format);
            let Some(key) = args.tlog.key()? else {
                bail!(
                    "the transparency log needs a signing key: set --tlog-key-file or \
                     SUPPLYLINE_TLOG_KEY (`supplyline audit keygen` makes one)"
                );
            };
            let settings = args.tlog.settings(&key)?;
            let store = args.store.open().await?;
            transparency::run(store, key, settings).await
        }
        Action::Replay {
            tool,
            aggregate_type,
            id,
            at_version,
            at_time,
        } => {
            let until = audit::until(at_version, at_time.as_deref())?;
            let store = tool.open().await?;
            audit::print_replay(&store, &aggregate_type, &id, until).await
        }
        Action::Bench {
            target:
                BenchTarget::Store {
                    store,
                    seconds,
                    read_events,
                    memory_events,
                },
        } => {
            let options = bench::StoreBenchOptions {
                seconds,
                read_events,
                memory_events,
            };
            bench::run_store(&store.database_url, options).await
        }
        Action::Bench {
            target: BenchTarget::Commands { store, seconds },
        } => bench::run_commands(&store.database_url, bench::CommandBenchOptions { seconds }).await,
        Action::Bench {
            target:
                BenchTarget::Hot {
                    store,
                    seconds,
                    history,
                },
        } => {
            let options = bench::HotBenchOptions { seconds, history };
            bench::run_hot(&store.database_url, options).await
        }
        Action::Bench {
            target:
                BenchTarget::Processes {
                    store,
                    seconds,
                    rate,
                    max_rate,
                },
        } => {
            let options = bench::ProcessBenchOptions {
                seconds,
                rate,
                max_rate,
            };
            bench::run_processes(&store.database_url, options).await
        }
        Action::Bench {
            target:
                BenchTarget::Projections {
                    store,
                    events,
                    rate,
                    seconds,
                    sqlite_events,
                },
        } => {
            let options = bench::ProjectionBenchOptions {
                events,
                rate,
                seconds,
                sqlite_events,
            };
            bench::run_projections(&store.database_url, options).await
        }
        Action::Bench {
            target: BenchTarget::All { store, quick, nats },
        } => bench::run_all(&store.database_url, &nats.nats_url, quick).await,
        Action::Bench {
            target:
                BenchTarget::Relay {
                    store,
                    events,
                    rate,
                    seconds,
                    nats,
                },
        } => {
            let options = bench::RelayBenchOptions {
                events,
                rate,
                seconds,
                nats_url: nats.nats_url,
            };
            bench::run_relay(&store.database_url, options).await
        }
        Action::Bench {
            target:
                BenchTarget::Transparency {
                    store,
                    events,
                    proofs,
                },
        } => {
            let options = bench::TransparencyBenchOptions { events, proofs };
            bench::run_transparency(&store.database_url, options).await
        }
        Action::Bench {
            target:
                BenchTarget::Queries {
                    store,
                    orders,
                    seconds,
                    clients,
                },
        } => {
            let options = bench::QueryBenchOptions {
                orders,
                seconds,
                clients,
            };
            bench::run_queries(&store.database_url, options).await
        }
        Action::Token {
            store,
            jwt,
            sub,
            role,
            ttl,
        } => {
            let role = event_schemas::values::Role::from_claim(&role).with_context(|| {
                format!(
                    "`{role}` is not a role: use farmer, restaurant, distributor, inspector, \
                     admin, auditor or analyst"
                )
            })?;
            let actor = event_schemas::values::ActorId::parse(&sub).context("invalid --sub")?;
            if command_api::is_reserved(&actor) {
                bail!("`{sub}` is reserved for supplyline's own processes: choose another --sub");
            }
            let (jwt, _) = jwt.config(&store)?;
            let token = command_api::mint_token(&jwt, &sub, role, ttl.as_secs())?;
            say!("{token}");
            Ok(())
        }
        Action::Serve(args) => {
            let everything = Everything {
                projectors: args.projector,
                relay: args.relay.jetstream(),
                tlog: match args.tlog.key()? {
                    Some(key) => {
                        let settings = args.tlog.settings(&key)?;
                        Some((key, settings))
                    }
                    None => None,
                },
                demo: args.demo,
            };
            serve_command_api(args.command, Some(everything)).await
        }
        Action::Relay(args) => {
            telemetry::init(args.log.log_format);
            let Some(nats) = args.relay.jetstream() else {
                bail!("the relay needs a NATS server: set --nats-url or SUPPLYLINE_NATS_URL");
            };
            let store = args.store.open().await?;
            relaying::run(store, nats).await
        }
        Action::CommandApi(args) => serve_command_api(args, None).await,
        Action::Projector(args) => {
            telemetry::init(args.log.log_format);
            let store = args.store.open().await?;
            let executors = Executors::new(
                store,
                ExecutorSettings {
                    snapshot_every: args.snapshots.snapshot_every,
                    ..ExecutorSettings::default()
                },
            );
            let workers = args.projector.workers();
            projector::run(executors, &args.listen, workers, args.projector.settings()).await
        }
        Action::QueryApi(service) => {
            telemetry::init(service.log.log_format);
            let (jwt, _) = service.jwt.config(&service.store)?;
            let store = service.store.open().await?;
            query::run(store, &jwt, &service.http).await
        }
        Action::Projections {
            command: ProjectionsCommand::Status(tool),
        } => {
            let store = tool.open().await?;
            projector::print_status(&store).await
        }
        Action::Projections {
            command: ProjectionsCommand::Rebuild { name, all: _, tool },
        } => {
            let store = tool.open().await?;
            store
                .migrate()
                .await
                .context("cannot migrate the event store")?;
            projector::rebuild_named(&store, name.as_deref()).await
        }
    }
}

/// What `serve` runs beside the command API.
struct Everything {
    projectors: ProjectorArgs,
    /// Where to relay the log, if anywhere.
    relay: Option<relay::JetStreamSettings>,
    /// The transparency log's key and settings, if it is to be built.
    tlog: Option<(transparency_log::SigningKey, ::transparency::TreeSettings)>,
    demo: bool,
}

/// `serve` and `command-api`: the command API (and with `projectors`, every projector in the
/// same process) until SIGTERM.
/// Serves the command API, with the projectors, GraphQL and maybe the demo (`serve`) or alone
/// (`command-api`).
async fn serve_command_api(
    args: CommandServiceArgs,
    everything: Option<Everything>,
) -> anyhow::Result<()> {
    let CommandServiceArgs {
        service,
        snapshots,
        keys,
    } = args;
    telemetry::init(service.log.log_format);
    let (jwt, source) = service.jwt.config(&service.store)?;
    if let KeySource::DataFolder(path, created) = &source {
        tracing::warn!(
            secret = %path.display(),
            created,
            "no JWT key configured: using the generated HS256 secret in the data \
             folder; mint a token with `supplyline token --sub <id> --role <role>`"
        );
    }
    let store = service
        .store
        .open_serving(service.http.request_timeout)
        .await?;
    let settings = serve::Settings {
        snapshot_every: snapshots.snapshot_every,
        request_timeout: service.http.request_timeout,
        rate_limit: service.http.rate_limit,
        limits: service.http.limits(),
        idempotency_ttl: keys.idempotency_ttl,
    };
    let executors = serve::executors(&store, &settings);
    let database = service.store.database_url.clone();
    let Some(Everything {
        projectors,
        relay: nats,
        tlog,
        demo,
    }) = everything
    else {
        let started = move |address| serve::print_addresses(address, &database, false);
        return serve::command_api(
            executors,
            &jwt,
            &service.http.listen,
            settings,
            None,
            started,
        )
        .await;
    };
    store
        .migrate()
        .await
        .context("cannot migrate the event store")?;
    let runtime = projector::start(&executors, projectors.workers(), projectors.settings()).await?;
    let relaying = match nats {
        Some(nats) => {
            let db = projector::read_db(&store).await?;
            Some(relaying::start(store.clone(), db, nats).await?)
        }
        None => None,
    };
    let tree = match tlog {
        Some((key, settings)) => {
            let db = projector::read_db(&store).await?;
            Some(transparency::start(store.clone(), db, key, settings))
        }
        None => None,
    };
    // GraphQL beside the commands, over the same read models and the same keys.
    let sockets = query_api::Sockets::default();
    let graphql = query_api::limited_router(
        query_api::build_schema(
            store.clone(),
            crate::query::query_db(&store, service.http.query_connections).await?,
        ),
        std::sync::Arc::new(Authenticator::new(&jwt).context("invalid JWT configuration")?),
        command_api::RateLimit::per_actor(settings.rate_limit),
        sockets.clone(),
    );
    let seeding = (jwt.clone(), store.clone());
    let started = move |address: std::net::SocketAddr| {
        serve::print_addresses(address, &database, true);
        if demo {
            let (jwt, store) = seeding;
            tokio::spawn(async move {
                let base = format!("http://127.0.0.1:{}", address.port());
                if let Err(error) = demo::seed(&base, &jwt, &store).await {
                    tracing::error!("the demo could not be seeded: {error:#}");
                }
            });
        }
    };
    let served = serve::command_api(
        executors,
        &jwt,
        &service.http.listen,
        settings,
        Some(graphql),
        started,
    )
    .await;
    // Requests are finished; subscribers are told to go elsewhere, and each projector commits
    // its batch and stops.
    sockets.close_all(crate::query::SOCKETS_CLOSE_WITHIN).await;
    runtime.stop().await;
    if let Some(relaying) = relaying {
        relaying.stop().await?;
    }
    if let Some(tree) = tree {
        tree.stop().await?;
    }
    served
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    /// The long flags `supplyline <path...>` takes.
    fn flags_of(path: &[&str]) -> Vec<String> {
        let mut command = Cli::command();
        for name in path {
            command = command.find_subcommand(name).unwrap().clone();
        }
        command
            .get_arguments()
            .filter_map(|arg| arg.get_long().map(str::to_owned))
            .collect()
    }

    #[test]
    fn each_subcommand_takes_only_the_settings_it_uses() {
        let serve = flags_of(&["serve"]);
        for flag in [
            "database-url",
            "listen",
            "jwt-secret-file",
            "jwt-leeway",
            "max-connections",
            "snapshot-every",
            "log-format",
        ] {
            assert!(serve.contains(&flag.to_owned()), "serve lacks --{flag}");
        }
        assert_eq!(flags_of(&["bench", "store"]).len(), 4);
        assert!(flags_of(&["schemas", "export"]).is_empty());
        let migrate = flags_of(&["migrate"]);
        assert_eq!(migrate, ["database-url", "log-format"]);
        let token = flags_of(&["token"]);
        assert!(token.contains(&"jwt-issuer".to_owned()));
        assert!(!token.contains(&"listen".to_owned()));
        assert!(!serve.contains(&"jwt-secret".to_owned()));
    }
}
