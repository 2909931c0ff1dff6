//! Proptest strategies for command sequences that reach every rule of the spec.
//!
//! A sequence is generated as raw `Op`s (small numbers that shrink toward the most common
//! choice) and then resolved, in order, into concrete `Command`s: resolution hands out fresh
//! order ids, picks targets for cancels and replaces among orders sent before, and keeps the
//! timestamps increasing.

use arbiter_engine::{
    AccountId, CancelOrder, Command, CommandKind, EngineConfig, Instrument, InstrumentId,
    InstrumentRegistry, MassCancel, NewOrder, OrdType, OrderId, Phase, Price, Qty, ReplaceOrder,
    Seq, SessionId, Side, StpGroup, StpMode, TimeInForce, TimestampNs,
};
use proptest::prelude::*;

use super::Model;

/// Instrument 0: tick 5, lot 10, narrow band, qty limits, collar of 4 ticks.
pub const STRICT: InstrumentId = InstrumentId(0);
/// Instrument 1: tick 1, lot 1, wide band, no collar.
pub const EASY: InstrumentId = InstrumentId(1);
/// Accounts `0..ACCOUNTS`; `ACCOUNTS` itself is unknown to the engine.
pub const ACCOUNTS: u32 = 4;

/// The two instruments every generated scenario uses.
pub fn registry() -> InstrumentRegistry {
    let strict = Instrument {
        id: STRICT,
        symbol: "STRICT".to_owned(),
        tick_size: Price(5),
        lot_size: Qty(10),
        qty_min: Qty(20),
        qty_max: Qty(500),
        price_min: Price(900),
        price_max: Price(1100),
        market_collar_ticks: 4,
        initial_phase: Phase::Continuous,
    };
    let easy = Instrument::simple(1, "EASY");
    InstrumentRegistry::new(vec![strict, easy]).expect("test registry is valid")
}

/// A roomy configuration.
pub fn config_roomy() -> EngineConfig {
    EngineConfig {
        orders_max: 512,
        levels_per_side_max: 64,
        accounts_max: ACCOUNTS,
        stop_triggers_per_command_max: 8,
        ..EngineConfig::default()
    }
}

/// A tiny configuration that makes `BookFull` and the trigger budget reachable.
pub fn config_small() -> EngineConfig {
    EngineConfig {
        orders_max: 16,
        levels_per_side_max: 4,
        accounts_max: ACCOUNTS,
        stop_triggers_per_command_max: 2,
        ..EngineConfig::default()
    }
}

/// Raw choices for a new order; every field shrinks toward the most common case.
#[derive(Clone, Debug)]
pub struct NewSpec {
    pub instrument: u8,
    pub account: u8,
    pub sell: bool,
    pub ord_type: u8,
    pub tif: u8,
    pub price: u8,
    pub stop: u8,
    pub qty: u8,
    pub display: u8,
    pub post_only: u8,
    pub stp: u8,
    pub group: u8,
    pub expire: u8,
    pub id: u8,
}

/// One raw operation.
#[derive(Clone, Debug)]
pub enum Op {
    New(NewSpec),
    Cancel {
        pick: u8,
        other_account: u8,
    },
    Replace {
        pick: u8,
        other_account: u8,
        price: u8,
        stop: u8,
        qty: u8,
    },
    MassCancel {
        account: u8,
        instrument: u8,
        side: u8,
    },
    Clock {
        dt: u8,
    },
    EndOfDay,
    SetPhase {
        instrument: u8,
        phase: u8,
    },
}

fn new_spec() -> impl Strategy<Value = NewSpec> {
    (
        (
            0u8..20,
            0u8..33,
            any::<bool>(),
            0u8..100,
            0u8..100,
            0u8..100,
            0u8..100,
        ),
        (
            0u8..100,
            0u8..100,
            0u8..100,
            0u8..100,
            0u8..100,
            0u8..100,
            0u8..100,
        ),
    )
        .prop_map(
            |(
                (instrument, account, sell, ord_type, tif, price, stop),
                (qty, display, post_only, stp, group, expire, id),
            )| {
                NewSpec {
                    instrument,
                    account,
                    sell,
                    ord_type,
                    tif,
                    price,
                    stop,
                    qty,
                    display,
                    post_only,
                    stp,
                    group,
                    expire,
                    id,
                }
            },
        )
}

