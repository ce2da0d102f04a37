//! Group commit: appends queued while a commit is in flight go together into the next
//! transaction, and each still gets its own truthful answer. A test makes a group for sure by
//! keeping appends out for a moment: a first append waits on the lock, and those sent meanwhile
//! queue behind it and go as one group when the lock is gone.

use std::collections::HashMap;
use std::time::Duration;

use domain::stock::StockItem;
use event_store::{
    AppendRequest, Appended, CommitPoint, EventStore, Executor, KeyOutcome, StoreError,
    StoreOptions,
};
use serde_json::json;

use crate::fixtures::{
    StreamWriter, claim, farmer, new_stream, probe_from, probes, register_stock_item,
};
use crate::support::{BackendKind, TestStore, read_whole_log, wait_until_readable};

/// How long the lock stays, so that every append sent is queued behind the first one.
const QUEUEING: Duration = Duration::from_millis(300);

/// Sends `requests` while appends are kept out, behind a first append that waits on the lock,
/// then lets them in; returns each request's answer and commit point, in order.
async fn sent_together(
    db: &TestStore,
    store: &EventStore,
    requests: Vec<AppendRequest>,
    held_for: Duration,
) -> Vec<(Result<Appended, StoreError>, CommitPoint)> {
    let blocker = db.block_appends().await;
    let first = {
        let (store, request) = (
            store.clone(),
            StreamWriter::new(new_stream()).request(probes(1..=1)),
        );
        tokio::spawn(async move { store.append(request).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let sent: Vec<_> = requests
        .into_iter()
        .map(|request| {
            let (store, commit) = (store.clone(), CommitPoint::new());
            let task = {
                let commit = commit.clone();
                tokio::spawn(async move { store.append_noting(request, &commit).await })
            };
            (task, commit)
        })
        .collect();
    tokio::time::sleep(held_for).await;
    blocker.release().await;
    let _ = first.await.unwrap();
    let mut answers = Vec::with_capacity(sent.len());
    for (task, commit) in sent {
        answers.push((task.await.unwrap(), commit));
    }
    answers
}

/// Asserts that some group held at least `appends`.
fn assert_grouped(store: &EventStore, appends: u64) {
    let stats = store
        .group_commit_stats()
        .expect("the store commits in groups");
    assert!(
        stats.largest >= appends,
        "the appends sent together did not go as one group: {stats:?}"
    );
}

conformance!(a_group_answers_each_append_for_itself, |db| async move {
    let store = &db.store;
    // On its version: applied.
    let mut on_time = StreamWriter::new(new_stream());
    on_time.append(store, probes(1..=1)).await;
    // Decided on a version the stream has left: a conflict, for it alone.
    let mut moved = StreamWriter::new(new_stream());
    moved.append(store, probes(1..=2)).await;
    let mut stale = StreamWriter::new(moved.stream.clone());
    stale.version = 1;
    stale.last_hash = store.read_stream(&moved.stream, 0).await.unwrap()[0]
        .hash()
        .unwrap();
    // A key that stands for an earlier append: that append is the answer.
    let mut replaying = StreamWriter::new(new_stream());
    let mut first = replaying.request(probes(1..=1));
    first.idempotency = claim("replayed", "f");
    let first = replaying.send(store, first.clone()).await.unwrap();
    let mut replay = StreamWriter::new(replaying.stream.clone()).request(probes(1..=1));
    replay.idempotency = claim("replayed", "f");
    // New streams, one under a new key.
    let fresh = StreamWriter::new(new_stream());
    let keyed = StreamWriter::new(new_stream());
    let mut keyed_request = keyed.request(probes(1..=3));
    keyed_request.idempotency = claim("new", "f");
    // A stale append under a new key: a conflict, and its key stays free for the retry.
    let mut moved_too = StreamWriter::new(new_stream());
    moved_too.append(store, probes(1..=1)).await;
    moved_too.append(store, probes(2..=2)).await;
    let mut stale_too = StreamWriter::new(moved_too.stream.clone());
    stale_too.version = 1;
    stale_too.last_hash = store.read_stream(&moved_too.stream, 0).await.unwrap()[0]
        .hash()
        .unwrap();
    let mut stale_keyed = stale_too.request(probes(9..=9));
    stale_keyed.idempotency = claim("conflicted", "f");
    // A new stream at a version it never had.
    let mut ahead = StreamWriter::new(new_stream());
    ahead.version = 3;

    let answers = sent_together(
        &db,
        store,
        vec![
            on_time.request(probes(2..=3)),
            stale.request(probes(3..=3)),
            replay,
            fresh.request(probes(1..=1)),
            keyed_request,
            stale_keyed,
            ahead.request(probes(4..=4)),
        ],
        QUEUEING,
    )
    .await;
    let mut answers = answers.into_iter().map(|(answer, _)| answer);
    let mut next = || answers.next().unwrap();

    let applied = next().unwrap();
    assert_eq!((applied.version, applied.replayed), (3, false));
    assert!(matches!(
        next(),
        Err(StoreError::Conflict {
            expected_version: 1
        })
    ));
    let replayed = next().unwrap();
    assert!(replayed.replayed);
    assert_eq!(
        (replayed.version, replayed.position, replayed.last_hash),
        (first.version, first.position, first.last_hash)
    );
    assert_eq!(next().unwrap().version, 1);
    let keyed_answer = next().unwrap();
    assert_eq!(keyed_answer.version, 3);
    assert!(matches!(
        next(),
        Err(StoreError::Conflict {
            expected_version: 1
        })
    ));
    assert!(matches!(
        next(),
        Err(StoreError::Conflict {
            expected_version: 3
        })
    ));
    assert_grouped(store, 7);

    // What the log and the keys say agrees with the answers.
    assert_eq!(
        store.read_stream(&on_time.stream, 0).await.unwrap().len(),
        3
    );
    assert_eq!(store.read_stream(&moved.stream, 0).await.unwrap().len(), 2);
    assert_eq!(
        store.read_stream(&replaying.stream, 0).await.unwrap().len(),
        1
    );
    assert_eq!(store.read_stream(&fresh.stream, 0).await.unwrap().len(), 1);
    let keyed_events = store.read_stream(&keyed.stream, 0).await.unwrap();
    assert_eq!(keyed_events.len(), 3);
    assert_eq!(keyed_events[2].position, keyed_answer.position);
    assert_eq!(keyed_events[2].hash().unwrap(), keyed_answer.last_hash);
    let stands = store.idempotent_outcome("new").await.unwrap().unwrap();
    assert_eq!(
        stands.outcome,
        KeyOutcome::Appended(Appended {
            replayed: true,
            ..keyed_answer
        })
    );
    assert!(
        store
            .idempotent_outcome("conflicted")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .read_stream(&ahead.stream, 0)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.verify_log().await.unwrap().ok());
});

conformance!(
    a_group_whose_transaction_fails_applies_nothing_and_says_so,
    |db| async move {
        // Appends give up on the lock within this.
        let store = db
            .reopen(StoreOptions {
                statement_timeout: Duration::from_millis(300),
                ..StoreOptions::default()
            })
            .await;
        let writers: Vec<StreamWriter> = (0..6).map(|_| StreamWriter::new(new_stream())).collect();
        let mut requests: Vec<_> = writers.iter().map(|w| w.request(probes(1..=2))).collect();
        requests[1].idempotency = claim("failed", "f");

        // Kept out long past the statement timeout: the group's transaction fails.
        let answers = sent_together(&db, &store, requests, Duration::from_millis(1500)).await;

        for (answer, commit) in &answers {
            assert!(
                matches!(answer, Err(StoreError::Unavailable(_))),
                "every append of the failed group is answered 'not applied': {answer:?}"
            );
            assert!(
                !commit.reached(),
                "no append of the failed group is in flight"
            );
        }
        assert_grouped(&store, 6);
        for writer in &writers {
            assert!(
                store
                    .read_stream(&writer.stream, 0)
                    .await
                    .unwrap()
                    .is_empty()
            );
        }
        assert!(store.idempotent_outcome("failed").await.unwrap().is_none());
        // Nothing is left held: the same appends go through now.
        for (n, writer) in writers.iter().enumerate() {
            let mut request = writer.request(probes(1..=2));
            if n == 1 {
                request.idempotency = claim("failed", "f");
            }
            assert_eq!(store.append(request).await.unwrap().version, 2);
        }
    }
);

conformance!(
    one_refused_append_does_not_take_its_group_down,
    |db| async move {
        let store = &db.store;
        let writers: Vec<StreamWriter> = (0..4).map(|_| StreamWriter::new(new_stream())).collect();
        let mut requests: Vec<_> = writers.iter().map(|w| w.request(probes(1..=1))).collect();
        // PostgreSQL's jsonb stores no NUL character: it refuses the whole statement.
        requests[2].events[0].payload = json!({ "Probed": { "note": "nul \u{0} inside" } });

        let answers = sent_together(&db, store, requests, QUEUEING).await;

        for (n, (answer, _)) in answers.iter().enumerate() {
            let refused = n == 2 && db.backend == BackendKind::Postgres;
            assert_eq!(answer.is_err(), refused, "append {n}: {answer:?}");
            let stored = store
                .read_stream(&writers[n].stream, 0)
                .await
                .unwrap()
                .len();
            assert_eq!(stored, usize::from(!refused), "append {n}");
        }
    }
);

conformance!(
    grouped_streams_keep_their_hash_chains_and_one_global_order,
    |db| async move {
        let store = &db.store;
        let blocker = db.block_appends().await;
        // Writers append to streams of their own, several events at a time, all at once.
        let tasks: Vec<_> = (0..16u64)
            .map(|w| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut writer = StreamWriter::new(new_stream());
                    let mut appended = Vec::new();
                    for n in 0..12u64 {
                        let events = (0..=(n + w) % 3)
                            .map(|e| probe_from(w, n * 3 + e))
                            .collect();
                        appended.push(writer.append(&store, events).await);
                    }
                    (writer.stream, appended)
                })
            })
            .collect();
        tokio::time::sleep(QUEUEING).await;
        blocker.release().await;
        let mut written = Vec::new();
        for task in tasks {
            written.push(task.await.unwrap());
        }

        assert_grouped(store, 2);
        let verification = store.verify_log().await.unwrap();
        assert!(verification.ok(), "{verification:?}");
        // Readers see a committed event once every older transaction of the cluster has ended.
        let last = written
            .iter()
            .filter_map(|(_, appended)| appended.iter().map(|a| a.position).max())
            .max()
            .unwrap();
        wait_until_readable(store, last).await;
        let log = read_whole_log(store, 50).await;
        assert!(log.windows(2).all(|w| w[0].position < w[1].position));
        let total: u64 = written
            .iter()
            .map(|(_, appended)| appended.last().unwrap().version)
            .sum();
        assert_eq!(log.len() as u64, total);
        // Each stream's events come in its order in the global log, and each append's answer is
        // where its last event stands.
        let mut seen: HashMap<_, u64> = HashMap::new();
        let mut at: HashMap<_, _> = HashMap::new();
        for event in &log {
            let last = seen.entry(event.stream.clone()).or_default();
            assert_eq!(event.sequence, *last + 1, "{} out of order", event.stream);
            *last = event.sequence;
            at.insert(
                (event.stream.clone(), event.sequence),
                (event.position, event.hash().unwrap()),
            );
        }
        for (stream, appended) in &written {
            for a in appended {
                assert_eq!(at[&(stream.clone(), a.version)], (a.position, a.last_hash));
            }
        }
    }
);

