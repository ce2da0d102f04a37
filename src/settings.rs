//! The groups of settings the subcommands take: each subcommand flattens in only the groups it
//! uses. A setting is a flag, else its environment variable, else the default.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use command_api::{JwtConfig, ServerLimits};

use crate::keys::{self, KeySource};

/// The environment variable holding the HS256 secret itself (never a flag: the command line
/// is visible to every user of the machine).
pub const JWT_SECRET_ENV: &str = "SUPPLYLINE_JWT_SECRET";

/// Where the log and the read models are kept.
#[derive(Debug, Args)]
#[command(next_help_heading = "Store")]
pub struct StoreArgs {
    /// The event store and read models: `postgres://...` or `sqlite://<path>`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://./data/supplyline.db"
    )]
    pub database_url: String,
}

impl StoreArgs {
    /// Opens the event store (without migrating it) for an operator's tool: no statement
    /// timeout, since an audit may scan the whole log.
    pub async fn open(&self) -> anyhow::Result<event_store::EventStore> {
        self.open_with(event_store::StoreOptions {
            statement_timeout: Duration::ZERO,
            ..event_store::StoreOptions::default()
        })
        .await
    }

    /// Opens the event store for serving requests that time out after `request_timeout`: a
    /// statement gives up inside the database at half that, so that a request answered 503
    /// was truly not applied.
    pub async fn open_serving(
        &self,
        request_timeout: Duration,
    ) -> anyhow::Result<event_store::EventStore> {
        self.open_with(event_store::StoreOptions {
            statement_timeout: (request_timeout / 2).max(Duration::from_millis(100)),
            ..event_store::StoreOptions::default()
        })
        .await
    }

    async fn open_with(
        &self,
        options: event_store::StoreOptions,
    ) -> anyhow::Result<event_store::EventStore> {
        event_store::EventStore::connect_with(&self.database_url, options)
            .await
            .context("cannot open the event store")
    }
}

/// How the projectors batch and wait.
#[derive(Debug, Args)]
#[command(next_help_heading = "Projectors")]
pub struct ProjectorArgs {
    /// The most events a projector applies in one transaction (smaller batches follow a slow
    /// one, so no transaction holds the log's readers back for long).
    #[arg(
        long,
        env = "SUPPLYLINE_PROJECTOR_BATCH",
        default_value_t = 1000,
        value_parser = clap::value_parser!(u32).range(1..=100_000)
    )]
    pub projector_batch: u32,
    /// How long a caught-up projector waits for a wake-up before it reads the log anyway,
    /// e.g. `250ms`.
    #[arg(
        long,
        env = "SUPPLYLINE_PROJECTOR_POLL",
        default_value = "250ms",
        value_parser = parse_duration
    )]
    pub projector_poll: Duration,
    /// Run the read models' projectors only, not the process managers (which then run in
    /// another process: they confirm orders, schedule deliveries, quarantine and restock).
    #[arg(long, env = "SUPPLYLINE_NO_PROCESS_MANAGERS")]
    pub no_process_managers: bool,
}

impl ProjectorArgs {
    /// Which workers to run.
    pub fn workers(&self) -> crate::projector::Workers {
        if self.no_process_managers {
            crate::projector::Workers::ReadModels
        } else {
            crate::projector::Workers::All
        }
    }

    /// The projector runtime's settings.
    pub fn settings(&self) -> projections::RuntimeSettings {
        projections::RuntimeSettings {
            max_batch: self.projector_batch,
            poll_interval: self.projector_poll,
            ..projections::RuntimeSettings::default()
        }
    }
}

/// How log lines are written.
#[derive(Debug, Args)]
#[command(next_help_heading = "Logging")]
pub struct LogArgs {
    /// Log format: `pretty` (default on a terminal) or `json`.
    #[arg(long, env = "SUPPLYLINE_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
}

