//! Group commit: appends that arrive while a commit is in flight wait in a queue and go
//! together into the next transaction, so a commit's flush is paid once per group instead of
//! once per command. There is no timer: a lone append is taken at once and waits for nothing.
//!
//! This module keeps the queue and forms the groups; a backend's [`GroupWriter`] writes one.
//! A group holds at most one append per stream and per idempotency key (a second one waits for
//! the next group, where it sees the first one's outcome), so appends in a group never decide
//! each other's fate, and each gets its own answer.

use std::collections::{HashSet, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use futures_util::FutureExt;
use tokio::sync::{mpsc, oneshot};

use crate::chain::{Chained, chain_events};
use crate::{AppendRequest, Appended, CommitPoint, StoreError, StreamId};

/// The most appends in one group.
pub(crate) const MAX_GROUP_APPENDS: usize = 256;

/// The most events in one group (a single larger append still goes, alone).
pub(crate) const MAX_GROUP_EVENTS: usize = 4096;

/// An append's answer.
pub(crate) type Answer = Result<Appended, StoreError>;

/// An append waiting for its group.
pub(crate) struct Queued {
    /// What to append.
    pub(crate) request: AppendRequest,
    /// Its events, chained and written out by the caller (not by the committer, which the
    /// whole group waits on).
    pub(crate) chained: Chained,
    /// The caller's commit point, reached when the append is taken into a group.
    pub(crate) commit: CommitPoint,
    reply: oneshot::Sender<Answer>,
}

/// Writes one group in one transaction, a group at a time.
#[async_trait]
pub(crate) trait GroupWriter: Send + 'static {
    /// Writes the group and returns one answer per append, in the group's order. Whatever
    /// fails, each append is answered: applied, refused on its own (a conflict, a key's first
    /// answer), not applied with the rest of the group, or of unknown outcome when the
    /// commit's answer was lost.
    async fn write(&mut self, group: &[Queued]) -> Vec<Answer>;

    /// Gets ready to write again after a write panicked (say, drops a connection left in an
    /// unknown state).
    fn recover(&mut self) {}
}

/// How group commit has gone so far (for benchmarks, metrics and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupCommitStats {
    /// Groups written.
    pub groups: u64,
    /// Appends written in them.
    pub appends: u64,
    /// The most appends one group held.
    pub largest: u64,
}

#[derive(Debug, Default)]
struct Counters {
    groups: AtomicU64,
    appends: AtomicU64,
    largest: AtomicU64,
}

/// The queue in front of a backend's writers, and the thread that empties it group by group.
///
/// The committer runs on a thread of its own, with a runtime of its own: every group waits on
/// it, so it must never wait its turn behind the request tasks of the runtime that serves the
/// API (under load, each of its wake-ups would queue behind dozens of them, and every append
/// of the group with it). Its writer's connections are opened on that runtime.
pub(crate) struct GroupCommitter {
    queue: mpsc::UnboundedSender<Queued>,
    counters: Arc<Counters>,
}

impl GroupCommitter {
    /// Starts the committer thread over `writers`, one group in flight per writer. When the
    /// committer is dropped, the thread ends once it has answered what was queued.
    pub(crate) fn start<W: GroupWriter>(writers: Vec<W>) -> Result<Self, StoreError> {
        // Unbounded: every queued append has a caller awaiting it, so the callers (bounded by
        // the API's connection limits) bound the queue.
        let (queue, received) = mpsc::unbounded_channel();
        let counters = Arc::new(Counters::default());
        let waiting = Arc::new(tokio::sync::Mutex::new(Waiting {
            received,
            deferred: VecDeque::new(),
        }));
        let committers: Vec<_> = writers
            .into_iter()
            .map(|writer| commit_groups(waiting.clone(), writer, counters.clone()))
            .collect();
        spawn_worker("group-commit", async move {
            futures_util::future::join_all(committers).await;
        })?;
        Ok(Self { queue, counters })
    }

