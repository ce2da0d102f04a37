//! A blocked database: an append that cannot get its lock gives up inside the database within
//! the statement timeout, so a caller told "unavailable" knows it was not applied.

use std::time::{Duration, Instant};

use event_store::{CommitPoint, StoreError, StoreOptions};

use crate::fixtures::{StreamWriter, new_stream, probes};

conformance!(
    a_blocked_append_gives_up_inside_the_database_and_applies_nothing,
    |db| async move {
        let store = db
            .reopen(StoreOptions {
                statement_timeout: Duration::from_millis(300),
                ..StoreOptions::default()
            })
            .await;
        let mut writer = StreamWriter::new(new_stream());
        writer.append(&store, probes(1..=1)).await;

        // Someone holds a lock that keeps every append out.
        let blocker = db.block_appends().await;
        let commit = CommitPoint::new();
        let started = Instant::now();
        let error = store
            .append_noting(writer.request(probes(2..=2)), &commit)
            .await
            .unwrap_err();
        let waited = started.elapsed();
        blocker.release().await;

        assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
        assert!(waited < Duration::from_secs(3), "gave up after {waited:?}");
        assert!(
            !commit.reached(),
            "a refused append leaves no commit in flight"
        );
        // Once the lock is gone, nothing of the refused append shows up.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(store.read_stream(&writer.stream, 0).await.unwrap().len(), 1);
        writer.append(&store, probes(2..=2)).await;
    }
);
