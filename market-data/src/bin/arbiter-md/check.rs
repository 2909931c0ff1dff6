//! `check`: the feed's books against the engine's, at the same point of the journal.
//!
//! 1. The feed's books as of some feed sequence F: a snapshot from the snapshot service, or
//!    the books of a receiver that listened to the feed (recovering gaps) for a while.
//! 2. The journal replayed from its start as the daemon's market-data agent does it: a fresh
//!    engine built from the journal's own CONFIG record, each COMMAND applied and its events
//!    given to a [`BookBuilder`], whose message numbering is the feed's (`docs/market-data.md`,
//!    "Sequence numbers"), until the builder has numbered exactly F messages at the end of a
//!    command. The journal's DIGEST records are checked on the way.
//! 3. Compared: the feed's books with the rebuilt ones ([`compare_books`]), and the rebuilt
//!    books with the engine's own ([`compare_with_engine`]).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arbiter_config::Config;
use arbiter_engine::wire::{decode_record, RECORD_COMMAND, RECORD_CONFIG, RECORD_DIGEST};
use arbiter_engine::{Engine, Event, EventSink, InstrumentId, Seq, TimestampNs};
use arbiter_journal::{Reader, Sequence};
use arbiter_market_data::net::{fetch_snapshot, join_feed, FeedClient};
use arbiter_market_data::{
    compare_books, compare_with_engine, BookBuilder, BookCapacity, BookDifference, FeedSeq,
    MarketBooks, Receiver, Recovery, SessionName,
};
use clap::Args;

/// How long `check --listen-port` keeps listening after `--duration-secs` for the receiver to
/// finish recovering.
const SETTLE_MAX: Duration = Duration::from_secs(5);

/// Arguments of `check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The journal directory the feed was published from.
    #[arg(long)]
    journal: PathBuf,
    /// Snapshot service (TCP): compare its snapshot; with --listen-port, recover from it.
    #[arg(long, required_unless_present = "listen_port")]
    snapshot: Option<SocketAddr>,
    /// Listen to the feed on this UDP port instead, then compare the receiver's books.
    #[arg(long)]
    listen_port: Option<u16>,
    /// Multicast group to join (listening; omit for unicast).
    #[arg(long, requires = "listen_port")]
    group: Option<Ipv4Addr>,
    /// Interface address to join the group on.
    #[arg(long, default_value = "0.0.0.0")]
    interface: Ipv4Addr,
    /// Local address to bind for unicast.
    #[arg(long, default_value = "0.0.0.0")]
    bind: Ipv4Addr,
    /// Retransmission service (UDP), for recovering gaps while listening.
    #[arg(long, requires = "listen_port")]
    retransmit: Option<SocketAddr>,
    /// Only this session (listening; default: the first heard).
    #[arg(long, requires = "listen_port")]
    session: Option<String>,
    /// How long to listen before comparing.
    #[arg(long, default_value_t = 5)]
    duration_secs: u64,
}

/// Why `check` did not say "equal".
#[derive(Debug)]
pub enum CheckFailure {
    /// The books differ (exit status 1); the report.
    Different(String),
    /// The comparison could not be made (exit status 2): network, journal, a feed sequence
    /// inside a command or past the journal's end.
    Unchecked(String),
}

/// The feed's books and where they are.
struct FeedBooks {
    session: SessionName,
    /// The books are as after this message.
    last_seq: FeedSeq,
    books: MarketBooks,
}

/// The journal replayed up to a feed sequence.
struct Rebuilt {
    /// The last journal record applied (0: none).
    journal_seq: u64,
    engine: Engine,
    builder: BookBuilder,
}

fn unchecked(text: impl Into<String>) -> CheckFailure {
    CheckFailure::Unchecked(text.into())
}

