//! The executor, the one write path: `If-Match`, refusals that append nothing, retries when a
//! concurrent command wins, and commands made idempotent by a key.

use std::sync::Arc;

use cqrs_es::Aggregate;
use domain::Issued;
use domain::stock::{StockCommand, StockError, StockItem};
use event_store::{ExecuteError, Executor, IdempotencyClaim, StreamId};
use tokio::sync::Barrier;

use crate::fixtures::{
    adjust, context_for, farmer, new_stock_item_id, on_hand, other_farmer, receive,
    register_stock_item,
};

conformance!(
    an_if_match_on_another_version_is_a_version_mismatch,
    |db| async move {
        let executor = Executor::<StockItem>::new(db.store, ());
        let farmer = farmer();
        let id = register_stock_item(&executor, &farmer, 10).await;
        let command = receive(&farmer, 3);
        let mut context = context_for(&command);
        context.expected_version = Some(5);

        let error = executor
            .execute(&id, command.clone(), &context)
            .await
            .unwrap_err();
        let unchanged = executor.load(&id).await.unwrap();
        context.expected_version = Some(1);
        let executed = executor.execute(&id, command, &context).await.unwrap();

        assert!(
            matches!(
                error,
                ExecuteError::VersionMismatch {
                    expected: 5,
                    actual: 1
                }
            ),
            "{error:?}"
        );
        assert_eq!(unchanged.version, 1);
        assert_eq!(executed.version, 2);
    }
);

/// Executes `command` on stock item `id`, which must be refused.
async fn refusal(
    executor: &Executor<StockItem>,
    id: &str,
    command: Issued<StockCommand>,
) -> ExecuteError<StockError> {
    let context = context_for(&command);
    executor
        .execute(id, command, &context)
        .await
        .expect_err("the command is refused")
}

conformance!(a_refused_command_appends_nothing, |db| async move {
    let store = db.store;
    let executor = Executor::<StockItem>::new(store.clone(), ());
    let farmer = farmer();
    let unregistered = new_stock_item_id();

    let not_found = refusal(&executor, &unregistered, receive(&farmer, 1)).await;
    let id = register_stock_item(&executor, &farmer, 10).await;
    let not_owner = refusal(&executor, &id, receive(&other_farmer(), 1)).await;
    let below_zero = refusal(&executor, &id, adjust(&farmer, -11)).await;

    assert!(
        matches!(not_found, ExecuteError::Rejected(StockError::NotFound)),
        "{not_found:?}"
    );
    assert!(
        matches!(not_owner, ExecuteError::Rejected(StockError::NotOwner)),
        "{not_owner:?}"
    );
    assert!(
        matches!(
            below_zero,
            ExecuteError::Rejected(StockError::BelowReserved { .. })
        ),
        "{below_zero:?}"
    );
    let unregistered = StreamId::new(StockItem::TYPE, &unregistered);
    assert!(
        store
            .read_stream(&unregistered, 0)
            .await
            .unwrap()
            .is_empty()
    );
    let registered = StreamId::new(StockItem::TYPE, &id);
    assert_eq!(store.read_stream(&registered, 0).await.unwrap().len(), 1);
});

conformance!(
    concurrent_commands_on_one_aggregate_all_succeed_through_retries,
    |db| async move {
        const COMMANDS: u64 = 10;
        let store = db.store;
        let executor = Executor::<StockItem>::new(store.clone(), ()).with_max_attempts(50);
        let farmer = farmer();
        let id = register_stock_item(&executor, &farmer, 10).await;
        let start = Arc::new(Barrier::new(COMMANDS as usize));

        let commands: Vec<_> = (0..COMMANDS)
            .map(|_| {
                let (executor, start, id) = (executor.clone(), start.clone(), id.clone());
                let command = receive(&farmer, 5);
                tokio::spawn(async move {
                    let context = context_for(&command);
                    start.wait().await;
                    executor.execute(&id, command, &context).await
                })
            })
            .collect();
        let mut versions = Vec::new();
        for command in commands {
            let executed = command.await.unwrap().expect("every command succeeds");
            assert_eq!(executed.events.len(), 1);
            versions.push(executed.version);
        }

        versions.sort_unstable();
        assert_eq!(versions, (2..=COMMANDS + 1).collect::<Vec<_>>());
        let loaded = executor.load(&id).await.unwrap();
        assert_eq!(loaded.version, COMMANDS + 1);
        assert_eq!(on_hand(&loaded.state), 10 + 5 * COMMANDS);
        let verified = store
            .verify_stream(&StreamId::new(StockItem::TYPE, &id))
            .await
            .unwrap();
        assert!(verified.ok, "{verified:?}");
    }
);

