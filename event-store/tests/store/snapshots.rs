//! Snapshots: an aggregate loaded from its latest snapshot plus later events equals the one
//! replayed from its events alone; a snapshot that cannot be read is ignored.

use cqrs_es::Aggregate;
use domain::stock::StockItem;
use event_schemas::ChainHash;
use event_store::{Executor, Loaded, Position, ReplayUntil, Snapshot, StoreError, StreamId};
use serde_json::json;

use crate::fixtures::{
    adjust, change_price, execute, farmer, new_stream, on_hand, receive, register_stock_item,
};

/// Registers a stock item with 20 units and runs ten of its owner's commands on it, each
/// appending one event: the stream ends at version 11 with 41 units on hand at 310 cents.
async fn stock_item_with_history(executor: &Executor<StockItem>) -> String {
    let farmer = farmer();
    let id = register_stock_item(executor, &farmer, 20).await;
    for command in [
        receive(&farmer, 5),
        adjust(&farmer, -2),
        change_price(&farmer, 300),
        receive(&farmer, 3),
        adjust(&farmer, 4),
        change_price(&farmer, 275),
        receive(&farmer, 10),
        adjust(&farmer, -1),
        change_price(&farmer, 310),
        receive(&farmer, 2),
    ] {
        let executed = execute(executor, &id, command).await;
        assert_eq!(executed.events.len(), 1);
    }
    id
}

fn assert_same_aggregate(loaded: &Loaded<StockItem>, replayed: &Loaded<StockItem>) {
    assert_eq!(loaded.state, replayed.state);
    assert_eq!(loaded.version, replayed.version);
    assert_eq!(loaded.last_hash, replayed.last_hash);
    assert_eq!(loaded.position, replayed.position);
}

conformance!(
    a_cold_load_reads_the_snapshot_and_the_events_after_it_together,
    |db| async move {
        let store = db.store;
        let executor = Executor::<StockItem>::new(store.clone(), ()).with_snapshot_every(4);
        let id = stock_item_with_history(&executor).await;
        let stream = StreamId::new(StockItem::TYPE, &id);

        // With a snapshot (at 8 of 11): it, then the events 9 to 11, as read apart.
        let (snapshot, tail) = store.load_stream(&stream).await.unwrap();
        let alone = store.load_snapshot(&stream).await.unwrap();
        assert_eq!(snapshot, alone);
        assert_eq!(snapshot.as_ref().map(|s| s.version), Some(8));
        assert_eq!(tail, store.read_stream(&stream, 8).await.unwrap());
        assert_eq!(
            tail.iter().map(|e| e.sequence).collect::<Vec<_>>(),
            [9, 10, 11]
        );

        // With a snapshot at the head (12): it alone, and the aggregate it holds.
        execute(&executor, &id, receive(&farmer(), 1)).await;
        let (snapshot, tail) = store.load_stream(&stream).await.unwrap();
        assert_eq!(snapshot.as_ref().map(|s| s.version), Some(12));
        assert!(tail.is_empty());
        let cold = Executor::<StockItem>::new(store.clone(), ());
        assert_same_aggregate(
            &cold.load(&id).await.unwrap(),
            &cold.replay(&id, ReplayUntil::End).await.unwrap(),
        );

        // Without one: every event; and a stream with nothing at all.
        let bare = Executor::<StockItem>::new(store.clone(), ()).with_snapshot_every(0);
        let other = register_stock_item(&bare, &farmer(), 1).await;
        let other_stream = StreamId::new(StockItem::TYPE, &other);
        let (none, all) = store.load_stream(&other_stream).await.unwrap();
        assert!(none.is_none());
        assert_eq!(all, store.read_stream(&other_stream, 0).await.unwrap());
        assert_eq!(all.len(), 1);
        let (none, nothing) = store
            .load_stream(&StreamId::new(StockItem::TYPE, "never-registered"))
            .await
            .unwrap();
        assert!(none.is_none() && nothing.is_empty());
    }
);