/// A log line format.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// Human-readable, coloured on a terminal.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// How the HTTP server listens, and what it lets a client do.
#[derive(Debug, Args)]
#[command(next_help_heading = "HTTP")]
pub struct HttpArgs {
    /// The address the HTTP servers listen on.
    #[arg(long, env = "SUPPLYLINE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// How long a request may take before it is answered 503, e.g. `10s`.
    #[arg(
        long,
        env = "SUPPLYLINE_REQUEST_TIMEOUT",
        default_value = "10s",
        value_parser = parse_duration
    )]
    pub request_timeout: Duration,
    /// Requests per second each actor may send (bursts of twice that); 0: no limit.
    #[arg(
        long,
        env = "SUPPLYLINE_RATE_LIMIT",
        default_value_t = command_api::DEFAULT_PER_ACTOR_PER_SECOND
    )]
    pub rate_limit: u32,
    /// How long a request head may take to arrive before the connection is closed, e.g. `10s`.
    #[arg(
        long,
        env = "SUPPLYLINE_HEADER_READ_TIMEOUT",
        default_value = "10s",
        value_parser = parse_duration
    )]
    pub header_read_timeout: Duration,
    /// How long a kept-alive connection may wait for its next request, e.g. `30s`.
    #[arg(
        long,
        env = "SUPPLYLINE_IDLE_TIMEOUT",
        default_value = "30s",
        value_parser = parse_duration
    )]
    pub idle_timeout: Duration,
    /// How many connections may be open at once; more wait to be accepted. Keep it below the
    /// process's open-file limit.
    #[arg(
        long,
        env = "SUPPLYLINE_MAX_CONNECTIONS",
        default_value_t = command_api::DEFAULT_MAX_CONNECTIONS,
        value_parser = parse_count
    )]
    pub max_connections: usize,
    /// Database connections that GraphQL queries read the read models through [default:
    /// twice this machine's cores]. More connections than the database has cores only queue
    /// inside it: answers come slower and later.
    #[arg(long, env = "SUPPLYLINE_QUERY_CONNECTIONS", value_parser = parse_count)]
    pub query_connections: Option<usize>,
}

impl HttpArgs {
    /// The server's connection limits.
    pub fn limits(&self) -> ServerLimits {
        ServerLimits {
            header_read_timeout: self.header_read_timeout,
            idle_timeout: self.idle_timeout,
            max_connections: self.max_connections,
        }
    }
}

/// Where the relay publishes the log's events (NATS JetStream).
#[derive(Debug, Args)]
#[command(next_help_heading = "Relay")]
pub struct RelayArgs {
    /// The NATS server to relay every event of the log to, e.g. `nats://127.0.0.1:4222`
    /// (`serve` relays only when it is set).
    #[arg(long, env = "SUPPLYLINE_NATS_URL")]
    pub nats_url: Option<String>,
    /// The JetStream stream, made if it is missing.
    #[arg(long, env = "SUPPLYLINE_NATS_STREAM", default_value = "SUPPLYLINE")]
    pub nats_stream: String,
    /// The first token of every subject (`<prefix>.<aggregate_type>.<event_type>`).
    #[arg(long, env = "SUPPLYLINE_NATS_SUBJECT_PREFIX", default_value = relay::SUBJECT_PREFIX)]
    pub nats_subject_prefix: String,
    /// How long JetStream remembers an event id to drop the event when sent again, e.g. `2m`.
    #[arg(
        long,
        env = "SUPPLYLINE_NATS_DUPLICATE_WINDOW",
        default_value = "2m",
        value_parser = parse_duration
    )]
    pub nats_duplicate_window: Duration,
    /// How long the stream keeps an event, e.g. `30d` [default: for ever].
    #[arg(long, env = "SUPPLYLINE_NATS_MAX_AGE", value_parser = parse_duration)]
    pub nats_max_age: Option<Duration>,
}

impl RelayArgs {
    /// The publisher's settings, when a server is named.
    pub fn jetstream(&self) -> Option<relay::JetStreamSettings> {
        let url = self.nats_url.as_deref()?;
        let mut settings = relay::JetStreamSettings::new(url);
        settings.stream.clone_from(&self.nats_stream);
        settings
            .subject_prefix
            .clone_from(&self.nats_subject_prefix);
        settings.duplicate_window = self.nats_duplicate_window;
        settings.max_age = self.nats_max_age.unwrap_or(Duration::ZERO);
        Some(settings)
    }
}