    /// Chains the append's events, queues it for the next group and waits for its answer.
    pub(crate) async fn append(&self, request: AppendRequest, commit: &CommitPoint) -> Answer {
        let chained = chain_events(&request)?;
        let (reply, answer) = oneshot::channel();
        let queued = Queued {
            request,
            chained,
            commit: commit.clone(),
            reply,
        };
        if self.queue.send(queued).is_err() {
            return Err(StoreError::Unavailable(sqlx::Error::WorkerCrashed));
        }
        answer.await.unwrap_or_else(|_| {
            // The committer is gone (its thread panicked): if it had taken the append, nobody
            // can tell whether it committed.
            Err(if commit.reached() {
                StoreError::OutcomeUnknown(sqlx::Error::WorkerCrashed)
            } else {
                StoreError::Unavailable(sqlx::Error::WorkerCrashed)
            })
        })
    }

    /// How group commit has gone so far.
    pub(crate) fn stats(&self) -> GroupCommitStats {
        GroupCommitStats {
            groups: self.counters.groups.load(Ordering::Relaxed),
            appends: self.counters.appends.load(Ordering::Relaxed),
            largest: self.counters.largest.load(Ordering::Relaxed),
        }
    }
}

/// Runs `work` on a thread of its own, with a runtime of its own: a worker that everybody's
/// requests wait on must never wait its turn behind them.
pub(crate) fn spawn_worker(
    name: &str,
    work: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), StoreError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| StoreError::Config(format!("{name} runtime: {e}")))?;
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || runtime.block_on(work))
        .map_err(|e| StoreError::Config(format!("{name} thread: {e}")))?;
    Ok(())
}

/// The queue as the committers share it: what arrived, and what earlier groups deferred.
struct Waiting {
    received: mpsc::UnboundedReceiver<Queued>,
    deferred: VecDeque<Queued>,
}

impl Waiting {
    /// The next group: whatever is queued (deferred appends first), or the next append to
    /// arrive; `None` once the store is dropped and nothing waits.
    async fn next_group(&mut self) -> Option<Vec<Queued>> {
        loop {
            if self.deferred.is_empty() {
                let first = self.received.recv().await?;
                self.deferred.push_back(first);
            }
            while let Ok(queued) = self.received.try_recv() {
                self.deferred.push_back(queued);
            }
            let group = form_group(&mut self.deferred);
            if !group.is_empty() {
                return Some(group);
            }
        }
    }
}

/// One committer: takes the next group, writes it, answers every append, and again, until
/// the store is dropped and the queue is empty.
async fn commit_groups(
    waiting: Arc<tokio::sync::Mutex<Waiting>>,
    mut writer: impl GroupWriter,
    counters: Arc<Counters>,
) {
    loop {
        // Held only while the group is taken, not while it is written.
        let Some(group) = waiting.lock().await.next_group().await else {
            return;
        };
        let answers = match AssertUnwindSafe(writer.write(&group)).catch_unwind().await {
            Ok(answers) => answers,
            Err(_) => {
                // A bug, not the database: this group's fate is unknown, but the committer
                // goes on (on a fresh connection) rather than fail every later append.
                tracing::error!("the group committer panicked writing a group");
                writer.recover();
                same_for_all(
                    group.len(),
                    StoreError::OutcomeUnknown(sqlx::Error::WorkerCrashed),
                )
            }
        };
        counters.groups.fetch_add(1, Ordering::Relaxed);
        counters
            .appends
            .fetch_add(group.len() as u64, Ordering::Relaxed);
        counters
            .largest
            .fetch_max(group.len() as u64, Ordering::Relaxed);
        for (queued, answer) in group.into_iter().zip(answers) {
            if let Err(error) = &answer
                && !matches!(error, StoreError::OutcomeUnknown(_))
            {
                // Settled without effect: giving up is truthful again.
                queued.commit.clear();
            }
            // A caller that went away after the append was taken no longer needs its answer.
            let _ = queued.reply.send(answer);
        }
    }
}

