//! `arbiter-bench journal` (being built by the journal issue).
use clap::Args;

/// Arguments of `arbiter-bench journal`.
#[derive(Args, Debug)]
pub struct JournalArgs {}

pub fn run(_args: &JournalArgs) -> Result<(), String> {
    Err("not built yet".into())
}
