//! `supplyline bench transparency`: the transparency log on PostgreSQL, in one run.
//!
//! * The tree: leaves appended per second (each event's leaf hash and the nodes it
//!   completes), next to the raw ceiling of the same run: one plain SHA-256 of each leaf's
//!   bytes. Both over the same leaf bytes, built beforehand from the log.
//! * The worker: events per second from the log into the stored tree (reading the log,
//!   hashing, writing tiles, leaves and the state, and a signed checkpoint), next to reading
//!   the same events and hashing their bytes with nothing written.
//! * A proof's cost: p50 and p99 of an inclusion proof of a random event (its leaf looked up,
//!   the tiles read, the event read and the proof checked), against the whole tree.

use std::time::Instant;

use event_store::{EventStore, Position};
use projections::ReadDb;
use rand::Rng;
use sha2::{Digest, Sha256};
use transparency::{Auditor, TreeSettings, TreeWorker, event_leaf, leaf_input};
use transparency_log::{Frontier, SigningKey, leaf_hash};

use super::projections::filled_log;
use super::{milliseconds, percentile};

/// What to run and how much.
#[derive(Debug, Clone, Copy)]
pub struct TransparencyBenchOptions {
    /// Events in the log.
    pub events: u64,
    /// Inclusion proofs timed.
    pub proofs: usize,
}

/// A proof slower than this misses the target.
const PROOF_P99_TARGET_MS: f64 = 5.0;

/// The tree's appends must be at least this share of raw hashing.
const RATIO_TARGET: f64 = 0.5;

/// Runs the benchmark on a scratch database on the PostgreSQL server `admin_url` names.
pub async fn run(admin_url: &str, options: TransparencyBenchOptions) -> anyhow::Result<()> {
    super::on_scratch_database(
        admin_url,
        |url| async move { on_postgres(&url, options).await },
    )
    .await
}

async fn on_postgres(url: &str, options: TransparencyBenchOptions) -> anyhow::Result<()> {
    let (store, events, filled) = filled_log(url, options.events).await?;
    println!("transparency log on PostgreSQL: a log of {events} events (filled in {filled:.0} s)");

    // The tree alone, in memory, against plain SHA-256 of the same bytes.
    let inputs = leaf_inputs(&store).await?;
    let bytes: usize = inputs.iter().map(Vec::len).sum();
    let started = Instant::now();
    let mut sink = 0u8;
    for input in &inputs {
        sink ^= Sha256::digest(input)[0];
    }
    let ceiling = inputs.len() as f64 / started.elapsed().as_secs_f64().max(1e-9);
    let started = Instant::now();
    let mut frontier = Frontier::new();
    let mut nodes = Vec::new();
    for input in &inputs {
        nodes.clear();
        frontier.append(leaf_hash(input), &mut nodes)?;
    }
    let tree = inputs.len() as f64 / started.elapsed().as_secs_f64().max(1e-9);
    sink ^= frontier.root().as_bytes()[0];
    println!(
        "\nleaves appended to the tree in memory ({} leaves, {:.0} bytes each on average; {sink})",
        inputs.len(),
        bytes as f64 / inputs.len().max(1) as f64
    );
    println!(
        "  tree {tree:>10.0} leaves/s   raw SHA-256 of the same bytes {ceiling:>10.0}/s   ratio \
         {:.2} (target {RATIO_TARGET})",
        tree / ceiling
    );
    super::record(
        "transparency",
        "leaves appended (tree, in memory)",
        format!("{tree:.0} leaves/s"),
        Some(format!("{ceiling:.0} hashes/s")),
        Some(tree / ceiling),
    );
    drop(inputs);

    // The worker, from the log into the stored tree, against reading and hashing alone.
    let started = Instant::now();
    let mut read = 0u64;
    let mut after = Position::START;
    loop {
        let batch = store.read_all_as_stored(after, 5_000).await?;
        let Some(last) = batch.last() else { break };
        after = last.position;
        for event in &batch {
            sink ^= event_leaf(event).as_bytes()[0];
        }
        read += batch.len() as u64;
    }
    let read_ceiling = read as f64 / started.elapsed().as_secs_f64().max(1e-9);
    let db = ReadDb::open(&store, 4).await?;
    let (private, _) = SigningKey::generate("bench.supplyline/log")?;
    let key: SigningKey = private.parse()?;
    let worker = TreeWorker::new(
        store.clone(),
        db.clone(),
        key,
        TreeSettings::new("bench.supplyline/log"),
    );
    let started = Instant::now();
    let size = worker.catch_up().await?;
    let built = size as f64 / started.elapsed().as_secs_f64().max(1e-9);
    println!("\nthe worker: the log into the stored tree, with a signed checkpoint ({sink})");
    println!(
        "  worker {built:>10.0} events/s   reading and hashing alone {read_ceiling:>10.0}/s   \
         ratio {:.2}",
        built / read_ceiling
    );
    super::record(
        "transparency",
        "events into the stored tree (worker)",
        format!("{built:.0} events/s"),
        Some(format!("{read_ceiling:.0} events/s read+hashed")),
        Some(built / read_ceiling),
    );

    // Proofs against the whole tree, of random events.
    let ids = event_ids(&store).await?;
    // As the query API reads: no ping of a pooled connection before each query.
    let queries = ReadDb::open_for_queries(&store, 4).await?;
    let auditor = Auditor::new(store.clone(), queries.clone());
    let mut latencies = Vec::with_capacity(options.proofs);
    let mut rng = rand::rng();
    for _ in 0..options.proofs {
        let id = &ids[rng.random_range(0..ids.len())];
        let started = Instant::now();
        auditor.inclusion(id, None).await?;
        latencies.push(started.elapsed());
    }
    let latencies: Vec<f64> = milliseconds(&latencies);
    let (p50, p99) = (percentile(&latencies, 0.5), percentile(&latencies, 0.99));
    let verdict = if p99 < PROOF_P99_TARGET_MS {
        "met"
    } else {
        "MISSED"
    };
    println!("\ninclusion proofs of random events against the tree of {size} leaves");
    println!(
        "  {} proofs: p50 {p50:.2} ms   p99 {p99:.2} ms (target < {PROOF_P99_TARGET_MS} ms: \
         {verdict})",
        latencies.len()
    );
    super::record(
        "transparency",
        format!("inclusion proof at {size} leaves"),
        format!("p50 {p50:.2} ms p99 {p99:.2} ms"),
        None,
        None,
    );
    queries.close().await;
    db.close().await;
    Ok(())
}

/// Every event's leaf bytes, in log order.
async fn leaf_inputs(store: &EventStore) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut inputs = Vec::new();
    let mut after = Position::START;
    loop {
        let batch = store.read_all_as_stored(after, 10_000).await?;
        let Some(last) = batch.last() else {
            return Ok(inputs);
        };
        after = last.position;
        inputs.extend(batch.iter().map(leaf_input));
    }
}

/// Every event's id, in log order.
async fn event_ids(store: &EventStore) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    let mut after = Position::START;
    loop {
        let batch = store.read_all_raw(after, 10_000).await?;
        let Some(last) = batch.last() else {
            return Ok(ids);
        };
        after = last.position;
        for event in &batch {
            let metadata: serde_json::Value = serde_json::from_str(event.metadata.get())?;
            if let Some(id) = metadata["event_id"].as_str() {
                ids.push(id.to_owned());
            }
        }
    }
}
