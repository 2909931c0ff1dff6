//! Property: a real engine runs random order flow (every command kind, halts, icebergs,
//! stops, mass cancels); its events go through the market-data crate's `BookBuilder`
//! into `MdSubscriptions`; FIX clients rebuild their books from the encoded W and X
//! messages, decoded and validated with this crate's own decoder. After every command
//! each client's book equals the engine's (`Engine::depth` for price levels at depth 1,
//! 5 and full, `Engine::orders_by_priority` for order by order), RptSeq has no gap, an
//! unsubscribed client receives nothing more, and a conflated client (a queue that fills
//! and drains at random) equals the engine again once it has caught up.

mod md_common;

use arbiter_engine::{Engine, Event, InstrumentId};
use arbiter_fix::market_data::{MdSessionConfig, MdSubscriptions};
use arbiter_fix::{decode, FixVersion, SessionId};
use arbiter_market_data::sim::{self, Flow, FlowConfig, SplitMix64};
use arbiter_market_data::BookBuilder;
use md_common::{md_config, md_instruments, raw, same_as_engine, Client, TestSink};
use proptest::prelude::*;

/// What each test session subscribes to.
struct Subscriber {
    version: FixVersion,
    req_id: &'static str,
    /// MarketDepth (0 = full), AggregatedBook, MDUpdateType.
    depth: u32,
    orders: bool,
    full_refresh: bool,
}

const SUBSCRIBERS: [Subscriber; 8] = [
    Subscriber {
        version: FixVersion::Fix44,
        req_id: "TOP",
        depth: 1,
        orders: false,
        full_refresh: false,
    },
    Subscriber {
        version: FixVersion::Fixt11,
        req_id: "D5",
        depth: 5,
        orders: false,
        full_refresh: false,
    },
    Subscriber {
        version: FixVersion::Fix44,
        req_id: "FULL",
        depth: 0,
        orders: false,
        full_refresh: false,
    },
    Subscriber {
        version: FixVersion::Fixt11,
        req_id: "L3",
        depth: 0,
        orders: true,
        full_refresh: false,
    },
    Subscriber {
        version: FixVersion::Fix44,
        req_id: "L3-44",
        depth: 0,
        orders: true,
        full_refresh: false,
    },
    // Conflated at random (its queue fills and drains).
    Subscriber {
        version: FixVersion::Fixt11,
        req_id: "SLOW",
        depth: 3,
        orders: false,
        full_refresh: false,
    },
    // Unsubscribes half way.
    Subscriber {
        version: FixVersion::Fix44,
        req_id: "QUIT",
        depth: 2,
        orders: false,
        full_refresh: false,
    },
    Subscriber {
        version: FixVersion::Fixt11,
        req_id: "W-ONLY",
        depth: 2,
        orders: false,
        full_refresh: true,
    },
];
const SLOW: usize = 5;
const QUIT: usize = 6;
/// The slow session also follows the order-by-order book under this id.
const SLOW_ORDERS: &str = "SLOW-L3";

fn request(sub: &Subscriber, req_id: &str, orders: bool, instruments: u32) -> Vec<u8> {
    let mut body = format!(
        "35=V|49=C|56=S|34=2|52=20240101-00:00:00|262={req_id}|263=1|264={}|265={}|266={}|267=8|269=0|269=1|269=2|269=4|269=5|269=7|269=8|269=B|146={instruments}|",
        if orders { 0 } else { sub.depth },
        if sub.full_refresh { 0 } else { 1 },
        if orders { "N" } else { "Y" },
    );
    for i in 0..instruments {
        body.push_str(&format!("55=SIM{i}|"));
    }
    raw(sub.version, &body)
}

struct Run {
    config: FlowConfig,
    engine: Engine,
    flow: Flow<Box<dyn FnMut() -> u64>>,
    builder: BookBuilder,
    md: MdSubscriptions,
    sink: TestSink,
    clients: Vec<Client>,
    events: Vec<Event>,
}

impl Run {
    fn new(seed: u64) -> Self {
        let config = FlowConfig::default();
        let engine = sim::engine(&config);
        let builder = BookBuilder::with_capacities(
            &sim::registry(&config),
            arbiter_market_data::BookCapacity::from_engine(engine.config()),
        );
        let md_config = md_config(SUBSCRIBERS.len());
        let md = MdSubscriptions::new(md_config, md_instruments(config.instruments));
        let sink = TestSink::new(
            SUBSCRIBERS.iter().map(|s| s.version).collect(),
            md_config.message_bytes_max,
        );
        let mut rng = SplitMix64(seed);
        let words: Box<dyn FnMut() -> u64> = Box::new(move || rng.next_u64());
        Run {
            config,
            engine,
            flow: Flow::new(config, words),
            builder,
            md,
            sink,
            clients: SUBSCRIBERS.iter().map(|s| Client::new(s.version)).collect(),
            events: Vec::new(),
        }
    }

    /// Feeds what the builder produced so far to the subscriptions.
    fn feed(&mut self) -> Result<(), String> {
        for sequenced in self.builder.drain() {
            self.md
                .on_feed_message(&sequenced.message, &mut self.sink)
                .map_err(|e| format!("feed: {e}"))?;
        }
        Ok(())
    }

    fn deliver(&mut self) -> Result<(), String> {
        for (s, client) in self.clients.iter_mut().enumerate() {
            let messages = self.sink.take(s);
            client
                .apply_all(&messages)
                .map_err(|e| format!("session {s}: {e}"))?;
        }
        Ok(())
    }

