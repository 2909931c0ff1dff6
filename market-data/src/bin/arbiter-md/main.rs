//! `arbiter-md`: join an Arbiter market-data feed, print a snapshot, or check the feed
//! against the journal.
//!
//! - `listen`: joins the feed (multicast or unicast), recovers gaps by retransmission or
//!   snapshot, keeps the books, prints top of book and trades (or JSON lines).
//! - `snapshot`: prints every instrument's book from the snapshot service.
//! - `check`: compares the feed's books (a snapshot, or what listening gave) with the books
//!   rebuilt from the journal and with the engine's own, at the same journal sequence.
//! - `simulate`: publishes a seeded simulated order flow with both services, for trying
//!   the others without a daemon.
#![deny(missing_docs)]

mod check;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use arbiter_engine::{Event, Side};
use arbiter_market_data::net::{
    fetch_snapshot, join_feed, spawn_retransmit_service, spawn_snapshot_service, FeedClient,
    FeedConfig, UdpFeed,
};
use arbiter_market_data::sim::{self, Flow, FlowConfig, SplitMix64};
use arbiter_market_data::{
    BookCapacity, FeedMessage, MarketBooks, Publisher, Receiver, SessionName,
};
use clap::{Args, Parser, Subcommand};

/// Arbiter market-data client.
#[derive(Parser, Debug)]
#[command(name = "arbiter-md", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Join the feed and print top of book and trades.
    Listen(ListenArgs),
    /// Print every book from the snapshot service.
    Snapshot(SnapshotArgs),
    /// Compare the feed's books with the engine's at the same journal sequence (exit 0:
    /// equal, 1: different, 2: could not compare).
    Check(check::CheckArgs),
    /// Publish a simulated flow (feed + retransmission + snapshot services).
    Simulate(SimulateArgs),
}

#[derive(Args, Debug)]
struct ListenArgs {
    /// Feed UDP port.
    #[arg(long)]
    port: u16,
    /// Multicast group to join (omit for unicast).
    #[arg(long)]
    group: Option<Ipv4Addr>,
    /// Interface address to join the group on.
    #[arg(long, default_value = "0.0.0.0")]
    interface: Ipv4Addr,
    /// Local address to bind for unicast.
    #[arg(long, default_value = "0.0.0.0")]
    bind: Ipv4Addr,
    /// Retransmission service (UDP).
    #[arg(long)]
    retransmit: Option<SocketAddr>,
    /// Snapshot service (TCP).
    #[arg(long)]
    snapshot: Option<SocketAddr>,
    /// Only this session (default: the first heard).
    #[arg(long)]
    session: Option<String>,
    /// JSON lines instead of text.
    #[arg(long)]
    json: bool,
    /// Largest number of orders the books may hold.
    #[arg(long, default_value_t = 1 << 20)]
    orders_max: usize,
    /// Stop after this many seconds (0: never).
    #[arg(long, default_value_t = 0)]
    duration_secs: u64,
}

#[derive(Args, Debug)]
struct SnapshotArgs {
    /// Snapshot service (TCP).
    #[arg(long)]
    addr: SocketAddr,
    /// Levels per side to print.
    #[arg(long, default_value_t = 5)]
    depth: usize,
    /// JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Largest number of orders accepted.
    #[arg(long, default_value_t = 1 << 20)]
    orders_max: usize,
}

#[derive(Args, Debug)]
struct SimulateArgs {
    /// Feed destination (multicast group:port or unicast address).
    #[arg(long, default_value = "127.0.0.1:31000")]
    destination: SocketAddr,
    /// Retransmission service bind address.
    #[arg(long, default_value = "127.0.0.1:31001")]
    retransmit: SocketAddr,
    /// Snapshot service bind address.
    #[arg(long, default_value = "127.0.0.1:31002")]
    snapshot: SocketAddr,
    /// Multicast interface for sending.
    #[arg(long)]
    interface: Option<Ipv4Addr>,
    /// Multicast TTL.
    #[arg(long, default_value_t = 1)]
    ttl: u32,
    /// Commands to publish.
    #[arg(long, default_value_t = 10_000)]
    commands: u64,
    /// Commands per second.
    #[arg(long, default_value_t = 200)]
    rate: u64,
    /// Seed of the flow.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Session name.
    #[arg(long, default_value = "SIM")]
    session: String,
    /// Retransmission window, in messages.
    #[arg(long, default_value_t = 100_000)]
    window: usize,
}

