//! The transparency log as an operator and an auditor use it, through the binary: a key is
//! made, the worker builds the tree (`transparency-log`), the auditor keeps a checkpoint,
//! checks an inclusion and a consistency proof with the independent Python verifier, and
//! `audit verify --checkpoint` passes, then fails naming the leaf once an event is edited.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use event_store::{EventStore, Position};
use projections::simulate::Simulator;

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

    // A forged checkpoint (another key) is refused outright.
    let (_, other) = transparency_log::SigningKey::generate("supplyline.test/log").unwrap();
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