conformance!(
    a_snapshot_loaded_stock_item_equals_the_replayed_one,
    |db| async move {
        let store = db.store;
        let executor = Executor::<StockItem>::new(store.clone(), ()).with_snapshot_every(3);

        let id = stock_item_with_history(&executor).await;

        let stream = StreamId::new(StockItem::TYPE, &id);
        let snapshot = store
            .load_snapshot(&stream)
            .await
            .unwrap()
            .expect("a snapshot after 11 events");
        assert_eq!(snapshot.version, 9, "the latest multiple of 3");
        let events = store.read_stream(&stream, 0).await.unwrap();
        assert_eq!(events.len(), 11);
        let ninth = &events[8];
        assert_eq!(
            (snapshot.last_hash, snapshot.position),
            (ninth.hash().unwrap(), ninth.position)
        );
        let at_nine = executor.replay(&id, ReplayUntil::Version(9)).await.unwrap();
        let snapshot_state: StockItem = serde_json::from_value(snapshot.state).unwrap();
        assert_eq!(snapshot_state, at_nine.state);

        let loaded = executor.load(&id).await.unwrap();
        let replayed = executor.replay(&id, ReplayUntil::End).await.unwrap();

        assert_same_aggregate(&loaded, &replayed);
        assert_eq!(loaded.version, 11);
        assert_eq!(loaded.last_hash, events[10].hash().unwrap());
        assert_eq!(on_hand(&loaded.state), 41);
        assert_eq!(loaded.state.unit_price_cents().map(u64::from), Some(310));
    }
);

conformance!(
    an_unreadable_snapshot_is_ignored_and_the_events_replayed,
    |db| async move {
        let store = db.store;
        let executor = Executor::<StockItem>::new(store.clone(), ()).with_snapshot_every(0);
        let id = stock_item_with_history(&executor).await;
        let stream = StreamId::new(StockItem::TYPE, &id);
        assert_eq!(store.load_snapshot(&stream).await.unwrap(), None);
        // A snapshot an older build took: the right head, a state this build cannot read.
        let head = store.read_stream(&stream, 10).await.unwrap()[0]
            .hash()
            .unwrap();
        store
            .save_snapshot(&Snapshot {
                stream: stream.clone(),
                version: 11,
                state: json!({ "an": "older shape", "on_hand": "many" }),
                last_hash: head,
                position: Position::START,
            })
            .await
            .unwrap();
        assert_eq!(
            store
                .load_snapshot(&stream)
                .await
                .unwrap()
                .map(|s| s.version),
            Some(11)
        );

        let loaded = executor.load(&id).await.unwrap();
        let replayed = executor.replay(&id, ReplayUntil::End).await.unwrap();

        assert_same_aggregate(&loaded, &replayed);
        assert_eq!((loaded.version, on_hand(&loaded.state)), (11, 41));
        // The next command chains to the last event's real hash, not the snapshot's.
        let executed = execute(&executor, &id, receive(&farmer(), 1)).await;
        assert_eq!(executed.version, 12);
        let verified = store.verify_stream(&stream).await.unwrap();
        assert!(verified.ok, "{verified:?}");
        assert_eq!(verified.checked, 12);
    }
);

conformance!(
    an_older_snapshot_never_replaces_a_newer_one,
    |db| async move {
        let store = db.store;
        let stream = new_stream();
        let snapshot = |version: u64| Snapshot {
            stream: stream.clone(),
            version,
            state: json!({ "version": version }),
            last_hash: ChainHash::from_bytes([7; 32]),
            position: Position::new(0, 3, version),
        };

        store.save_snapshot(&snapshot(6)).await.unwrap();
        store.save_snapshot(&snapshot(3)).await.unwrap();
        let after_older = store.load_snapshot(&stream).await.unwrap();
        store.save_snapshot(&snapshot(9)).await.unwrap();
        let after_newer = store.load_snapshot(&stream).await.unwrap();

        let version_and_state = |s: Option<Snapshot>| s.map(|s| (s.version, s.state));
        assert_eq!(
            version_and_state(after_older),
            Some((6, json!({ "version": 6 })))
        );
        assert_eq!(
            version_and_state(after_newer),
            Some((9, json!({ "version": 9 })))
        );
    }
);

