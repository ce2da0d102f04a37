//! `supplyline transparency-log` and `supplyline audit checkpoint|prove|consistency|keygen`,
//! `audit verify --checkpoint`: the transparency log's worker, and what an auditor asks of it.

use std::path::Path;

use anyhow::{Context, bail};
use event_store::EventStore;
use projections::ReadDb;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use transparency::{Auditor, LogAudit, TreeSettings, TreeWorker, check_consistency};
use transparency_log::{Hash, SigningKey, VerifierKey};

/// The worker running in this process, until [`Running::stop`].
pub struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Running {
    /// Stops the worker (its batch in flight commits or is done again by the next worker).
    pub async fn stop(self) -> anyhow::Result<()> {
        self.stop.send_replace(true);
        self.task
            .await
            .context("the transparency log's worker panicked")
    }
}

/// Starts the worker over the log in `store`, its tables in `db`.
pub fn start(store: EventStore, db: ReadDb, key: SigningKey, settings: TreeSettings) -> Running {
    let (stop, stopped) = watch::channel(false);
    let worker = TreeWorker::new(store, db, key, settings);
    let task = tokio::spawn(async move { worker.run(stopped).await });
    Running { stop, task }
}

/// Runs the worker alone until SIGINT or SIGTERM.
pub async fn run(store: EventStore, key: SigningKey, settings: TreeSettings) -> anyhow::Result<()> {
    store
        .migrate()
        .await
        .context("cannot migrate the event store")?;
    let db = crate::projector::read_db(&store).await?;
    let running = start(store, db, key, settings);
    command_api::shutdown_signal().await;
    running.stop().await
}

/// The auditor's side, on the store's tables.
async fn auditor(store: &EventStore) -> anyhow::Result<Auditor> {
    let db = crate::projector::read_db(store).await?;
    Ok(Auditor::new(store.clone(), db))
}

/// Prints the latest signed checkpoint.
pub async fn print_checkpoint(store: &EventStore) -> anyhow::Result<()> {
    match auditor(store).await?.latest_checkpoint().await? {
        Some(note) => {
            print!("{note}");
            Ok(())
        }
        None => bail!("no checkpoint has been signed yet: is the transparency log running?"),
    }
}

/// Prints the inclusion proof of an event, as JSON the independent verifier reads.
pub async fn print_inclusion(
    store: &EventStore,
    event_id: &str,
    size: Option<u64>,
) -> anyhow::Result<()> {
    let proof = auditor(store).await?.inclusion(event_id, size).await?;
    println!("{}", serde_json::to_string_pretty(&proof)?);
    Ok(())
}

/// Prints a consistency proof between two tree sizes, as JSON the independent verifier reads.
pub async fn print_consistency(store: &EventStore, from: u64, to: u64) -> anyhow::Result<()> {
    let proof = auditor(store).await?.consistency(from, to).await?;
    println!("{}", serde_json::to_string_pretty(&proof)?);
    Ok(())
}

/// Checks a held checkpoint against the log as it is now; `false` when the log differs.
pub async fn verify(store: &EventStore, checkpoint: &Path, key: &str) -> anyhow::Result<bool> {
    let note = std::fs::read_to_string(checkpoint)
        .with_context(|| format!("cannot read the checkpoint {}", checkpoint.display()))?;
    let key = verifier_key(key)?;
    let auditor = auditor(store).await?;
    match auditor.verify(&note, &key).await? {
        LogAudit::Intact { size, log_size } => {
            println!(
                "ok: the log still holds the checkpoint's {size} events unchanged ({log_size} \
                 events now)"
            );
            extends(&auditor, &note, &key).await
        }
        LogAudit::Differs {
            size,
            log_size,
            first_leaf,
            detail,
        } => {
            match first_leaf {
                Some(leaf) => eprintln!(
                    "TAMPERED: the log no longer holds the checkpoint's tree of {size} events \
                     ({log_size} events now); the first leaf that differs is {leaf}: {detail}"
                ),
                None => eprintln!(
                    "TAMPERED: the log no longer holds the checkpoint's tree of {size} events \
                     ({log_size} events now): {detail}"
                ),
            }
            Ok(false)
        }
    }
}

/// Whether the latest signed checkpoint extends the held one `note`: its consistency proof,
/// checked against both signed roots, as the auditor would check it.
async fn extends(auditor: &Auditor, note: &str, key: &VerifierKey) -> anyhow::Result<bool> {
    let held = key.open(note)?;
    let Some(latest) = auditor.latest_checkpoint().await? else {
        return Ok(true);
    };
    let latest = match key.open(&latest) {
        Ok(latest) => latest,
        Err(error) => {
            eprintln!("TAMPERED: the latest checkpoint is not signed by this key: {error}");
            return Ok(false);
        }
    };
    if latest.size() < held.size() {
        eprintln!(
            "TAMPERED: the latest checkpoint ({} events) is older than the held one ({})",
            latest.size(),
            held.size()
        );
        return Ok(false);
    }
    let proof = auditor.consistency(held.size(), latest.size()).await?;
    let hashes = proof
        .consistency_proof
        .iter()
        .map(|h| Hash::from_base64(h))
        .collect::<Result<Vec<_>, _>>()
        .context("the consistency proof is malformed")?;
    match check_consistency(&held, &latest, &hashes) {
        Ok(()) => {
            println!(
                "ok: the latest checkpoint ({} events) extends it (consistency proof checked)",
                latest.size()
            );
            Ok(true)
        }
        Err(error) => {
            eprintln!("TAMPERED: {error}");
            Ok(false)
        }
    }
}

/// A verifier key given as its text, or as a file holding it.
fn verifier_key(given: &str) -> anyhow::Result<VerifierKey> {
    let text = if Path::new(given).is_file() {
        std::fs::read_to_string(given).with_context(|| format!("cannot read the key {given}"))?
    } else {
        given.to_owned()
    };
    text.trim()
        .parse()
        .context("not a verifier key (`<name>+<id>+<key>`, as `audit keygen` prints it)")
}

/// Prints a new signing key and its verifier key.
pub fn print_new_key(name: &str) -> anyhow::Result<()> {
    let (private, public) = SigningKey::generate(name).context("cannot make a key")?;
    println!(
        "signing key (keep it secret; give it to the worker in SUPPLYLINE_TLOG_KEY or a file):"
    );
    println!("{private}");
    println!("verifier key (give it to auditors):");
    println!("{public}");
    Ok(())
}