/// `error` as the answer of each of `count` appends (a group that failed as a whole).
pub(crate) fn same_for_all(count: usize, error: StoreError) -> Vec<Answer> {
    let mut answers: Vec<Answer> = (1..count).map(|_| Err(error.for_another())).collect();
    if count > 0 {
        answers.push(Err(error));
    }
    answers
}

/// Takes the next group out of `waiting`: in arrival order, at most one append per stream and
/// per key, within the bounds; the rest stay for the next group, in order. An append whose
/// caller gave up before it was taken is dropped (never sent).
fn form_group(waiting: &mut VecDeque<Queued>) -> Vec<Queued> {
    let mut group = Vec::new();
    let mut streams: HashSet<StreamId> = HashSet::new();
    let mut keys: HashSet<String> = HashSet::new();
    let mut events = 0;
    let mut rest = VecDeque::new();
    while let Some(queued) = waiting.pop_front() {
        let full = group.len() >= MAX_GROUP_APPENDS
            || (!group.is_empty() && events + queued.request.events.len() > MAX_GROUP_EVENTS);
        let key = queued.request.idempotency.as_ref().map(|c| c.key.as_str());
        if full || streams.contains(&queued.request.stream) || key.is_some_and(|k| keys.contains(k))
        {
            rest.push_back(queued);
            continue;
        }
        if !queued.commit.try_reach() {
            // Its caller answered "not applied" already; its receiver is gone.
            continue;
        }
        streams.insert(queued.request.stream.clone());
        if let Some(key) = key {
            keys.insert(key.to_owned());
        }
        events += queued.request.events.len();
        group.push(queued);
    }
    *waiting = rest;
    group
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IdempotencyClaim;
    use event_schemas::ChainHash;

    fn queued(stream: &str, key: Option<&str>) -> (Queued, oneshot::Receiver<Answer>) {
        let (reply, answer) = oneshot::channel();
        let request = AppendRequest {
            stream: StreamId::new("stock", stream),
            expected_version: 0,
            prev_hash: ChainHash::GENESIS,
            // Forming groups looks at streams, keys and counts only.
            events: Vec::new(),
            idempotency: key.map(|key| IdempotencyClaim {
                key: key.into(),
                fingerprint: "f".into(),
                ttl: None,
            }),
        };
        let queued = Queued {
            chained: chain_events(&request).expect("an empty append chains"),
            request,
            commit: CommitPoint::new(),
            reply,
        };
        (queued, answer)
    }

    fn streams(group: &[Queued]) -> Vec<&str> {
        group
            .iter()
            .map(|q| q.request.stream.aggregate_id.as_str())
            .collect()
    }

    #[test]
    fn a_group_holds_one_append_per_stream_and_per_key_and_the_rest_wait_in_order() {
        let mut waiting: VecDeque<Queued> = [
            queued("a", None),
            queued("b", Some("k")),
            queued("a", None),
            queued("c", Some("k")),
            queued("d", None),
        ]
        .into_iter()
        .map(|(q, _)| q)
        .collect();

        let first = form_group(&mut waiting);
        assert_eq!(streams(&first), ["a", "b", "d"]);
        assert!(first.iter().all(|q| q.commit.reached()));
        let second = form_group(&mut waiting);
        assert_eq!(streams(&second), ["a", "c"]);
        assert!(waiting.is_empty());
    }

    #[test]
    fn an_append_given_up_on_before_it_was_taken_is_never_sent() {
        let (gone, _) = queued("a", None);
        assert!(gone.commit.abandon());
        let (kept, _) = queued("b", None);
        let mut waiting = VecDeque::from([gone, kept]);

        assert_eq!(streams(&form_group(&mut waiting)), ["b"]);
    }

    #[test]
    fn a_group_is_bounded() {
        let mut waiting: VecDeque<Queued> = (0..MAX_GROUP_APPENDS + 3)
            .map(|n| queued(&n.to_string(), None).0)
            .collect();

        assert_eq!(form_group(&mut waiting).len(), MAX_GROUP_APPENDS);
        assert_eq!(form_group(&mut waiting).len(), 3);
    }
}
