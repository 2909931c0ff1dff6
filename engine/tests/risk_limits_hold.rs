//! Under random orders, cancels, limit changes, reference prices and fills, no order the
//! engine accepts breaches a limit that was in force when it was accepted.
//!
//! The checker below is independent of the engine's risk code: it rebuilds positions, open
//! quantities, open notional, P&L and the limits in force from the commands it sent and the
//! events it got back, and re-checks each `Accepted` against them.

use std::collections::HashMap;

use arbiter_engine::*;
use proptest::prelude::*;

const INSTRUMENTS: u32 = 2;
const ACCOUNTS: u32 = 3;
const STRATEGIES: u32 = 4;
const OPERATOR: OperatorId = OperatorId(1);

#[derive(Clone, Debug)]
enum Op {
    New {
        instrument: u32,
        account: u32,
        strategy: u32,
        buy: bool,
        market: bool,
        ioc: bool,
        price: i64,
        qty: u64,
    },
    Cancel {
        pick: usize,
    },
    Limit {
        scope: u8,
        id: u32,
        instrument: Option<u32>,
        kind: u8,
        value: u64,
    },
    Reference {
        instrument: u32,
        price: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..INSTRUMENTS, 0..ACCOUNTS, 0..STRATEGIES, any::<bool>(), prop::bool::weighted(0.1),
              prop::bool::weighted(0.2), 90i64..=110, 1u64..=30)
            .prop_map(|(instrument, account, strategy, buy, market, ioc, price, qty)| Op::New {
                instrument, account, strategy, buy, market, ioc, price, qty }),
        2 => any::<usize>().prop_map(|pick| Op::Cancel { pick }),
        2 => (0u8..4, 0u32..4, prop::option::weighted(0.3, 0..INSTRUMENTS),
              prop::sample::select(vec![1u8, 2, 3, 5, 6, 7, 8]),
              prop::sample::select(vec![0u64, 5, 20, 40, 60, 100, 500, 2_000, 5_000, NO_LIMIT]))
            .prop_map(|(scope, id, instrument, kind, value)| Op::Limit { scope, id, instrument, kind, value }),
        1 => (0..INSTRUMENTS, prop::sample::select(vec![0i64, 95, 100, 105]))
            .prop_map(|(instrument, price)| Op::Reference { instrument, price }),
    ]
}

fn firm_of(account: u32) -> u32 {
    account % 2
}

#[derive(Clone, Copy, Debug)]
struct Live {
    instrument: u32,
    account: u32,
    strategy: u32,
    buy: bool,
    /// Price its notional is counted at (limit price, or the reference for a market order).
    price: i64,
    leaves: u64,
}

/// Scope key: (level, id) with level 0 global, 1 firm, 2 account, 3 strategy.
type Key = (u8, u32);

#[derive(Default)]
struct Checker {
    /// (level, id, instrument or None, kind) → value.
    limits: HashMap<(u8, u32, Option<u32>, u8), u64>,
    live: HashMap<u64, Live>,
    /// (key, instrument) → (position, cash).
    books: HashMap<(Key, u32), (i128, i128)>,
    reference: [i64; INSTRUMENTS as usize],
    last: [i64; INSTRUMENTS as usize],
    breached: std::collections::HashSet<Key>,
}

