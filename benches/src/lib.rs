//! Shared helpers for the benchmarks and the `arbiter-bench` tool.
//!
//! The engine workload tools revolve around one plain-text *order-flow* format (see [`flow`]):
//!
//! - [`flow`] parses and writes it, and turns each line into an engine [`Command`].
//! - [`generate`] writes seeded flows (`mixed`, `deep`, `addcancel`).
//! - [`replay`] replays a loaded flow through one [`Engine`] with a counting sink, untimed
//!   (throughput) or timing every command (latency).
//! - [`naive`] is an independent, deliberately simple price-time matcher for the same format.
//!   The `book_checksum` test and `arbiter-bench book --verify` compare it with the engine.
//! - [`rng`] is the seeded SplitMix64 generator every tool uses, so a seed means the same
//!   flow on every machine and every version of this crate's dependencies.
//!
//! [`Command`]: arbiter_engine::Command
//! [`Engine`]: arbiter_engine::Engine
#![deny(missing_docs)]

pub mod rng {
    //! A tiny seeded pseudo-random generator: SplitMix64.
    //!
    //! Own code rather than `rand`, so a given seed produces the same flow forever: `rand`
    //! documents that its value streams may change between versions.

    /// SplitMix64 (Steele, Lea, Flood 2014): 64 bits of state, passes BigCrush, one
    /// multiply-xorshift chain per output. Not for cryptography.
    #[derive(Clone, Debug)]
    pub struct SplitMix64 {
        state: u64,
    }

    impl SplitMix64 {
        /// A generator whose whole output is determined by `seed`.
        #[must_use]
        pub const fn new(seed: u64) -> Self {
            SplitMix64 { state: seed }
        }

        /// The next 64 random bits.
        pub fn next_u64(&mut self) -> u64 {
            self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        /// A value in `0..bound`, by Lemire's multiply-shift (the bias, below `bound / 2^64`,
        /// does not matter for workloads).
        ///
        /// # Panics
        /// If `bound` is zero.
        pub fn below(&mut self, bound: u64) -> u64 {
            assert!(bound > 0, "below(0) has no value");
            let wide = u128::from(self.next_u64()) * u128::from(bound);
            // The high half of a 64 x 64 bit product always fits in 64 bits.
            u64::try_from(wide >> 64).expect("high half fits")
        }

        /// A value in `low..=high`.
        ///
        /// # Panics
        /// If `low > high` or the range covers all 2^64 values.
        pub fn between(&mut self, low: u64, high: u64) -> u64 {
            assert!(low <= high, "empty range {low}..={high}");
            low + self.below(high - low + 1)
        }

        /// True with probability `per_mille / 1000`.
        pub fn chance_per_mille(&mut self, per_mille: u64) -> bool {
            self.below(1000) < per_mille
        }
    }

    #[cfg(test)]
    mod tests {
        use super::SplitMix64;

        #[test]
        fn known_first_outputs() {
            // Reference values of SplitMix64 seeded with 1234567 (from the public reference
            // implementation by Vigna).
            let mut rng = SplitMix64::new(1_234_567);
            assert_eq!(rng.next_u64(), 6_457_827_717_110_365_317);
            assert_eq!(rng.next_u64(), 3_203_168_211_198_807_973);
        }

        #[test]
        fn between_stays_in_range() {
            let mut rng = SplitMix64::new(7);
            for _ in 0..10_000 {
                let value = rng.between(3, 9);
                assert!((3..=9).contains(&value));
            }
        }
    }
}

pub mod flow {
    //! The order-flow text format, one command per line, `#` starts a comment:
    //!
    //! ```text
    //! A <order_id> <B|S> <price_ticks> <qty> <GTC|IOC|FOK>   add a limit order
    //! M <order_id> <B|S> <qty>                               market order (sweeps at any price)
    //! X <order_id>                                           cancel
    //! R <order_id> <new_price_ticks> <new_open_qty>          cancel/replace
    //! ```
    //!
    //! One instrument, account 1, STP off. Prices are ticks (>= 1), quantities >= 1, order ids
    //! positive and never reused (market orders share the id space). A cancel or replace of an
    //! unknown, filled or cancelled order is a counted rejection, never an error.
    //!
    //! `R` gives the quantity left *open* afterwards, while the engine's
    //! [`ReplaceOrder::qty`] is the new *total* (filled included, as FIX `OrderQty`). So
    //! [`to_command`] puts the open quantity in `qty`, and the replay adds the order's filled
    //! quantity just before applying the command (see [`crate::replay`]).

    use std::collections::HashSet;
    use std::fmt;
    use std::path::Path;

    use arbiter_engine::{
        AccountId, CancelOrder, Command, CommandKind, EngineConfig, InstrumentId,
        InstrumentRegistry, NewOrder, OrdType, OrderId, Price, Qty, ReplaceOrder, Seq, Side,
        StpMode, TimeInForce, TimestampNs,
    };

    /// The only instrument of a flow.
    pub const INSTRUMENT: InstrumentId = InstrumentId(0);
    /// The only account of a flow.
    pub const ACCOUNT: AccountId = AccountId(1);
    /// Order slots added to the flow's add and market count when sizing the engine.
    pub const ORDERS_MARGIN: u32 = 1024;
    /// Levels added to the flow's distinct price count when sizing the engine.
    pub const LEVELS_MARGIN: u32 = 64;

    /// Time in force of an `A` line.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum FlowTif {
        /// Rests until filled or cancelled.
        Gtc,
        /// Fills what crosses, cancels the rest.
        Ioc,
        /// Fills completely on arrival or does nothing (a counted rejection).
        Fok,
    }

