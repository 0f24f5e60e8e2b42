//! Writes `src/genesis.automerge` and `src/convoy_genesis.automerge`. Run
//! only when a schema version changes (which also needs a migration path for
//! existing documents): changing them splits the fleet.
fn main() -> std::io::Result<()> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/");
    std::fs::write(
        format!("{dir}genesis.automerge"),
        qafila_doc::device_day::build_genesis(),
    )?;
    std::fs::write(
        format!("{dir}convoy_genesis.automerge"),
        qafila_doc::convoy::build_convoy_genesis(),
    )
}
