//! The `handoff` command (being built).
fn main() {}
