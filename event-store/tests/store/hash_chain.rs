//! Tamper evidence: `verify_stream` and `verify_log` recompute each stream's hash chain from
//! the events as stored and name the first broken link after a change made with plain SQL.

use event_store::{StreamId, StreamVerification};
use serde_json::json;

use crate::fixtures::{StreamWriter, new_stream, probes};
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
            }]
        );
    }
);
