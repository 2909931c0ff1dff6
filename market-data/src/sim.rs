//! Seeded order flow for a real [`Engine`]: every command kind the book can see (limit with
//! every TIF, market, stop, stop-limit, iceberg, post-only, STP, cancel, replace, mass
//! cancel, cancel-on-disconnect, halts, clock, end of day). Used by the tests and by
//! `arbiter-bench md`; the same seed gives the same flow on every machine.

use arbiter_engine::{
    AccountId, CancelOrder, Command, CommandKind, Engine, EngineConfig, Instrument, InstrumentId,
    InstrumentRegistry, MassCancel, NewOrder, OrdType, OrderId, Phase, Price, Qty, ReplaceOrder,
    RiskCommand, Seq, SessionId, Side, StpMode, TimeInForce, TimestampNs,
};

/// SplitMix64: a tiny seeded generator whose output never changes between versions.
#[derive(Clone, Debug)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Knobs of the flow.
#[derive(Clone, Copy, Debug)]
pub struct FlowConfig {
    /// Instruments (ids `0..instruments`).
    pub instruments: u32,
    /// Accounts (and sessions) orders are spread over.
    pub accounts: u32,
    /// Allow STP `DecrementAndCancel`, whose taker decrement the events do not show.
    pub stp_decrement: bool,
    /// Allow icebergs.
    pub icebergs: bool,
    /// Price levels per side in the engine (small values exercise `BookFull`).
    pub levels_per_side_max: u32,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            instruments: 2,
            accounts: 4,
            stp_decrement: true,
            icebergs: true,
            levels_per_side_max: 24,
        }
    }
}

/// One generated command and the iceberg display size of its new order (zero otherwise),
/// which the events do not carry.
#[derive(Clone, Copy, Debug)]
pub struct SimCommand {
    /// The command.
    pub command: Command,
    /// `display_qty` of a new order; zero for other commands.
    pub display_qty: Qty,
}

/// The flow generator. `words` supplies randomness (a seeded [`SplitMix64`], or a
/// proptest-chosen sequence that shrinks).
#[derive(Debug)]
pub struct Flow<W: FnMut() -> u64> {
    words: W,
    config: FlowConfig,
    seq: u64,
    time: u64,
    next_order: u64,
    /// Issued order ids with their account, newest last (bounded).
    issued: Vec<(OrderId, AccountId)>,
}

/// The engine configuration the flow expects.
#[must_use]
pub fn engine_config(config: &FlowConfig) -> EngineConfig {
    EngineConfig {
        orders_max: 1 << 14,
        levels_per_side_max: config.levels_per_side_max,
        accounts_max: config.accounts,
        stop_triggers_per_command_max: 8,
        strategies_max: 4,
        sessions_max: config.accounts,
    }
}

/// The instruments the flow trades: `Instrument::simple`, one with a market collar.
///
/// # Panics
/// Never for `instruments >= 1`.
#[must_use]
pub fn registry(config: &FlowConfig) -> InstrumentRegistry {
    InstrumentRegistry::new(
        (0..config.instruments)
            .map(|i| {
                let mut instrument = Instrument::simple(i, &format!("SIM{i}"));
                if i % 2 == 1 {
                    instrument.market_collar_ticks = 5;
                }
                instrument
            })
            .collect(),
    )
    .expect("valid instruments")
}

/// A fresh engine for the flow.
#[must_use]
pub fn engine(config: &FlowConfig) -> Engine {
    Engine::new(engine_config(config), registry(config))
}

const MID: i64 = 1000;

impl<W: FnMut() -> u64> Flow<W> {
    /// A flow drawing from `words`.
    pub fn new(config: FlowConfig, words: W) -> Self {
        Flow {
            words,
            config,
            seq: 0,
            time: 1_000,
            next_order: 1,
            issued: Vec::with_capacity(4096),
        }
    }

    fn below(&mut self, bound: u64) -> u64 {
        (self.words)() % bound
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[usize::try_from(self.below(items.len() as u64)).expect("small")]
    }

