//! The independent Python verifier (`verifier/verify_tlog.py`) accepts the proofs and signed
//! checkpoints this crate makes, in the JSON shapes the CLI prints, and refuses tampered ones.
//!
//! Skipped, loudly, where `python3` or its `cryptography` package is missing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use transparency_log::{
    Checkpoint, Frontier, Hash, NodeId, SigningKey, consistency_plan, inclusion_plan, leaf_hash,
};

const VERIFIER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/verifier/verify_tlog.py");
const ORIGIN: &str = "supplyline.example/events";
const LEAVES: u64 = 300;

fn python_with_cryptography() -> bool {
    let found = Command::new("python3")
        .args(["-c", "import cryptography"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !found {
        eprintln!(
            "\n!!!!!!!!\n!!! SKIPPED: python3 with the `cryptography` package is not available; \
             the independent verifier was NOT run.\n!!!!!!!!\n"
        );
    }
    found
}

/// A log of [`LEAVES`] events, its stored nodes, and checkpoints signed at any size.
struct Log {
    events: Vec<Vec<u8>>,
    store: std::collections::HashMap<NodeId, Hash>,
    roots: Vec<Hash>,
    key: SigningKey,
    verifier_key: String,
}

impl Log {
    fn new() -> Log {
        let (private, verifier_key) = SigningKey::generate(ORIGIN).unwrap();
        let mut log = Log {
            events: Vec::new(),
            store: Default::default(),
            roots: vec![Hash::EMPTY_ROOT],
            key: private.parse().unwrap(),
            verifier_key,
        };
        let mut frontier = Frontier::new();
        let mut nodes = Vec::new();
        for i in 0..LEAVES {
            let event = format!("{{\"event\":{i},\"type\":\"OrderPlaced\"}}").into_bytes();
            frontier.append(leaf_hash(&event), &mut nodes).unwrap();
            log.store.extend(nodes.drain(..));
            log.roots.push(frontier.root());
            log.events.push(event);
        }
        log
    }

    fn checkpoint(&self, size: u64) -> String {
        self.sign(&self.key, size)
    }

    fn sign(&self, key: &SigningKey, size: u64) -> String {
        key.sign(&Checkpoint::new(ORIGIN, size, self.roots[size as usize]).unwrap())
    }

    fn assemble(&self, plan: transparency_log::Plan) -> Vec<Value> {
        let proof = plan.assemble(|id| self.store.get(&id).copied()).unwrap();
        proof.iter().map(|hash| json!(hash.to_base64())).collect()
    }

    fn inclusion(&self, index: u64, size: u64) -> Value {
        json!({
            "checkpoint": self.checkpoint(size),
            "leaf_index": index,
            "tree_size": size,
            "leaf_input": STANDARD.encode(&self.events[index as usize]),
            "inclusion_proof": self.assemble(inclusion_plan(index, size).unwrap()),
        })
    }

    fn consistency(&self, old: u64, new: u64) -> Value {
        json!({
            "old_checkpoint": self.checkpoint(old),
            "new_checkpoint": self.checkpoint(new),
            "consistency_proof": self.assemble(consistency_plan(old, new).unwrap()),
        })
    }
}

/// Runs the verifier on `document`; its exit status says whether it holds.
fn verify(dir: &Path, kind: &str, document: &Value, key: &str) -> (bool, String) {
    let file: PathBuf = dir.join(format!("{kind}.json"));
    std::fs::write(&file, serde_json::to_vec_pretty(document).unwrap()).unwrap();
    let output = Command::new("python3")
        .arg(VERIFIER)
        .arg(kind)
        .arg(&file)
        .args(["--key", key])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    match output.status.code() {
        Some(0) => {
            assert!(stdout.starts_with("ok: "), "{stdout}");
            assert_eq!(stdout.lines().count(), 1, "{stdout}");
            (true, stdout)
        }
        Some(1) => {
            assert!(stderr.starts_with("refused: "), "{stderr}");
            (false, stderr)
        }
        other => panic!("verifier exited with {other:?}: {stdout}{stderr}"),
    }
}

fn accepted(dir: &Path, kind: &str, document: &Value, key: &str) {
    let (ok, message) = verify(dir, kind, document, key);
    assert!(ok, "refused {kind} {document}: {message}");
}

fn refused(dir: &Path, kind: &str, document: &Value, key: &str, why: &str) {
    let (ok, message) = verify(dir, kind, document, key);
    assert!(!ok, "accepted {kind} with {why}: {message}");
    eprintln!("{kind} with {why}: {}", message.trim_end());
}

/// Flips a bit of the base64 hash at `document[field][element]`.
fn tamper_proof(document: &Value, field: &str, element: usize) -> Value {
    let mut tampered = document.clone();
    let hash = Hash::from_base64(tampered[field][element].as_str().unwrap()).unwrap();
    let mut bytes = *hash.as_bytes();
    bytes[7] ^= 0x10;
    tampered[field][element] = json!(Hash::from_bytes(bytes).to_base64());
    tampered
}

/// The signed note with its root line replaced, signature untouched.
fn edit_root(note: &str) -> String {
    let mut lines: Vec<&str> = note.split('\n').collect();
    let other = leaf_hash(b"another root").to_base64();
    lines[2] = &other;
    lines.join("\n")
}

#[test]
fn the_python_verifier_accepts_honest_inclusion_proofs_and_refuses_tampered_ones() {
    if !python_with_cryptography() {
        return;
    }
    let log = Log::new();
    let dir = tempfile::tempdir().unwrap();
    let (dir, key) = (dir.path(), log.verifier_key.as_str());
    for (index, size) in [(0, 1), (5, 8), (0, 300), (299, 300), (150, 257), (255, 256)] {
        accepted(dir, "inclusion", &log.inclusion(index, size), key);
    }

    let honest = log.inclusion(150, 257);
    refused(
        dir,
        "inclusion",
        &tamper_proof(&honest, "inclusion_proof", 0),
        key,
        "a changed proof hash",
    );
    let last = honest["inclusion_proof"].as_array().unwrap().len() - 1;
    refused(
        dir,
        "inclusion",
        &tamper_proof(&honest, "inclusion_proof", last),
        key,
        "a changed last proof hash",
    );

    let mut other_leaf = honest.clone();
    other_leaf["leaf_input"] = json!(STANDARD.encode(&log.events[151]));
    refused(dir, "inclusion", &other_leaf, key, "another leaf's input");

    let mut other_index = honest.clone();
    other_index["leaf_index"] = json!(151);
    refused(dir, "inclusion", &other_index, key, "another leaf index");

    let mut other_size = honest.clone();
    other_size["tree_size"] = json!(258);
    refused(
        dir,
        "inclusion",
        &other_size,
        key,
        "a tree size not the checkpoint's",
    );

    let (impostor, _) = SigningKey::generate(ORIGIN).unwrap();
    let impostor: SigningKey = impostor.parse().unwrap();
    let mut by_impostor = honest.clone();
    by_impostor["checkpoint"] = json!(log.sign(&impostor, 257));
    refused(
        dir,
        "inclusion",
        &by_impostor,
        key,
        "a checkpoint signed by another key",
    );

    let mut edited = honest.clone();
    edited["checkpoint"] = json!(edit_root(honest["checkpoint"].as_str().unwrap()));
    refused(dir, "inclusion", &edited, key, "an edited root");

    let mut truncated = honest.clone();
    truncated["inclusion_proof"].as_array_mut().unwrap().pop();
    refused(dir, "inclusion", &truncated, key, "a truncated proof");

    // The auditor's key decides, not the file: the honest file under another key is refused.
    let (_, stranger) = SigningKey::generate(ORIGIN).unwrap();
    refused(
        dir,
        "inclusion",
        &honest,
        &stranger,
        "the auditor holding another key",
    );
}

#[test]
fn the_python_verifier_accepts_honest_consistency_proofs_and_refuses_tampered_ones() {
    if !python_with_cryptography() {
        return;
    }
    let log = Log::new();
    let dir = tempfile::tempdir().unwrap();
    let (dir, key) = (dir.path(), log.verifier_key.as_str());
    for (old, new) in [
        (0, 300),
        (1, 300),
        (8, 300),
        (100, 255),
        (257, 300),
        (299, 300),
        (300, 300),
    ] {
        accepted(dir, "consistency", &log.consistency(old, new), key);
    }

    let honest = log.consistency(100, 255);
    refused(
        dir,
        "consistency",
        &tamper_proof(&honest, "consistency_proof", 0),
        key,
        "a changed proof hash",
    );
    let last = honest["consistency_proof"].as_array().unwrap().len() - 1;
    refused(
        dir,
        "consistency",
        &tamper_proof(&honest, "consistency_proof", last),
        key,
        "a changed last proof hash",
    );

    let mut truncated = honest.clone();
    truncated["consistency_proof"].as_array_mut().unwrap().pop();
    refused(dir, "consistency", &truncated, key, "a truncated proof");

    let (impostor, _) = SigningKey::generate(ORIGIN).unwrap();
    let impostor: SigningKey = impostor.parse().unwrap();
    let mut by_impostor = honest.clone();
    by_impostor["old_checkpoint"] = json!(log.sign(&impostor, 100));
    refused(
        dir,
        "consistency",
        &by_impostor,
        key,
        "an old checkpoint signed by another key",
    );

    let mut edited = honest.clone();
    edited["new_checkpoint"] = json!(edit_root(honest["new_checkpoint"].as_str().unwrap()));
    refused(dir, "consistency", &edited, key, "an edited new root");

    let mut swapped = honest.clone();
    swapped["old_checkpoint"] = honest["new_checkpoint"].clone();
    swapped["new_checkpoint"] = honest["old_checkpoint"].clone();
    refused(dir, "consistency", &swapped, key, "the checkpoints swapped");

    let mut other_log = honest.clone();
    let elsewhere = Checkpoint::new("elsewhere.example/log", 255, log.roots[255]).unwrap();
    other_log["new_checkpoint"] = json!(log.key.sign(&elsewhere));
    refused(
        dir,
        "consistency",
        &other_log,
        key,
        "checkpoints of two origins",
    );

    // A fork: a new checkpoint, signed by the log's own key, of a tree that rewrote leaf 0.
    let mut forked_roots = Frontier::new();
    let mut nodes = Vec::new();
    forked_roots
        .append(leaf_hash(b"rewritten"), &mut nodes)
        .unwrap();
    for event in &log.events[1..255] {
        forked_roots.append(leaf_hash(event), &mut nodes).unwrap();
    }
    let fork = Checkpoint::new(ORIGIN, 255, forked_roots.root()).unwrap();
    let mut forked = honest.clone();
    forked["new_checkpoint"] = json!(log.key.sign(&fork));
    refused(dir, "consistency", &forked, key, "a forked new tree");
}

/// transparency-dev/merkle's published RFC 6962 proof of leaf 5 (0x40414243) in the tree of
/// its eight test leaves, in a checkpoint signed with golang.org/x/mod's PeterNeumann test key.
#[test]
fn the_python_verifier_accepts_the_published_rfc6962_vector() {
    if !python_with_cryptography() {
        return;
    }
    let key: SigningKey =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
            .parse()
            .unwrap();
    let root =
        Hash::from_hex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328").unwrap();
    let proof: Vec<Value> = [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]
    .iter()
    .map(|hex| json!(Hash::from_hex(hex).unwrap().to_base64()))
    .collect();
    let document = json!({
        "checkpoint": key.sign(&Checkpoint::new("example.com/rfc6962", 8, root).unwrap()),
        "leaf_index": 5,
        "tree_size": 8,
        "leaf_input": STANDARD.encode([0x40, 0x41, 0x42, 0x43]),
        "inclusion_proof": proof,
    });
    let dir = tempfile::tempdir().unwrap();
    let verifier_key = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    accepted(dir.path(), "inclusion", &document, verifier_key);
    let mut other_leaf = document.clone();
    other_leaf["leaf_input"] = json!(STANDARD.encode([0x40, 0x41, 0x42]));
    refused(
        dir.path(),
        "inclusion",
        &other_leaf,
        verifier_key,
        "another leaf",
    );
}
