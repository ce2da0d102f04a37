//! The transparency log as an operator and an auditor use it, through the binary: a key is
//! made, the worker builds the tree (`transparency-log`), the auditor keeps a checkpoint,
//! checks an inclusion and a consistency proof with the independent Python verifier, and
//! `audit verify --checkpoint` passes, then fails naming the leaf once an event is edited; and
//! a worker killed with SIGKILL twenty times under load keeps the tree of the log.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use event_store::{EventStore, Position, ScratchDatabase};
use projections::ReadDb;
use projections::simulate::Simulator;
use rand::Rng;
use transparency::{Auditor, LogAudit, check_consistency};
use transparency_log::{Hash, SigningKey};

mod common;
use common::Process;

fn supplyline(args: &[&str], url: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_supplyline"))
        .args(args)
        .env("DATABASE_URL", url)
        .env_remove("SUPPLYLINE_TLOG_KEY")
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs the independent verifier on `json`; its exit status and message.
fn python_verifier(kind: &str, json: &str, key: &str, dir: &std::path::Path) -> Option<bool> {
    let has_it = Command::new("python3")
        .args(["-c", "import cryptography"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_it {
        eprintln!("SKIPPED: python3 with `cryptography` is missing; the verifier did not run");
        return None;
    }
    let file = dir.join(format!("{kind}.json"));
    std::fs::write(&file, json).unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/transparency-log/verifier/verify_tlog.py"
    );
    let out = Command::new("python3")
        .args([script, kind, file.to_str().unwrap(), "--key", key])
        .output()
        .unwrap();
    eprintln!(
        "verifier {kind}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(out.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_keeps_a_checkpoint_checks_proofs_and_catches_an_edit() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("log.db").display());
    let store = EventStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let mut simulator = Simulator::new(store.clone(), 3).unwrap();
    for _ in 0..20 {
        simulator.step().await.unwrap();
    }

    let keys = supplyline(&["audit", "keygen", "--name", "supplyline.test/log"], &url);
    assert!(keys.status.success(), "{keys:?}");
    let lines: Vec<String> = text(&keys).lines().map(str::to_owned).collect();
    let (private, public) = (lines[1].clone(), lines[3].clone());
    assert!(
        private.starts_with("PRIVATE+KEY+supplyline.test/log+"),
        "{private}"
    );

    // The worker, alone, until it has signed a checkpoint of the whole log.
    let log_size = store
        .read_all(Position::START, u32::MAX)
        .await
        .unwrap()
        .len();
    let mut worker = Command::new(env!("CARGO_BIN_EXE_supplyline"))
        .args(["transparency-log", "--tlog-checkpoint-interval", "100ms"])
        .env("DATABASE_URL", &url)
        .env("SUPPLYLINE_TLOG_KEY", &private)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let note = loop {
        let printed = supplyline(&["audit", "checkpoint"], &url);
        let note = text(&printed);
        if note.lines().nth(1) == Some(log_size.to_string().as_str()) {
            break note;
        }
        assert!(
            Instant::now() < deadline,
            "no checkpoint of the whole log: {printed:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    worker.kill().unwrap();
    worker.wait().unwrap();
    assert!(note.starts_with("supplyline.test/log\n"), "{note}");
    let held = dir.path().join("held.checkpoint");
    std::fs::write(&held, &note).unwrap();

    // An inclusion proof, checked by the verifier that shares no code with us.
    let log = store.read_all(Position::START, u32::MAX).await.unwrap();
    let event_id = log[log.len() / 2].metadata["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let proof = supplyline(&["audit", "prove", &event_id], &url);
    assert!(proof.status.success(), "{proof:?}");
    let json: serde_json::Value = serde_json::from_slice(&proof.stdout).unwrap();
    assert_eq!(json["leaf_index"], log.len() / 2);
    assert_eq!(json["tree_size"], log.len());
    if let Some(ok) = python_verifier("inclusion", &text(&proof), &public, dir.path()) {
        assert!(ok, "the independent verifier refused the inclusion proof");
    }
    let unknown = supplyline(&["audit", "prove", "no-such-event"], &url);
    assert!(!unknown.status.success());

    let verify = |url: &str| {
        supplyline(
            &[
                "audit",
                "verify",
                "--checkpoint",
                held.to_str().unwrap(),
                "--key",
                &public,
            ],
            url,
        )
    };
    let intact = verify(&url);
    assert!(intact.status.success(), "{intact:?}");
    assert!(text(&intact).starts_with("ok:"), "{intact:?}");
    assert!(
        text(&intact).contains("extends it (consistency proof checked)"),
        "{intact:?}"
    );

    // A forged checkpoint (another key) is refused outright.
    let (_, other) = SigningKey::generate("supplyline.test/log").unwrap();
    let forged = supplyline(
        &[
            "audit",
            "verify",
            "--checkpoint",
            held.to_str().unwrap(),
            "--key",
            &other,
        ],
        &url,
    );
    assert!(!forged.status.success(), "{forged:?}");

    // An edit by SQL: found, and the leaf named.
    let raw = sqlx::SqlitePool::connect(&url).await.unwrap();
    let victim = &log[5];
    sqlx::query(
        "UPDATE events SET payload = json_set(payload, '$.edited', 1) \
         WHERE aggregate_type = ? AND aggregate_id = ? AND sequence = ?",
    )
    .bind(&victim.stream.aggregate_type)
    .bind(&victim.stream.aggregate_id)
    .bind(i64::try_from(victim.sequence).unwrap())
    .execute(&raw)
    .await
    .unwrap();
    let tampered = verify(&url);
    assert!(!tampered.status.success(), "{tampered:?}");
    let said = String::from_utf8_lossy(&tampered.stderr);
    assert!(said.contains("the first leaf that differs is 5"), "{said}");
}

/// A transparency-log worker process signing checkpoints often, on the log at `database`.
fn tree_worker(database: &str, key: &str) -> Process {
    Process(
        Command::new(env!("CARGO_BIN_EXE_supplyline"))
            .args(["transparency-log", "--tlog-checkpoint-every", "50"])
            .args(["--tlog-checkpoint-interval", "200ms"])
            .env("DATABASE_URL", database)
            .env("SUPPLYLINE_TLOG_KEY", key)
            .env("RUST_LOG", "warn")
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_twenty_times_under_load_keeps_the_tree_of_the_log() {
    let Ok(admin) = std::env::var("DATABASE_URL") else {
        eprintln!("SKIPPED: DATABASE_URL is not set; the transparency log kill test did not run");
        return;
    };
    let scratch = ScratchDatabase::create(&admin, "tlog_kill").await.unwrap();
    let store = EventStore::connect(scratch.url()).await.unwrap();
    store.migrate().await.unwrap();
    let (private, _) = SigningKey::generate("supplyline.test/log").unwrap();
    let key: SigningKey = private.parse().unwrap();
    let raw = sqlx::PgPool::connect(scratch.url()).await.unwrap();

    let running = Arc::new(AtomicBool::new(true));
    let writer = {
        let (store, running) = (store.clone(), running.clone());
        tokio::spawn(async move {
            let mut simulator = Simulator::new(store, 9).unwrap();
            while running.load(Ordering::Relaxed) {
                simulator.step().await.unwrap();
            }
        })
    };
    let size = || async {
        sqlx::query_scalar::<_, i64>("SELECT size FROM tlog_state")
            .fetch_optional(&raw)
            .await
            .ok()
            .flatten()
            .unwrap_or(0)
    };
    let (mut progressed, mut last) = (0, 0);
    for _ in 0..20 {
        let mut child = tree_worker(scratch.url(), &private);
        let wait = rand::rng().random_range(300..900);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        child.kill().unwrap(); // SIGKILL, mid-batch or not
        child.wait().unwrap();
        let now = size().await;
        if now > last {
            progressed += 1;
        }
        last = now;
    }
    assert!(
        progressed >= 10,
        "the worker made progress in only {progressed} of 20 runs"
    );
    running.store(false, Ordering::Relaxed);
    writer.await.unwrap();

    // One last worker catches up with the whole log and signs it.
    let head = store
        .read_all(Position::START, u32::MAX)
        .await
        .unwrap()
        .len() as i64;
    let mut child = tree_worker(scratch.url(), &private);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let signed: Option<i64> = sqlx::query_scalar("SELECT max(size) FROM tlog_checkpoints")
            .fetch_one(&raw)
            .await
            .unwrap();
        if signed == Some(head) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the worker did not catch up: {signed:?} of {head}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();

    // The tree equals the one built afresh from the log: the latest checkpoint's root is
    // recomputed from every event; every leaf is recorded once.
    let db = ReadDb::open(&store, 2).await.unwrap();
    let auditor = Auditor::new(store.clone(), db.clone());
    let latest = auditor.latest_checkpoint().await.unwrap().unwrap();
    assert_eq!(
        auditor.verify(&latest, &key.verifier_key()).await.unwrap(),
        LogAudit::Intact {
            size: head as u64,
            log_size: head as u64
        }
    );
    let leaves: i64 = sqlx::query_scalar("SELECT count(*) FROM tlog_leaves")
        .fetch_one(&raw)
        .await
        .unwrap();
    assert_eq!(leaves, head);
    // Every checkpoint signed across the kills extends the one before it.
    let signed: Vec<(i64, String)> =
        sqlx::query_as("SELECT size, note FROM tlog_checkpoints ORDER BY size")
            .fetch_all(&raw)
            .await
            .unwrap();
    assert!(
        signed.len() >= 10,
        "only {} checkpoints signed",
        signed.len()
    );
    let verifier = key.verifier_key();
    for pair in signed.windows(2) {
        let (old, new) = (&pair[0], &pair[1]);
        let proof = auditor
            .consistency(old.0 as u64, new.0 as u64)
            .await
            .unwrap();
        let hashes: Vec<Hash> = proof
            .consistency_proof
            .iter()
            .map(|h| Hash::from_base64(h).unwrap())
            .collect();
        check_consistency(
            &verifier.open(&old.1).unwrap(),
            &verifier.open(&new.1).unwrap(),
            &hashes,
        )
        .unwrap();
    }
    raw.close().await;
    db.close().await;
    scratch.drop_database().await.unwrap();
}