    /// One command line of an order-flow file.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum FlowOp {
        /// `A`: a limit order.
        Add {
            /// New order id.
            order_id: u64,
            /// Buy or sell.
            side: Side,
            /// Limit price in ticks (>= 1).
            price_ticks: i64,
            /// Quantity (>= 1).
            qty: u64,
            /// Time in force.
            tif: FlowTif,
        },
        /// `M`: a market order; whatever does not fill is cancelled.
        Market {
            /// New order id.
            order_id: u64,
            /// Buy or sell.
            side: Side,
            /// Quantity (>= 1).
            qty: u64,
        },
        /// `X`: cancel.
        Cancel {
            /// The order to cancel.
            order_id: u64,
        },
        /// `R`: cancel/replace.
        Replace {
            /// The order to change.
            order_id: u64,
            /// New limit price in ticks (>= 1).
            price_ticks: i64,
            /// Quantity left open after the replace (>= 1).
            open_qty: u64,
        },
    }

    impl fmt::Display for FlowOp {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let side_text = |side: Side| match side {
                Side::Buy => "B",
                Side::Sell => "S",
            };
            match *self {
                FlowOp::Add {
                    order_id,
                    side,
                    price_ticks,
                    qty,
                    tif,
                } => {
                    let tif_text = match tif {
                        FlowTif::Gtc => "GTC",
                        FlowTif::Ioc => "IOC",
                        FlowTif::Fok => "FOK",
                    };
                    write!(
                        f,
                        "A {order_id} {} {price_ticks} {qty} {tif_text}",
                        side_text(side)
                    )
                }
                FlowOp::Market {
                    order_id,
                    side,
                    qty,
                } => write!(f, "M {order_id} {} {qty}", side_text(side)),
                FlowOp::Cancel { order_id } => write!(f, "X {order_id}"),
                FlowOp::Replace {
                    order_id,
                    price_ticks,
                    open_qty,
                } => write!(f, "R {order_id} {price_ticks} {open_qty}"),
            }
        }
    }

    fn parse_order_id(token: &str) -> Result<u64, String> {
        match token.parse::<u64>() {
            Ok(0) => Err("order id must be positive".into()),
            Ok(value) => Ok(value),
            Err(error) => Err(format!("order id {token:?}: {error}")),
        }
    }

    fn parse_qty(token: &str) -> Result<u64, String> {
        match token.parse::<u64>() {
            Ok(0) => Err("quantity must be at least 1".into()),
            Ok(value) => Ok(value),
            Err(error) => Err(format!("quantity {token:?}: {error}")),
        }
    }

    fn parse_price(token: &str) -> Result<i64, String> {
        match token.parse::<i64>() {
            Ok(value) if value >= 1 => Ok(value),
            Ok(_) => Err("price must be at least 1 tick".into()),
            Err(error) => Err(format!("price {token:?}: {error}")),
        }
    }

    fn parse_side(token: &str) -> Result<Side, String> {
        match token {
            "B" => Ok(Side::Buy),
            "S" => Ok(Side::Sell),
            _ => Err(format!("side {token:?}: expected B or S")),
        }
    }

    fn parse_tif(token: &str) -> Result<FlowTif, String> {
        match token {
            "GTC" => Ok(FlowTif::Gtc),
            "IOC" => Ok(FlowTif::Ioc),
            "FOK" => Ok(FlowTif::Fok),
            _ => Err(format!("time in force {token:?}: expected GTC, IOC or FOK")),
        }
    }

    /// Parses one line; `Ok(None)` for a blank or comment-only line.
    ///
    /// # Errors
    /// A text saying what is wrong with the line (without its number).
    pub fn parse_line(line: &str) -> Result<Option<FlowOp>, String> {
        let content = match line.find('#') {
            Some(position) => &line[..position],
            None => line,
        };
        let mut tokens = content.split_ascii_whitespace();
        let Some(letter) = tokens.next() else {
            return Ok(None);
        };
        // At most 6 tokens on any line; a seventh means a malformed line.
        let mut fields = [""; 6];
        let mut count = 0;
        for token in tokens {
            if count == fields.len() {
                return Err("too many fields".into());
            }
            fields[count] = token;
            count += 1;
        }
        let expect = |wanted: usize| -> Result<(), String> {
            if count == wanted {
                Ok(())
            } else {
                Err(format!(
                    "{letter} takes {wanted} fields after the letter, found {count}"
                ))
            }
        };
        let op = match letter {
            "A" => {
                expect(5)?;
                FlowOp::Add {
                    order_id: parse_order_id(fields[0])?,
                    side: parse_side(fields[1])?,
                    price_ticks: parse_price(fields[2])?,
                    qty: parse_qty(fields[3])?,
                    tif: parse_tif(fields[4])?,
                }
            }
            "M" => {
                expect(3)?;
                FlowOp::Market {
                    order_id: parse_order_id(fields[0])?,
                    side: parse_side(fields[1])?,
                    qty: parse_qty(fields[2])?,
                }
            }
            "X" => {
                expect(1)?;
                FlowOp::Cancel {
                    order_id: parse_order_id(fields[0])?,
                }
            }
            "R" => {
                expect(3)?;
                FlowOp::Replace {
                    order_id: parse_order_id(fields[0])?,
                    price_ticks: parse_price(fields[1])?,
                    open_qty: parse_qty(fields[2])?,
                }
            }
            _ => return Err(format!("unknown command letter {letter:?}")),
        };
        Ok(Some(op))
    }

    /// Parses a whole flow.
    ///
    /// # Errors
    /// The first bad line, with its 1-based number.
    pub fn parse(text: &str) -> Result<Vec<FlowOp>, String> {
        let mut ops = Vec::with_capacity(text.len() / 16);
        for (index, line) in text.lines().enumerate() {
            match parse_line(line) {
                Ok(Some(op)) => ops.push(op),
                Ok(None) => {}
                Err(message) => return Err(format!("line {}: {message}", index + 1)),
            }
        }
        Ok(ops)
    }

    /// Reads and parses a flow file.
    ///
    /// # Errors
    /// An unreadable file or the first bad line.
    pub fn load(path: &Path) -> Result<Vec<FlowOp>, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("{}: {error}", path.display()))?;
        parse(&text).map_err(|message| format!("{}: {message}", path.display()))
    }

    /// What the engine must be sized for to replay a flow without `BookFull`.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct FlowStats {
        /// `A` lines.
        pub adds: u64,
        /// `M` lines.
        pub markets: u64,
        /// `X` lines.
        pub cancels: u64,
        /// `R` lines.
        pub replaces: u64,
        /// Largest order id on any line.
        pub order_id_max: u64,
        /// Largest price on any `A` or `R` line.
        pub price_ticks_max: i64,
        /// Largest quantity on any line (a replace's total is bounded by the sum of the
        /// order's fills and its open quantity, which [`FlowStats::qty_total_bound`] covers).
        pub qty_max: u64,
        /// Sum of all `A` and `R` quantities: no order's total can exceed it.
        pub qty_total_bound: u64,
        /// Distinct prices on `A` and `R` lines (both sides together): no ladder side can
        /// hold more levels than that.
        pub distinct_prices: u64,
    }

    impl FlowStats {
        /// Scans a flow.
        #[must_use]
        pub fn of(ops: &[FlowOp]) -> FlowStats {
            let mut stats = FlowStats::default();
            let mut prices = HashSet::new();
            for op in ops {
                match *op {
                    FlowOp::Add {
                        order_id,
                        price_ticks,
                        qty,
                        ..
                    } => {
                        stats.adds += 1;
                        stats.order_id_max = stats.order_id_max.max(order_id);
                        stats.price_ticks_max = stats.price_ticks_max.max(price_ticks);
                        stats.qty_max = stats.qty_max.max(qty);
                        stats.qty_total_bound = stats.qty_total_bound.saturating_add(qty);
                        prices.insert(price_ticks);
                    }
                    FlowOp::Market { order_id, qty, .. } => {
                        stats.markets += 1;
                        stats.order_id_max = stats.order_id_max.max(order_id);
                        stats.qty_max = stats.qty_max.max(qty);
                    }
                    FlowOp::Cancel { order_id } => {
                        stats.cancels += 1;
                        stats.order_id_max = stats.order_id_max.max(order_id);
                    }
                    FlowOp::Replace {
                        order_id,
                        price_ticks,
                        open_qty,
                    } => {
                        stats.replaces += 1;
                        stats.order_id_max = stats.order_id_max.max(order_id);
                        stats.price_ticks_max = stats.price_ticks_max.max(price_ticks);
                        stats.qty_max = stats.qty_max.max(open_qty);
                        stats.qty_total_bound = stats.qty_total_bound.saturating_add(open_qty);
                        prices.insert(price_ticks);
                    }
                }
            }
            stats.distinct_prices = prices.len() as u64;
            stats
        }

        /// Lines that name a new order id (`A` and `M`).
        #[must_use]
        pub fn new_orders(&self) -> u64 {
            self.adds + self.markets
        }
    }

    /// Engine capacities for a flow: an order slot for every `A` and `M` line plus
    /// [`ORDERS_MARGIN`] (so `BookFull` cannot happen), a level for every distinct price plus
    /// [`LEVELS_MARGIN`] per side, and accounts `0..2` (the flow uses account 1).
    ///
    /// # Errors
    /// If the flow needs more than `u32::MAX` order slots or levels.
    pub fn engine_config(stats: &FlowStats) -> Result<EngineConfig, String> {
        let orders_max = u32::try_from(stats.new_orders())
            .ok()
            .and_then(|orders| orders.checked_add(ORDERS_MARGIN))
            .ok_or("too many orders for one engine (u32 slots)")?;
        let levels_per_side_max = u32::try_from(stats.distinct_prices)
            .ok()
            .and_then(|levels| levels.checked_add(LEVELS_MARGIN))
            .ok_or("too many distinct prices for one engine")?;
        Ok(EngineConfig {
            orders_max,
            levels_per_side_max,
            accounts_max: 2,
            ..EngineConfig::default()
        })
    }

    /// The flow's one instrument: `Instrument::simple` (tick 1, lot 1, no collar,
    /// continuous), with the band and quantity limit widened when the flow needs it.
    ///
    /// # Errors
    /// Never for a parsed flow; kept for the registry's own checks.
    pub fn instruments(stats: &FlowStats) -> Result<InstrumentRegistry, String> {
        let mut instrument = arbiter_engine::Instrument::simple(INSTRUMENT.0, "FLOW");
        instrument.price_min = Price(1);
        instrument.price_max = Price(instrument.price_max.0.max(stats.price_ticks_max));
        instrument.qty_max = Qty(instrument.qty_max.0.max(stats.qty_total_bound));
        InstrumentRegistry::new(vec![instrument])
    }

    /// The engine command for one line, stamped with `seq` (also used as its timestamp).
    /// For `R`, `qty` holds the *open* quantity: the replay adds the filled quantity.
    #[must_use]
    pub fn to_command(op: &FlowOp, seq: u64) -> Command {
        let kind = match *op {
            FlowOp::Add {
                order_id,
                side,
                price_ticks,
                qty,
                tif,
            } => CommandKind::NewOrder(NewOrder {
                order_id: OrderId(order_id),
                instrument: INSTRUMENT,
                account: ACCOUNT,
                side,
                ord_type: OrdType::Limit,
                tif: match tif {
                    FlowTif::Gtc => TimeInForce::Gtc,
                    FlowTif::Ioc => TimeInForce::Ioc,
                    FlowTif::Fok => TimeInForce::Fok,
                },
                price: Price(price_ticks),
                qty: Qty(qty),
                stp_mode: StpMode::Off,
                ..NewOrder::default()
            }),
            FlowOp::Market {
                order_id,
                side,
                qty,
            } => CommandKind::NewOrder(NewOrder {
                order_id: OrderId(order_id),
                instrument: INSTRUMENT,
                account: ACCOUNT,
                side,
                ord_type: OrdType::Market,
                tif: TimeInForce::Ioc,
                price: Price(0),
                qty: Qty(qty),
                stp_mode: StpMode::Off,
                ..NewOrder::default()
            }),
            FlowOp::Cancel { order_id } => CommandKind::Cancel(CancelOrder {
                order_id: OrderId(order_id),
                account: ACCOUNT,
                ..CancelOrder::default()
            }),
            FlowOp::Replace {
                order_id,
                price_ticks,
                open_qty,
            } => CommandKind::Replace(ReplaceOrder {
                order_id: OrderId(order_id),
                account: ACCOUNT,
                price: Price(price_ticks),
                stop_price: Price(0),
                qty: Qty(open_qty),
                ..ReplaceOrder::default()
            }),
        };
        Command::new(Seq(seq), TimestampNs(seq), kind)
    }

    /// [`to_command`] for every line, with `seq` = line index + 1.
    #[must_use]
    pub fn to_commands(ops: &[FlowOp]) -> Vec<Command> {
        ops.iter()
            .zip(1_u64..)
            .map(|(op, seq)| to_command(op, seq))
            .collect()
    }

    #[cfg(test)]
    mod tests {
        use super::{parse, parse_line, FlowOp, FlowTif};
        use arbiter_engine::Side;

        #[test]
        fn parses_every_letter_and_round_trips() {
            let text = "# header\n\
                        A 1 B 100 5 GTC\n\
                        A 2 S 101 7 IOC # trailing comment\n\
                        \n\
                        A 3 S 99 1 FOK\n\
                        M 4 S 3\n\
                        X 1\n\
                        R 2 102 4\n";
            let ops = parse(text).unwrap();
            assert_eq!(ops.len(), 6);
            assert_eq!(
                ops[0],
                FlowOp::Add {
                    order_id: 1,
                    side: Side::Buy,
                    price_ticks: 100,
                    qty: 5,
                    tif: FlowTif::Gtc
                }
            );
            for op in &ops {
                assert_eq!(parse_line(&op.to_string()).unwrap(), Some(*op));
            }
        }

        #[test]
        fn rejects_malformed_lines() {
            for line in [
                "A 1 B 100 5",
                "A 1 B 0 5 GTC",
                "A 1 B 100 0 GTC",
                "A 0 B 100 5 GTC",
                "A 1 Q 100 5 GTC",
                "A 1 B 100 5 DAY",
                "X",
                "X 1 2",
                "R 1 100",
                "Z 1",
                "M 1 B 1 1 1 1 1",
            ] {
                assert!(parse_line(line).is_err(), "{line:?} should not parse");
            }
            let error = parse("A 1 B 1 1 GTC\nX x\n").unwrap_err();
            assert!(error.starts_with("line 2:"), "{error}");
        }
    }
}

