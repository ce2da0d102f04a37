//! Appending to a stream and reading it back: versions, metadata and its hash chain,
//! positions, and optimistic concurrency.

use std::sync::Arc;

use event_schemas::{ChainHash, EventMetadata};
use event_store::{AppendRequest, NewEvent, Position, StoreError, event_hash};
use tokio::sync::Barrier;

use crate::fixtures::{StreamWriter, new_stream, probe, probe_from, probes};
use crate::support::{read_whole_log, wait_until_readable};

conformance!(
    appended_events_read_back_in_order_with_their_chain,
    |db| async move {
        let store = db.store;
        let mut writer = StreamWriter::new(new_stream());
        let first = probes(1..=3);
        let second = probes(4..=5);

        let a = writer.append(&store, first.clone()).await;
        let b = writer.append(&store, second.clone()).await;

        assert_eq!((a.version, b.version), (3, 5));
        assert!(!a.replayed && !b.replayed);
        assert!(a.position < b.position);
        for appended in [a, b] {
            assert_eq!(
                Position::from_token(&appended.position.token()),
                Ok(appended.position)
            );
            assert_eq!(appended.position.to_string().parse(), Ok(appended.position));
        }
        let events = store.read_stream(&writer.stream, 0).await.unwrap();
        let sent: Vec<NewEvent> = first.into_iter().chain(second).collect();
        assert_eq!(events.len(), sent.len());
        let mut prev = ChainHash::GENESIS;
        for ((sequence, event), sent) in (1..).zip(&events).zip(&sent) {
            assert_eq!(event.stream, writer.stream);
            assert_eq!(event.sequence, sequence);
            assert_eq!(event.event_type, sent.event_type);
            assert_eq!(event.event_version, sent.event_version);
            assert_eq!(event.payload, sent.payload);
            let metadata = event.typed_metadata().unwrap();
            let hash = event_hash(
                &prev,
                &event.stream,
                event.sequence,
                &event.event_type,
                &event.event_version,
                &event.payload,
                &event.metadata,
            );
            assert_eq!(
                metadata,
                EventMetadata {
                    prev_hash: prev,
                    hash,
                    ..sent.metadata.clone()
                },
                "event #{sequence}: the metadata as sent, with its link in the chain"
            );
            assert_eq!(event.hash().unwrap(), hash);
            prev = hash;
        }
        assert_eq!(events[0].metadata["prev_hash"], "0".repeat(64));
        assert!(events.windows(2).all(|w| w[0].position < w[1].position));
        assert_eq!(
            (events[2].position, events[2].hash().unwrap()),
            (a.position, a.last_hash)
        );
        assert_eq!(
            (events[4].position, events[4].hash().unwrap()),
            (b.position, b.last_hash)
        );
    }
);

conformance!(
    reading_a_stream_from_a_version_returns_only_later_events,
    |db| async move {
        let store = db.store;
        let mut writer = StreamWriter::new(new_stream());
        writer.append(&store, probes(1..=5)).await;
        let mut elsewhere = StreamWriter::new(new_stream());
        elsewhere.append(&store, probes(1..=2)).await;

        let later = store.read_stream(&writer.stream, 3).await.unwrap();
        let at_end = store.read_stream(&writer.stream, 5).await.unwrap();
        let unknown = store.read_stream(&new_stream(), 0).await.unwrap();

        let sequences: Vec<u64> = later.iter().map(|e| e.sequence).collect();
        assert_eq!(sequences, [4, 5]);
        assert!(later.iter().all(|e| e.stream == writer.stream));
        assert_eq!(later[0].payload, probe(4).payload);
        assert!(at_end.is_empty());
        assert!(unknown.is_empty());
    }
);

conformance!(
    appending_at_the_right_version_but_chained_to_another_hash_is_a_conflict,
    |db| async move {
        let store = db.store;
        let mut writer = StreamWriter::new(new_stream());
        writer.append(&store, probes(1..=2)).await;
        let before = store.read_stream(&writer.stream, 0).await.unwrap();

        // A writer that saw version 2 with another last event (say, one deleted and written
        // again meanwhile) must not chain onto the stream as it is now.
        let request = AppendRequest {
            prev_hash: ChainHash::from_bytes([9; 32]),
            ..writer.request(probes(3..=3))
        };
        let error = store.append(request).await.unwrap_err();

        assert!(
            matches!(
                error,
                StoreError::Conflict {
                    expected_version: 2
                }
            ),
            "{error:?}"
        );
        assert_eq!(store.read_stream(&writer.stream, 0).await.unwrap(), before);
        writer.append(&store, probes(3..=3)).await;
        assert!(store.verify_stream(&writer.stream).await.unwrap().ok);
    }
);

conformance!(an_empty_append_is_refused, |db| async move {
    let store = db.store;
    let writer = StreamWriter::new(new_stream());

    let error = store.append(writer.request(Vec::new())).await.unwrap_err();

    assert!(matches!(error, StoreError::NothingToAppend), "{error:?}");
    assert!(
        store
            .read_stream(&writer.stream, 0)
            .await
            .unwrap()
            .is_empty()
    );
});

