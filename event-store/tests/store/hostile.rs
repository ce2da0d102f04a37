//! Regressions found by a hostile review of the write side: each failed before its fix.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use domain::purchase::{
    LookupUnavailable, Purchase, PurchaseCommand, PurchaseError, PurchaseServices, StockItemOwners,
};
use domain::stock::StockItem;
use domain::values::{ActorId, Cents, PositiveQuantity, PurchaseId, StockItemId, SupplierId};
use domain::{Issued, Refusal, RefusalKind};
use event_store::{
    CommitPoint, ExecuteError, Executor, IdempotencyClaim, KeyOutcome, StoreError, StoreOptions,
    StreamId,
};
use sha2::{Digest, Sha256};
use sqlx::Connection;
use uuid::Uuid;

use crate::fixtures::{
    StreamWriter, context, context_for, farmer, new_stream, probe, receive, register_stock_item,
};
use crate::support::BackendKind;

/// `postgres.rs`'s private `stream_lock_key`, recomputed.
fn stream_lock_key(stream: &StreamId) -> i64 {
    let mut hasher = Sha256::new();
    hasher.update(b"supplyline stream lock\0");
    hasher.update(stream.aggregate_type.as_bytes());
    hasher.update([0]);
    hasher.update(stream.aggregate_id.as_bytes());
    let digest = hasher.finalize();
    let mut key = [0u8; 8];
    key.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(key)
}

// A locked retry (process 1) and an identical keyed request's append (process 2, emulated in
// raw SQL: its key claimed, then the stream's advisory lock) wait on each other; PostgreSQL
// breaks the deadlock by aborting one. The loser must see a lost race (retried, then the
// winner's answer), never a database error (a 500). Appends now also take the stream's lock
// before a key's row, so the product itself never forms this cycle.
conformance!(
    a_locked_retry_that_loses_a_deadlock_to_its_keyed_twin_is_a_lost_race_not_an_error,
    |db| async move {
        if db.backend != BackendKind::Postgres {
            return;
        }
        let store = db.store.clone();
        let stream = new_stream();
        let mut writer = StreamWriter::new(stream.clone());
        writer.append(&store, vec![probe(1)]).await;

        // Process 1: lost a race, now holds the stream's lock (lock_stream) and is deciding.
        let lock = store.lock_stream(&stream).await.unwrap();

        // Process 2: its append's first statement, the claim of key K.
        let mut p2 = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::query("BEGIN").execute(&mut p2).await.unwrap();
        sqlx::query(
            "INSERT INTO idempotency_keys (key, fingerprint, aggregate_type, aggregate_id, \
             expires_at) VALUES ('k', 'f', $1, $2, now() + interval '1 day')",
        )
        .bind(&stream.aggregate_type)
        .bind(&stream.aggregate_id)
        .execute(&mut p2)
        .await
        .unwrap();

        // Process 1 appends with the same key and fingerprint: its claim waits on process 2.
        let mut request = writer.request(vec![probe(2)]);
        request.idempotency = Some(IdempotencyClaim {
            key: "k".into(),
            fingerprint: "f".into(),
            ttl: Some(Duration::from_secs(86_400)),
        });
        let p1 = tokio::spawn(async move { lock.append(request, &CommitPoint::new()).await });
        tokio::time::sleep(Duration::from_millis(200)).await;

        // Process 2's INSERT takes the stream's advisory lock: a cycle.
        let key = stream_lock_key(&stream);
        let p2_insert = tokio::spawn(async move {
            let r = sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(key)
                .execute(&mut p2)
                .await;
            let _ = sqlx::query("ROLLBACK").execute(&mut p2).await;
            r.map(|_| ())
        });

        let p1 = p1.await.unwrap();
        let _ = p2_insert.await.unwrap();
        assert!(
            matches!(
                p1,
                Ok(_) | Err(StoreError::Conflict { .. } | StoreError::Answered(_))
            ),
            "a lost deadlock must be a lost race (retry / first answer), not {p1:?} \
             (StoreError::Database -> ApiError::Internal -> 500)"
        );
    }
);

// A locked retry holds a transaction with the stream's advisory lock: it must read the stream
// on that same connection, or concurrent locked retries could each hold a connection while
// waiting for another (shown with a pool of one).
conformance!(
    a_locked_retry_reads_on_its_own_connection_even_with_a_pool_of_one,
    |db| async move {
        if db.backend != BackendKind::Postgres {
            return;
        }
        let small = db
            .reopen(StoreOptions {
                max_connections: 1,
                acquire_timeout: Duration::from_secs(2),
                ..StoreOptions::default()
            })
            .await;
        let here = Executor::<StockItem>::new(small, ());
        let there = Executor::<StockItem>::new(db.store.clone(), ());
        let id = register_stock_item(&here, &farmer(), 1).await;
        // Another process moves the stream on: `here` keeps a stale state.
        let c = receive(&farmer(), 1);
        there
            .execute(&id, c.clone(), &context_for(&c))
            .await
            .unwrap();

        let c = receive(&farmer(), 1);
        let started = Instant::now();
        let result = here.execute(&id, c.clone(), &context_for(&c)).await;
        assert!(
            result.is_ok(),
            "a single lost race must be retried, got {:?} after {:?}",
            result.err(),
            started.elapsed()
        );
    }
);

