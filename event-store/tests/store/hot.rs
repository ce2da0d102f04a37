//! A hot aggregate: many concurrent commands on one aggregate, from one process (they take
//! turns and never race to the store) and from two (a lost race is retried under the stream's
//! lock, so it is never lost twice).

use std::sync::Arc;

use domain::stock::StockItem;
use event_store::{ExecuteError, Executor, StoreOptions};
use tokio::sync::Barrier;

use crate::fixtures::{adjust, claim, context_for, farmer, on_hand, receive, register_stock_item};

/// Sends `count` concurrent `receive 1` commands to stock item `id` through `executor`, all
/// released at once by `start`.
fn receives(
    executor: &Executor<StockItem>,
    id: &str,
    count: usize,
    start: &Arc<Barrier>,
) -> Vec<tokio::task::JoinHandle<Result<u32, ExecuteError<domain::stock::StockError>>>> {
    (0..count)
        .map(|_| {
            let (executor, start, id) = (executor.clone(), start.clone(), id.to_owned());
            let command = receive(&farmer(), 1);
            tokio::spawn(async move {
                let context = context_for(&command);
                start.wait().await;
                executor
                    .execute(&id, command, &context)
                    .await
                    .map(|executed| executed.attempts)
            })
        })
        .collect()
}

conformance!(
    sixty_four_concurrent_commands_on_one_aggregate_in_one_process_all_succeed_first_time,
    |db| async move {
        const CLIENTS: usize = 64;
        // The default retry budget: taking turns, no command needs a retry at all.
        let executor = Executor::<StockItem>::new(db.store.clone(), ());
        let id = register_stock_item(&executor, &farmer(), 1).await;
        let start = Arc::new(Barrier::new(CLIENTS));

        let mut attempts = Vec::new();
        for command in receives(&executor, &id, CLIENTS, &start) {
            attempts.push(command.await.unwrap().expect("every command succeeds"));
        }

        assert!(attempts.iter().all(|&a| a == 1), "retried: {attempts:?}");
        let stored = executor.load(&id).await.unwrap();
        assert_eq!(stored.version, 1 + CLIENTS as u64);
        assert_eq!(on_hand(&stored.state), 1 + CLIENTS as u64);
    }
);

conformance!(
    concurrent_commands_on_one_aggregate_from_two_processes_all_succeed,
    |db| async move {
        const CLIENTS: usize = 32;
        // Two processes: each its own store connections, turns and kept states.
        let options = StoreOptions {
            max_connections: 8,
            ..StoreOptions::default()
        };
        let here = Executor::<StockItem>::new(db.reopen(options).await, ());
        let there = Executor::<StockItem>::new(db.reopen(options).await, ());
        let id = register_stock_item(&here, &farmer(), 1).await;
        // Both keep the aggregate's state, so both decide without loading: the worst case.
        let warm = receive(&farmer(), 1);
        there
            .execute(&id, warm.clone(), &context_for(&warm))
            .await
            .unwrap();
        let start = Arc::new(Barrier::new(2 * CLIENTS));

        let mut commands = receives(&here, &id, CLIENTS, &start);
        commands.extend(receives(&there, &id, CLIENTS, &start));
        let mut failed = Vec::new();
        for command in commands {
            if let Err(error) = command.await.unwrap() {
                failed.push(error.to_string());
            }
        }

        assert!(failed.is_empty(), "{} failed: {failed:?}", failed.len());
        let stored = here.load(&id).await.unwrap();
        assert_eq!(stored.version, 2 + 2 * CLIENTS as u64);
        assert_eq!(on_hand(&stored.state), 2 + 2 * CLIENTS as u64);
    }
);

conformance!(
    a_keyed_command_refused_after_a_lost_race_answers_at_once,
    |db| async move {
        // Two executors over one store: `here` keeps a state that `there` makes stale.
        let here = Executor::<StockItem>::new(db.store.clone(), ());
        let there = Executor::<StockItem>::new(db.store.clone(), ());
        let farmer = farmer();
        let id = register_stock_item(&here, &farmer, 10).await;
        let emptied = adjust(&farmer, -10);
        there
            .execute(&id, emptied.clone(), &context_for(&emptied))
            .await
            .unwrap();

        // On the kept state (10 on hand) this passes; it loses the race to the store, is
        // decided again under the stream's lock, refused, and the refusal kept for its key.
        let take = adjust(&farmer, -5);
        let mut context = context_for(&take);
        context.idempotency = claim("farmer:take-5", "adjust -5");
        let started = std::time::Instant::now();
        let refused = here.execute(&id, take, &context).await.unwrap_err();

        assert!(
            matches!(
                refused,
                ExecuteError::Rejected(domain::stock::StockError::BelowReserved { .. })
            ),
            "{refused:?}"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "waited {:?}",
            started.elapsed()
        );
    }
);