pub mod replay {
    //! Replaying a loaded flow through one engine.
    //!
    //! The sink ([`FlowSink`]) counts trades, traded quantity and rejections, computes the
    //! checksum, and records each order's filled quantity, which the replay needs to turn an
    //! `R` line's open quantity into the engine's total quantity. The fill table is a `Vec`
    //! indexed by order id when ids are dense (at most [`DENSE_IDS_FACTOR`] times the number
    //! of new-order lines, plus a margin), else a `HashMap` holding every id of the flow,
    //! built at load, so the replay never allocates. A sparse table costs a hash lookup per
    //! fill (two per trade) inside the timed region; generated flows are always dense.
    //!
    //! `checksum` = sum over fills i = 1, 2, ... in emission order of
    //! `i * (qty * price + 31 * maker_order_id + taker_order_id)`, wrapping mod 2^64.

    use std::collections::HashMap;
    use std::time::{Duration, Instant};

    use arbiter_engine::{Command, CommandKind, Engine, Event, EventSink, Qty, Side};
    use hdrhistogram::Histogram;

    use crate::flow::{self, FlowOp, FlowStats};

    /// A flow's ids are "dense" when the largest is at most this many times the number of
    /// `A` and `M` lines (plus 1024): then a `Vec` indexed by id is at most a few times larger
    /// than a map would be and much cheaper to update.
    pub const DENSE_IDS_FACTOR: u64 = 4;

