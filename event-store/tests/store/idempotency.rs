//! Idempotent appends: a key stands for its first request's outcome, which repeats answer with
//! and nothing is written twice, even when the repeats race.

use std::sync::Arc;
use std::time::Duration;

use domain::stock::{StockError, StockItem};
use event_store::{
    AppendRequest, Appended, CommandContext, ExecuteError, Executor, IdempotencyClaim,
    IdempotentOutcome, KeyOutcome, StoreError,
};
use tokio::sync::Barrier;

use crate::fixtures::{
    StreamWriter, adjust, change_price, claim, context_for, execute, farmer, new_stream, on_hand,
    probes, receive, register_stock_item,
};

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
                outcome: KeyOutcome::Appended(replayed),
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
            outcome.unwrap().outcome,
            KeyOutcome::Appended(Appended {
                replayed: true,
                ..first
            })
        );
    }
);

/// `context` with an idempotency key (and a fingerprint standing for the request).
fn keyed(
    mut context: CommandContext,
    key: &str,
    fingerprint: &str,
    ttl: Option<Duration>,
) -> CommandContext {
    context.idempotency = Some(IdempotencyClaim {
        key: key.to_owned(),
        fingerprint: fingerprint.to_owned(),
        ttl,
    });
    context
}

conformance!(
    a_refusal_stands_for_its_key_even_once_the_command_would_succeed,
    |db| async move {
        let executor = Executor::<StockItem>::new(db.store.clone(), ());
        let farmer = farmer();
        let id = register_stock_item(&executor, &farmer, 10).await;
        let take = adjust(&farmer, -15);
        let context = keyed(context_for(&take), "farmer:take-15", "adjust -15", None);

        let first = executor
            .execute(&id, take.clone(), &context)
            .await
            .unwrap_err();
        execute(&executor, &id, receive(&farmer, 10)).await;
        let retried = executor.execute(&id, take, &context).await.unwrap_err();

        let refusal = |error: &ExecuteError<StockError>| match error {
            ExecuteError::Rejected(refusal) => refusal.clone(),
            other => panic!("not a refusal: {other:?}"),
        };
        assert!(matches!(refusal(&first), StockError::BelowReserved { .. }));
        assert_eq!(
            refusal(&retried),
            refusal(&first),
            "the first answer stands"
        );
        let stored = executor.load(&id).await.unwrap();
        assert_eq!((stored.version, on_hand(&stored.state)), (2, 20));
    }
);

conformance!(nothing_to_do_stands_for_its_key, |db| async move {
    let executor = Executor::<StockItem>::new(db.store.clone(), ());
    let farmer = farmer();
    let id = register_stock_item(&executor, &farmer, 10).await;
    // The item's price already is 250: nothing to do.
    let same_price = change_price(&farmer, 250);
    let context = keyed(context_for(&same_price), "farmer:price", "price 250", None);

    let first = executor
        .execute(&id, same_price.clone(), &context)
        .await
        .unwrap();
    execute(&executor, &id, change_price(&farmer, 300)).await;
    let retried = executor.execute(&id, same_price, &context).await.unwrap();

    assert_eq!((first.version, first.replayed), (1, false));
    assert_eq!((retried.version, retried.replayed), (1, true));
    assert_eq!(retried.position, first.position);
    assert_eq!(executor.load(&id).await.unwrap().version, 2);
});

conformance!(an_if_match_mismatch_stands_for_its_key, |db| async move {
    let executor = Executor::<StockItem>::new(db.store.clone(), ());
    let farmer = farmer();
    let id = register_stock_item(&executor, &farmer, 10).await;
    let more = receive(&farmer, 1);
    let mut context = keyed(context_for(&more), "farmer:more", "receive 1 at 2", None);
    context.expected_version = Some(2);

    let first = executor
        .execute(&id, more.clone(), &context)
        .await
        .unwrap_err();
    execute(&executor, &id, receive(&farmer, 1)).await;
    // The stream is at version 2 now, but the key already stands for the mismatch.
    let retried = executor.execute(&id, more, &context).await.unwrap_err();

    for error in [&first, &retried] {
        assert!(
            matches!(
                error,
                ExecuteError::VersionMismatch {
                    expected: 2,
                    actual: 1
                }
            ),
            "{error:?}"
        );
    }
    assert_eq!(executor.load(&id).await.unwrap().version, 2);
});

conformance!(
    client_keys_expire_and_are_removed_but_system_keys_never_expire,
    |db| async move {
        let store = db.store.clone();
        let executor = Executor::<StockItem>::new(store.clone(), ());
        let farmer = farmer();
        let id = register_stock_item(&executor, &farmer, 10).await;
        let client = receive(&farmer, 1);
        let client_context = keyed(
            context_for(&client),
            "farmer:r1",
            "receive 1",
            Some(Duration::from_millis(700)),
        );
        executor
            .execute(&id, client.clone(), &client_context)
            .await
            .unwrap();
        let process = receive(&farmer, 2);
        let process_context = keyed(context_for(&process), "system:r2", "receive 2", None);
        executor
            .execute(&id, process, &process_context)
            .await
            .unwrap();

        tokio::time::sleep(Duration::from_millis(1200)).await;
        let expired = store.idempotent_outcome("farmer:r1").await.unwrap();
        let kept = store.idempotent_outcome("system:r2").await.unwrap();
        let removed = store.remove_expired_keys(100).await.unwrap();
        // An expired key is free: the same key now stands for a new request.
        let reused = executor
            .execute(
                &id,
                receive(&farmer, 5),
                &keyed(context_for(&client), "farmer:r1", "receive 5", None),
            )
            .await
            .unwrap();

        assert_eq!(expired, None);
        assert!(kept.is_some());
        assert_eq!(removed, 1);
        assert!(!reused.replayed);
        assert_eq!(reused.version, 4);
        assert_eq!(store.remove_expired_keys(100).await.unwrap(), 0);
    }
);
