//! The command line: global configuration, the subcommands, and dispatch to each.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::keys::KeySource;
use crate::{audit, bench, keys, schemas_export, serve, telemetry};

/// supplyline: an event-sourced CQRS backend for a farm-to-table supply chain.
///
/// Every part (command API, projectors, query API) can run alone against PostgreSQL, or all
/// together with `serve` (on the embedded SQLite store by default).
#[derive(Debug, Parser)]
#[command(name = "supplyline", version, about, long_about)]
pub struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    action: Action,
}

/// Configuration shared by the subcommands: a flag, else its environment variable, else the
/// default.
#[derive(Debug, Args)]
pub struct Config {
    /// The event store and read models: `postgres://...` or `sqlite://<path>`.
    #[arg(
        long,
        env = "DATABASE_URL",
        global = true,
        default_value = "sqlite://./data/supplyline.db"
    )]
    database_url: String,
    /// The address the HTTP servers listen on.
    #[arg(
        long,
        env = "SUPPLYLINE_LISTEN",
        global = true,
        default_value = "127.0.0.1:8080"
    )]
    listen: String,
    /// HS256 shared secret for JWTs (prefer the environment variable to the flag).
    #[arg(
        long,
        env = "SUPPLYLINE_JWT_SECRET",
        global = true,
        hide_env_values = true
    )]
    jwt_secret: Option<String>,
    /// Path of a PEM public key for RS256 or EdDSA JWTs (the algorithm comes from the key).
    #[arg(long, env = "SUPPLYLINE_JWT_PUBLIC_KEY", global = true)]
    jwt_public_key: Option<PathBuf>,
    /// The `iss` claim every token must carry (unset: not checked).
    #[arg(long, env = "SUPPLYLINE_JWT_ISSUER", global = true)]
    jwt_issuer: Option<String>,
    /// The `aud` claim every token must carry (unset: not checked).
    #[arg(long, env = "SUPPLYLINE_JWT_AUDIENCE", global = true)]
    jwt_audience: Option<String>,
    /// How far the token issuer's clock may differ from ours when checking `exp` and `nbf`.
    #[arg(
        long,
        env = "SUPPLYLINE_JWT_LEEWAY",
        global = true,
        default_value = "5s",
        value_parser = parse_leeway
    )]
    jwt_leeway: Duration,
    /// Log format: `pretty` (default on a terminal) or `json`.
    #[arg(long, env = "SUPPLYLINE_LOG_FORMAT", global = true, value_enum)]
    log_format: Option<LogFormat>,
    /// Take an aggregate snapshot every this many events of its stream (0: never).
    #[arg(
        long,
        env = "SUPPLYLINE_SNAPSHOT_EVERY",
        global = true,
        default_value_t = event_store::DEFAULT_SNAPSHOT_EVERY
    )]
    snapshot_every: u64,
    /// Requests per second each actor may send (bursts of twice that); 0: no limit.
    #[arg(
        long,
        env = "SUPPLYLINE_RATE_LIMIT",
        global = true,
        default_value_t = command_api::DEFAULT_PER_ACTOR_PER_SECOND
    )]
    rate_limit: u32,
    /// How long a request may take before it is answered 503, e.g. `10s`.
    #[arg(
        long,
        env = "SUPPLYLINE_REQUEST_TIMEOUT",
        global = true,
        default_value = "10s",
        value_parser = parse_duration
    )]
    request_timeout: Duration,
    /// How long a request head may take to arrive before the connection is closed, e.g. `10s`.
    #[arg(
        long,
        env = "SUPPLYLINE_HEADER_READ_TIMEOUT",
        global = true,
        default_value = "10s",
        value_parser = parse_duration
    )]
    header_read_timeout: Duration,
    /// How long a kept-alive connection may wait for its next request, e.g. `30s`.
    #[arg(
        long,
        env = "SUPPLYLINE_IDLE_TIMEOUT",
        global = true,
        default_value = "30s",
        value_parser = parse_duration
    )]
    idle_timeout: Duration,
    /// How many connections may be open at once; more wait to be accepted. Keep it below the
    /// process's open-file limit.
    #[arg(
        long,
        env = "SUPPLYLINE_MAX_CONNECTIONS",
        global = true,
        default_value_t = command_api::DEFAULT_MAX_CONNECTIONS,
        value_parser = parse_count
    )]
    max_connections: usize,
}