/// Runs `check`; `Ok` carries the summary line.
///
/// # Errors
/// [`CheckFailure`].
pub fn check(args: &CheckArgs) -> Result<String, CheckFailure> {
    let config = journal_config(&args.journal)?;
    let orders_max = config.engine.orders_max as usize;
    let feed = match args.listen_port {
        Some(port) => listen(args, port, orders_max)?,
        None => {
            let addr = args
                .snapshot
                .ok_or_else(|| unchecked("--snapshot or --listen-port"))?;
            let snapshot = fetch_snapshot(addr, orders_max, Duration::from_secs(10))
                .map_err(|e| unchecked(format!("snapshot from {addr}: {e}")))?;
            FeedBooks {
                session: snapshot.session,
                last_seq: snapshot.last_seq,
                books: snapshot.books,
            }
        }
    };
    // Opened after the feed was captured: the journal then holds every command the feed
    // showed (the agent publishes only what is journaled), new segments included.
    let rebuilt = replay_to(&args.journal, &config, feed.last_seq)?;
    let symbol = |id: InstrumentId| {
        config
            .instruments
            .get(id.0 as usize)
            .map_or_else(|| format!("#{}", id.0), |i| i.symbol.clone())
    };
    let at = format!(
        "journal sequence {} feed sequence {} session {}",
        rebuilt.journal_seq,
        feed.last_seq.0,
        feed.session.text()
    );
    let feed_vs_journal = compare_books(&feed.books, rebuilt.builder.books());
    let journal_vs_engine = compare_with_engine(rebuilt.builder.books(), &rebuilt.engine);
    match (feed_vs_journal, journal_vs_engine) {
        (Ok(compared), Ok(_)) => Ok(format!(
            "equal at {at}: {} instruments, {} orders, {} levels (feed = books from the journal \
             = engine)",
            compared.instruments, compared.orders, compared.levels
        )),
        (first, second) => {
            let mut report = format!(
                "DIFFERENT at {at}: the feed shows {} orders in {} instruments, the journal's \
                 books {} orders, the engine {} live orders (stops included)",
                feed.books.order_count(),
                feed.books.iter().count(),
                rebuilt.builder.books().order_count(),
                rebuilt.engine.live_orders()
            );
            let line = |name: &str, difference: &BookDifference, left: &str, right: &str| {
                format!(
                    "\n  {name}: {} [{}]",
                    difference.describe(left, right),
                    symbol(difference.instrument)
                )
            };
            report.push_str(&match first {
                Ok(_) => "\n  feed vs journal: equal".to_owned(),
                Err(d) => line("feed vs journal", &d, "feed", "journal"),
            });
            report.push_str(&match second {
                Ok(_) => "\n  journal vs engine: equal".to_owned(),
                Err(d) => line("journal vs engine", &d, "journal", "engine"),
            });
            Err(CheckFailure::Different(report))
        }
    }
}

/// The journal's first CONFIG record, parsed (the daemon writes it before any command).
fn journal_config(dir: &Path) -> Result<Config, CheckFailure> {
    let reader = Reader::open(dir).map_err(|e| unchecked(format!("{}: {e}", dir.display())))?;
    for record in reader.iter_from_seq(Sequence(0)) {
        let view = record.map_err(|e| unchecked(format!("journal: {e}")))?;
        match view.record_type().0 {
            RECORD_CONFIG => return parse_config(view.sequence().0, view.payload()),
            RECORD_COMMAND => {
                return Err(unchecked(format!(
                    "journal record {} is a command before any CONFIG record",
                    view.sequence().0
                )))
            }
            _ => {}
        }
    }
    Err(unchecked(format!(
        "{}: the journal has no CONFIG record",
        dir.display()
    )))
}

fn parse_config(sequence: u64, payload: &[u8]) -> Result<Config, CheckFailure> {
    let text = std::str::from_utf8(payload).map_err(|_| {
        unchecked(format!(
            "journal record {sequence}: configuration is not UTF-8"
        ))
    })?;
    Config::parse(text).map_err(|problems| {
        unchecked(format!(
            "journal record {sequence}: configuration: {}",
            problems.join("; ")
        ))
    })
}

/// Feeds one command's events to the builder.
struct BuilderSink<'a> {
    builder: &'a mut BookBuilder,
    seq: Seq,
    timestamp: TimestampNs,
}

impl EventSink for BuilderSink<'_> {
    fn emit(&mut self, event: Event) {
        // A refusal is sticky: the command end reports it.
        let _ = self.builder.on_event(self.seq, self.timestamp, &event);
    }
}

fn last_message(builder: &BookBuilder) -> FeedSeq {
    FeedSeq(builder.next_seq().0 - 1)
}