conformance!(
    a_stream_another_holds_is_a_conflict_for_it_alone,
    |db| async move {
        if db.backend != BackendKind::Postgres {
            // SQLite's lock is the whole log: a held stream lock keeps every append out.
            return;
        }
        let store = &db.store;
        let writers: Vec<StreamWriter> = (0..3).map(|_| StreamWriter::new(new_stream())).collect();
        // A locked retry (or another process's append) holds the first stream for its decision.
        let held = store.lock_stream(&writers[0].stream).await.unwrap();

        let requests = writers.iter().map(|w| w.request(probes(1..=1))).collect();
        let answers = sent_together(&db, store, requests, QUEUEING).await;

        assert!(
            matches!(answers[0].0, Err(StoreError::Conflict { .. })),
            "the held stream's append is a lost race: {:?}",
            answers[0].0
        );
        for (answer, _) in &answers[1..] {
            assert_eq!(answer.as_ref().unwrap().version, 1, "the others commit");
        }
        assert_grouped(store, 3);
        drop(held);
        assert_eq!(
            store
                .append(writers[0].request(probes(1..=1)))
                .await
                .unwrap()
                .version,
            1
        );
    }
);

conformance!(
    a_key_sent_twice_together_stands_for_one_outcome,
    |db| async move {
        let store = &db.store;
        let writer = StreamWriter::new(new_stream());
        let mut first = writer.request(probes(1..=1));
        first.idempotency = claim("twice", "f");
        let mut again = first.clone();
        // The same request from another process decided it on another stream (a retry that
        // raced): its key is the same, so it has one outcome, whichever was queued first.
        again.stream = new_stream();
        let streams = [first.stream.clone(), again.stream.clone()];

        let answers = sent_together(&db, store, vec![first, again], QUEUEING).await;

        let answers: Vec<_> = answers.iter().map(|(a, _)| a.as_ref().unwrap()).collect();
        assert_eq!(
            answers.iter().filter(|a| a.replayed).count(),
            1,
            "one applied, one its replay: {answers:?}"
        );
        assert_eq!(
            (
                answers[0].version,
                answers[0].position,
                answers[0].last_hash
            ),
            (
                answers[1].version,
                answers[1].position,
                answers[1].last_hash
            )
        );
        let mut stored = Vec::new();
        for stream in &streams {
            stored.push(store.read_stream(stream, 0).await.unwrap().len());
        }
        stored.sort_unstable();
        assert_eq!(stored, [0, 1], "one append in the log");
    }
);