/// Parses a positive `500ms`, `90s`, `30m`, `1h`, `7d` (or plain seconds).
fn parse_duration(raw: &str) -> Result<Duration, String> {
    let duration = parse_leeway(raw)?;
    if duration.is_zero() {
        return Err("a duration must be positive".into());
    }
    Ok(duration)
}

/// Parses a positive whole number.
fn parse_count(raw: &str) -> Result<usize, String> {
    match raw.trim().parse() {
        Ok(0) | Err(_) => Err(format!("`{raw}` is not a positive whole number")),
        Ok(n) => Ok(n),
    }
}

/// Parses `500ms`, `90s`, `30m`, `1h`, `7d` (or plain seconds), zero included.
fn parse_leeway(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let (number, unit) = raw
        .find(|c: char| !c.is_ascii_digit())
        .map_or((raw, "s"), |i| raw.split_at(i));
    let not_a_duration = || format!("`{raw}` is not a duration like 500ms, 90s, 30m, 1h or 7d");
    let n: u64 = number.parse().map_err(|_| not_a_duration())?;
    let seconds = |factor: u64| Duration::from_secs(n.saturating_mul(factor));
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(seconds(1)),
        "m" => Ok(seconds(60)),
        "h" => Ok(seconds(3600)),
        "d" => Ok(seconds(86_400)),
        _ => Err(not_a_duration()),
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// Human-readable, coloured on a terminal.
    Pretty,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Run everything in one process on one listener (`/v1/...`, `/graphql`, `/health`, ...).
    Serve,
    /// Run the HTTP command API alone.
    CommandApi,
    /// Run the projector workers (read models and process managers) alone.
    Projector,
    /// Run the GraphQL query API alone.
    QueryApi,
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
    },
    /// Read-model state and rebuilds.
    Projections {
        #[command(subcommand)]
        command: ProjectionsCommand,
    },
    /// Tamper checks of the log's hash chains.
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
    },
    /// Apply the database migrations.
    Migrate,
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
    },
    /// Commands/s and latency over HTTP at 16 and 64 clients, next to the raw append ceiling.
    Commands {
        /// Seconds each measurement runs.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
    },
}

