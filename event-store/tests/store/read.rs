//! The global log: every event once, in order, in batches from any position; its head; and
//! the wake-ups that tell readers it grew.

use std::time::Duration;

use event_schemas::values::{Actor, ActorId, Role};
use event_store::{EventStore, LogFilter, Position, StreamId};
use futures_util::TryStreamExt;
use tokio::sync::watch;
use tokio::time::timeout;
use uuid::Uuid;

use crate::fixtures::{StreamWriter, new_stream, probe_from, probes};
use crate::support::{on_postgres, read_whole_log, wait_until_readable};

conformance!(
    the_global_log_returns_every_event_once_in_order,
    |db| async move {
        let store = db.store;
        let mut writers: Vec<StreamWriter> =
            (0..4).map(|_| StreamWriter::new(new_stream())).collect();
        let mut appended_ids = Vec::new();
        let mut last = Position::START;
        for round in 0..3 {
            for (count, writer) in (1..).zip(&mut writers) {
                let events = probes(round * 10 + 1..=round * 10 + count % 2 + 1);
                appended_ids.extend(events.iter().map(|e| e.metadata.event_id));
                last = writer.append(&store, events).await.position;
            }
        }
        wait_until_readable(&store, last).await;

        let log = read_whole_log(&store, 3).await;

        let read_ids: Vec<Uuid> = log
            .iter()
            .map(|e| e.typed_metadata().unwrap().event_id)
            .collect();
        assert_eq!(
            read_ids, appended_ids,
            "every event once, in the order its append committed"
        );
        assert!(log.windows(2).all(|w| w[0].position < w[1].position));
        for writer in &writers {
            let sequences: Vec<u64> = log
                .iter()
                .filter(|e| e.stream == writer.stream)
                .map(|e| e.sequence)
                .collect();
            assert_eq!(sequences, (1..=writer.version).collect::<Vec<_>>());
        }
        let newest = log.last().unwrap().position;
        assert_eq!(newest, last);
        assert!(store.read_all(newest, 3).await.unwrap().is_empty());
        assert_eq!(store.head().await.unwrap().readable, Some(newest));
        // A reader resumes from the token a client holds.
        let token = log[7].position.token();
        let resumed = store
            .read_all(Position::from_token(&token).unwrap(), 100)
            .await
            .unwrap();
        assert_eq!(resumed, log[8..]);
    }
);

conformance!(
    an_empty_log_reads_nothing_and_has_no_head,
    |db| async move {
        let store = db.store;

        let head = store.head().await.unwrap();
        let log = store.read_all(Position::START, 10).await.unwrap();

        assert_eq!(head.readable, None);
        assert!(log.is_empty());
    }
);

conformance!(an_append_wakes_the_log_readers, |db| async move {
    let store = db.store;
    let mut wakeups = store.wakeups();
    let_start_up_wakeups_pass(&mut wakeups).await;

    StreamWriter::new(new_stream())
        .append(&store, probes(1..=1))
        .await;

    timeout(Duration::from_secs(5), wakeups.changed())
        .await
        .expect("a wake-up within 5 s of the append")
        .unwrap();
});

/// Waits until the receiver has been quiet for a moment (PostgreSQL's listener wakes readers
/// once when it starts listening, since it may have missed appends).
async fn let_start_up_wakeups_pass(wakeups: &mut watch::Receiver<u64>) {
    wakeups.borrow_and_update();
    while let Ok(Ok(())) = timeout(Duration::from_millis(300), wakeups.changed()).await {}
}

/// PostgreSQL only: another process's store (its own pool and listener) is woken through
/// `NOTIFY` when this one appends. SQLite's wake-ups are in-process by design.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_process_is_woken_through_notify() {
    on_postgres(|db| async move {
        let store = db.store;
        let other = EventStore::connect(&db.url).await.unwrap();
        let mut wakeups = other.wakeups();
        wait_for_listeners(&db.url, 2).await;
        let_start_up_wakeups_pass(&mut wakeups).await;

        StreamWriter::new(new_stream())
            .append(&store, probes(1..=1))
            .await;

        timeout(Duration::from_secs(5), wakeups.changed())
            .await
            .expect("the other process is woken within 5 s")
            .unwrap();
    })
    .await;
}