    /// Filled quantity per order id.
    #[derive(Clone, Debug)]
    pub enum FillTable {
        /// Indexed by order id.
        Dense(Vec<u64>),
        /// Every id of the flow, inserted at load.
        Sparse(HashMap<u64, u64>),
    }

    impl FillTable {
        /// A table with room for every id of `ops`.
        #[must_use]
        pub fn for_flow(ops: &[FlowOp], stats: &FlowStats) -> FillTable {
            let dense_max = stats
                .new_orders()
                .saturating_mul(DENSE_IDS_FACTOR)
                .saturating_add(1024);
            if stats.order_id_max <= dense_max {
                let length = usize::try_from(stats.order_id_max + 1).expect("fits memory");
                return FillTable::Dense(vec![0; length]);
            }
            let mut map = HashMap::with_capacity(
                usize::try_from(stats.new_orders()).expect("fits memory") + 16,
            );
            for op in ops {
                if let FlowOp::Add { order_id, .. } | FlowOp::Market { order_id, .. } = *op {
                    map.insert(order_id, 0);
                }
            }
            FillTable::Sparse(map)
        }

        /// Adds a fill. Ids the flow never introduced are ignored (the engine would have
        /// rejected them), so this never allocates.
        #[inline]
        pub fn add(&mut self, order_id: u64, qty: u64) {
            let slot = match self {
                FillTable::Dense(table) => usize::try_from(order_id)
                    .ok()
                    .and_then(|index| table.get_mut(index)),
                FillTable::Sparse(map) => map.get_mut(&order_id),
            };
            if let Some(filled) = slot {
                *filled += qty;
            }
        }

        /// Filled quantity of an order so far (0 for unknown ids).
        #[inline]
        #[must_use]
        pub fn filled(&self, order_id: u64) -> u64 {
            match self {
                FillTable::Dense(table) => usize::try_from(order_id)
                    .ok()
                    .and_then(|index| table.get(index))
                    .copied()
                    .unwrap_or(0),
                FillTable::Sparse(map) => map.get(&order_id).copied().unwrap_or(0),
            }
        }
    }

