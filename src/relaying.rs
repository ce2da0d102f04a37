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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::check;
    use relay::JetStreamSettings;

    fn with(prefix: &str, window: u64, age: u64) -> JetStreamSettings {
        let mut settings = JetStreamSettings::new("nats://127.0.0.1:4222");
        settings.subject_prefix = prefix.into();
        settings.duplicate_window = Duration::from_secs(window);
        settings.max_age = Duration::from_secs(age);
        settings
    }

    #[test]
    fn a_prefix_that_would_change_the_subjects_is_refused() {
        for bad in ["", "a..b", ".a", "a.", "a.*", "a.>", "sup line", "a\tb"] {
            assert!(check(&with(bad, 120, 0)).is_err(), "`{bad}` was taken");
        }
        for good in ["supplyline", "acme.supplyline", "eu-west.supply_line"] {
            assert!(check(&with(good, 120, 0)).is_ok(), "`{good}` was refused");
        }
    }

    #[test]
    fn a_duplicate_window_longer_than_the_age_is_refused() {
        assert!(check(&with("supplyline", 120, 60)).is_err());
        assert!(check(&with("supplyline", 60, 60)).is_ok());
        assert!(
            check(&with("supplyline", 120, 0)).is_ok(),
            "no age: kept for ever"
        );
    }
}