#[derive(Debug, Subcommand)]
enum ProjectionsCommand {
    /// Show every read model's position, lag and status.
    Status,
    /// Rebuild one read model (or all) from the start of the log while the old one serves.
    Rebuild {
        /// The read model's name.
        #[arg(required_unless_present = "all")]
        name: Option<String>,
        /// Rebuild every read model.
        #[arg(long, conflicts_with = "name")]
        all: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check the hash chain of one stream or of the whole log.
    Verify {
        /// Only this aggregate type's stream (with `--id`).
        #[arg(long = "type", requires = "id")]
        aggregate_type: Option<String>,
        /// Only this aggregate's stream (with `--type`).
        #[arg(long, requires = "aggregate_type")]
        id: Option<String>,
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
    let Cli { config, action } = cli;
    match action {
        Action::Schemas {
            command: SchemasCommand::Export { dir },
        } => {
            let written = schemas_export::export(&dir)?;
            println!("wrote {written} schemas to {}", dir.display());
            Ok(())
        }
        Action::Migrate => {
            let store = config.open_store().await?;
            store.migrate().await?;
            println!("migrated the {} event store", store.backend_name());
            Ok(())
        }
        Action::Audit {
            command: AuditCommand::Verify { aggregate_type, id },
        } => {
            let store = config.open_store().await?;
            if !audit::verify(&store, aggregate_type.zip(id)).await? {
                bail!("the log's hash chain is broken: events were altered");
            }
            Ok(())
        }
        Action::Replay {
            aggregate_type,
            id,
            at_version,
            at_time,
        } => {
            let until = audit::until(at_version, at_time.as_deref())?;
            let store = config.open_store().await?;
            audit::print_replay(&store, &aggregate_type, &id, until).await
        }
        Action::Bench {
            target:
                BenchTarget::Store {
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
            bench::run_store(&config.database_url, options).await
        }
        Action::Bench {
            target: BenchTarget::Commands { seconds },
        } => {
            bench::run_commands(&config.database_url, bench::CommandBenchOptions { seconds }).await
        }
        Action::Token { sub, role, ttl } => {
            let role = event_schemas::values::Role::from_claim(&role).with_context(|| {
                format!(
                    "`{role}` is not a role: use farmer, restaurant, distributor, inspector, \
                     admin, auditor or analyst"
                )
            })?;
            event_schemas::values::ActorId::parse(&sub).context("invalid --sub")?;
            let (jwt, _) = config.jwt()?;
            let token = command_api::mint_token(&jwt, &sub, role, ttl.as_secs())?;
            println!("{token}");
            Ok(())
        }
        Action::Serve | Action::CommandApi => {
            telemetry::init(config.log_format);
            let (jwt, source) = config.jwt()?;
            if let KeySource::DataFolder(path, created) = &source {
                tracing::warn!(
                    secret = %path.display(),
                    created,
                    "no JWT key configured: using the generated HS256 secret in the data \
                     folder; mint a token with `supplyline token --sub <id> --role <role>`"
                );
            }
            let store = config.open_store().await?;
            serve::command_api(
                store,
                &jwt,
                &config.listen,
                serve::Settings {
                    snapshot_every: config.snapshot_every,
                    request_timeout: config.request_timeout,
                    rate_limit: config.rate_limit,
                    limits: command_api::ServerLimits {
                        header_read_timeout: config.header_read_timeout,
                        idle_timeout: config.idle_timeout,
                        max_connections: config.max_connections,
                    },
                },
            )
            .await
        }
        other => not_available(subcommand_name(&other)),
    }
}

impl Config {
    /// The JWT configuration: the configured key, else the data folder's generated secret.
    fn jwt(&self) -> anyhow::Result<(command_api::JwtConfig, KeySource)> {
        keys::jwt_config(
            self.jwt_secret.as_deref(),
            self.jwt_public_key.as_deref(),
            self.jwt_issuer.clone(),
            self.jwt_audience.clone(),
            self.jwt_leeway,
            &keys::data_dir(&self.database_url),
        )
    }

    /// Opens the event store named by `--database-url` (without migrating it).
    async fn open_store(&self) -> anyhow::Result<event_store::EventStore> {
        event_store::EventStore::connect(&self.database_url)
            .await
            .with_context(|| "cannot open the event store".to_owned())
    }
}

fn subcommand_name(action: &Action) -> &'static str {
    match action {
        Action::Serve => "serve",
        Action::CommandApi => "command-api",
        Action::Projector => "projector",
        Action::QueryApi => "query-api",
        Action::Token { .. } => "token",
        Action::Projections { .. } => "projections",
        Action::Audit { .. } => "audit",
        Action::Replay { .. } => "replay",
        Action::Migrate => "migrate",
        Action::Schemas { .. } => "schemas",
        Action::Bench { .. } => "bench",
    }
}

fn not_available(name: &str) -> anyhow::Result<()> {
    bail!("`supplyline {name}` is not available yet in this build")
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_take_a_unit_and_only_the_leeway_may_be_zero() {
        assert_eq!(parse_duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
        assert_eq!(parse_leeway("0"), Ok(Duration::ZERO));
    }
}