impl Checker {
    fn limit(&self, key: Key, instrument: u32, kind: u8) -> Option<u64> {
        let a = self.limits.get(&(key.0, key.1, None, kind)).copied();
        let b = self
            .limits
            .get(&(key.0, key.1, Some(instrument), kind))
            .copied();
        match (a, b) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        }
        .filter(|&v| v != NO_LIMIT)
    }

    fn keys(account: u32, strategy: u32) -> [Key; 3] {
        [(3, strategy), (2, account), (1, firm_of(account))]
    }

    fn reference(&self, instrument: u32) -> Option<i64> {
        let r = self.reference[instrument as usize];
        let p = if r != 0 {
            r
        } else {
            self.last[instrument as usize]
        };
        (p != 0).then_some(p)
    }

    fn pnl(&self, key: Key) -> i128 {
        (0..INSTRUMENTS)
            .map(|i| {
                let (position, cash) = self.books.get(&(key, i)).copied().unwrap_or((0, 0));
                cash + position * i128::from(self.last[i as usize])
            })
            .sum()
    }

    /// Checks an accepted new order against the state before the command.
    fn verify(&self, o: &Live, qty: u64, market: bool, limit_price: i64) -> Result<(), String> {
        let all = [
            (0u8, 0u32),
            (1, firm_of(o.account)),
            (2, o.account),
            (3, o.strategy),
        ];
        let tightest = |kind: u8| {
            all.iter()
                .filter_map(|&k| self.limit(k, o.instrument, kind))
                .min()
        };
        if let Some(max) = tightest(1) {
            if qty > max {
                return Err(format!("qty {qty} > max {max}"));
            }
        }
        let notional = if market {
            self.reference(o.instrument)
                .map(|p| i128::from(p) * i128::from(qty))
        } else {
            Some(i128::from(limit_price) * i128::from(qty))
        };
        if let Some(max) = tightest(2) {
            match notional {
                Some(n) if n <= i128::from(max) => {}
                _ => return Err(format!("notional {notional:?} > max {max}")),
            }
        }
        if !market {
            if let (Some(bps), Some(reference)) = (tightest(3), self.reference(o.instrument)) {
                let distance = (i128::from(limit_price) - i128::from(reference)).abs();
                if distance * 10_000 > i128::from(bps) * i128::from(reference) {
                    return Err(format!(
                        "price {limit_price} too far from {reference} ({bps} bps)"
                    ));
                }
            }
        }
        for key in Self::keys(o.account, o.strategy) {
            let (position, _) = self
                .books
                .get(&(key, o.instrument))
                .copied()
                .unwrap_or((0, 0));
            let open: u64 = self
                .live
                .values()
                .filter(|l| {
                    l.instrument == o.instrument
                        && l.buy == o.buy
                        && Self::keys(l.account, l.strategy).contains(&key)
                })
                .map(|l| l.leaves)
                .sum();
            let worst = if o.buy {
                position + i128::from(open) + i128::from(qty)
            } else {
                i128::from(open) + i128::from(qty) - position
            };
            if let Some(max) = self.limit(key, o.instrument, if o.buy { 5 } else { 6 }) {
                if worst > i128::from(max) {
                    return Err(format!("{key:?} worst-case position {worst} > {max}"));
                }
            }
            if let Some(max) = self
                .limits
                .get(&(key.0, key.1, None, 7))
                .copied()
                .filter(|&v| v != NO_LIMIT)
            {
                let open: i128 = self
                    .live
                    .values()
                    .filter(|l| Self::keys(l.account, l.strategy).contains(&key))
                    .map(|l| i128::from(l.price) * i128::from(l.leaves))
                    .sum();
                match notional {
                    Some(n) if open + n <= i128::from(max) => {}
                    _ => {
                        return Err(format!(
                            "{key:?} open notional {open} + {notional:?} > {max}"
                        ))
                    }
                }
            }
            if let Some(max) = self
                .limits
                .get(&(key.0, key.1, None, 8))
                .copied()
                .filter(|&v| v != NO_LIMIT)
            {
                if self.pnl(key) < -i128::from(max) {
                    return Err(format!("{key:?} pnl {} below -{max}", self.pnl(key)));
                }
            }
            if self.breached.contains(&key) {
                return Err(format!("{key:?} breached its daily loss earlier"));
            }
        }
        Ok(())
    }

    fn fill(&mut self, id: u64, price: i64, qty: u64) {
        let live = self.live.get_mut(&id).expect("fill of a live order");
        live.leaves -= qty;
        let l = *live;
        for key in Self::keys(l.account, l.strategy) {
            let entry = self.books.entry((key, l.instrument)).or_default();
            let amount = i128::from(price) * i128::from(qty);
            if l.buy {
                entry.0 += i128::from(qty);
                entry.1 -= amount;
            } else {
                entry.0 -= i128::from(qty);
                entry.1 += amount;
            }
        }
        self.last[l.instrument as usize] = price;
    }
}