fn main() -> std::process::ExitCode {
    let result = match Cli::parse().command {
        Command::Check(args) => {
            return match check::check(&args) {
                Ok(summary) => {
                    println!("{summary}");
                    std::process::ExitCode::SUCCESS
                }
                Err(check::CheckFailure::Different(report)) => {
                    println!("{report}");
                    std::process::ExitCode::from(1)
                }
                Err(check::CheckFailure::Unchecked(why)) => {
                    eprintln!("arbiter-md: check: {why}");
                    std::process::ExitCode::from(2)
                }
            }
        }
        Command::Listen(args) => listen(&args),
        Command::Snapshot(args) => snapshot(&args),
        Command::Simulate(args) => simulate(&args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("arbiter-md: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn side_text(side: Side) -> &'static str {
    match side {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

fn top_line(books: &MarketBooks, instrument: arbiter_engine::InstrumentId, json: bool) -> String {
    let Some(book) = books.instrument(instrument) else {
        return String::new();
    };
    let symbol = book
        .info
        .map_or_else(|| instrument.0.to_string(), |i| i.symbol_text());
    let bid = book.best(Side::Buy);
    let ask = book.best(Side::Sell);
    if json {
        let level = |l: Option<arbiter_market_data::LevelEntry>| match l {
            Some(l) => serde_json::json!({"price": l.price.0, "qty": l.qty.0, "orders": l.count}),
            None => serde_json::Value::Null,
        };
        serde_json::json!({"type": "top", "instrument": instrument.0, "symbol": symbol,
            "bid": level(bid), "ask": level(ask), "phase": format!("{:?}", book.phase)})
        .to_string()
    } else {
        let text = |l: Option<arbiter_market_data::LevelEntry>| {
            l.map_or_else(|| "-".to_string(), |l| format!("{}x{}", l.qty.0, l.price.0))
        };
        format!(
            "TOP {symbol} bid {} ask {} {:?}",
            text(bid),
            text(ask),
            book.phase
        )
    }
}

fn listen(args: &ListenArgs) -> Result<(), String> {
    let socket = join_feed(
        SocketAddr::from((args.bind, args.port)),
        args.group,
        args.interface,
    )
    .map_err(|e| e.to_string())?;
    let session = args.session.as_deref().map(SessionName::from_text);
    let mut receiver = Receiver::new(session, args.orders_max, 65_536);
    receiver.keep_applied(true);
    let mut client = FeedClient::new(socket, receiver, args.retransmit, args.snapshot);
    let started = Instant::now();
    let mut snapshots_seen = 0;
    let mut no_drop = |_: &[u8]| false;
    loop {
        if args.duration_secs > 0 && started.elapsed() >= Duration::from_secs(args.duration_secs) {
            return Ok(());
        }
        if let Err(error) = client.poll(Duration::from_millis(100), &mut no_drop) {
            eprintln!("arbiter-md: {error}");
        }
        let counters = client.receiver().counters();
        if counters.snapshots != snapshots_seen {
            snapshots_seen = counters.snapshots;
            let seq = client.receiver().next_seq().0 - 1;
            if args.json {
                println!("{}", serde_json::json!({"type": "snapshot", "seq": seq}));
            } else {
                println!("SNAPSHOT applied at seq {seq}");
            }
            let ids: Vec<_> = client.receiver().books().iter().map(|(id, _)| id).collect();
            for id in ids {
                println!("{}", top_line(client.receiver().books(), id, args.json));
            }
        }
        let applied = client.receiver_mut().take_applied();
        let mut touched = Vec::new();
        for (seq, message) in applied {
            if let FeedMessage::Trade {
                instrument,
                price,
                qty,
                aggressor_side,
                match_number,
                timestamp,
            } = message
            {
                if args.json {
                    println!(
                        "{}",
                        serde_json::json!({"type": "trade", "seq": seq.0,
                        "instrument": instrument.0, "price": price.0, "qty": qty.0,
                        "aggressor": side_text(aggressor_side), "match": match_number.0,
                        "timestamp_ns": timestamp.0})
                    );
                } else {
                    println!(
                        "TRADE seq {} inst {} {} {}@{} match {}",
                        seq.0,
                        instrument.0,
                        side_text(aggressor_side),
                        qty.0,
                        price.0,
                        match_number.0
                    );
                }
            }
            if let Some(instrument) = message.instrument() {
                if !matches!(message, FeedMessage::Trade { .. }) && !touched.contains(&instrument) {
                    touched.push(instrument);
                }
            }
        }
        for instrument in touched {
            println!(
                "{}",
                top_line(client.receiver().books(), instrument, args.json)
            );
        }
    }
}

fn snapshot(args: &SnapshotArgs) -> Result<(), String> {
    let snapshot = fetch_snapshot(args.addr, args.orders_max, Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    let books = &snapshot.books;
    if args.json {
        let instruments: Vec<_> = books
            .iter()
            .map(|(id, book)| {
                let levels = |side| {
                    book.levels(side, args.depth)
                        .iter()
                        .map(|l| serde_json::json!([l.price.0, l.qty.0, l.count]))
                        .collect::<Vec<_>>()
                };
                serde_json::json!({"instrument": id.0,
                    "symbol": book.info.map(|i| i.symbol_text()),
                    "phase": format!("{:?}", book.phase),
                    "orders": book.order_count(),
                    "bids": levels(Side::Buy), "asks": levels(Side::Sell),
                    "trades": book.stats.trade_count, "volume": book.stats.volume.0,
                    "open": book.stats.open.0, "high": book.stats.high.0,
                    "low": book.stats.low.0, "last": book.stats.last.0,
                    "vwap": book.stats.vwap()})
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({"session": snapshot.session.text(), "seq": snapshot.last_seq.0,
                "instruments": instruments})
        );
        return Ok(());
    }
    println!(
        "session {} as of seq {}",
        snapshot.session.text(),
        snapshot.last_seq.0
    );
    for (id, book) in books.iter() {
        let symbol = book
            .info
            .map_or_else(|| id.0.to_string(), |i| i.symbol_text());
        let s = book.stats;
        println!(
            "{symbol} ({}) {:?} orders {} trades {} volume {} open {} high {} low {} last {} vwap {}",
            id.0, book.phase, book.order_count(), s.trade_count, s.volume.0, s.open.0, s.high.0,
            s.low.0, s.last.0, s.vwap().map_or_else(|| "-".into(), |v| format!("{v:.4}"))
        );
        let bids = book.levels(Side::Buy, args.depth);
        let asks = book.levels(Side::Sell, args.depth);
        for row in 0..bids.len().max(asks.len()) {
            let cell = |l: Option<&arbiter_market_data::LevelEntry>| {
                l.map_or_else(String::new, |l| {
                    format!("{} x {} ({})", l.qty.0, l.price.0, l.count)
                })
            };
            println!("  {:>28} | {}", cell(bids.get(row)), cell(asks.get(row)));
        }
    }
    Ok(())
}

fn simulate(args: &SimulateArgs) -> Result<(), String> {
    let config = FlowConfig::default();
    let mut engine = sim::engine(&config);
    let publisher = Publisher::with_capacities(
        SessionName::from_text(&args.session),
        &sim::registry(&config),
        BookCapacity::from_engine(engine.config()),
        args.window.max(1),
    );
    let retransmit = spawn_retransmit_service(args.retransmit, publisher.window_reader())
        .map_err(|e| e.to_string())?;
    let snapshots = spawn_snapshot_service(args.snapshot, publisher.snapshot_follower())
        .map_err(|e| e.to_string())?;
    let mut feed_config = FeedConfig::unicast(args.destination);
    feed_config.multicast_interface = args.interface;
    feed_config.multicast_ttl = args.ttl;
    let mut feed = UdpFeed::new(&feed_config, publisher).map_err(|e| e.to_string())?;
    eprintln!(
        "publishing to {} (retransmit {}, snapshot {})",
        args.destination,
        retransmit.local_addr(),
        snapshots.local_addr()
    );
    feed.flush();
    let mut rng = SplitMix64(args.seed);
    let mut flow = Flow::new(config, move || rng.next_u64());
    let pause = Duration::from_micros(1_000_000 / args.rate.max(1));
    let mut events: Vec<Event> = Vec::new();
    for _ in 0..args.commands {
        let command = flow.next_command(&engine);
        events.clear();
        engine.apply(&command.command, &mut events);
        feed.publish_with(|publisher, send| {
            for event in &events {
                publisher.on_event(command.command.seq, command.command.timestamp, event)?;
                if let Event::Accepted { order_id, .. } = event {
                    publisher.set_display_qty(*order_id, command.display_qty);
                }
                publisher.pump(&mut |p: &[u8]| send(p));
            }
            publisher.on_command_end(command.command.seq, &mut |p: &[u8]| send(p))
        })
        .map_err(|e| format!("publisher stopped: {e}"))?;
        std::thread::sleep(pause);
        feed.heartbeat_if_idle(Instant::now());
    }
    // Keep serving recovery for a while after the last command.
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        std::thread::sleep(Duration::from_millis(200));
        feed.heartbeat_if_idle(Instant::now());
    }
    Ok(())
}
