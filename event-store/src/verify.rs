//! Tamper evidence: recomputes each stream's hash chain from the events as stored.

use event_schemas::ChainHash;

use crate::hash::event_hash;
use crate::{EventStore, RecordedEvent, StoreError, StreamId};

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
        }
    }
}

/// How many events an audit reads at a time.
const BATCH: u32 = 1000;

impl EventStore {
    /// Checks one stream's hash chain against its events exactly as stored (never upcast).
    pub async fn verify_stream(&self, stream: &StreamId) -> Result<StreamVerification, StoreError> {
        let events = self.backend().read_stream(stream, 0).await?;
        let mut walker = ChainWalker::new(stream.clone());
        for event in &events {
            walker.check(event);
        }
        Ok(walker.finish())
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