    /// The summary every replay of a flow must agree on (engine and naive matcher alike).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct FlowTotals {
        /// Trades (fills).
        pub trades: u64,
        /// Sum of trade quantities.
        pub traded_qty: u64,
        /// Rejected commands (unknown order on cancel/replace, unfillable FOK, ...).
        pub rejects: u64,
        /// The checksum defined in the module docs.
        pub checksum: u64,
    }

    impl FlowTotals {
        /// Accounts for one fill, in emission order.
        #[inline]
        pub fn record_fill(&mut self, qty: u64, price_ticks: i64, maker: u64, taker: u64) {
            self.trades += 1;
            self.traded_qty += qty;
            // Prices are >= 1, so the cast only reinterprets; the checksum wraps by design.
            #[allow(clippy::cast_sign_loss)]
            let price = price_ticks as u64;
            let term = qty
                .wrapping_mul(price)
                .wrapping_add(maker.wrapping_mul(31))
                .wrapping_add(taker);
            self.checksum = self.checksum.wrapping_add(self.trades.wrapping_mul(term));
        }
    }

    /// The replay's sink: totals and the fill table, nothing that allocates.
    #[derive(Debug)]
    pub struct FlowSink {
        /// Counts and checksum so far.
        pub totals: FlowTotals,
        /// Filled quantity per order.
        pub fills: FillTable,
        /// Events of any kind.
        pub events: u64,
    }

    impl EventSink for FlowSink {
        #[inline]
        fn emit(&mut self, event: Event) {
            self.events += 1;
            match event {
                Event::Trade(trade) => {
                    self.totals.record_fill(
                        trade.qty.0,
                        trade.price.0,
                        trade.maker_order_id.0,
                        trade.taker_order_id.0,
                    );
                    self.fills.add(trade.maker_order_id.0, trade.qty.0);
                    self.fills.add(trade.taker_order_id.0, trade.qty.0);
                }
                Event::Rejected { .. } => self.totals.rejects += 1,
                _ => {}
            }
        }
    }

    /// A flow made ready for the engine: commands, capacities and a fresh fill table.
    #[derive(Debug)]
    pub struct Prepared {
        /// One command per flow line.
        pub commands: Vec<Command>,
        /// The flow's statistics.
        pub stats: FlowStats,
        /// The engine capacities used for it.
        pub config: arbiter_engine::EngineConfig,
        /// The registry with the flow's one instrument.
        pub instruments: arbiter_engine::InstrumentRegistry,
        empty_fills: FillTable,
    }

    impl Prepared {
        /// Translates and sizes a parsed flow.
        ///
        /// # Errors
        /// If the flow does not fit one engine.
        pub fn new(ops: &[FlowOp]) -> Result<Prepared, String> {
            let stats = FlowStats::of(ops);
            Ok(Prepared {
                commands: flow::to_commands(ops),
                config: flow::engine_config(&stats)?,
                instruments: flow::instruments(&stats)?,
                empty_fills: FillTable::for_flow(ops, &stats),
                stats,
            })
        }

        /// A fresh engine and sink for one replay.
        #[must_use]
        pub fn start(&self) -> (Engine, FlowSink) {
            let engine = Engine::new(self.config, self.instruments.clone());
            let sink = FlowSink {
                totals: FlowTotals::default(),
                fills: self.empty_fills.clone(),
                events: 0,
            };
            (engine, sink)
        }
    }

    /// The result of one replay.
    #[derive(Clone, Copy, Debug)]
    pub struct ReplayOutcome {
        /// Counts and checksum.
        pub totals: FlowTotals,
        /// Events of any kind.
        pub events: u64,
        /// The engine's state digest at the end.
        pub digest: u64,
        /// Wall time of the replay loop.
        pub elapsed: Duration,
        /// On-CPU time of the replay loop ([`thread_cpu_ns`]), if the OS reports it.
        pub cpu_ns: Option<u64>,
        /// The end state: live orders and the best price of each side.
        pub end: EndState,
    }

    /// What the book looks like after a flow; engine and naive matcher must agree on it.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct EndState {
        /// Resting orders.
        pub live_orders: u64,
        /// Best bid price, if any.
        pub best_bid_ticks: Option<i64>,
        /// Best ask price, if any.
        pub best_ask_ticks: Option<i64>,
    }

    fn end_state(engine: &Engine) -> EndState {
        let best = |side| {
            engine
                .depth(flow::INSTRUMENT, side, 1)
                .first()
                .map(|&(price, _, _)| price.0)
        };
        EndState {
            live_orders: u64::from(engine.live_orders()),
            best_bid_ticks: best(Side::Buy),
            best_ask_ticks: best(Side::Sell),
        }
    }

    /// The command to apply for flow command `command`: itself, or for a replace a copy whose
    /// `qty` is the filled quantity plus the open quantity of the `R` line.
    #[inline]
    fn with_total_qty(command: &Command, fills: &FillTable) -> Option<Command> {
        if let CommandKind::Replace(replace) = command.kind {
            let mut patched = *command;
            if let CommandKind::Replace(target) = &mut patched.kind {
                target.qty = Qty(replace.qty.0 + fills.filled(replace.order_id.0));
            }
            return Some(patched);
        }
        None
    }

    /// Replays without timing single commands: the throughput measurement. The loop's wall
    /// time includes the replace patching and the sink.
    #[must_use]
    pub fn run_untimed(prepared: &Prepared) -> ReplayOutcome {
        let (mut engine, mut sink) = prepared.start();
        let cpu_start = thread_cpu_ns();
        let start = Instant::now();
        for command in &prepared.commands {
            match with_total_qty(command, &sink.fills) {
                Some(patched) => engine.apply(&patched, &mut sink),
                None => engine.apply(command, &mut sink),
            }
        }
        let elapsed = start.elapsed();
        let cpu_ns = thread_cpu_ns()
            .zip(cpu_start)
            .map(|(end, begin)| end.saturating_sub(begin));
        ReplayOutcome {
            totals: sink.totals,
            events: sink.events,
            digest: engine.digest(),
            elapsed,
            cpu_ns,
            end: end_state(&engine),
        }
    }

    /// Replays timing every `apply` with two `Instant` reads and recording the nanoseconds in
    /// `histogram`. Each sample includes the sink's work and one clock read's latency
    /// (see [`clock_overhead_ns`]); the replace patching and the recording are outside.
    #[must_use]
    pub fn run_timed(prepared: &Prepared, histogram: &mut Histogram<u64>) -> ReplayOutcome {
        let (mut engine, mut sink) = prepared.start();
        let start = Instant::now();
        for command in &prepared.commands {
            let patched = with_total_qty(command, &sink.fills);
            let command = patched.as_ref().unwrap_or(command);
            let before = Instant::now();
            engine.apply(command, &mut sink);
            let after = Instant::now();
            let nanos = u64::try_from((after - before).as_nanos()).unwrap_or(u64::MAX);
            histogram.saturating_record(nanos.max(1));
        }
        let elapsed = start.elapsed();
        ReplayOutcome {
            totals: sink.totals,
            events: sink.events,
            digest: engine.digest(),
            elapsed,
            cpu_ns: None,
            end: end_state(&engine),
        }
    }

    /// Time this thread has spent on a CPU, in ns, from `/proc/thread-self/schedstat` (Linux
    /// with schedstats); `None` elsewhere. Unlike wall time it excludes time spent waiting
    /// for a CPU, so it stays meaningful on a loaded machine. Allocates: call it outside
    /// timed regions.
    #[must_use]
    pub fn thread_cpu_ns() -> Option<u64> {
        let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
        text.split_ascii_whitespace().next()?.parse().ok()
    }

    /// Median of back-to-back `Instant` pairs, in ns: the floor under every timed sample.
    #[must_use]
    pub fn clock_overhead_ns() -> u64 {
        let mut samples = [0_u64; 1001];
        for sample in &mut samples {
            let before = Instant::now();
            let after = Instant::now();
            *sample = u64::try_from((after - before).as_nanos()).unwrap_or(u64::MAX);
        }
        samples.sort_unstable();
        samples[samples.len() / 2]
    }
}

pub mod naive {
    //! An independent, deliberately simple price-time matcher for the order-flow format only
    //! (one instrument, one account, no STP, no icebergs or stops). It shares no code with the
    //! engine: each side is a `BTreeMap` keyed by (price, arrival number), so the first entry
    //! is always the best order, and an `R` line is taken at face value (new *open*
    //! quantity), without the total-quantity translation the engine replay needs.
    //! O(log n) per fill; meant for checking, and for the generator to know what is live.

    use std::collections::{BTreeMap, HashMap};

    use arbiter_engine::Side;

    use crate::flow::{FlowOp, FlowTif};
    use crate::replay::{EndState, FlowTotals};

    #[derive(Clone, Copy, Debug)]
    struct Resting {
        side: Side,
        price_ticks: i64,
        open_qty: u64,
        key: (i64, u64),
    }

    /// The naive book.
    #[derive(Debug, Default)]
    pub struct NaiveBook {
        /// Per side (index buy 0, sell 1): (key price, arrival number) -> order id, where the
        /// key price is the price for asks and minus the price for bids, so ascending order
        /// is priority order on both sides.
        sides: [BTreeMap<(i64, u64), u64>; 2],
        orders: HashMap<u64, Resting>,
        arrivals: u64,
        totals: FlowTotals,
    }

    fn key_price(side: Side, price_ticks: i64) -> i64 {
        match side {
            Side::Buy => -price_ticks,
            Side::Sell => price_ticks,
        }
    }

