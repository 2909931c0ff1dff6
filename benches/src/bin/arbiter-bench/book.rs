//! `arbiter-bench book` and `gen` (being built by the engine issue).
use clap::Args;

/// Arguments of `arbiter-bench book`.
#[derive(Args, Debug)]
pub struct BookArgs {
    /// The order-flow file to replay.
    pub file: std::path::PathBuf,
}

/// Arguments of `arbiter-bench gen`.
#[derive(Args, Debug)]
pub struct GenArgs {}

pub fn run(_args: &BookArgs) -> Result<(), String> {
    Err("not built yet".into())
}

pub fn gen(_args: &GenArgs) -> Result<(), String> {
    Err("not built yet".into())
}
