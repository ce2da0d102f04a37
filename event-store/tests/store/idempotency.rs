//! Idempotent appends: a key stands for its first request's outcome, which repeats answer with
//! and nothing is written twice, even when the repeats race.

use std::sync::Arc;

use event_store::{AppendRequest, Appended, IdempotentOutcome, StoreError};
use tokio::sync::Barrier;

use crate::fixtures::{StreamWriter, claim, new_stream, probes};

conformance!(
    repeating_an_append_under_its_key_replays_the_first_outcome,
    |db| async move {
        let store = db.store;
        let mut writer = StreamWriter::new(new_stream());
        let request = AppendRequest {
            idempotency: claim("actor-1:key-1", "fingerprint-1"),
            ..writer.request(probes(1..=2))
        };
        assert_eq!(
            store.idempotent_outcome("actor-1:key-1").await.unwrap(),
            None
        );

        let first = writer.send(&store, request.clone()).await.unwrap();
        let again = store.append(request.clone()).await.unwrap();
        // The stream moves on; the key still stands for the first append.
        writer.append(&store, probes(3..=3)).await;
        let much_later = store.append(request).await.unwrap();

        assert!(!first.replayed);
        assert_eq!(first.version, 2);
        let replayed = Appended {
            replayed: true,
            ..first
        };
        assert_eq!(again, replayed);
        assert_eq!(much_later, replayed);
        let events = store.read_stream(&writer.stream, 0).await.unwrap();
        assert_eq!(events.len(), 3, "the first two events were written once");
        assert_eq!(
            store.idempotent_outcome("actor-1:key-1").await.unwrap(),
            Some(IdempotentOutcome {
                fingerprint: "fingerprint-1".to_owned(),
                stream: writer.stream.clone(),
                appended: replayed,
            })
        );
        assert_eq!(
            store.idempotent_outcome("actor-1:key-2").await.unwrap(),
            None
        );
    }
);

conformance!(
    reusing_a_key_for_another_request_is_refused,
    |db| async move {
        let store = db.store;
        let mut writer = StreamWriter::new(new_stream());
        let first = AppendRequest {
            idempotency: claim("actor-1:key-1", "fingerprint-1"),
            ..writer.request(probes(1..=1))
        };
        writer.send(&store, first).await.unwrap();

        let other = AppendRequest {
            idempotency: claim("actor-1:key-1", "fingerprint-2"),
            ..writer.request(probes(2..=2))
        };
        let error = store.append(other).await.unwrap_err();

        assert!(
            matches!(error, StoreError::IdempotencyKeyReused),
            "{error:?}"
        );
        assert_eq!(store.read_stream(&writer.stream, 0).await.unwrap().len(), 1);
        let outcome = store.idempotent_outcome("actor-1:key-1").await.unwrap();
        assert_eq!(outcome.unwrap().fingerprint, "fingerprint-1");
    }
);

conformance!(
    an_append_refused_as_a_conflict_does_not_use_up_its_key,
    |db| async move {
        let store = db.store;
        let mut writer = StreamWriter::new(new_stream());
        writer.append(&store, probes(1..=1)).await;

        let stale = AppendRequest {
            expected_version: 0,
            idempotency: claim("actor-1:key-1", "fingerprint-1"),
            ..writer.request(probes(2..=2))
        };
        let error = store.append(stale).await.unwrap_err();
        let unused = store.idempotent_outcome("actor-1:key-1").await.unwrap();
        let retry = AppendRequest {
            idempotency: claim("actor-1:key-1", "fingerprint-1"),
            ..writer.request(probes(2..=2))
        };
        let retried = store.append(retry).await.unwrap();

        assert!(
            matches!(
                error,
                StoreError::Conflict {
                    expected_version: 0
                }
            ),
            "{error:?}"
        );
        assert_eq!(unused, None);
        assert_eq!((retried.version, retried.replayed), (2, false));
    }
);

conformance!(
    concurrent_appends_under_one_key_write_once_and_answer_alike,
    |db| async move {
        const REQUESTS: usize = 20;
        let store = db.store;
        let writer = StreamWriter::new(new_stream());
        let request = AppendRequest {
            idempotency: claim("actor-1:key-1", "fingerprint-1"),
            ..writer.request(probes(1..=2))
        };
        let start = Arc::new(Barrier::new(REQUESTS));

        let requests: Vec<_> = (0..REQUESTS)
            .map(|_| {
                let (store, start, request) = (store.clone(), start.clone(), request.clone());
                tokio::spawn(async move {
                    start.wait().await;
                    store.append(request).await
                })
            })
            .collect();
        let mut answers = Vec::new();
        for request in requests {
            answers.push(request.await.unwrap().expect("every repeat succeeds"));
        }

        let written: Vec<&Appended> = answers.iter().filter(|a| !a.replayed).collect();
        assert_eq!(written.len(), 1, "exactly one request wrote: {answers:?}");
        let first = *written[0];
        assert!(
            answers.iter().all(|a| (a.version, a.position, a.last_hash)
                == (first.version, first.position, first.last_hash)),
            "every answer is the first one's: {answers:?}"
        );
        assert_eq!(store.read_stream(&writer.stream, 0).await.unwrap().len(), 2);
        let outcome = store.idempotent_outcome("actor-1:key-1").await.unwrap();
        assert_eq!(
            outcome.unwrap().appended,
            Appended {
                replayed: true,
                ..first
            }
        );
    }
);