conformance!(
    appending_at_a_stale_version_is_a_conflict,
    |db| async move {
        let store = db.store;
        let mut writer = StreamWriter::new(new_stream());
        writer.append(&store, probes(1..=2)).await;
        let before = store.read_stream(&writer.stream, 0).await.unwrap();

        for stale in [0, 1] {
            let request = AppendRequest {
                expected_version: stale,
                ..writer.request(probes(10..=11))
            };
            let error = store.append(request).await.unwrap_err();
            assert!(
                matches!(error, StoreError::Conflict { expected_version } if expected_version == stale),
                "expected version {stale}: {error:?}"
            );
        }

        assert_eq!(store.read_stream(&writer.stream, 0).await.unwrap(), before);
    }
);

conformance!(
    appending_beyond_the_stream_version_is_a_conflict_and_leaves_no_hole,
    |db| async move {
        let store = db.store;
        let mut writer = StreamWriter::new(new_stream());
        writer.append(&store, probes(1..=2)).await;
        let fresh = StreamWriter::new(new_stream());

        let ahead = AppendRequest {
            expected_version: 5,
            ..writer.request(probes(6..=6))
        };
        let error = store.append(ahead).await.unwrap_err();
        let ahead_of_nothing = AppendRequest {
            expected_version: 3,
            ..fresh.request(probes(4..=4))
        };
        let error_on_fresh = store.append(ahead_of_nothing).await.unwrap_err();

        assert!(
            matches!(
                error,
                StoreError::Conflict {
                    expected_version: 5
                }
            ),
            "{error:?}"
        );
        assert!(
            matches!(
                error_on_fresh,
                StoreError::Conflict {
                    expected_version: 3
                }
            ),
            "{error_on_fresh:?}"
        );
        assert!(
            store
                .read_stream(&fresh.stream, 0)
                .await
                .unwrap()
                .is_empty()
        );
        let next = writer.append(&store, probes(3..=3)).await;
        assert_eq!(next.version, 3);
        let sequences: Vec<u64> = store
            .read_stream(&writer.stream, 0)
            .await
            .unwrap()
            .iter()
            .map(|e| e.sequence)
            .collect();
        assert_eq!(sequences, [1, 2, 3]);
    }
);

conformance!(
    concurrent_appends_at_the_same_version_let_exactly_one_win,
    |db| async move {
        const WRITERS: u64 = 10;
        let store = db.store;
        let stream = new_stream();
        let start = Arc::new(Barrier::new(WRITERS as usize));

        let attempts: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let (store, start) = (store.clone(), start.clone());
                let request = StreamWriter::new(stream.clone())
                    .request(vec![probe_from(writer, 1), probe_from(writer, 2)]);
                tokio::spawn(async move {
                    start.wait().await;
                    (writer, store.append(request).await)
                })
            })
            .collect();
        let mut winners = Vec::new();
        let mut conflicts = 0;
        for attempt in attempts {
            match attempt.await.unwrap() {
                (writer, Ok(appended)) => winners.push((writer, appended)),
                (
                    _,
                    Err(StoreError::Conflict {
                        expected_version: 0,
                    }),
                ) => conflicts += 1,
                (_, Err(other)) => panic!("neither appended nor a conflict: {other:?}"),
            }
        }

        assert_eq!(winners.len(), 1, "exactly one writer wins");
        assert_eq!(conflicts, WRITERS - 1);
        let (winner, appended) = winners[0];
        assert_eq!(appended.version, 2);
        let events = store.read_stream(&stream, 0).await.unwrap();
        assert_eq!(events.len(), 2);
        assert!(
            events
                .iter()
                .all(|e| e.payload["Probed"]["writer"] == winner)
        );
        assert!(store.verify_stream(&stream).await.unwrap().ok);
    }
);

conformance!(
    appends_to_different_streams_run_concurrently_and_all_succeed,
    |db| async move {
        const STREAMS: u64 = 10;
        const APPENDS: u64 = 5;
        let store = db.store;
        let start = Arc::new(Barrier::new(STREAMS as usize));

        let writers: Vec<_> = (0..STREAMS)
            .map(|n| {
                let (store, start) = (store.clone(), start.clone());
                tokio::spawn(async move {
                    let mut writer = StreamWriter::new(new_stream());
                    start.wait().await;
                    let mut last = None;
                    for i in 1..=APPENDS {
                        last = Some(writer.append(&store, vec![probe_from(n, i)]).await);
                    }
                    (writer.stream, last.unwrap())
                })
            })
            .collect();
        let mut streams = Vec::new();
        for writer in writers {
            streams.push(writer.await.expect("every append succeeds"));
        }

        for (stream, last) in &streams {
            assert_eq!(last.version, APPENDS);
            let sequences: Vec<u64> = store
                .read_stream(stream, 0)
                .await
                .unwrap()
                .iter()
                .map(|e| e.sequence)
                .collect();
            assert_eq!(sequences, (1..=APPENDS).collect::<Vec<_>>());
        }
        let verified = store.verify_log().await.unwrap();
        assert!(verified.ok(), "{verified:?}");
        assert_eq!(
            (verified.streams, verified.checked),
            (STREAMS, STREAMS * APPENDS)
        );
        let newest = streams.iter().map(|(_, last)| last.position).max().unwrap();
        wait_until_readable(&store, newest).await;
        let log = read_whole_log(&store, 7).await;
        assert_eq!(log.len() as u64, STREAMS * APPENDS);
    }
);