/// Replays the journal until the builder has numbered exactly `target` messages at the end
/// of a command (the first such command).
fn replay_to(dir: &Path, config: &Config, target: FeedSeq) -> Result<Rebuilt, CheckFailure> {
    let mut rebuilt = Rebuilt {
        journal_seq: 0,
        engine: config.engine(),
        builder: BookBuilder::with_capacities(
            &config.registry(),
            BookCapacity::from_engine(&config.engine_config()),
        ),
    };
    let start = last_message(&rebuilt.builder);
    if target < start {
        return Err(unchecked(format!(
            "feed sequence {} is inside the start-up messages (1..={})",
            target.0, start.0
        )));
    }
    // The builder keeps its messages until drained; only the numbering matters here.
    rebuilt.builder.drain();
    if target == start {
        return Ok(rebuilt);
    }
    let reader = Reader::open(dir).map_err(|e| unchecked(format!("{}: {e}", dir.display())))?;
    for record in reader.iter_from_seq(Sequence(0)) {
        let view = record.map_err(|e| unchecked(format!("journal: {e}")))?;
        let seq = view.sequence().0;
        rebuilt.journal_seq = seq;
        match view.record_type().0 {
            RECORD_COMMAND => {
                let (command, _) =
                    decode_record(Seq(seq), TimestampNs(view.timestamp().0), view.payload())
                        .map_err(|e| unchecked(format!("journal record {seq}: {e}")))?;
                let first = rebuilt.builder.next_seq();
                rebuilt.engine.apply(
                    &command,
                    &mut BuilderSink {
                        builder: &mut rebuilt.builder,
                        seq: command.seq,
                        timestamp: command.timestamp,
                    },
                );
                rebuilt.builder.on_command_end(command.seq).map_err(|e| {
                    unchecked(format!(
                        "journal record {seq}: the book builder refused the command: {e}"
                    ))
                })?;
                rebuilt.builder.drain();
                let last = last_message(&rebuilt.builder);
                if last == target {
                    return Ok(rebuilt);
                }
                if last > target {
                    return Err(unchecked(format!(
                        "feed sequence {} is inside the command at journal sequence {seq} (its \
                         messages are {}..={}): the feed was captured mid-command",
                        target.0, first.0, last.0
                    )));
                }
            }
            RECORD_DIGEST => {
                let journaled = <[u8; 8]>::try_from(view.payload())
                    .map(u64::from_le_bytes)
                    .map_err(|_| {
                        unchecked(format!("journal record {seq}: digest is not 8 bytes"))
                    })?;
                let actual = rebuilt.engine.digest();
                if journaled != actual {
                    return Err(unchecked(format!(
                        "journal record {seq}: the replayed engine's digest {actual:016x} differs \
                         from the journal's {journaled:016x}"
                    )));
                }
            }
            RECORD_CONFIG => {
                let later = parse_config(seq, view.payload())?;
                if later.registry() != config.registry()
                    || later.engine_config() != config.engine_config()
                {
                    return Err(unchecked(format!(
                        "journal record {seq}: the configuration changes instruments or engine \
                         capacities mid-journal"
                    )));
                }
            }
            _ => {}
        }
    }
    Err(unchecked(format!(
        "the journal ends at sequence {} with feed sequence {}, before the feed's {}",
        rebuilt.journal_seq,
        last_message(&rebuilt.builder).0,
        target.0
    )))
}

/// Listens for `duration_secs`, then until the receiver has recovered every gap it knows of
/// (at most [`SETTLE_MAX`] more).
fn listen(args: &CheckArgs, port: u16, orders_max: usize) -> Result<FeedBooks, CheckFailure> {
    let socket = join_feed(
        SocketAddr::from((args.bind, port)),
        args.group,
        args.interface,
    )
    .map_err(|e| unchecked(format!("feed port {port}: {e}")))?;
    let session = args.session.as_deref().map(SessionName::from_text);
    let receiver = Receiver::new(session, orders_max, 65_536);
    let mut client = FeedClient::new(socket, receiver, args.retransmit, args.snapshot);
    let mut no_drop = |_: &[u8]| false;
    let listen_until = Instant::now() + Duration::from_secs(args.duration_secs);
    let settle_until = listen_until + SETTLE_MAX;
    loop {
        let now = Instant::now();
        let synchronised = client.receiver().recovery() == Recovery::UpToDate
            && client.receiver().session().is_some();
        if (now >= listen_until && synchronised) || now >= settle_until {
            break;
        }
        if let Err(error) = client.poll(Duration::from_millis(100), &mut no_drop) {
            eprintln!("arbiter-md: {error}");
        }
    }
    let receiver = client.receiver();
    let Some(session) = receiver.session() else {
        return Err(unchecked(format!("no feed heard on port {port}")));
    };
    if receiver.recovery() != Recovery::UpToDate {
        return Err(unchecked(format!(
            "the receiver did not recover ({:?}, next feed sequence {}): give --retransmit or \
             --snapshot",
            receiver.recovery(),
            receiver.next_seq().0
        )));
    }
    Ok(FeedBooks {
        session,
        last_seq: FeedSeq(receiver.next_seq().0 - 1),
        books: receiver.books().clone(),
    })
}
