//! `arbiter-bench`: workload tools whose last output line is a stable, machine-read summary.
use clap::{Parser, Subcommand};

mod book;
mod journal;
mod kill;
mod md;
mod publish;
mod replicate;

/// Workload benchmarks for Arbiter.
#[derive(Parser, Debug)]
#[command(name = "arbiter-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Replay an order-flow file through one engine and time every command.
    Book(book::BookArgs),
    /// Generate order-flow files.
    Gen(book::GenArgs),
    /// Append records to a journal and time every append.
    Journal(journal::JournalArgs),
    /// Fill a book, fire kill switches and time trigger to last cancel.
    Kill(kill::KillArgs),
    /// Encode and packetize a recorded market-data event stream (no network).
    Md(md::MdArgs),
    /// Publish plain messages to JetStream (the yardstick for `replicate`).
    Publish(publish::PublishArgs),
    /// Replicate a journal through JetStream and rebuild it on a standby.
    Replicate(replicate::ReplicateArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Book(args) => book::run(&args),
        Command::Gen(args) => book::gen(&args),
        Command::Journal(args) => journal::run(&args),
        Command::Kill(args) => kill::run(&args),
        Command::Md(args) => md::run(&args),
        Command::Publish(args) => publish::run(&args),
        Command::Replicate(args) => replicate::run(&args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("arbiter-bench: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}