/// One operation, weighted toward new orders.
pub fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        60 => new_spec().prop_map(Op::New),
        10 => (any::<u8>(), 0u8..100).prop_map(|(pick, other_account)| Op::Cancel { pick, other_account }),
        12 => (any::<u8>(), 0u8..100, 0u8..100, 0u8..100, 0u8..100).prop_map(
            |(pick, other_account, price, stop, qty)| Op::Replace { pick, other_account, price, stop, qty }
        ),
        3 => (0u8..=ACCOUNTS as u8, 0u8..4, 0u8..3).prop_map(|(account, instrument, side)| Op::MassCancel {
            account,
            instrument,
            side
        }),
        7 => (0u8..30).prop_map(|dt| Op::Clock { dt }),
        2 => Just(Op::EndOfDay),
        3 => (0u8..3, 0u8..10).prop_map(|(instrument, phase)| Op::SetPhase { instrument, phase }),
    ]
}

/// A generated test case: which configuration, and the raw operations.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub small: bool,
    /// `stop_triggers_per_command_max`: small, so that cascades run out of budget.
    pub trigger_budget: u32,
    pub ops: Vec<Op>,
}

pub fn scenario(len_max: usize) -> impl Strategy<Value = Scenario> {
    (
        prop::bool::weighted(0.3),
        1u32..=4,
        prop::collection::vec(op(), 1..len_max),
    )
        .prop_map(|(small, trigger_budget, ops)| Scenario {
            small,
            trigger_budget,
            ops,
        })
}

impl Scenario {
    pub fn config(&self) -> EngineConfig {
        let config = if self.small {
            config_small()
        } else {
            config_roomy()
        };
        EngineConfig {
            stop_triggers_per_command_max: self.trigger_budget,
            ..config
        }
    }

    pub fn commands(&self) -> Vec<Command> {
        resolve(self.config(), &self.ops)
    }
}

/// What resolution remembers about an order it sent.
#[derive(Clone, Copy, Debug)]
struct Sent {
    id: OrderId,
    account: AccountId,
    instrument: InstrumentId,
    price: i64,
    stop_price: i64,
    qty: u64,
}

fn mid(instrument: InstrumentId) -> (i64, i64) {
    // (mid price, tick)
    if instrument == STRICT {
        (1000, 5)
    } else {
        (100, 1)
    }
}

/// A price near the mid most of the time; sometimes off tick, off band, or not positive.
fn price_near(instrument: InstrumentId, choice: u8) -> i64 {
    let (mid, tick) = mid(instrument);
    match choice {
        0..=90 => mid + (i64::from(choice % 13) - 6) * tick,
        91..=92 => mid + 3, // off tick on STRICT
        93..=94 => 850,     // below STRICT's band
        95 => 1105,         // above STRICT's band
        96 => 0,
        97 => -5,
        _ => mid + (i64::from(choice % 3) + 7) * tick,
    }
}

/// Stop prices cluster tighter than limit prices, so that one trade triggers several.
fn stop_near(instrument: InstrumentId, choice: u8) -> i64 {
    if choice <= 90 {
        let (mid, tick) = mid(instrument);
        mid + (i64::from(choice % 7) - 3) * tick
    } else {
        price_near(instrument, choice)
    }
}

fn qty_of(instrument: InstrumentId, choice: u8) -> u64 {
    let lot: u64 = if instrument == STRICT { 10 } else { 1 };
    match choice {
        0..=92 => lot * (u64::from(choice % 10) + 2),
        93 => 0,
        94 => 15,  // off lot on STRICT
        95 => 10,  // below STRICT's min
        96 => 600, // above STRICT's max
        _ => lot * 30,
    }
}