conformance!(
    a_stream_that_cannot_be_read_fails_its_own_cold_load_alone,
    |db| async move {
        let store = &db.store;
        let executor = Executor::<StockItem>::new(store.clone(), ());
        let good = register_stock_item(&executor, &farmer(), 5).await;
        let bad = register_stock_item(&executor, &farmer(), 5).await;
        db.sql(
            &format!(
                "UPDATE events SET metadata = jsonb_set(metadata, '{{hash}}', '\"not a hash\"') \
                 WHERE aggregate_id = '{bad}'"
            ),
            &format!(
                "UPDATE events SET metadata = json_set(metadata, '$.hash', 'not a hash') \
                 WHERE aggregate_id = '{bad}'"
            ),
        )
        .await;
        // On PostgreSQL, cold loads asked for while one is in flight share its next statement:
        // a first load waits on a lock, and the two sent meanwhile go together when it is gone.
        let blocker = db.block_loads().await;
        let cold = || Executor::<StockItem>::new(store.clone(), ());
        let first = {
            let (executor, id) = (cold(), good.clone());
            tokio::spawn(async move { executor.load(&id).await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        let loads: Vec<_> = [&bad, &good]
            .into_iter()
            .map(|id| {
                let (executor, id) = (cold(), id.clone());
                tokio::spawn(async move { executor.load(&id).await })
            })
            .collect();
        tokio::time::sleep(QUEUEING).await;
        if let Some(blocker) = blocker {
            blocker.release().await;
        }
        assert_eq!(first.await.unwrap().unwrap().version, 1);
        let mut answers = Vec::new();
        for load in loads {
            answers.push(load.await.unwrap());
        }
        assert!(
            matches!(&answers[0], Err(StoreError::Corrupt(why)) if why.contains("hash")),
            "the unreadable stream's load fails: {:?}",
            answers[0].as_ref().map(|l| l.version)
        );
        assert_eq!(answers[1].as_ref().unwrap().version, 1, "the other loads");
    }
);