conformance!(
    a_cold_load_of_a_damaged_stream_is_refused_as_corrupt,
    |db| async move {
        let store = db.store.clone();
        let executor = Executor::<StockItem>::new(store.clone(), ()).with_snapshot_every(4);
        let cold = Executor::<StockItem>::new(store.clone(), ());

        // An event missing right after the snapshot (at 8 of 11).
        let gap = stock_item_with_history(&executor).await;
        db.delete_event(&StreamId::new(StockItem::TYPE, &gap), 9)
            .await;
        let loaded = cold.load(&gap).await;
        assert!(
            matches!(&loaded, Err(StoreError::Corrupt(why)) if why.contains("#10")),
            "a gap after the snapshot: {:?}",
            loaded.map(|l| l.version)
        );

        // An event whose metadata lost its hash.
        let hashless = register_stock_item(&executor, &farmer(), 1).await;
        db.sql(
            &format!(
                "UPDATE events SET metadata = metadata - 'hash' WHERE aggregate_id = '{hashless}'"
            ),
            &format!(
                "UPDATE events SET metadata = json_remove(metadata, '$.hash') \
                 WHERE aggregate_id = '{hashless}'"
            ),
        )
        .await;
        let loaded = cold.load(&hashless).await;
        assert!(
            matches!(&loaded, Err(StoreError::Corrupt(why)) if why.contains("hash")),
            "no hash: {:?}",
            loaded.map(|l| l.version)
        );
    }
);

/// The snapshot of the stock item `id` at `version`, from a replay of its events.
async fn snapshot_of(executor: &Executor<StockItem>, id: &str, version: u64) -> Snapshot {
    let replayed = executor
        .replay(id, ReplayUntil::Version(version))
        .await
        .unwrap();
    Snapshot {
        stream: StreamId::new(StockItem::TYPE, id),
        version,
        state: serde_json::to_value(&replayed.state).unwrap(),
        last_hash: replayed.last_hash,
        position: replayed.position.unwrap(),
    }
}

conformance!(
    snapshots_saved_together_keep_the_newest_of_each_stream_the_log_bears_out,
    |db| async move {
        let store = db.store;
        let executor = Executor::<StockItem>::new(store.clone(), ()).with_snapshot_every(0);
        let (first, second) = (
            stock_item_with_history(&executor).await,
            stock_item_with_history(&executor).await,
        );
        let version_of = |s: Option<Snapshot>| s.map(|s| s.version);
        let stored = |id: &str| {
            let (store, stream) = (store.clone(), StreamId::new(StockItem::TYPE, id));
            async move { version_of(store.load_snapshot(&stream).await.unwrap()) }
        };

        // The same stream twice in one batch: the newer wins, whatever the order.
        store
            .save_snapshots(&[
                snapshot_of(&executor, &first, 8).await,
                snapshot_of(&executor, &second, 2).await,
                snapshot_of(&executor, &first, 5).await,
            ])
            .await
            .unwrap();
        assert_eq!(
            (stored(&first).await, stored(&second).await),
            (Some(8), Some(2))
        );
        // An older batch never replaces a newer snapshot; a newer one does.
        store
            .save_snapshots(&[
                snapshot_of(&executor, &first, 6).await,
                snapshot_of(&executor, &second, 4).await,
            ])
            .await
            .unwrap();
        assert_eq!(
            (stored(&first).await, stored(&second).await),
            (Some(8), Some(4))
        );
        // A snapshot of a history the log does not hold (another hash at its version, or a
        // version beyond the stream's end) is not stored.
        let mut forked = snapshot_of(&executor, &second, 9).await;
        forked.last_hash = ChainHash::from_bytes([7; 32]);
        let mut beyond = snapshot_of(&executor, &first, 11).await;
        beyond.version = 12;
        store.save_snapshots(&[forked, beyond]).await.unwrap();
        assert_eq!(
            (stored(&first).await, stored(&second).await),
            (Some(8), Some(4))
        );
        store.save_snapshots(&[]).await.unwrap();
        let cold = Executor::<StockItem>::new(store.clone(), ());
        assert_same_aggregate(
            &cold.load(&second).await.unwrap(),
            &cold.replay(&second, ReplayUntil::End).await.unwrap(),
        );
    }
);

