//! `arbiter-replay`: the command line of the replay tool (logic in the library).
use std::io::Write;
use std::process::ExitCode;

use arbiter_replay::{run, Cli, Outcome};
use clap::Parser;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let result = run(cli, &mut out);
    let flushed = out.flush();
    match result {
        Ok(Outcome::Clean) => {
            if let Err(e) = flushed {
                if e.kind() != std::io::ErrorKind::BrokenPipe {
                    eprintln!("arbiter-replay: {e}");
                    return ExitCode::from(2);
                }
            }
            ExitCode::SUCCESS
        }
        Ok(Outcome::Findings) => ExitCode::from(1),
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("arbiter-replay: {e}");
            ExitCode::from(2)
        }
    }
}
