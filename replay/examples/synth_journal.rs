//! Writes a synthetic journal for benchmarks and demonstrations:
//! `cargo run --release -p arbiter-replay --example synth_journal -- DIR COMMANDS [CONFIG]`.
//!
//! Uses CONFIG or the embedded demo configuration (AAPL, MSFT, ESZ6, EURUSD, in that order;
//! the demo's risk limits reject much of this flow), a DIGEST record every
//! 100 000 commands as the daemon writes them, 1 µs between commands, 1 GiB segments.
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or("usage: synth_journal DIR COMMANDS")?);
    let commands: u64 = args
        .next()
        .ok_or("usage: synth_journal DIR COMMANDS")?
        .parse()?;
    let config = match args.next() {
        Some(path) => std::fs::read_to_string(path)?,
        None => arbiter_config::DEFAULT_CONFIG.to_owned(),
    };
    // Mid prices in units: AAPL 150.00, MSFT 400.00, ESZ6 5000.00 (tick 25), EURUSD 1.08000.
    // ESZ6 prices off its 0.25 tick are rejected by the engine, which is part of the flow.
    let mids = vec![15_000, 40_000, 500_000, 108_000];
    arbiter_replay::synthetic::write_synthetic(
        &dir,
        &config,
        mids,
        commands,
        100_000,
        1_709_280_000_000_000_000,
        1 << 30,
    )?;
    println!("wrote {commands} commands to {}", dir.display());
    Ok(())
}
