//! Tamper evidence: recomputes each stream's hash chain from the events as stored, and
//! cross-checks each stream's head against what the store keeps elsewhere (snapshots and
//! idempotency keys record the version and hash they saw), which catches a deleted tail or a
//! deleted stream that the chain alone cannot show.
//!
//! What it cannot see: events removed or rewritten (chain recomputed) after the last snapshot
//! or keyed command of their stream, by someone with write access to the database; nor a
//! stream deleted together with its snapshots and keys. Signed checkpoints kept outside the
//! system are the answer to those.

use event_schemas::ChainHash;

use crate::hash::event_hash;
use crate::{ContradictedHead, EventStore, RecordedEvent, StoreError, StreamId};

/// The outcome of checking one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamVerification {
    /// The stream checked.
    pub stream: StreamId,
    /// Whether every link held.
    pub ok: bool,
    /// How many events were checked.
    pub checked: u64,
    /// The first event whose link is broken (altered, missing or out of place).
    pub first_broken_sequence: Option<u64>,
    /// What contradicts the stream's head, when something does (e.g. `snapshot at version
    /// 7: the event is missing`).
    pub contradicted_by: Option<String>,
}

/// The outcome of checking the whole log.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogVerification {
    /// How many streams were checked.
    pub streams: u64,
    /// How many events were checked.
    pub checked: u64,
    /// Every stream with a broken link, with its first broken sequence.
    pub broken: Vec<StreamVerification>,
}

impl LogVerification {
    /// Whether every stream's chain held.
    pub fn ok(&self) -> bool {
        self.broken.is_empty()
    }
}

/// Walks one stream's chain, event by event.
struct ChainWalker {
    stream: StreamId,
    prev: ChainHash,
    checked: u64,
    broken_at: Option<u64>,
}

impl ChainWalker {
    fn new(stream: StreamId) -> Self {
        Self {
            stream,
            prev: ChainHash::GENESIS,
            checked: 0,
            broken_at: None,
        }
    }

    fn check(&mut self, event: &RecordedEvent) {
        self.checked += 1;
        if self.broken_at.is_some() {
            return;
        }
        let expected_sequence = self.checked;
        let stored_prev = event
            .metadata
            .get("prev_hash")
            .and_then(|v| v.as_str())
            .and_then(|h| h.parse::<ChainHash>().ok());
        let computed = event_hash(
            &self.prev,
            &event.stream,
            event.sequence,
            &event.event_type,
            &event.event_version,
            &event.payload,
            &event.metadata,
        );
        let intact = event.sequence == expected_sequence
            && stored_prev == Some(self.prev)
            && event.hash().ok() == Some(computed);
        if intact {
            self.prev = computed;
        } else {
            self.broken_at = Some(event.sequence);
        }
    }

    fn finish(self) -> StreamVerification {
        StreamVerification {
            ok: self.broken_at.is_none(),
            stream: self.stream,
            checked: self.checked,
            first_broken_sequence: self.broken_at,
            contradicted_by: None,
        }
    }
}

/// How many events an audit reads at a time.
const BATCH: u32 = 1000;

/// At most this many contradicted heads are reported by a whole-log audit.
const MAX_CONTRADICTIONS: u32 = 10_000;

impl StreamVerification {
    /// Folds in a head that a witness vouches for and the log contradicts.
    fn contradicted(&mut self, head: &ContradictedHead) {
        // A missing event is the first after what is left; a replaced one is itself broken.
        let broken = if head.found {
            head.version
        } else {
            self.checked + 1
        };
        self.ok = false;
        self.first_broken_sequence = Some(
            self.first_broken_sequence
                .map_or(broken, |first| first.min(broken)),
        );
        if self.contradicted_by.is_none() {
            self.contradicted_by = Some(format!(
                "{} at version {}: {}",
                head.witness,
                head.version,
                if head.found {
                    "the event there has another hash"
                } else {
                    "the event is missing"
                }
            ));
        }
    }
}

impl EventStore {
    /// Checks one stream's hash chain against its events exactly as stored (never upcast).
    pub async fn verify_stream(&self, stream: &StreamId) -> Result<StreamVerification, StoreError> {
        let events = self.backend().read_stream(stream, 0).await?;
        let mut walker = ChainWalker::new(stream.clone());
        for event in &events {
            walker.check(event);
        }
        let mut report = walker.finish();
        for head in self.backend().contradicted_heads(Some(stream), 1).await? {
            report.contradicted(&head);
        }
        Ok(report)
    }

    /// Checks every stream of the log, reading it in batches (memory does not grow with the
    /// log's length).
    pub async fn verify_log(&self) -> Result<LogVerification, StoreError> {
        let mut report = LogVerification::default();
        let mut walker: Option<ChainWalker> = None;
        let mut after: Option<(StreamId, u64)> = None;
        loop {
            let batch = self
                .backend()
                .read_streams_after(after.as_ref().map(|(s, n)| (s, *n)), BATCH)
                .await?;
            let Some(last) = batch.last() else {
                break;
            };
            after = Some((last.stream.clone(), last.sequence));
            for event in &batch {
                if walker.as_ref().is_none_or(|w| w.stream != event.stream) {
                    if let Some(done) = walker.take() {
                        report.record(done.finish());
                    }
                    walker = Some(ChainWalker::new(event.stream.clone()));
                }
                if let Some(w) = walker.as_mut() {
                    w.check(event);
                }
            }
        }
        if let Some(done) = walker {
            report.record(done.finish());
        }
        let heads = self
            .backend()
            .contradicted_heads(None, MAX_CONTRADICTIONS)
            .await?;
        let mut streams: Vec<&StreamId> = heads.iter().map(|head| &head.stream).collect();
        streams.dedup();
        for stream in streams {
            let checked = self.verify_stream(stream).await?;
            match report.broken.iter_mut().find(|b| &b.stream == stream) {
                Some(known) => *known = checked,
                None => {
                    // A stream with no events left was never walked: count it now.
                    if checked.checked == 0 {
                        report.streams += 1;
                    }
                    report.broken.push(checked);
                }
            }
        }
        Ok(report)
    }
}

impl LogVerification {
    fn record(&mut self, stream: StreamVerification) {
        self.streams += 1;
        self.checked += stream.checked;
        if !stream.ok {
            self.broken.push(stream);
        }
    }
}
