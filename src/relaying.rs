//! `supplyline relay`, and the relay `serve` runs beside the rest when a NATS server is named:
//! every event of the log published to NATS JetStream, in log order, one live relay across
//! processes.

use anyhow::{Context, bail};
use event_store::EventStore;
use projections::ReadDb;
use relay::{JetStream, JetStreamSettings, Relay, RelaySettings};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A relay running in this process, until [`Running::stop`].
pub struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Running {
    /// Stops relaying (the batch in flight finishes or is sent again by the next relay).
    pub async fn stop(self) -> anyhow::Result<()> {
        self.stop.send_replace(true);
        self.task.await.context("the relay panicked")
    }
}

/// Starts relaying the log in `store` to JetStream; the checkpoint lives in `db`.
pub async fn start(
    store: EventStore,
    db: ReadDb,
    nats: JetStreamSettings,
) -> anyhow::Result<Running> {
    check(&nats)?;
    let settings = RelaySettings {
        subject_prefix: nats.subject_prefix.clone(),
        ..RelaySettings::default()
    };
    let url = nats.url.clone();
    let publisher = JetStream::connect(nats)
        .await
        .with_context(|| format!("cannot connect to NATS at {url}"))?;
    let (stop, stopped) = watch::channel(false);
    let relay = Relay::new(store, db, publisher, settings);
    let task = tokio::spawn(async move { relay.run(stopped).await });
    Ok(Running { stop, task })
}

/// Refuses settings the server would refuse for ever, or that would put events under other
/// subjects than their own.
fn check(nats: &JetStreamSettings) -> anyhow::Result<()> {
    let prefix = &nats.subject_prefix;
    let bad_token = |token: &str| {
        token.is_empty()
            || token
                .chars()
                .any(|c| c == '*' || c == '>' || c.is_whitespace() || c.is_control())
    };
    if prefix.split('.').any(bad_token) {
        bail!(
            "the subject prefix `{prefix}` cannot begin a subject: its tokens, split by `.`, \
             must not be empty or hold `*`, `>` or white space"
        );
    }
    if !nats.max_age.is_zero() && nats.duplicate_window > nats.max_age {
        bail!(
            "the duplicate window ({:?}) cannot be longer than the stream's max age ({:?})",
            nats.duplicate_window,
            nats.max_age
        );
    }
    Ok(())
}

/// Relays until SIGTERM.
pub async fn run(store: EventStore, nats: JetStreamSettings) -> anyhow::Result<()> {
    store
        .migrate()
        .await
        .context("cannot migrate the event store")?;
    let db = crate::projector::read_db(&store).await?;
    let running = start(store, db, nats).await?;
    command_api::shutdown_signal().await;
    running.stop().await
}