/// Which tokens are accepted.
#[derive(Debug, Args)]
#[command(next_help_heading = "JWT")]
pub struct JwtArgs {
    /// Path of a file holding the HS256 shared secret (32 bytes or more; a trailing newline is
    /// ignored). Or put the secret itself in `SUPPLYLINE_JWT_SECRET`: secrets are never taken
    /// from the command line, which every user of the machine can read.
    #[arg(long, env = "SUPPLYLINE_JWT_SECRET_FILE", value_name = "PATH")]
    pub jwt_secret_file: Option<PathBuf>,
    /// Path of a PEM public key for RS256 or EdDSA JWTs (the algorithm comes from the key).
    #[arg(long, env = "SUPPLYLINE_JWT_PUBLIC_KEY", value_name = "PATH")]
    pub jwt_public_key: Option<PathBuf>,
    /// The `iss` claim every token must carry (unset: not checked).
    #[arg(long, env = "SUPPLYLINE_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// The `aud` claim every token must carry (unset: not checked).
    #[arg(long, env = "SUPPLYLINE_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// How far the token issuer's clock may differ from ours when checking `exp` and `nbf`.
    #[arg(
        long,
        env = "SUPPLYLINE_JWT_LEEWAY",
        default_value = "5s",
        value_parser = parse_leeway
    )]
    pub jwt_leeway: Duration,
}

impl JwtArgs {
    /// The JWT configuration: the configured key, else the secret generated in the data folder
    /// of `store`.
    pub fn config(&self, store: &StoreArgs) -> anyhow::Result<(JwtConfig, KeySource)> {
        let secret = match (secret_from_env()?, &self.jwt_secret_file) {
            (Some(_), Some(_)) => {
                bail!("set either {JWT_SECRET_ENV} or --jwt-secret-file, not both")
            }
            (Some(secret), None) => Some(secret),
            (None, Some(path)) => Some(keys::read_secret_file(path)?),
            (None, None) => None,
        };
        keys::jwt_config(
            secret,
            self.jwt_public_key.as_deref(),
            self.jwt_issuer.clone(),
            self.jwt_audience.clone(),
            self.jwt_leeway,
            &keys::data_dir(&store.database_url),
        )
    }
}

/// The secret in [`JWT_SECRET_ENV`], if set and not empty.
fn secret_from_env() -> anyhow::Result<Option<Vec<u8>>> {
    match std::env::var(JWT_SECRET_ENV) {
        Ok(secret) if secret.is_empty() => Ok(None),
        Ok(secret) => Ok(Some(secret.into_bytes())),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => bail!("{JWT_SECRET_ENV} is not valid UTF-8"),
    }
}

/// How often aggregates are snapshotted.
#[derive(Debug, Args)]
#[command(next_help_heading = "Snapshots")]
pub struct SnapshotArgs {
    /// Take an aggregate snapshot every this many events of its stream (0: never).
    #[arg(
        long,
        env = "SUPPLYLINE_SNAPSHOT_EVERY",
        default_value_t = event_store::DEFAULT_SNAPSHOT_EVERY
    )]
    pub snapshot_every: u64,
}

/// How long clients' idempotency keys stand.
#[derive(Debug, Args)]
#[command(next_help_heading = "Idempotency")]
pub struct IdempotencyArgs {
    /// How long a client's `Idempotency-Key` stands for its first answer, e.g. `24h` (then it
    /// is free again, and removed). The system's own keys never expire.
    #[arg(
        long,
        env = "SUPPLYLINE_IDEMPOTENCY_TTL",
        default_value = "24h",
        value_parser = parse_duration
    )]
    pub idempotency_ttl: Duration,
}

/// Parses a positive `500ms`, `90s`, `30m`, `1h`, `7d` (or plain seconds).
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let duration = parse_leeway(raw)?;
    if duration.is_zero() {
        return Err("a duration must be positive".into());
    }
    Ok(duration)
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