fn run(ops: &[Op]) -> Result<u32, TestCaseError> {
    let registry = InstrumentRegistry::new(
        (0..INSTRUMENTS)
            .map(|i| Instrument::simple(i, &format!("I{i}")))
            .collect(),
    )
    .unwrap();
    let config = EngineConfig {
        orders_max: 256,
        levels_per_side_max: 64,
        accounts_max: ACCOUNTS,
        strategies_max: STRATEGIES,
        sessions_max: ACCOUNTS,
        ..EngineConfig::default()
    };
    let risk = RiskConfig {
        firms_max: 2,
        account_firms: (0..ACCOUNTS)
            .map(|a| (AccountId(a), FirmId(firm_of(a))))
            .collect(),
        operators: vec![Operator {
            id: OPERATOR,
            role: OperatorRole::RiskManager,
        }],
        ..RiskConfig::default()
    };
    let mut engine = Engine::with_risk(config, registry, &risk);
    let mut checker = Checker::default();
    let mut events = Vec::new();
    let mut accepted_count = 0;
    let mut next_id = 1u64;
    for (n, op) in ops.iter().enumerate() {
        let seq = n as u64 + 1;
        let kind = match *op {
            Op::New {
                instrument,
                account,
                strategy,
                buy,
                market,
                ioc,
                price,
                qty,
            } => {
                next_id += 1;
                CommandKind::NewOrder(NewOrder {
                    order_id: OrderId(next_id),
                    instrument: InstrumentId(instrument),
                    account: AccountId(account),
                    strategy: StrategyId(strategy),
                    session: SessionId(account),
                    side: if buy { Side::Buy } else { Side::Sell },
                    ord_type: if market {
                        OrdType::Market
                    } else {
                        OrdType::Limit
                    },
                    tif: if ioc {
                        TimeInForce::Ioc
                    } else {
                        TimeInForce::Gtc
                    },
                    price: Price(if market { 0 } else { price }),
                    qty: Qty(qty),
                    ..NewOrder::default()
                })
            }
            Op::Cancel { pick } => {
                if checker.live.is_empty() {
                    continue;
                }
                let mut ids: Vec<_> = checker.live.keys().copied().collect();
                ids.sort_unstable();
                let id = ids[pick % ids.len()];
                CommandKind::Cancel(CancelOrder {
                    order_id: OrderId(id),
                    account: AccountId(checker.live[&id].account),
                    session: SessionId(checker.live[&id].account),
                })
            }
            Op::Limit {
                scope,
                id,
                instrument,
                kind,
                value,
            } => {
                let scope = match scope {
                    0 => RiskScope::Global,
                    1 => RiskScope::Firm(FirmId(id % 2)),
                    2 => RiskScope::Account(AccountId(id % ACCOUNTS)),
                    _ => RiskScope::Strategy(StrategyId(id % STRATEGIES)),
                };
                CommandKind::Risk(RiskCommand::SetLimit {
                    operator: OPERATOR,
                    scope,
                    instrument: instrument.map(InstrumentId),
                    kind: LimitKind::from_u8(kind).unwrap(),
                    value,
                })
            }
            Op::Reference { instrument, price } => {
                CommandKind::Risk(RiskCommand::SetReferencePrice {
                    operator: OPERATOR,
                    instrument: InstrumentId(instrument),
                    price: Price(price),
                })
            }
        };
        let command = Command::new(Seq(seq), TimestampNs(seq * 1_000), kind);
        events.clear();
        engine.apply(&command, &mut events);
        for event in &events {
            match *event {
                Event::Accepted {
                    order_id,
                    qty,
                    price,
                    ..
                } => {
                    let CommandKind::NewOrder(o) = command.kind else {
                        return Err(TestCaseError::fail("Accepted outside a new order"));
                    };
                    let market = o.ord_type == OrdType::Market;
                    let live = Live {
                        instrument: o.instrument.0,
                        account: o.account.0,
                        strategy: o.strategy.0,
                        buy: o.side == Side::Buy,
                        price: if market {
                            checker.reference(o.instrument.0).unwrap_or(0)
                        } else {
                            price.0
                        },
                        leaves: qty.0,
                    };
                    if let Err(message) = checker.verify(&live, qty.0, market, price.0) {
                        return Err(TestCaseError::fail(format!(
                            "#{n} accepted {order_id:?} {o:?} breaching: {message}"
                        )));
                    }
                    checker.live.insert(order_id.0, live);
                    accepted_count += 1;
                }
                Event::Trade(trade) => {
                    checker.fill(trade.maker_order_id.0, trade.price.0, trade.qty.0);
                    checker.fill(trade.taker_order_id.0, trade.price.0, trade.qty.0);
                    if trade.maker_leaves.0 == 0 {
                        checker.live.remove(&trade.maker_order_id.0);
                    }
                    if trade.taker_leaves.0 == 0 {
                        checker.live.remove(&trade.taker_order_id.0);
                    }
                }
                Event::Cancelled { order_id, .. } => {
                    checker.live.remove(&order_id.0);
                }
                Event::Risk(RiskEvent::LimitSet {
                    scope,
                    instrument,
                    kind,
                    value,
                }) => {
                    let (level, id) = match scope {
                        RiskScope::Global => (0, 0),
                        RiskScope::Firm(f) => (1, f.0),
                        RiskScope::Account(a) => (2, a.0),
                        RiskScope::Strategy(s) => (3, s.0),
                        RiskScope::Session(x) => (4, x.0),
                    };
                    checker
                        .limits
                        .insert((level, id, instrument.map(|i| i.0), kind as u8), value);
                }
                Event::Risk(RiskEvent::ReferencePriceSet { instrument, price }) => {
                    checker.reference[instrument.0 as usize] = price.0;
                }
                Event::Risk(RiskEvent::LimitBreached {
                    scope,
                    kind: LimitKind::DailyLoss,
                    ..
                }) => {
                    let key = match scope {
                        RiskScope::Firm(f) => (1, f.0),
                        RiskScope::Account(a) => (2, a.0),
                        RiskScope::Strategy(s) => (3, s.0),
                        _ => continue,
                    };
                    checker.breached.insert(key);
                }
                _ => {}
            }
        }
        // The engine's own figures agree with the checker's.
        for account in 0..ACCOUNTS {
            for instrument in 0..INSTRUMENTS {
                let expected = checker
                    .books
                    .get(&((2, account), instrument))
                    .map_or(0, |b| b.0);
                prop_assert_eq!(
                    i128::from(
                        engine
                            .position(
                                RiskScope::Account(AccountId(account)),
                                InstrumentId(instrument)
                            )
                            .unwrap()
                    ),
                    expected
                );
            }
            let open: i128 = checker
                .live
                .values()
                .filter(|l| l.account == account)
                .map(|l| i128::from(l.price) * i128::from(l.leaves))
                .sum();
            prop_assert_eq!(
                engine
                    .open_notional(RiskScope::Account(AccountId(account)))
                    .unwrap(),
                open
            );
        }
    }
    Ok(accepted_count)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn accepted_orders_never_breach_limits_in_force(ops in prop::collection::vec(op(), 1..160)) {
        run(&ops)?;
    }
}