    fn start(&mut self) -> Result<(), String> {
        self.feed()?;
        for (s, sub) in SUBSCRIBERS.iter().enumerate() {
            let session = SessionId(u32::try_from(s).unwrap());
            self.md.open_session(
                session,
                MdSessionConfig {
                    allowed: true,
                    subscriptions_max: 8,
                    version: sub.version,
                },
            );
            let requests = if s == SLOW {
                vec![
                    request(sub, sub.req_id, sub.orders, self.config.instruments),
                    request(sub, SLOW_ORDERS, true, self.config.instruments),
                ]
            } else {
                vec![request(
                    sub,
                    sub.req_id,
                    sub.orders,
                    self.config.instruments,
                )]
            };
            for bytes in requests {
                let msg = decode(&bytes).unwrap();
                assert!(self.md.on_request(session, &msg, &mut self.sink));
            }
        }
        self.deliver()
    }

    fn step(&mut self) -> Result<String, String> {
        let sim = self.flow.next_command(&self.engine);
        self.events.clear();
        self.engine.apply(&sim.command, &mut self.events);
        let (seq, timestamp) = (sim.command.seq, sim.command.timestamp);
        for event in &self.events {
            self.builder.on_event(seq, timestamp, event).unwrap();
            if let Event::Accepted { order_id, .. } = *event {
                if sim.display_qty.0 > 0 {
                    self.builder.set_display_qty(order_id, sim.display_qty);
                }
            }
        }
        self.builder.on_command_end(seq).unwrap();
        self.feed()?;
        Ok(format!("{:?}", sim.command.kind))
    }

    /// Every live client equals the engine, and its statistics the builder's.
    fn check(&self, unsubscribed: bool) -> Result<(), String> {
        for (s, sub) in SUBSCRIBERS.iter().enumerate() {
            if s == SLOW && self.md.is_conflated(SessionId(5)) {
                continue;
            }
            if s == QUIT && unsubscribed {
                continue;
            }
            let mut views = vec![(sub.req_id, sub.orders, sub.depth)];
            if s == SLOW {
                views.push((SLOW_ORDERS, true, 0));
            }
            for (req_id, orders, depth) in views {
                for i in 0..self.config.instruments {
                    let symbol = format!("SIM{i}");
                    let book = self.clients[s]
                        .book(req_id, &symbol)
                        .ok_or_else(|| format!("session {s} has no book {req_id}/{symbol}"))?;
                    let depth = (depth > 0).then_some(depth as usize);
                    same_as_engine(book, &self.engine, InstrumentId(i), depth, orders)
                        .map_err(|e| format!("session {s} {req_id} {symbol}: {e}"))?;
                    let stats = self
                        .builder
                        .books()
                        .instrument(InstrumentId(i))
                        .map(|b| b.stats)
                        .unwrap_or_default();
                    if stats.trade_count > 0 {
                        let want = (
                            Some(stats.open.0),
                            Some(stats.high.0),
                            Some(stats.low.0),
                            Some(stats.volume.0),
                            Some(stats.last.0),
                        );
                        let got = (
                            book.open,
                            book.high,
                            book.low,
                            book.volume,
                            book.last.map(|l| l.0),
                        );
                        if want != got {
                            return Err(format!("session {s} {symbol}: stats {got:?} != {want:?}"));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

fn run(seed: u64, commands: usize) -> Result<(u64, u64), String> {
    let mut run = Run::new(seed);
    run.start()?;
    run.check(false)?;
    let mut room = SplitMix64(seed ^ 0xC0FFEE);
    let mut unsubscribed = false;
    let mut quit_messages_before = 0;
    for step in 0..commands {
        // The slow session's queue: full, nearly full or drained, at random.
        run.sink.room[SLOW] = match room.next_u64() % 10 {
            0..=2 => 0,
            3..=5 => 1500,
            _ => usize::MAX / 2,
        };
        let kind = run.step()?;
        run.md.poll(&mut run.sink);
        if step == commands / 2 {
            let sub = &SUBSCRIBERS[QUIT];
            let body = format!(
                "35=V|49=C|56=S|34=3|52=20240101-00:00:00|262={}|263=2|",
                sub.req_id
            );
            let bytes = raw(sub.version, &body);
            let msg = decode(&bytes).unwrap();
            run.md.on_request(SessionId(6), &msg, &mut run.sink);
            unsubscribed = true;
            if run.md.subscription_count(SessionId(6)) != 0 {
                return Err("unsubscribe left subscriptions".into());
            }
        }
        run.deliver()
            .map_err(|e| format!("after command {step} {kind}: {e}"))?;
        if unsubscribed {
            if quit_messages_before == 0 {
                quit_messages_before = run.clients[QUIT].messages;
            } else if run.clients[QUIT].messages != quit_messages_before {
                return Err(format!(
                    "after command {step}: unsubscribed session still receives"
                ));
            }
        }
        run.check(unsubscribed)
            .map_err(|e| format!("after command {step} {kind}: {e}"))?;
    }
    // Drained for good: the slow session catches up and equals the engine.
    run.sink.room[SLOW] = usize::MAX / 2;
    run.md.poll(&mut run.sink);
    run.deliver()?;
    if run.md.is_conflated(SessionId(5)) {
        return Err("slow session still conflated with room".into());
    }
    run.check(unsubscribed)?;
    if run.sink.encode_failures > 0 {
        return Err("a message did not fit the encode buffer".into());
    }
    let counters = run.md.counters();
    Ok((counters.conflations, counters.recoveries))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn fix_books_equal_engine_books(seed in any::<u64>(), commands in 300usize..1200) {
        prop_assert_eq!(run(seed, commands).map(|_| ()), Ok(()));
    }
}

#[test]
fn slow_subscriber_is_conflated_and_recovers() {
    let (conflations, recoveries) = run(7, 1500).unwrap();
    assert!(conflations > 10, "conflations {conflations}");
    assert!(recoveries > 10, "recoveries {recoveries}");
}