/// Resolves raw operations into commands.
pub fn resolve(config: EngineConfig, ops: &[Op]) -> Vec<Command> {
    let mut commands = Vec::with_capacity(ops.len());
    let mut sent: Vec<Sent> = Vec::new();
    let mut next_id: u64 = 1;
    let mut now: u64 = 1_000;
    // The model follows along so that cancels and replaces mostly name live orders.
    let mut model = Model::new(config, &registry());
    let pick_sent = |sent: &Vec<Sent>, model: &Model, pick: u8| -> Option<Sent> {
        if pick < 170 && !model.orders.is_empty() {
            let order = &model.orders[pick as usize % model.orders.len()];
            return Some(Sent {
                id: order.id,
                account: order.account,
                instrument: order.instrument,
                price: order.price,
                stop_price: order.stop_price,
                qty: order.qty,
            });
        }
        if sent.is_empty() || pick >= 245 {
            return None;
        }
        // One of the last 12 orders sent, live or not.
        let window = sent.len().min(12);
        Some(sent[sent.len() - 1 - (pick as usize % window)])
    };
    for (index, op) in ops.iter().enumerate() {
        let kind = match op {
            Op::New(spec) => {
                now += 1;
                let instrument = match spec.instrument {
                    0..=8 => STRICT,
                    9..=18 => EASY,
                    _ => InstrumentId(2),
                };
                let account = AccountId(u32::from(spec.account % 33 / 8));
                let ord_type = match spec.ord_type {
                    0..=54 => OrdType::Limit,
                    55..=66 => OrdType::Market,
                    67..=81 => OrdType::Stop,
                    _ => OrdType::StopLimit,
                };
                let tif = match spec.tif {
                    0..=29 => TimeInForce::Gtc,
                    30..=54 => TimeInForce::Day,
                    55..=66 => TimeInForce::Ioc,
                    67..=79 => TimeInForce::Fok,
                    _ => TimeInForce::Gtd,
                };
                let qty = qty_of(instrument, spec.qty);
                let lot = if instrument == STRICT { 10 } else { 1 };
                let display = match spec.display {
                    0..=79 => 0,
                    80..=97 => lot * (u64::from(spec.display % 3) + 1),
                    _ => qty + lot,
                };
                let stp_mode = match spec.stp {
                    0..=39 => StpMode::Off,
                    40..=54 => StpMode::CancelResting,
                    55..=69 => StpMode::CancelAggressor,
                    70..=84 => StpMode::CancelBoth,
                    _ => StpMode::DecrementAndCancel,
                };
                let stp_group = StpGroup(match spec.group {
                    0..=59 => 0,
                    60..=79 => 1,
                    _ => 2,
                });
                let expire_time = now + u64::from(spec.expire % 40);
                let expire_time = if spec.expire >= 95 {
                    now - 1
                } else {
                    expire_time
                };
                let order_id = match spec.id {
                    0..=91 => None,
                    _ => pick_sent(&sent, &model, spec.id.wrapping_mul(37)).map(|s| s.id),
                }
                .unwrap_or_else(|| {
                    next_id += 1;
                    OrderId(next_id)
                });
                let new = NewOrder {
                    order_id,
                    instrument,
                    account,
                    strategy: arbiter_engine::StrategyId(0),
                    session: SessionId(account.0),
                    side: if spec.sell { Side::Sell } else { Side::Buy },
                    ord_type,
                    tif,
                    price: Price(price_near(instrument, spec.price)),
                    stop_price: Price(stop_near(instrument, spec.stop)),
                    qty: Qty(qty),
                    display_qty: Qty(display),
                    post_only: spec.post_only >= 88,
                    stp_mode,
                    stp_group,
                    expire_time: TimestampNs(expire_time),
                    client_ref: order_id.0,
                };
                sent.push(Sent {
                    id: order_id,
                    account,
                    instrument,
                    price: new.price.0,
                    stop_price: new.stop_price.0,
                    qty,
                });
                CommandKind::NewOrder(new)
            }
            Op::Cancel {
                pick,
                other_account,
            } => {
                now += 1;
                let target = pick_sent(&sent, &model, *pick);
                let (order_id, account) = match target {
                    Some(s) => (s.id, s.account),
                    None => (OrderId(999_999), AccountId(0)),
                };
                let account = if *other_account >= 90 {
                    AccountId((account.0 + 1) % ACCOUNTS)
                } else {
                    account
                };
                CommandKind::Cancel(CancelOrder {
                    order_id,
                    account,
                    session: SessionId(account.0),
                })
            }
            Op::Replace {
                pick,
                other_account,
                price,
                stop,
                qty,
            } => {
                now += 1;
                let target = pick_sent(&sent, &model, *pick).unwrap_or(Sent {
                    id: OrderId(999_999),
                    account: AccountId(0),
                    instrument: EASY,
                    price: 100,
                    stop_price: 100,
                    qty: 10,
                });
                let lot: u64 = if target.instrument == STRICT { 10 } else { 1 };
                let new_price = match price {
                    0..=54 => target.price,
                    55..=96 => price_near(target.instrument, price.wrapping_mul(7) % 91),
                    97 => target.price + 1, // off tick on STRICT
                    _ => price_near(target.instrument, 93 + price % 3),
                };
                let new_stop = if *stop < 60 {
                    target.stop_price
                } else {
                    stop_near(target.instrument, stop.wrapping_mul(11))
                };
                let new_qty = match qty {
                    0..=34 => target.qty.saturating_sub(lot * (u64::from(*qty % 3) + 1)),
                    35..=54 => target.qty,
                    55..=89 => target.qty + lot * (u64::from(*qty % 4) + 1),
                    90..=93 => 0,
                    94..=96 => target.qty + 5, // off lot on STRICT
                    _ => qty_of(target.instrument, 95 + qty % 3),
                };
                let account = if *other_account >= 92 {
                    AccountId((target.account.0 + 1) % ACCOUNTS)
                } else {
                    target.account
                };
                if let Some(s) = sent.iter_mut().rev().find(|s| s.id == target.id) {
                    s.price = new_price;
                    s.stop_price = new_stop;
                    s.qty = new_qty.max(lot);
                }
                CommandKind::Replace(ReplaceOrder {
                    order_id: target.id,
                    account,
                    session: SessionId(account.0),
                    price: Price(new_price),
                    stop_price: Price(new_stop),
                    qty: Qty(new_qty),
                    client_ref: 0,
                })
            }
            Op::MassCancel {
                account,
                instrument,
                side,
            } => {
                now += 1;
                CommandKind::MassCancel(MassCancel {
                    account: AccountId(u32::from(*account)),
                    instrument: match instrument {
                        0 | 1 => None,
                        2 => Some(STRICT),
                        _ => Some(EASY),
                    },
                    side: match side {
                        0 => None,
                        1 => Some(Side::Buy),
                        _ => Some(Side::Sell),
                    },
                    session: SessionId(0),
                })
            }
            Op::Clock { dt } => {
                now += u64::from(*dt);
                CommandKind::Clock
            }
            Op::EndOfDay => {
                now += 1;
                CommandKind::EndOfDay
            }
            Op::SetPhase { instrument, phase } => {
                now += 1;
                CommandKind::SetPhase {
                    instrument: InstrumentId(u32::from(*instrument)),
                    phase: match phase {
                        0..=6 => Phase::Continuous,
                        7..=8 => Phase::Halted,
                        _ => Phase::Closed,
                    },
                }
            }
        };
        let command = Command::new(Seq(index as u64 + 1), TimestampNs(now), kind);
        model.apply(&command);
        commands.push(command);
    }
    commands
}