/// Waits until `count` sessions of the database listen for appends.
async fn wait_for_listeners(url: &str, count: i64) {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    for _ in 0..250 {
        let listening: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND state = 'idle' AND query ILIKE 'LISTEN %'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if listening >= count {
            pool.close().await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("fewer than {count} stores listen for appends after 5 s");
}

conformance!(
    streaming_the_log_gives_exactly_what_reading_it_in_batches_gives,
    |db| async move {
        let store = db.store;
        let mut writers: Vec<StreamWriter> =
            (0..3).map(|_| StreamWriter::new(new_stream())).collect();
        for round in 0..4 {
            for writer in &mut writers {
                writer
                    .append(&store, probes(round * 2 + 1..=round * 2 + 2))
                    .await;
            }
        }
        let last = writers[2].append(&store, probes(9..=9)).await;
        wait_until_readable(&store, last.position).await;

        // In queries of 4 events: the reader picks up after the last one it saw.
        let mut streamed = Vec::new();
        let mut after = Position::START;
        loop {
            let chunk: Vec<_> = store
                .stream_all(after, 4)
                .try_collect::<Vec<_>>()
                .await
                .unwrap();
            if let Some(event) = chunk.last() {
                after = event.position;
            }
            let done = chunk.len() < 4;
            streamed.extend(chunk);
            if done {
                break;
            }
        }

        assert_eq!(streamed.len(), 25);
        assert_eq!(streamed, read_whole_log(&store, 5).await);

        // Bodies only (what rebuilds read): the same events, in the same order, without
        // their metadata.
        let bodies: Vec<_> = store
            .stream_bodies(Position::START, 100)
            .try_collect::<Vec<_>>()
            .await
            .unwrap();
        assert_eq!(bodies.len(), 25);
        for (body, full) in bodies.iter().zip(&streamed) {
            assert_eq!(body.metadata, serde_json::Value::Null);
            assert_eq!(
                (&body.stream, body.sequence, &body.payload, body.position),
                (&full.stream, full.sequence, &full.payload, full.position)
            );
        }

        // Raw (what the relay reads): the same events with their JSON as stored text.
        let raw = store.read_all_raw(Position::START, 100).await.unwrap();
        let decoded: Vec<_> = raw
            .into_iter()
            .map(|event| {
                event
                    .try_map_json(|text| serde_json::from_str::<serde_json::Value>(text.get()))
                    .unwrap()
            })
            .collect();
        assert_eq!(decoded, streamed);
    }
);

conformance!(
    a_filtered_read_pages_through_the_matching_events_in_log_order,
    |db| async move {
        let store = db.store;
        // Three kinds of stream, two actors, two event types, appended interleaved.
        let mut writers: Vec<StreamWriter> = (0..3)
            .map(|i| {
                let kind = if i == 2 { "other" } else { "probe" };
                StreamWriter::new(StreamId::new(kind, Uuid::now_v7().to_string()))
            })
            .collect();
        let mut last = Position::START;
        for round in 0..4_u64 {
            for (i, writer) in (0_u64..).zip(&mut writers) {
                let mut event = probe_from(i, round);
                if (round + i) % 2 == 1 {
                    event.event_type = "Noted".to_owned();
                }
                if i == 1 {
                    event.metadata.actor =
                        Actor::new(ActorId::parse("auditor-ann").unwrap(), Role::Auditor);
                }
                last = writer.append(&store, vec![event]).await.position;
            }
        }
        wait_until_readable(&store, last).await;
        let log = read_whole_log(&store, 100).await;
        let middle = log[5].recorded_at;

        let filters = [
            LogFilter::default(),
            LogFilter {
                aggregate_types: vec!["other".into()],
                ..LogFilter::default()
            },
            LogFilter {
                aggregate_types: vec!["probe".into(), "other".into()],
                aggregate_id: Some(writers[0].stream.aggregate_id.clone()),
                ..LogFilter::default()
            },
            LogFilter {
                event_type: Some("Noted".into()),
                ..LogFilter::default()
            },
            LogFilter {
                actor: Some("auditor-ann".into()),
                event_type: Some("Probed".into()),
                ..LogFilter::default()
            },
            LogFilter {
                from: Some(middle),
                ..LogFilter::default()
            },
            LogFilter {
                to: Some(middle),
                aggregate_types: vec!["probe".into()],
                ..LogFilter::default()
            },
        ];
        for filter in filters {
            let expected: Vec<_> = log
                .iter()
                .filter(|e| {
                    let actor = e.metadata["actor"]["sub"].as_str();
                    (filter.aggregate_types.is_empty()
                        || filter.aggregate_types.contains(&e.stream.aggregate_type))
                        && filter
                            .aggregate_id
                            .as_ref()
                            .is_none_or(|id| *id == e.stream.aggregate_id)
                        && filter
                            .event_type
                            .as_ref()
                            .is_none_or(|t| *t == e.event_type)
                        && filter.actor.as_deref().is_none_or(|a| Some(a) == actor)
                        && filter.from.is_none_or(|from| e.recorded_at >= from)
                        && filter.to.is_none_or(|to| e.recorded_at < to)
                })
                .cloned()
                .collect();
            assert!(!expected.is_empty(), "{filter:?} matches something");
            // Paged two at a time from each page's last position.
            let mut read = Vec::new();
            let mut after = Position::START;
            loop {
                let page = store.read_filtered(&filter, after, 2).await.unwrap();
                assert!(page.len() <= 2);
                let Some(end) = page.last() else { break };
                after = end.position;
                read.extend(page);
            }
            assert_eq!(read, expected, "{filter:?}");
            let count = store.count_filtered(&filter, Position::START, 1000).await;
            assert_eq!(count.unwrap(), expected.len() as u64, "{filter:?}");
            let start = Position::START;
            assert_eq!(store.count_filtered(&filter, start, 1).await.unwrap(), 1);
            let after_first = expected[0].position;
            let rest = store.count_filtered(&filter, after_first, 1000).await;
            assert_eq!(rest.unwrap(), expected.len() as u64 - 1, "{filter:?}");
        }
    }
);
