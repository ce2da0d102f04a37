//! `supplyline audit verify` and `supplyline replay`: what auditors run against the log.

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use event_store::{EventStore, ReplayUntil, StreamId};
use executors::AggregateType;

use crate::output::say;

/// Checks one stream's or the whole log's hash chains; `Ok(false)` when a link is broken.
pub async fn verify(store: &EventStore, stream: Option<(String, String)>) -> anyhow::Result<bool> {
    if let Some((aggregate_type, id)) = stream {
        let aggregate_type = AggregateType::parse(&aggregate_type)?;
        let report = store
            .verify_stream(&StreamId::new(aggregate_type.name(), id))
            .await?;
        if report.checked == 0 && report.ok {
            bail!("no stream {} in the log", report.stream);
        }
        match report.first_broken_sequence {
            None => say!(
                "ok: {} events of {} verified",
                report.checked,
                report.stream
            ),
            Some(sequence) => say!(
                "BROKEN: {} is altered from event #{sequence} on ({} events checked){}",
                report.stream,
                report.checked,
                witness(report.contradicted_by.as_deref())
            ),
        }
        return Ok(report.ok);
    }
    let report = store.verify_log().await?;
    for broken in &report.broken {
        say!(
            "BROKEN: {} is altered from event #{} on{}",
            broken.stream,
            broken.first_broken_sequence.unwrap_or_default(),
            witness(broken.contradicted_by.as_deref())
        );
    }
    say!(
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

/// ` (snapshot at version 7: the event is missing)`, or nothing.
fn witness(contradicted_by: Option<&str>) -> String {
    contradicted_by.map_or_else(String::new, |w| format!(" ({w})"))
}

/// Prints an aggregate's state rebuilt from its events up to `until`.
pub async fn print_replay(
    store: &EventStore,
    aggregate_type: &str,
    id: &str,
    until: ReplayUntil,
) -> anyhow::Result<()> {
    let aggregate_type = AggregateType::parse(aggregate_type)?;
    let Some(replayed) = aggregate_type.replay(store, id, until).await? else {
        bail!("no {aggregate_type} {id} in the log (at that point)");
    };
    let json = serde_json::json!({
        "aggregate_type": aggregate_type.name(),
        "aggregate_id": id,
        "version": replayed.version,
        "position": replayed.position.map(|p| p.token()),
        "state": replayed.state,
    });
    say!("{}", serde_json::to_string_pretty(&json)?);
    Ok(())
}