/// Parses a positive whole number.
fn parse_count(raw: &str) -> Result<usize, String> {
    match raw.trim().parse() {
        Ok(0) | Err(_) => Err(format!("`{raw}` is not a positive whole number")),
        Ok(n) => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[test]
    fn durations_take_a_unit_and_only_the_leeway_may_be_zero() {
        assert_eq!(parse_duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
        assert_eq!(parse_leeway("0"), Ok(Duration::ZERO));
        assert!(parse_count("0").is_err());
    }

    #[derive(Debug, Parser)]
    struct Groups {
        #[command(flatten)]
        http: HttpArgs,
        #[command(flatten)]
        jwt: JwtArgs,
    }

    /// The default `--help` shows for `id`, parsed as the flag would be.
    fn default_of<T>(id: &str, parse: fn(&str) -> Result<T, String>) -> T {
        let command = Groups::command();
        let arg = command.get_arguments().find(|a| a.get_id() == id).unwrap();
        parse(arg.get_default_values()[0].to_str().unwrap()).unwrap()
    }

    #[test]
    fn the_defaults_shown_in_help_are_the_libraries_defaults() {
        let limits = ServerLimits {
            header_read_timeout: default_of("header_read_timeout", parse_duration),
            idle_timeout: default_of("idle_timeout", parse_duration),
            max_connections: default_of("max_connections", parse_count),
        };
        assert_eq!(limits, ServerLimits::default());
        assert_eq!(
            default_of("request_timeout", parse_duration),
            command_api::DEFAULT_REQUEST_TIMEOUT
        );
        assert_eq!(
            default_of("jwt_leeway", parse_leeway),
            command_api::DEFAULT_JWT_LEEWAY
        );
    }
}

/// The transparency log's signing key (an Ed25519 key in the signed-note text form
/// `PRIVATE+KEY+<name>+<id>+<key>`, as `supplyline audit keygen` prints it).
#[derive(Debug, Args)]
#[command(next_help_heading = "Transparency log")]
pub struct TlogArgs {
    /// A file holding the signing key (`serve` builds the transparency log only when a key
    /// is given, here or in `SUPPLYLINE_TLOG_KEY`).
    #[arg(long, env = "SUPPLYLINE_TLOG_KEY_FILE")]
    pub tlog_key_file: Option<PathBuf>,
    /// Every so many events a checkpoint is signed...
    #[arg(
        long,
        env = "SUPPLYLINE_TLOG_CHECKPOINT_EVERY",
        default_value_t = 10_000
    )]
    pub tlog_checkpoint_every: u64,
    /// ... or after this long with events appended since the last, e.g. `10s`.
    #[arg(
        long,
        env = "SUPPLYLINE_TLOG_CHECKPOINT_INTERVAL",
        default_value = "10s",
        value_parser = parse_duration
    )]
    pub tlog_checkpoint_interval: Duration,
}

impl TlogArgs {
    /// The signing key, if one is configured: from the file, else from `SUPPLYLINE_TLOG_KEY`
    /// (never a flag, so it shows in no process list; set but empty, as a compose file passes
    /// an unset variable on, it is not configured).
    pub fn key(&self) -> anyhow::Result<Option<transparency_log::SigningKey>> {
        let text = match &self.tlog_key_file {
            Some(path) => std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the signing key {}", path.display()))?,
            None => match std::env::var("SUPPLYLINE_TLOG_KEY") {
                Ok(text) if !text.trim().is_empty() => text,
                _ => return Ok(None),
            },
        };
        let key = text
            .trim()
            .parse()
            .context("the transparency log's signing key is not a valid signed-note key")?;
        Ok(Some(key))
    }

    /// The worker's settings, its checkpoints named after the key.
    pub fn settings(
        &self,
        key: &transparency_log::SigningKey,
    ) -> anyhow::Result<transparency::TreeSettings> {
        if self.tlog_checkpoint_every == 0 {
            bail!("--tlog-checkpoint-every must be at least 1");
        }
        Ok(transparency::TreeSettings {
            checkpoint_every: self.tlog_checkpoint_every,
            checkpoint_interval: self.tlog_checkpoint_interval,
            ..transparency::TreeSettings::new(key.name())
        })
    }
}
