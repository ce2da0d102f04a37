//! The binary's command line, run as a user would.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::process::Command;

fn supplyline() -> Command {
    Command::new(env!("CARGO_BIN_EXE_supplyline"))
}

#[test]
fn schemas_export_writes_every_event_schema_and_an_index() {
    let dir = tempfile::tempdir().unwrap();
    let out = supplyline()
        .args(["schemas", "export"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap()).unwrap();
    let entries = index.as_array().unwrap();
    assert_eq!(entries.len(), event_schemas::all_kinds().len());
    for entry in entries {
        let path = dir.path().join(entry["schema"].as_str().unwrap());
        let schema: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(schema["type"], "object", "{}", path.display());
    }
    let registered = dir
        .path()
        .join("stock/StockItemRegistered.v1.0.0.schema.json");
    assert!(registered.is_file());
    assert!(dir.path().join("metadata.schema.json").is_file());
}

#[test]
fn schemas_export_into_an_unwritable_place_fails_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let out = supplyline()
        .args(["schemas", "export"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot create"));
}

#[test]
fn a_part_not_built_yet_says_so_and_exits_non_zero() {
    let out = supplyline().args(["audit", "verify"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not available yet"));
}

#[test]
fn help_lists_every_subcommand_of_the_contract() {
    let out = supplyline().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for sub in [
        "serve",
        "command-api",
        "projector",
        "query-api",
        "token",
        "projections",
        "audit",
        "replay",
        "migrate",
        "schemas",
        "bench",
    ] {
        assert!(help.contains(sub), "--help does not mention {sub}");
    }
}

#[test]
fn an_unknown_subcommand_is_a_usage_error() {
    let out = supplyline().arg("frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}