/// Stock item owners that cannot be looked up while `down` is set (a database blip).
struct FlakyOwners {
    down: AtomicBool,
    owner: ActorId,
}

#[async_trait]
impl StockItemOwners for FlakyOwners {
    async fn owner_of(&self, _: StockItemId) -> Result<Option<ActorId>, LookupUnavailable> {
        if self.down.load(Ordering::SeqCst) {
            Err(LookupUnavailable("connection refused".into()))
        } else {
            Ok(Some(self.owner.clone()))
        }
    }
}

// A transient failure inside the decision (`PurchaseError::Unavailable`, answered 503 "retry
// shortly") must not become the key's first answer: the retry after the blip is decided
// afresh (and a system key, which never expires, would otherwise never recover).
conformance!(
    a_transient_refusal_is_never_kept_as_the_keys_answer,
    |db| async move {
        let owners = Arc::new(FlakyOwners {
            down: AtomicBool::new(true),
            owner: farmer().sub,
        });
        // As the process's executors are built: a refusal of kind Unavailable is transient.
        let executor =
            Executor::<Purchase>::new(db.store.clone(), PurchaseServices::new(owners.clone()))
                .with_transient_refusals(|refusal| refusal.kind() == RefusalKind::Unavailable);
        let purchase_id = Uuid::now_v7();
        let command = Issued::new(
            farmer(),
            Utc::now(),
            PurchaseCommand::CreatePurchase {
                purchase_id: PurchaseId::from_uuid(purchase_id),
                stock_item_id: StockItemId::from_uuid(Uuid::now_v7()),
                supplier_id: SupplierId::parse("green-seeds-co").unwrap(),
                quantity: PositiveQuantity::new(5).unwrap(),
                unit_cost_cents: Cents::new(100).unwrap(),
                voucher_code: None,
            },
        );
        let mut ctx = context(&farmer(), "CreatePurchase");
        ctx.idempotency = Some(IdempotencyClaim {
            key: "farmer-1\nretry-me".into(),
            fingerprint: "same-request".into(),
            ttl: Some(Duration::from_secs(86_400)),
        });
        let id = purchase_id.to_string();

        let first = executor.execute(&id, command.clone(), &ctx).await;
        assert!(matches!(
            first,
            Err(ExecuteError::Rejected(PurchaseError::Unavailable(_)))
        ));
        // The blip is over; the client retries with the same key, as 503 tells it to.
        owners.down.store(false, Ordering::SeqCst);
        let retry = executor.execute(&id, command.clone(), &ctx).await;
        let stored = db
            .store
            .idempotent_outcome("farmer-1\nretry-me")
            .await
            .unwrap();
        assert!(
            retry.is_ok(),
            "the retry after the blip must be decided afresh, got {:?}",
            retry.err()
        );
        assert!(
            matches!(stored.map(|s| s.outcome), Some(KeyOutcome::Appended(_))),
            "the key stands for the retry's append"
        );
    }
);

// On SQLite `expires_at` is compared as text: a time to live reaching past year 9999 was
// written as "+10xxx-...", which sorts before today, so the key expired at once. Times to
// live are capped at 100 years.
conformance!(a_very_long_ttl_keeps_the_key, |db| async move {
    let stream = new_stream();
    let claim = IdempotencyClaim {
        key: "long".into(),
        fingerprint: "f".into(),
        ttl: Some(Duration::from_secs(3_000_000 * 86_400)),
    };
    let recorded = db
        .store
        .record_outcome(
            &claim,
            &stream,
            &KeyOutcome::VersionMismatch {
                expected: 3,
                actual: 0,
            },
        )
        .await;
    assert!(matches!(recorded, Ok(None)), "{recorded:?}");
    let live = db.store.idempotent_outcome("long").await;
    assert!(
        matches!(live, Ok(Some(_))),
        "a key recorded with a long TTL must stand, got {live:?}"
    );
});

