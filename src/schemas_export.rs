//! `supplyline schemas export <dir>`: one JSON Schema file per published event version, and
//! the GraphQL schema's SDL.

use std::fs;
use std::path::Path;

use anyhow::Context;

/// Writes `<dir>/<aggregate>/<EventType>.v<version>.schema.json` for every event,
/// `<dir>/metadata.schema.json`, `<dir>/index.json` and `<dir>/schema.graphql` (the query
/// API's SDL); returns how many schemas it wrote.
pub fn export(dir: &Path) -> anyhow::Result<usize> {
    let mut index = Vec::new();
    for (kind, schema) in event_schemas::all_schemas() {
        let folder = dir.join(kind.aggregate_type);
        fs::create_dir_all(&folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
        let file = format!("{}.v{}.schema.json", kind.event_type, kind.event_version);
        write_json(&folder.join(&file), schema.as_value())?;
        index.push(serde_json::json!({
            "aggregate_type": kind.aggregate_type,
            "event_type": kind.event_type,
            "event_version": kind.event_version,
            "schema": format!("{}/{file}", kind.aggregate_type),
        }));
    }
    let metadata = event_schemas::metadata_schema();
    write_json(&dir.join("metadata.schema.json"), metadata.as_value())?;
    write_json(
        &dir.join("index.json"),
        &serde_json::Value::Array(index.clone()),
    )?;
    let sdl = dir.join("schema.graphql");
    fs::write(&sdl, query_api::sdl()).with_context(|| format!("cannot write {}", sdl.display()))?;
    Ok(index.len() + 2)
}

fn write_json(path: &Path, value: &serde_json::Value) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}
