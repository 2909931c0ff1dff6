//! The `arbiter` binary: the daemon, its configuration, admin client and host check.
#![deny(missing_docs)]

mod admin;
mod cluster_agent;
mod cluster_status;
mod demo;
mod fix_market_data;
mod gateway_agent;
mod lease_keeper;
mod market_data_agent;
mod market_data_link;
mod net_edge;
mod recovery;
mod release;
mod runtime;
mod sequencer;
mod snapshot_agent;
mod standby;
mod venue_control;

// The state modules live in the library (shared with the replay tool); at the crate root,
// `crate::fix_app` and friends keep naming them.
use arbiter::{access_trail, fix_app, messages, session_ledger, session_store, state};

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use arbiter_config::{Config, DEFAULT_CONFIG};

/// Arbiter: a deterministic matching and pre-trade risk core with a FIX acceptor.
#[derive(Parser, Debug)]
#[command(name = "arbiter", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the venue (with no --config, the embedded demo configuration).
    Run {
        /// Configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Start as the shard's hot standby (overrides `cluster.role`).
        #[arg(long)]
        standby: bool,
    },
    /// Send a request to a running daemon's admin socket (status, halt SYMBOL, resume SYMBOL,
    /// venue kill|halt|resume|release, shutdown; see docs/admin.md).
    Admin {
        /// Configuration file (to find the socket).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Operator name (see `[[admin.operators]]`).
        #[arg(long, env = "ARBITER_OPERATOR")]
        operator: String,
        /// The operator's secret (prefer the environment variable to the command line).
        #[arg(long, env = "ARBITER_SECRET", hide_env_values = true)]
        secret: String,
        /// The request (words after it, `--timeout-ms` included, are its own).
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        words: Vec<String>,
    },
    /// Check whether this host is fit to run Arbiter (reads /proc and /sys only).
    HostCheck {
        /// Configuration file (pinned cores, journal directory).
        #[arg(long)]
        config: Option<PathBuf>,
        /// The trading NIC (e.g. ens1f0), for NUMA, IRQ and ring checks.
        #[arg(long)]
        nic: Option<String>,
        /// Largest acceptable clock offset (MiFID II RTS 25: 100 µs for HFT).
        #[arg(long, default_value_t = 100)]
        clock_offset_limit_us: u64,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Print or check configurations.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Ask NATS about the configured shard: leader, epoch, stream end, this node's lag.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Run a generated order flow through one engine and print the book.
    Demo {
        /// Configuration file (instruments, capacities).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Commands to generate.
        #[arg(long, default_value_t = 100_000)]
        count: u64,
        /// Generator seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Subcommand, Debug)]
enum ClusterCommand {
    /// The shard's leader and epoch, the stream's end, and this node's lag behind it.
    Status {
        /// Configuration file (its `[cluster]` section).
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Print the embedded default configuration.
    Default,
    /// Check a configuration file and explain every error.
    Check {
        /// The file.
        file: PathBuf,
    },
    /// Read a password without echo (or one line from a pipe) and print its argon2id hash
    /// for `password_hash` (FIX sessions, admin operators).
    HashPassword,
}

fn load(path: Option<&PathBuf>) -> Result<Config, ExitCode> {
    load_with_text(path).map(|(config, _)| config)
}

fn load_with_text(path: Option<&PathBuf>) -> Result<(Config, String), ExitCode> {
    let text = match path {
        Some(path) => std::fs::read_to_string(path).map_err(|e| {
            eprintln!("arbiter: config: {}: {e}", path.display());
            ExitCode::from(2)
        })?,
        None => DEFAULT_CONFIG.to_owned(),
    };
    Config::parse(&text)
        .map(|config| (config, text))
        .map_err(|problems| {
            for problem in problems {
                eprintln!("arbiter: config: {problem}");
            }
            ExitCode::from(2)
        })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Cluster(ClusterCommand::Status { config }) => match load(config.as_ref()) {
            Ok(config) => match cluster_status::status(&config) {
                Ok(line) => {
                    println!("{line}");
                    ExitCode::SUCCESS
                }
                Err(message) => {
                    eprintln!("arbiter: cluster status: {message}");
                    ExitCode::FAILURE
                }
            },
            Err(code) => code,
        },
        Command::Config(ConfigCommand::Default) => {
            print!("{DEFAULT_CONFIG}");
            ExitCode::SUCCESS
        }
        Command::Config(ConfigCommand::HashPassword) => match net_edge::hash_password_command() {
            Ok(phc) => {
                println!("{phc}");
                ExitCode::SUCCESS
            }
            Err(message) => {
                eprintln!("arbiter: {message}");
                ExitCode::FAILURE
            }
        },
        Command::Config(ConfigCommand::Check { file }) => match load(Some(&file)) {
            Ok(_) => {
                println!("{}: ok", file.display());
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::HostCheck {
            config,
            nic,
            clock_offset_limit_us,
            json,
        } => match load(config.as_ref()) {
            Ok(config) => {
                let pinned: Vec<usize> = [
                    config.agents.gateway.core,
                    config.agents.sequencer.core,
                    config.agents.flusher.core,
                ]
                .into_iter()
                .flatten()
                .collect();
                let journal_dir = config.journal_dir();
                // The journal may not exist yet: check where it will be created.
                let probe = journal_dir
                    .ancestors()
                    .find(|p| p.exists())
                    .unwrap_or(std::path::Path::new("."))
                    .to_path_buf();
                let input = arbiter_hardware::host_check::HostCheckInput::from_live(
                    pinned,
                    nic,
                    probe,
                    clock_offset_limit_us,
                );
                let report = arbiter_hardware::host_check::run(&input);
                if json {
                    println!("{}", report.to_json());
                } else {
                    print!("{}", report.render_table());
                }
                ExitCode::from(u8::try_from(report.exit_code()).unwrap_or(1))
            }
            Err(code) => code,
        },
        Command::Demo {
            config,
            count,
            seed,
        } => match load(config.as_ref()) {
            Ok(config) => {
                demo::run(&config, count, seed);
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Run { config, standby } => match load_with_text(config.as_ref()) {
            Ok((config, text)) => match runtime::run(&config, &text, standby) {
                Ok(()) => ExitCode::SUCCESS,
                Err(message) => {
                    eprintln!("arbiter: {message}");
                    ExitCode::FAILURE
                }
            },
            Err(code) => code,
        },
        Command::Admin {
            config,
            operator,
            secret,
            words,
        } => match load(config.as_ref()) {
            Ok(config) => match admin::client(&config.admin_socket(), &operator, &secret, &words) {
                Ok(answer) => {
                    println!("{answer}");
                    // `venue ...` ends with `error: ...` when a shard did not answer.
                    if answer.lines().any(|l| l.starts_with("error")) {
                        ExitCode::FAILURE
                    } else {
                        ExitCode::SUCCESS
                    }
                }
                Err(e) => {
                    eprintln!(
                        "arbiter: admin socket {}: {e}",
                        config.admin_socket().display()
                    );
                    ExitCode::FAILURE
                }
            },
            Err(code) => code,
        },
    }
}