    /// Whether a resting order at `maker_price` crosses a taker of `taker_side` with `limit`.
    fn crosses(taker_side: Side, limit: Option<i64>, maker_price: i64) -> bool {
        match (taker_side, limit) {
            (_, None) => true,
            (Side::Buy, Some(limit)) => maker_price <= limit,
            (Side::Sell, Some(limit)) => maker_price >= limit,
        }
    }

    impl NaiveBook {
        /// An empty book.
        #[must_use]
        pub fn new() -> Self {
            NaiveBook::default()
        }

        /// Counts and checksum so far.
        #[must_use]
        pub fn totals(&self) -> FlowTotals {
            self.totals
        }

        /// Whether the order rests in the book.
        #[must_use]
        pub fn is_live(&self, order_id: u64) -> bool {
            self.orders.contains_key(&order_id)
        }

        /// Side, price and open quantity of a resting order.
        #[must_use]
        pub fn resting(&self, order_id: u64) -> Option<(Side, i64, u64)> {
            self.orders
                .get(&order_id)
                .map(|order| (order.side, order.price_ticks, order.open_qty))
        }

        /// Resting orders.
        #[must_use]
        pub fn live_count(&self) -> usize {
            self.orders.len()
        }

        /// Live orders and best prices, to compare with the engine's.
        #[must_use]
        pub fn end_state(&self) -> EndState {
            EndState {
                live_orders: self.orders.len() as u64,
                best_bid_ticks: self.best(Side::Buy),
                best_ask_ticks: self.best(Side::Sell),
            }
        }

        /// Best price of a side.
        #[must_use]
        pub fn best(&self, side: Side) -> Option<i64> {
            self.sides[side.index()]
                .first_key_value()
                .map(|(&(key, _), _)| key_price(side, key))
        }

        /// Applies one line.
        pub fn apply(&mut self, op: &FlowOp) {
            match *op {
                FlowOp::Add {
                    order_id,
                    side,
                    price_ticks,
                    qty,
                    tif,
                } => {
                    if self.is_live(order_id) {
                        self.totals.rejects += 1;
                        return;
                    }
                    if tif == FlowTif::Fok && self.crossing_qty(side, price_ticks, qty) < qty {
                        self.totals.rejects += 1;
                        return;
                    }
                    let open_qty = self.take(order_id, side, Some(price_ticks), qty);
                    if open_qty > 0 && tif == FlowTif::Gtc {
                        self.rest(order_id, side, price_ticks, open_qty);
                    }
                }
                FlowOp::Market {
                    order_id,
                    side,
                    qty,
                } => {
                    if self.is_live(order_id) {
                        self.totals.rejects += 1;
                        return;
                    }
                    self.take(order_id, side, None, qty);
                }
                FlowOp::Cancel { order_id } => {
                    if self.remove(order_id).is_none() {
                        self.totals.rejects += 1;
                    }
                }
                FlowOp::Replace {
                    order_id,
                    price_ticks,
                    open_qty,
                } => {
                    let Some(order) = self.orders.get_mut(&order_id) else {
                        self.totals.rejects += 1;
                        return;
                    };
                    if order.price_ticks == price_ticks && open_qty < order.open_qty {
                        order.open_qty = open_qty;
                        return;
                    }
                    let side = order.side;
                    self.remove(order_id);
                    let left = self.take(order_id, side, Some(price_ticks), open_qty);
                    if left > 0 {
                        self.rest(order_id, side, price_ticks, left);
                    }
                }
            }
        }

        /// Open quantity on the other side that crosses `limit`, summed in priority order
        /// until it reaches `wanted`.
        fn crossing_qty(&self, side: Side, limit: i64, wanted: u64) -> u64 {
            let opposite = side.opposite();
            let mut sum = 0;
            for (&(key, _), maker) in &self.sides[opposite.index()] {
                if sum >= wanted || !crosses(side, Some(limit), key_price(opposite, key)) {
                    break;
                }
                sum += self.orders[maker].open_qty;
            }
            sum
        }

        /// Matches an incoming order; returns its open quantity afterwards.
        fn take(&mut self, taker: u64, side: Side, limit: Option<i64>, qty: u64) -> u64 {
            let opposite = side.opposite();
            let mut open_qty = qty;
            while open_qty > 0 {
                let Some((&key, &maker)) = self.sides[opposite.index()].first_key_value() else {
                    break;
                };
                let price_ticks = key_price(opposite, key.0);
                if !crosses(side, limit, price_ticks) {
                    break;
                }
                let resting = self.orders.get_mut(&maker).expect("book and map agree");
                let fill = open_qty.min(resting.open_qty);
                resting.open_qty -= fill;
                open_qty -= fill;
                self.totals.record_fill(fill, price_ticks, maker, taker);
                if resting.open_qty == 0 {
                    self.sides[opposite.index()].remove(&key);
                    self.orders.remove(&maker);
                }
            }
            open_qty
        }

        fn rest(&mut self, order_id: u64, side: Side, price_ticks: i64, open_qty: u64) {
            self.arrivals += 1;
            let key = (key_price(side, price_ticks), self.arrivals);
            self.sides[side.index()].insert(key, order_id);
            self.orders.insert(
                order_id,
                Resting {
                    side,
                    price_ticks,
                    open_qty,
                    key,
                },
            );
        }

        fn remove(&mut self, order_id: u64) -> Option<Resting> {
            let order = self.orders.remove(&order_id)?;
            self.sides[order.side.index()].remove(&order.key);
            Some(order)
        }
    }

    /// Replays a whole flow and returns its totals.
    #[must_use]
    pub fn run(ops: &[FlowOp]) -> FlowTotals {
        replay(ops).totals()
    }

    /// Replays a whole flow and returns the book.
    #[must_use]
    pub fn replay(ops: &[FlowOp]) -> NaiveBook {
        let mut book = NaiveBook::new();
        for op in ops {
            book.apply(op);
        }
        book
    }

    #[cfg(test)]
    mod tests {
        use super::run;
        use crate::flow::parse;

        #[test]
        fn worked_example() {
            // Asks 101x5 (id 1), 101x5 (id 2), 102x10 (id 3); a buy 102x12 takes 5 from 1,
            // 5 from 2 and 2 from 3, each at the maker's price.
            let ops = parse(
                "A 1 S 101 5 GTC\nA 2 S 101 5 GTC\nA 3 S 102 10 GTC\nA 4 B 102 12 GTC\n\
                 X 1\nR 3 102 4\nM 5 B 10\nX 3\nA 6 B 1 1 FOK\n",
            )
            .unwrap();
            let totals = run(&ops);
            // Fills: (5 @ 101, 1, 4), (5 @ 101, 2, 4), (2 @ 102, 3, 4), then R 3 keeps 4 open
            // at 102 with priority, the market buys those 4 from 3; X 1 and X 3 are
            // rejected (gone), and the FOK has nothing to fill against.
            assert_eq!(totals.trades, 4);
            assert_eq!(totals.traded_qty, 16);
            assert_eq!(totals.rejects, 3);
            let term =
                |qty: u64, price: u64, maker: u64, taker: u64| qty * price + 31 * maker + taker;
            let expected = term(5, 101, 1, 4)
                + 2 * term(5, 101, 2, 4)
                + 3 * term(2, 102, 3, 4)
                + 4 * term(4, 102, 3, 5);
            assert_eq!(totals.checksum, expected);
        }
    }
}