/// Registers enough other stock items through `executor` that the cache drops the least
/// recently used (executors keep at least 1,024 slots whatever their cache).
async fn crowd_out(executor: &Executor<StockItem>) {
    let farmer = farmer();
    for _ in 0..1_100 {
        register_stock_item(executor, &farmer, 1).await;
    }
}

/// The stream's snapshot once it is at `version`, waiting for the background writer.
async fn snapshot_at(store: &event_store::EventStore, stream: &StreamId, version: u64) -> Snapshot {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let snapshot = store.load_snapshot(stream).await.unwrap();
        match snapshot {
            Some(snapshot) if snapshot.version >= version => return snapshot,
            other => assert!(
                tokio::time::Instant::now() < deadline,
                "no snapshot at {version}: {:?}",
                other.map(|s| s.version)
            ),
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

conformance!(
    an_aggregate_the_cache_drops_is_snapshotted_at_its_version,
    |db| async move {
        let store = db.store;
        // Far from the interval's next multiple: only the drop can take this snapshot.
        let executor = Executor::<StockItem>::new(store.clone(), ())
            .with_cache(1)
            .with_snapshot_every(50);
        // Dropped first, with too short a tail to be worth a snapshot.
        let young = register_stock_item(&executor, &farmer(), 1).await;
        let id = stock_item_with_history(&executor).await;
        let stream = StreamId::new(StockItem::TYPE, &id);
        assert_eq!(store.load_snapshot(&stream).await.unwrap(), None);

        crowd_out(&executor).await;

        let snapshot = snapshot_at(&store, &stream, 11).await;
        let young = StreamId::new(StockItem::TYPE, &young);
        assert_eq!(store.load_snapshot(&young).await.unwrap(), None);
        let replayed = executor.replay(&id, ReplayUntil::End).await.unwrap();
        assert_eq!(snapshot.version, 11);
        assert_eq!(
            (snapshot.last_hash, Some(snapshot.position)),
            (replayed.last_hash, replayed.position)
        );
        let state: StockItem = serde_json::from_value(snapshot.state).unwrap();
        assert_eq!(state, replayed.state);
        // The next load reads it, with no event after it, and decides on it.
        let (_, tail) = store.load_stream(&stream).await.unwrap();
        assert!(tail.is_empty());
        let cold = Executor::<StockItem>::new(store.clone(), ());
        assert_same_aggregate(&cold.load(&id).await.unwrap(), &replayed);
        let executed = execute(&cold, &id, receive(&farmer(), 1)).await;
        assert_eq!(executed.version, 12);
        assert!(store.verify_stream(&stream).await.unwrap().ok);
    }
);

conformance!(
    no_dropped_state_is_snapshotted_when_snapshots_are_off,
    |db| async move {
        let store = db.store;
        let never = Executor::<StockItem>::new(store.clone(), ())
            .with_snapshot_every(0)
            .with_cache(1);
        let unsnapshotted = stock_item_with_history(&never).await;
        crowd_out(&never).await;
        // Another executor's drops, snapshotted: by then the first would have been too.
        let usual = Executor::<StockItem>::new(store.clone(), ()).with_cache(1);
        let snapshotted = stock_item_with_history(&usual).await;
        crowd_out(&usual).await;
        snapshot_at(&store, &StreamId::new(StockItem::TYPE, &snapshotted), 11).await;

        let stream = StreamId::new(StockItem::TYPE, &unsnapshotted);
        assert_eq!(store.load_snapshot(&stream).await.unwrap(), None);
    }
);

conformance!(
    dropped_states_are_snapshotted_after_the_runtime_that_first_wrote_them_is_gone,
    |db| async move {
        let store = db.store;
        let executor = Executor::<StockItem>::new(store.clone(), ()).with_cache(1);
        // A first runtime drops states (and starts the writer), then ends.
        let first = executor.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                stock_item_with_history(&first).await;
                crowd_out(&first).await;
            });
        })
        .join()
        .unwrap();

        // This one drops more: they are still snapshotted.
        let after = stock_item_with_history(&executor).await;
        crowd_out(&executor).await;
        snapshot_at(&store, &StreamId::new(StockItem::TYPE, &after), 11).await;
    }
);
