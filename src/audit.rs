//! `supplyline audit verify` and `supplyline replay`: what auditors run against the log.

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use domain::delivery::Delivery;
use domain::inspection::Inspection;
use domain::order::Order;
use domain::purchase::Purchase;
use domain::stock::StockItem;
use event_store::{EventStore, ReplayUntil, StreamId, replay};
use serde::Serialize;

/// The aggregate types of the contract.
pub const AGGREGATE_TYPES: [&str; 5] = [
    StockItem::TYPE,
    Order::TYPE,
    Delivery::TYPE,
    Inspection::TYPE,
    Purchase::TYPE,
];

fn check_type(aggregate_type: &str) -> anyhow::Result<()> {
    if !AGGREGATE_TYPES.contains(&aggregate_type) {
        bail!(
            "unknown aggregate type `{aggregate_type}`: use one of {}",
            AGGREGATE_TYPES.join(", ")
        );
    }
    Ok(())
}

/// Checks one stream's or the whole log's hash chains; `Ok(false)` when a link is broken.
pub async fn verify(store: &EventStore, stream: Option<(String, String)>) -> anyhow::Result<bool> {
    if let Some((aggregate_type, id)) = stream {
        check_type(&aggregate_type)?;
        let report = store
            .verify_stream(&StreamId::new(aggregate_type, id))
            .await?;
        if report.checked == 0 {
            bail!("no stream {} in the log", report.stream);
        }
        match report.first_broken_sequence {
            None => println!(
                "ok: {} events of {} verified",
                report.checked, report.stream
            ),
            Some(sequence) => println!(
                "BROKEN: {} is altered from event #{sequence} on ({} events checked)",
                report.stream, report.checked
            ),
        }
        return Ok(report.ok);
    }
    let report = store.verify_log().await?;
    for broken in &report.broken {
        println!(
            "BROKEN: {} is altered from event #{} on",
            broken.stream,
            broken.first_broken_sequence.unwrap_or_default()
        );
    }
    println!(
        "{}: {} events in {} streams checked, {} broken",
        if report.ok() { "ok" } else { "BROKEN" },
        report.checked,
        report.streams,
        report.broken.len()
    );
    Ok(report.ok())
}

/// Where `supplyline replay` stops.
pub fn until(at_version: Option<u64>, at_time: Option<&str>) -> anyhow::Result<ReplayUntil> {
    Ok(match (at_version, at_time) {
        (Some(version), _) => ReplayUntil::Version(version),
        (None, Some(time)) => ReplayUntil::Time(
            DateTime::parse_from_rfc3339(time)
                .with_context(|| format!("`{time}` is not an RFC 3339 time"))?
                .with_timezone(&Utc),
        ),
        (None, None) => ReplayUntil::End,
    })
}

/// Prints an aggregate's state rebuilt from its events up to `until`.
pub async fn print_replay(
    store: &EventStore,
    aggregate_type: &str,
    id: &str,
    until: ReplayUntil,
) -> anyhow::Result<()> {
    check_type(aggregate_type)?;
    let json = match aggregate_type {
        t if t == StockItem::TYPE => replay_json::<StockItem>(store, id, until).await?,
        t if t == Order::TYPE => replay_json::<Order>(store, id, until).await?,
        t if t == Delivery::TYPE => replay_json::<Delivery>(store, id, until).await?,
        t if t == Inspection::TYPE => replay_json::<Inspection>(store, id, until).await?,
        _ => replay_json::<Purchase>(store, id, until).await?,
    };
    println!("{}", serde_json::to_string_pretty(&json)?);
    Ok(())
}

async fn replay_json<A: Aggregate + Serialize>(
    store: &EventStore,
    id: &str,
    until: ReplayUntil,
) -> anyhow::Result<serde_json::Value> {
    let loaded = replay::<A>(store, id, until).await?;
    if loaded.version == 0 {
        bail!("no {} {id} in the log (at that point)", A::TYPE);
    }
    Ok(serde_json::json!({
        "aggregate_type": A::TYPE,
        "aggregate_id": id,
        "version": loaded.version,
        "position": loaded.position.map(|p| p.token()),
        "state": loaded.state,
    }))
}
