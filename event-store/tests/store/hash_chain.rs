//! Tamper evidence: `verify_stream` and `verify_log` recompute each stream's hash chain from
//! the events as stored and name the first broken link after a change made with plain SQL.

use cqrs_es::Aggregate;
use domain::stock::StockItem;
use event_store::{Executor, ReplayUntil, StreamId, StreamVerification};
use serde_json::json;

use crate::fixtures::{
    StreamWriter, claim, context_for, execute, farmer, new_stream, on_hand, probes, receive,
    register_stock_item,
};
use crate::support::TestStore;

/// Writes `count` events to a new stream, in appends of at most two.
async fn stream_of(db: &TestStore, count: u64) -> StreamId {
    let mut writer = StreamWriter::new(new_stream());
    let mut n = 1;
    while n <= count {
        let last = (n + 1).min(count);
        writer.append(&db.store, probes(n..=last)).await;
        n = last + 1;
    }
    writer.stream
}

conformance!(an_untouched_stream_verifies, |db| async move {
    let stream = stream_of(&db, 4).await;

    let verified = db.store.verify_stream(&stream).await.unwrap();

    assert_eq!(
        verified,
        StreamVerification {
            stream,
            ok: true,
            checked: 4,
            first_broken_sequence: None,
            contradicted_by: None,
        }
    );
});

conformance!(
    altering_a_stored_payload_breaks_the_chain_at_that_event,
    |db| async move {
        let stream = stream_of(&db, 5).await;

        db.tamper_with_payload(&stream, 3, json!({ "Probed": { "writer": 0, "n": 300 } }))
            .await;
        let verified = db.store.verify_stream(&stream).await.unwrap();

        assert_eq!(
            verified,
            StreamVerification {
                stream,
                ok: false,
                checked: 5,
                first_broken_sequence: Some(3),
                contradicted_by: None,
            }
        );
    }
);

conformance!(
    removing_a_stored_event_breaks_the_chain_where_it_was,
    |db| async move {
        let stream = stream_of(&db, 4).await;

        db.delete_event(&stream, 2).await;
        let verified = db.store.verify_stream(&stream).await.unwrap();

        assert!(!verified.ok);
        assert_eq!(verified.first_broken_sequence, Some(3));
        assert_eq!(verified.checked, 3);
    }
);

conformance!(
    verifying_the_log_names_exactly_the_tampered_stream,
    |db| async move {
        let a = stream_of(&db, 2).await;
        let b = stream_of(&db, 3).await;
        let c = stream_of(&db, 4).await;
        let before = db.store.verify_log().await.unwrap();

        db.tamper_with_payload(&b, 2, json!({ "Probed": { "forged": true } }))
            .await;
        let after = db.store.verify_log().await.unwrap();

        assert!(before.ok(), "{before:?}");
        assert_eq!((before.streams, before.checked), (3, 9));
        assert!(!after.ok());
        assert_eq!((after.streams, after.checked), (3, 9));
        assert_eq!(
            after.broken,
            [StreamVerification {
                stream: b.clone(),
                ok: false,
                checked: 3,
                first_broken_sequence: Some(2),
                contradicted_by: None,
            }]
        );
        for intact in [&a, &c] {
            assert!(db.store.verify_stream(intact).await.unwrap().ok);
        }
    }
);

conformance!(
    verifying_a_log_longer_than_one_read_batch_keeps_each_chain_whole,
    |db| async move {
        // verify_log reads 1000 events at a time: stream b straddles the first batch's end.
        let mut a = StreamWriter::new(new_stream());
        let mut b = StreamWriter::new(new_stream());
        for writer in [&mut a, &mut b] {
            writer.append(&db.store, probes(1..=350)).await;
            writer.append(&db.store, probes(351..=700)).await;
        }
        let before = db.store.verify_log().await.unwrap();

        db.tamper_with_payload(&b.stream, 650, json!({ "Probed": { "forged": true } }))
            .await;
        let after = db.store.verify_log().await.unwrap();

        assert!(before.ok(), "{before:?}");
        assert_eq!((before.streams, before.checked), (2, 1400));
        assert_eq!((after.streams, after.checked), (2, 1400));
        assert_eq!(
            after.broken,
            [StreamVerification {
                stream: b.stream.clone(),
                ok: false,
                checked: 700,
                first_broken_sequence: Some(650),
                contradicted_by: None,
            }]
        );
    }
);