    fn side(&mut self) -> Side {
        if self.below(2) == 0 {
            Side::Buy
        } else {
            Side::Sell
        }
    }

    fn price(&mut self, side: Side) -> Price {
        // Mostly passive, sometimes crossing by a few ticks.
        let offset = i64::try_from(self.below(16)).expect("small") - 4;
        Price(match side {
            Side::Buy => MID - offset,
            Side::Sell => MID + offset,
        })
    }

    fn stp(&mut self) -> StpMode {
        match self.below(20) {
            0 => StpMode::CancelResting,
            1 => StpMode::CancelAggressor,
            2 => StpMode::CancelBoth,
            3 if self.config.stp_decrement => StpMode::DecrementAndCancel,
            _ => StpMode::Off,
        }
    }

    fn old_order(&mut self) -> Option<(OrderId, AccountId)> {
        if self.issued.is_empty() {
            return None;
        }
        // Favour recent orders: they are more likely alive.
        let len = self.issued.len() as u64;
        let back = self.below(len.min(64));
        Some(self.issued[usize::try_from(len - 1 - back).expect("small")])
    }

    /// The next command, given the engine's current state (replaces need the order's
    /// filled quantity: `ReplaceOrder::qty` is the new total).
    pub fn next_command(&mut self, engine: &Engine) -> SimCommand {
        self.seq += 1;
        self.time += 1 + self.below(3);
        let instrument = InstrumentId(
            u32::try_from(self.below(u64::from(self.config.instruments))).expect("small"),
        );
        let account =
            AccountId(u32::try_from(self.below(u64::from(self.config.accounts))).expect("small"));
        let mut display_qty = Qty(0);
        if engine.phase(instrument) != Some(Phase::Continuous) && self.below(3) == 0 {
            // Halts are short: most commands should meet an open market.
            return SimCommand {
                command: Command::new(
                    Seq(self.seq),
                    TimestampNs(self.time),
                    CommandKind::SetPhase {
                        instrument,
                        phase: Phase::Continuous,
                    },
                ),
                display_qty,
            };
        }
        let roll = self.below(1000);
        let kind = match roll {
            0..=449 => {
                let side = self.side();
                let tif = self.pick(&[
                    TimeInForce::Gtc,
                    TimeInForce::Gtc,
                    TimeInForce::Day,
                    TimeInForce::Ioc,
                    TimeInForce::Fok,
                    TimeInForce::Gtd,
                ]);
                let qty = Qty(1 + self.below(20));
                let resting_tif = !matches!(tif, TimeInForce::Ioc | TimeInForce::Fok);
                if self.config.icebergs && resting_tif && self.below(5) == 0 {
                    display_qty = Qty(1 + self.below(qty.0.min(5)));
                }
                let post_only = resting_tif && self.below(20) == 0;
                let price = self.price(side);
                let stp_mode = self.stp();
                let expire = self.time + 1 + self.below(40);
                self.new_order(
                    instrument,
                    account,
                    side,
                    OrdType::Limit,
                    tif,
                    price,
                    Price(0),
                    qty,
                    display_qty,
                    post_only,
                    stp_mode,
                    expire,
                )
            }
            450..=509 => {
                let side = self.side();
                let qty = Qty(1 + self.below(30));
                let stp_mode = self.stp();
                self.new_order(
                    instrument,
                    account,
                    side,
                    OrdType::Market,
                    TimeInForce::Ioc,
                    Price(0),
                    Price(0),
                    qty,
                    Qty(0),
                    false,
                    stp_mode,
                    0,
                )
            }
            510..=579 => {
                let side = self.side();
                let stop_limit = self.below(2) == 0;
                // Buy stops above the market, sell stops below, so some trigger.
                let distance = i64::try_from(self.below(8)).expect("small") - 2;
                let stop_price = Price(match side {
                    Side::Buy => MID + distance,
                    Side::Sell => MID - distance,
                });
                let (ord_type, price) = if stop_limit {
                    (OrdType::StopLimit, self.price(side))
                } else {
                    (OrdType::Stop, Price(0))
                };
                let tif = self.pick(&[TimeInForce::Gtc, TimeInForce::Day, TimeInForce::Ioc]);
                let qty = Qty(1 + self.below(15));
                let stp_mode = self.stp();
                self.new_order(
                    instrument,
                    account,
                    side,
                    ord_type,
                    tif,
                    price,
                    stop_price,
                    qty,
                    Qty(0),
                    false,
                    stp_mode,
                    0,
                )
            }
            580..=759 => match self.old_order() {
                Some((order_id, owner)) => CommandKind::Cancel(CancelOrder {
                    order_id,
                    account: if self.below(10) == 0 { account } else { owner },
                    session: SessionId(owner.0),
                }),
                None => CommandKind::Clock,
            },
            760..=909 => match self.old_order() {
                Some((order_id, owner)) => {
                    let view = engine.order(order_id);
                    let filled = view.map_or(0, |v| v.filled.0);
                    let side = view.map_or(Side::Buy, |v| v.side);
                    let keep_price = self.below(3) == 0;
                    let price = match view {
                        Some(v) if keep_price => v.price,
                        _ => self.price(side),
                    };
                    let stop_price = match view {
                        Some(v) if keep_price || self.below(2) == 0 => v.stop_price,
                        _ => Price(MID + i64::try_from(self.below(6)).expect("small") - 3),
                    };
                    let leaves = view.map_or(5, |v| v.leaves.0);
                    let new_leaves = match self.below(4) {
                        0 => leaves.saturating_sub(1 + self.below(3)),
                        1 => leaves + 1 + self.below(5),
                        _ => 1 + self.below(20),
                    };
                    CommandKind::Replace(ReplaceOrder {
                        order_id,
                        account: owner,
                        session: SessionId(owner.0),
                        price,
                        stop_price,
                        qty: Qty(filled + new_leaves),
                        client_ref: self.seq,
                    })
                }
                None => CommandKind::Clock,
            },
            910..=934 => CommandKind::MassCancel(MassCancel {
                account,
                instrument: (self.below(2) == 0).then_some(instrument),
                side: (self.below(3) == 0).then(|| self.side()),
                session: SessionId(account.0),
            }),
            935..=944 => CommandKind::Risk(RiskCommand::CancelOnDisconnect {
                session: SessionId(account.0),
            }),
            945..=964 => {
                let phase = match engine.phase(instrument) {
                    Some(Phase::Continuous) => {
                        if self.below(4) == 0 {
                            Phase::Closed
                        } else {
                            Phase::Halted
                        }
                    }
                    _ => Phase::Continuous,
                };
                CommandKind::SetPhase { instrument, phase }
            }
            965..=996 => {
                self.time += self.below(20);
                CommandKind::Clock
            }
            _ => CommandKind::EndOfDay,
        };
        SimCommand {
            command: Command::new(Seq(self.seq), TimestampNs(self.time), kind),
            display_qty,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn new_order(
        &mut self,
        instrument: InstrumentId,
        account: AccountId,
        side: Side,
        ord_type: OrdType,
        tif: TimeInForce,
        price: Price,
        stop_price: Price,
        qty: Qty,
        display_qty: Qty,
        post_only: bool,
        stp_mode: StpMode,
        expire: u64,
    ) -> CommandKind {
        let order_id = OrderId(self.next_order);
        self.next_order += 1;
        if self.issued.len() == self.issued.capacity() {
            self.issued.drain(..self.issued.len() / 2);
        }
        self.issued.push((order_id, account));
        CommandKind::NewOrder(NewOrder {
            order_id,
            instrument,
            account,
            session: SessionId(account.0),
            side,
            ord_type,
            tif,
            price,
            stop_price,
            qty,
            display_qty,
            post_only,
            stp_mode,
            expire_time: TimestampNs(if tif == TimeInForce::Gtd { expire } else { 0 }),
            client_ref: order_id.0,
            ..NewOrder::default()
        })
    }
}
