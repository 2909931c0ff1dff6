//! Shared harness: a real engine driven by `sim::Flow`, the publisher fed with its events,
//! and comparisons of the public book with the engine's own L2/L3 read-outs.
#![allow(dead_code)]

use std::collections::BTreeMap;

use arbiter_engine::{Engine, Event, InstrumentId};
use arbiter_market_data::sim::{self, Flow, FlowConfig, SimCommand, SplitMix64};
use arbiter_market_data::{compare_with_engine, MarketBooks, Publisher, SessionName};

pub const SESSION: &str = "TEST00001";

/// Per-instrument figures computed from `Trade` events: the model for session statistics.
#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelStats {
    pub trades: u64,
    pub open: i64,
    pub high: i64,
    pub low: i64,
    pub last: i64,
    pub volume: u64,
    pub notional: i128,
}

/// One run of a flow through an engine and a publisher.
pub struct Run {
    pub config: FlowConfig,
    pub engine: Engine,
    pub publisher: Publisher,
    pub flow: Flow<Box<dyn FnMut() -> u64>>,
    pub stats: BTreeMap<InstrumentId, ModelStats>,
    /// Give the builder the display size (the proposed `Accepted.display_qty`).
    pub display_hints: bool,
    pub events: Vec<Event>,
}

impl Run {
    pub fn new(seed: u64, config: FlowConfig, display_hints: bool, window: usize) -> Self {
        let engine = sim::engine(&config);
        let registry = sim::registry(&config);
        let publisher = Publisher::new(
            SessionName::from_text(SESSION),
            &registry,
            engine.config().orders_max as usize,
            window,
        );
        let mut rng = SplitMix64(seed);
        let words: Box<dyn FnMut() -> u64> = Box::new(move || rng.next_u64());
        Run {
            config,
            engine,
            publisher,
            flow: Flow::new(config, words),
            stats: BTreeMap::new(),
            display_hints,
            events: Vec::new(),
        }
    }

    /// Start-up packets (directory).
    pub fn start(&mut self) -> Vec<Vec<u8>> {
        let mut packets = Vec::new();
        self.publisher
            .flush(&mut |p: &[u8]| packets.push(p.to_vec()));
        packets
    }

    /// One command through the engine and the publisher; returns its packets.
    pub fn step(&mut self) -> (SimCommand, Vec<Vec<u8>>) {
        let sim = self.flow.next_command(&self.engine);
        self.events.clear();
        self.engine.apply(&sim.command, &mut self.events);
        let (seq, timestamp) = (sim.command.seq, sim.command.timestamp);
        for event in &self.events {
            self.publisher.on_event(seq, timestamp, event).unwrap();
            match *event {
                Event::Accepted { order_id, .. } if sim.display_qty.0 > 0 && self.display_hints => {
                    self.publisher.set_display_qty(order_id, sim.display_qty);
                }
                Event::Trade(trade) => {
                    let s = self.stats.entry(trade.instrument).or_default();
                    if s.trades == 0 {
                        s.open = trade.price.0;
                        s.high = trade.price.0;
                        s.low = trade.price.0;
                    }
                    s.trades += 1;
                    s.high = s.high.max(trade.price.0);
                    s.low = s.low.min(trade.price.0);
                    s.last = trade.price.0;
                    s.volume += trade.qty.0;
                    s.notional += i128::from(trade.price.0) * i128::from(trade.qty.0);
                }
                _ => {}
            }
        }
        let mut packets = Vec::new();
        self.publisher
            .on_command_end(seq, &mut |p: &[u8]| packets.push(p.to_vec()))
            .unwrap();
        (sim, packets)
    }

    /// Checks `books` against the engine (the library's [`compare_with_engine`]: phases,
    /// every order in priority order with its displayed quantity, levels, last price) and
    /// their statistics against the model computed from the trades.
    pub fn check(&self, books: &MarketBooks) -> Result<(), String> {
        compare_with_engine(books, &self.engine).map_err(|d| d.describe("feed", "engine"))?;
        for i in 0..self.config.instruments {
            let instrument = InstrumentId(i);
            let book = books
                .instrument(instrument)
                .ok_or_else(|| format!("instrument {i} missing"))?;
            let model = self.stats.get(&instrument).copied().unwrap_or_default();
            let s = book.stats;
            let ours = ModelStats {
                trades: s.trade_count,
                open: if s.trade_count > 0 { s.open.0 } else { 0 },
                high: if s.trade_count > 0 { s.high.0 } else { 0 },
                low: if s.trade_count > 0 { s.low.0 } else { 0 },
                last: if s.trade_count > 0 { s.last.0 } else { 0 },
                volume: s.volume.0,
                notional: s.notional,
            };
            if ours != model {
                return Err(format!("instrument {i}: stats {ours:?} != {model:?}"));
            }
        }
        Ok(())
    }
}