conformance!(
    a_command_repeated_under_its_key_is_executed_once,
    |db| async move {
        const REPEATS: usize = 5;
        let executor = Executor::<StockItem>::new(db.store, ());
        let farmer = farmer();
        let id = register_stock_item(&executor, &farmer, 10).await;
        let command = receive(&farmer, 5);
        let mut context = context_for(&command);
        context.idempotency = Some(IdempotencyClaim {
            key: "farmer-1:receive-1".to_owned(),
            fingerprint: "receive 5".to_owned(),
            ttl: None,
        });
        let start = Arc::new(Barrier::new(REPEATS));

        let racing: Vec<_> = (0..REPEATS)
            .map(|_| {
                let (executor, start, id) = (executor.clone(), start.clone(), id.clone());
                let (command, context) = (command.clone(), context.clone());
                tokio::spawn(async move {
                    start.wait().await;
                    executor.execute(&id, command, &context).await
                })
            })
            .collect();
        let mut answers = Vec::new();
        for answer in racing {
            answers.push(answer.await.unwrap().expect("every repeat succeeds"));
        }
        let later = executor
            .execute(&id, command.clone(), &context)
            .await
            .unwrap();
        let mut other = context.clone();
        other.idempotency = Some(IdempotencyClaim {
            key: "farmer-1:receive-1".to_owned(),
            fingerprint: "receive 6".to_owned(),
            ttl: None,
        });
        let reused = executor
            .execute(&id, receive(&farmer, 6), &other)
            .await
            .unwrap_err();

        let executed: Vec<_> = answers.iter().filter(|a| !a.replayed).collect();
        assert_eq!(executed.len(), 1, "exactly one repeat executed");
        let first = executed[0];
        assert_eq!((first.version, first.events.len()), (2, 1));
        for answer in answers.iter().chain([&later]) {
            assert_eq!(
                (answer.version, answer.position),
                (first.version, first.position)
            );
        }
        assert!(later.replayed && later.events.is_empty());
        assert!(
            matches!(reused, ExecuteError::IdempotencyKeyReused),
            "{reused:?}"
        );
        let loaded = executor.load(&id).await.unwrap();
        assert_eq!((loaded.version, on_hand(&loaded.state)), (2, 15));
    }
);

conformance!(
    a_stale_cached_aggregate_is_caught_by_the_append_and_decided_again,
    |db| async move {
        // Two executors with their own caches over one store: two processes.
        let here = Executor::<StockItem>::new(db.store.clone(), ());
        let there = Executor::<StockItem>::new(db.store.clone(), ());
        let farmer = farmer();
        let id = register_stock_item(&here, &farmer, 10).await;
        let warm = receive(&farmer, 1);
        here.execute(&id, warm.clone(), &context_for(&warm))
            .await
            .unwrap();

        // Elsewhere, the stream moves on: `here` now caches version 2 with 11 on hand.
        let more = receive(&farmer, 10);
        there
            .execute(&id, more.clone(), &context_for(&more))
            .await
            .unwrap();

        // On the cached state this would go below zero; on the stored state (21) it is fine.
        let take = adjust(&farmer, -15);
        let executed = here
            .execute(&id, take.clone(), &context_for(&take))
            .await
            .unwrap();
        assert_eq!(executed.version, 4);
        assert!(executed.attempts > 1, "the stale copy was not used as is");
        let stored = here
            .replay(&id, event_store::ReplayUntil::End)
            .await
            .unwrap();
        assert_eq!(on_hand(&stored.state), 6);

        // And an append on a stale copy never lands at a stale version.
        let again = receive(&farmer, 2);
        there
            .execute(&id, again.clone(), &context_for(&again))
            .await
            .unwrap();
        assert_eq!(there.load(&id).await.unwrap().version, 5);
        assert_eq!(
            db.store
                .verify_stream(&StreamId::new(StockItem::TYPE, &id))
                .await
                .unwrap()
                .first_broken_sequence,
            None
        );
    }
);