conformance!(
    deleting_a_streams_last_event_is_seen_through_its_snapshot,
    |db| async move {
        let executor = Executor::<StockItem>::new(db.store.clone(), ()).with_snapshot_every(2);
        let farmer = farmer();
        let id = register_stock_item(&executor, &farmer, 10).await;
        execute(&executor, &id, receive(&farmer, 1)).await;
        let stream = StreamId::new(StockItem::TYPE, &id);
        assert_eq!(
            db.store
                .load_snapshot(&stream)
                .await
                .unwrap()
                .unwrap()
                .version,
            2
        );

        db.delete_event(&stream, 2).await;
        let verified = db.store.verify_stream(&stream).await.unwrap();

        assert!(!verified.ok, "{verified:?}");
        assert_eq!(verified.checked, 1);
        assert_eq!(verified.first_broken_sequence, Some(2));
        assert!(
            verified
                .contradicted_by
                .as_deref()
                .is_some_and(|w| w.starts_with("snapshot at version 2")),
            "{verified:?}"
        );
    }
);

conformance!(
    deleting_a_whole_stream_is_seen_through_its_idempotency_keys,
    |db| async move {
        let executor = Executor::<StockItem>::new(db.store.clone(), ()).with_snapshot_every(0);
        let farmer = farmer();
        let id = register_stock_item(&executor, &farmer, 10).await;
        let keyed = receive(&farmer, 1);
        let mut context = context_for(&keyed);
        context.idempotency = claim("farmer:receive-1", "receive 1");
        executor.execute(&id, keyed, &context).await.unwrap();
        let untouched = stream_of(&db, 2).await;

        let deleted = db
            .sql(
                &format!("DELETE FROM events WHERE aggregate_id = '{id}'"),
                &format!("DELETE FROM events WHERE aggregate_id = '{id}'"),
            )
            .await;
        let report = db.store.verify_log().await.unwrap();

        assert_eq!(deleted, 2);
        assert!(!report.ok());
        let stream = StreamId::new(StockItem::TYPE, &id);
        let broken: Vec<_> = report.broken.iter().map(|b| &b.stream).collect();
        assert_eq!(broken, [&stream], "{report:?}");
        assert_eq!(report.broken[0].checked, 0);
        assert_eq!(report.broken[0].first_broken_sequence, Some(1));
        assert!(db.store.verify_stream(&untouched).await.unwrap().ok);
    }
);

conformance!(
    altering_the_recorded_at_column_changes_no_replay,
    |db| async move {
        let executor = Executor::<StockItem>::new(db.store.clone(), ());
        let farmer = farmer();
        let id = register_stock_item(&executor, &farmer, 10).await;
        execute(&executor, &id, receive(&farmer, 1)).await;
        execute(&executor, &id, receive(&farmer, 2)).await;
        let stream = StreamId::new(StockItem::TYPE, &id);
        let second = db.store.read_stream(&stream, 1).await.unwrap()[0].clone();
        let at = ReplayUntil::Time(second.hashed_recorded_at().unwrap());
        let before = executor.replay(&id, at).await.unwrap();

        // Everything "recorded" long ago, in the column the hash does not cover.
        db.sql(
            "UPDATE events SET recorded_at = '2000-01-01T00:00:00Z'",
            "UPDATE events SET recorded_at = '2000-01-01T00:00:00.000000Z'",
        )
        .await;
        let after = executor.replay(&id, at).await.unwrap();

        assert_eq!(before.version, 2);
        assert_eq!(after.version, 2, "replay followed the unprotected column");
        assert_eq!(on_hand(&after.state), 11);
    }
);