pub mod generate {
    //! Seeded order-flow generators. Each keeps a [`NaiveBook`] of what it wrote, so cancels
    //! and replaces mostly name live orders and the resting count stays near its target.
    //!
    //! - `mixed`: about 4,000 resting orders (a prefill phase first) around a random-walking
    //!   mid; then about 50 % adds (10 % of them crossing; 90 % GTC, 5 % IOC, 5 % FOK),
    //!   35 % cancels (95 % of a live order), 10 % replaces, 5 % market orders. The add and
    //!   cancel shares move by 3 points to steer the resting count back to its target.
    //! - `deep`: the same around 100,000 resting orders over a wider band.
    //! - `addcancel`: about 50 % non-crossing GTC adds and 50 % cancels only (no trades).
    //!
    //! `count` is the total number of lines, prefill included.

    use std::io::Write;

    use arbiter_engine::Side;

    use crate::flow::{FlowOp, FlowTif};
    use crate::naive::NaiveBook;
    use crate::rng::SplitMix64;

    /// Which workload.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum FlowKind {
        /// A few thousand resting orders, all command types.
        Mixed,
        /// 100,000 resting orders, all command types.
        Deep,
        /// Adds and cancels only, never crossing.
        AddCancel,
    }

    impl FlowKind {
        /// The name used on the command line and in file headers.
        #[must_use]
        pub const fn name(self) -> &'static str {
            match self {
                FlowKind::Mixed => "mixed",
                FlowKind::Deep => "deep",
                FlowKind::AddCancel => "addcancel",
            }
        }

        /// Resting orders the flow keeps near.
        #[must_use]
        pub const fn resting_target(self) -> usize {
            match self {
                FlowKind::Mixed | FlowKind::AddCancel => 4_000,
                FlowKind::Deep => 100_000,
            }
        }

        /// Passive orders are placed up to this many ticks behind the mid.
        const fn band_ticks(self) -> u64 {
            match self {
                FlowKind::Mixed | FlowKind::AddCancel => 200,
                FlowKind::Deep => 2_000,
            }
        }
    }

    const MID_START_TICKS: i64 = 100_000;
    const MID_MIN_TICKS: i64 = 10_000;
    const PASSIVE_QTY_MAX: u64 = 100;
    const MARKET_QTY_MAX: u64 = 150;
    /// Tries to find a live order among the remembered ids before naming a gone one.
    const PICK_TRIES_MAX: usize = 8;

    struct Generator {
        kind: FlowKind,
        rng: SplitMix64,
        book: NaiveBook,
        mid_ticks: i64,
        next_order_id: u64,
        /// Ids that rested at some point; the dead ones are dropped when picked.
        remembered: Vec<u64>,
    }

    impl Generator {
        fn new_order_id(&mut self) -> u64 {
            let order_id = self.next_order_id;
            self.next_order_id += 1;
            order_id
        }

        fn side(&mut self) -> Side {
            if self.rng.below(2) == 0 {
                Side::Buy
            } else {
                Side::Sell
            }
        }

        /// Behind the mid by 1 + the smaller of two uniform draws (denser near the top), and
        /// never crossing the opposite best when `strict`.
        fn passive_price(&mut self, side: Side, strict: bool) -> i64 {
            let band = self.kind.band_ticks();
            let offset = self.rng.below(band).min(self.rng.below(band));
            let offset = i64::try_from(offset).expect("small band") + 1;
            match side {
                Side::Buy => {
                    let mut price = self.mid_ticks - offset;
                    if strict {
                        if let Some(ask) = self.book.best(Side::Sell) {
                            price = price.min(ask - 1);
                        }
                    }
                    price.max(1)
                }
                Side::Sell => {
                    let mut price = self.mid_ticks + offset;
                    if strict {
                        if let Some(bid) = self.book.best(Side::Buy) {
                            price = price.max(bid + 1);
                        }
                    }
                    price
                }
            }
        }

        /// At or through the mid by up to 3 ticks.
        fn crossing_price(&mut self, side: Side) -> i64 {
            let through = i64::try_from(self.rng.below(4)).expect("small");
            match side {
                Side::Buy => self.mid_ticks + through,
                Side::Sell => (self.mid_ticks - through).max(1),
            }
        }

        fn walk_mid(&mut self) {
            if self.rng.chance_per_mille(125) {
                if self.rng.below(2) == 0 {
                    self.mid_ticks += 1;
                } else {
                    self.mid_ticks = (self.mid_ticks - 1).max(MID_MIN_TICKS);
                }
            }
        }

        /// A live order id if one is found quickly, else a gone one (a counted reject).
        fn pick_remembered(&mut self) -> u64 {
            for _ in 0..PICK_TRIES_MAX {
                if self.remembered.is_empty() {
                    break;
                }
                let index = usize::try_from(
                    self.rng
                        .below(u64::try_from(self.remembered.len()).expect("fits")),
                )
                .expect("fits");
                let order_id = self.remembered[index];
                if self.book.is_live(order_id) {
                    return order_id;
                }
                self.remembered.swap_remove(index);
            }
            self.any_used_id()
        }

        /// Any id handed out so far (or 1): live, filled, cancelled or a market order's.
        fn any_used_id(&mut self) -> u64 {
            self.rng.between(1, (self.next_order_id - 1).max(1))
        }

        fn add(&mut self, side: Side, price_ticks: i64, qty: u64, tif: FlowTif) -> FlowOp {
            let order_id = self.new_order_id();
            FlowOp::Add {
                order_id,
                side,
                price_ticks,
                qty,
                tif,
            }
        }

        fn passive_add(&mut self, strict: bool) -> FlowOp {
            let side = self.side();
            let price_ticks = self.passive_price(side, strict);
            let qty = self.rng.between(1, PASSIVE_QTY_MAX);
            self.add(side, price_ticks, qty, FlowTif::Gtc)
        }

        fn mixed_add(&mut self) -> FlowOp {
            let side = self.side();
            let qty = self.rng.between(1, PASSIVE_QTY_MAX);
            let roll = self.rng.below(100);
            if roll < 5 {
                let price_ticks = self.crossing_price(side);
                self.add(side, price_ticks, qty, FlowTif::Ioc)
            } else if roll < 10 {
                let price_ticks = self.crossing_price(side);
                self.add(side, price_ticks, qty, FlowTif::Fok)
            } else if roll < 20 {
                let price_ticks = self.crossing_price(side);
                self.add(side, price_ticks, qty, FlowTif::Gtc)
            } else {
                let price_ticks = self.passive_price(side, false);
                self.add(side, price_ticks, qty, FlowTif::Gtc)
            }
        }

        fn cancel(&mut self) -> FlowOp {
            let order_id = if self.rng.chance_per_mille(950) {
                self.pick_remembered()
            } else {
                self.any_used_id()
            };
            FlowOp::Cancel { order_id }
        }

        fn replace(&mut self) -> FlowOp {
            let order_id = self.pick_remembered();
            let Some((side, price_ticks, open_qty)) = self.book.resting(order_id) else {
                // Gone: a counted reject.
                let price_ticks = self.mid_ticks;
                return FlowOp::Replace {
                    order_id,
                    price_ticks,
                    open_qty: 1,
                };
            };
            let roll = self.rng.below(100);
            if roll < 40 && open_qty > 1 {
                // Same price, smaller: keeps priority.
                let open_qty = self.rng.between(1, open_qty - 1);
                FlowOp::Replace {
                    order_id,
                    price_ticks,
                    open_qty,
                }
            } else if roll < 80 {
                // New price on the same side (may cross after the mid moved).
                let price_ticks = self.passive_price(side, false);
                let open_qty = self.rng.between(1, PASSIVE_QTY_MAX);
                FlowOp::Replace {
                    order_id,
                    price_ticks,
                    open_qty,
                }
            } else {
                // Same price, larger: loses priority.
                let open_qty = open_qty + self.rng.between(1, 50);
                FlowOp::Replace {
                    order_id,
                    price_ticks,
                    open_qty,
                }
            }
        }

        fn market(&mut self) -> FlowOp {
            let order_id = self.new_order_id();
            let side = self.side();
            let qty = self.rng.between(1, MARKET_QTY_MAX);
            FlowOp::Market {
                order_id,
                side,
                qty,
            }
        }

        /// Per-mille shares (add, cancel, replace) nudged by 3 points toward the target.
        fn shares(&self, add: u64, cancel: u64) -> (u64, u64) {
            let live = self.book.live_count();
            let target = self.kind.resting_target();
            if live > target {
                (add - 30, cancel + 30)
            } else if live < target {
                (add + 30, cancel - 30)
            } else {
                (add, cancel)
            }
        }

        fn steady_op(&mut self) -> FlowOp {
            self.walk_mid();
            let roll = self.rng.below(1000);
            match self.kind {
                FlowKind::AddCancel => {
                    let (add, _) = self.shares(500, 500);
                    if roll < add {
                        self.passive_add(true)
                    } else {
                        self.cancel()
                    }
                }
                FlowKind::Mixed | FlowKind::Deep => {
                    let (add, cancel) = self.shares(500, 350);
                    if roll < add {
                        self.mixed_add()
                    } else if roll < add + cancel {
                        self.cancel()
                    } else if roll < 950 {
                        self.replace()
                    } else {
                        self.market()
                    }
                }
            }
        }

        fn emit(&mut self, op: FlowOp) -> FlowOp {
            self.book.apply(&op);
            if let FlowOp::Add { order_id, .. } = op {
                if self.book.is_live(order_id) {
                    self.remembered.push(order_id);
                }
            }
            op
        }
    }

    /// Generates `count` lines of the given kind; the same arguments give the same flow.
    #[must_use]
    pub fn generate(kind: FlowKind, count: u64, seed: u64) -> Vec<FlowOp> {
        generate_with_book(kind, count, seed).0
    }

    /// [`generate`], also returning the naive book after the whole flow (its totals are the
    /// flow's expected trades, traded quantity, rejects and checksum).
    #[must_use]
    pub fn generate_with_book(kind: FlowKind, count: u64, seed: u64) -> (Vec<FlowOp>, NaiveBook) {
        let mut generator = Generator {
            kind,
            // Mix the kind in, so kinds with one seed are not correlated.
            rng: SplitMix64::new(seed ^ (kind as u64).wrapping_mul(0xA076_1D64_78BD_642F)),
            book: NaiveBook::new(),
            mid_ticks: MID_START_TICKS,
            next_order_id: 1,
            remembered: Vec::new(),
        };
        let capacity = usize::try_from(count).unwrap_or(usize::MAX).min(1 << 26);
        let mut ops = Vec::with_capacity(capacity);
        let prefill = count.min(kind.resting_target() as u64);
        for _ in 0..prefill {
            let op = generator.passive_add(true);
            ops.push(generator.emit(op));
        }
        for _ in prefill..count {
            let op = generator.steady_op();
            ops.push(generator.emit(op));
        }
        (ops, generator.book)
    }

    /// Writes a flow, one line per op, after a `#` header line.
    ///
    /// # Errors
    /// Any write error.
    pub fn write_flow<W: Write>(ops: &[FlowOp], header: &str, out: W) -> std::io::Result<()> {
        let mut out = std::io::BufWriter::with_capacity(1 << 20, out);
        writeln!(out, "# {header}")?;
        for op in ops {
            writeln!(out, "{op}")?;
        }
        out.flush()
    }

    #[cfg(test)]
    mod tests {
        use super::{generate, FlowKind};
        use crate::flow::FlowOp;

        #[test]
        fn deterministic_and_shaped() {
            for kind in [FlowKind::Mixed, FlowKind::AddCancel] {
                let first = generate(kind, 20_000, 5);
                assert_eq!(first, generate(kind, 20_000, 5));
                assert_ne!(first, generate(kind, 20_000, 6));
                assert_eq!(first.len(), 20_000);
                let steady = &first[4_000..];
                let adds = steady
                    .iter()
                    .filter(|op| matches!(op, FlowOp::Add { .. }))
                    .count();
                let cancels = steady
                    .iter()
                    .filter(|op| matches!(op, FlowOp::Cancel { .. }))
                    .count();
                let share = |n: usize| n * 100 / steady.len();
                match kind {
                    FlowKind::AddCancel => {
                        assert_eq!(adds + cancels, steady.len());
                        assert!((45..=55).contains(&share(adds)), "{}", share(adds));
                    }
                    _ => {
                        assert!((45..=55).contains(&share(adds)), "{}", share(adds));
                        assert!((30..=40).contains(&share(cancels)), "{}", share(cancels));
                    }
                }
            }
        }
    }
}
