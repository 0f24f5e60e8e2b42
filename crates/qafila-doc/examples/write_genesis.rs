//! Writes `src/genesis.automerge`. Run once when the schema version changes
//! (which also needs a migration path for existing documents).
fn main() -> std::io::Result<()> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/genesis.automerge");
    std::fs::write(path, qafila_doc::device_day::build_genesis())
}