/// A database with only migration 0001 applied, as the previous release left it, holding one
/// client's idempotency key from 2020; then the current migrations.
async fn upgraded(url: &str, pg: bool) -> event_store::EventStore {
    let dir = tempfile::tempdir().unwrap();
    let backend = if pg { "postgres" } else { "sqlite" };
    std::fs::copy(
        format!(
            "{}/migrations/{backend}/0001_events.sql",
            env!("CARGO_MANIFEST_DIR")
        ),
        dir.path().join("0001_events.sql"),
    )
    .unwrap();
    let old = sqlx::migrate::Migrator::new(dir.path()).await.unwrap();
    if pg {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        old.run(&pool).await.unwrap();
        sqlx::query(
            "INSERT INTO idempotency_keys (key, fingerprint, aggregate_type, aggregate_id, \
             version, epoch, tx, position, last_hash, created_at) VALUES \
             ('farmer-1\nold', 'f', 'probe', 'x', 1, 0, 1, 1, 'abababababababababababababababababababababababababababababababab', '2020-01-01T00:00:00Z')",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    } else {
        let options = <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(url)
            .unwrap()
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        old.run(&pool).await.unwrap();
        sqlx::query(
            "INSERT INTO idempotency_keys (key, fingerprint, aggregate_type, aggregate_id, \
             version, position, last_hash, created_at) VALUES \
             ('farmer-1\nold', 'f', 'probe', 'x', 1, 1, 'abababababababababababababababababababababababababababababababab', '2020-01-01T00:00:00.000000Z')",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    }
    let store = event_store::EventStore::connect(url).await.unwrap();
    store.migrate().await.unwrap();
    store
}

async fn check_upgraded_client_key_expires(store: &event_store::EventStore) {
    let removed = store.remove_expired_keys(100).await.unwrap();
    let live = store.idempotent_outcome("farmer-1\nold").await.unwrap();
    eprintln!(
        "removed {removed}; 2020 client key still stands: {:?}",
        live.map(|o| o.outcome)
    );
    assert_eq!(
        removed, 1,
        "a client key from 2020 must expire (24 h TTL) and be swept after the upgrade"
    );
}

// Migration 0002 gives the keys clients made before it the default time to live; without it
// they got the never-expiring marker of a system key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_keys_from_before_the_upgrade_expire_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("old.db").display());
    let store = upgraded(&url, false).await;
    check_upgraded_client_key_expires(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_keys_from_before_the_upgrade_expire_on_postgres() {
    let Some(admin) = crate::support::database_url() else {
        return;
    };
    let db = event_store::ScratchDatabase::create(&admin, "sl_review")
        .await
        .unwrap();
    let store = upgraded(db.url(), true).await;
    let outcome =
        tokio::spawn(async move { check_upgraded_client_key_expires(&store).await }).await;
    db.drop_database().await.unwrap();
    outcome.unwrap();
}

// "503 = not applied" must hold per key, not only per request: a retry of a request still in
// flight elsewhere (same key, same body) waits on the key's row, and since the twin's outcome
// will be its answer, that wait counts as in flight (past its commit point) rather than as a
// request that may be answered "not applied".
conformance!(
    a_retry_waiting_on_its_in_flight_twin_is_in_flight_too,
    |db| async move {
        if db.backend != BackendKind::Postgres {
            return;
        }
        let store = db.store.clone();
        let stream = new_stream();
        let mut writer = StreamWriter::new(stream.clone());
        writer.append(&store, vec![probe(1)]).await;

        // The first request (another instance) has claimed K and is about to commit.
        let mut first = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::query("BEGIN").execute(&mut first).await.unwrap();
        sqlx::query(
            "INSERT INTO idempotency_keys (key, fingerprint, aggregate_type, aggregate_id, \
             expires_at) VALUES ('k6', 'f', $1, $2, now() + interval '1 day')",
        )
        .bind(&stream.aggregate_type)
        .bind(&stream.aggregate_id)
        .execute(&mut first)
        .await
        .unwrap();

        // The client's retry, under the request deadline (the middleware's check).
        let mut request = writer.request(vec![probe(2)]);
        request.idempotency = Some(IdempotencyClaim {
            key: "k6".into(),
            fingerprint: "f".into(),
            ttl: Some(Duration::from_secs(86_400)),
        });
        let commit = CommitPoint::new();
        let retry = tokio::time::timeout(
            Duration::from_millis(500),
            store.append_noting(request, &commit),
        )
        .await;
        let answered_503 = retry.is_err() && !commit.reached();

        // The first request commits the command.
        sqlx::query(
            "UPDATE idempotency_keys SET outcome = 'appended', version = 2, epoch = 0, tx = 1, \
             position = 1, last_hash = $1 WHERE key = 'k6'",
        )
        .bind("ab".repeat(32))
        .execute(&mut first)
        .await
        .unwrap();
        sqlx::query("COMMIT").execute(&mut first).await.unwrap();
        let stands = store.idempotent_outcome("k6").await.unwrap();
        eprintln!(
            "retry answered 503: {answered_503}; key now stands for {:?}",
            stands.as_ref().map(|s| &s.outcome)
        );
        assert!(
            !(answered_503 && matches!(stands.map(|s| s.outcome), Some(KeyOutcome::Appended(_)))),
            "the retry was told 'not applied' (503) but its key's command was applied"
        );
    }
);
