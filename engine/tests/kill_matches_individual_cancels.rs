//! A kill switch (any scope, bulk or batched path inside the engine) must be observably the
//! same as cancelling each order in scope one by one: the same cancels in the same order with
//! the same quantities, then the same books, exposure figures and, for the non-latching cancel
//! on disconnect, the same events for every later command and the same digest.

use std::collections::HashMap;

use arbiter_engine::*;

const OPERATOR: OperatorId = OperatorId(1);
const INSTRUMENTS: u32 = 3;
const ACCOUNTS: u32 = 4;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn engine() -> Engine {
    let registry = InstrumentRegistry::new(
        (0..INSTRUMENTS)
            .map(|i| Instrument::simple(i, &format!("I{i}")))
            .collect(),
    )
    .unwrap();
    let config = EngineConfig {
        orders_max: 512,
        levels_per_side_max: 16,
        accounts_max: ACCOUNTS,
        strategies_max: ACCOUNTS,
        sessions_max: ACCOUNTS,
        ..EngineConfig::default()
    };
    let risk = RiskConfig {
        firms_max: 2,
        account_firms: vec![(AccountId(1), FirmId(1)), (AccountId(3), FirmId(1))],
        operators: vec![Operator {
            id: OPERATOR,
            role: OperatorRole::RiskManager,
        }],
        ..RiskConfig::default()
    };
    Engine::with_risk(config, registry, &risk)
}

/// Random commands: mostly limit orders (icebergs, stops, GTD and DAY among them, some
/// crossing), cancels and replaces. `one_owner` puts every order in account, strategy and
/// session 0, so that a kill of that scope covers every live order.
fn commands(rng: &mut Rng, count: u32, first_id: &mut u64, one_owner: bool) -> Vec<CommandKind> {
    let mut out = Vec::new();
    let mut ids: Vec<(u64, u32)> = Vec::new();
    for _ in 0..count {
        let roll = rng.below(10);
        if roll < 7 || ids.is_empty() {
            *first_id += 1;
            let account = if one_owner {
                0
            } else {
                rng.below(u64::from(ACCOUNTS)) as u32
            };
            let owner = |rng: &mut Rng| {
                if one_owner {
                    0
                } else {
                    rng.below(u64::from(ACCOUNTS)) as u32
                }
            };
            let side = if rng.below(2) == 0 {
                Side::Buy
            } else {
                Side::Sell
            };
            let price = 95 + rng.below(11) as i64;
            let qty = 1 + rng.below(20);
            let mut order = NewOrder {
                order_id: OrderId(*first_id),
                instrument: InstrumentId(rng.below(u64::from(INSTRUMENTS)) as u32),
                account: AccountId(account),
                strategy: StrategyId(owner(rng)),
                session: SessionId(owner(rng)),
                side,
                price: Price(price),
                qty: Qty(qty),
                tif: [TimeInForce::Gtc, TimeInForce::Day, TimeInForce::Gtd][rng.below(3) as usize],
                expire_time: TimestampNs(u64::MAX / 2),
                ..NewOrder::default()
            };
            match rng.below(8) {
                0 => {
                    order.ord_type = OrdType::Stop;
                    order.stop_price = Price(95 + rng.below(11) as i64);
                }
                1 => {
                    order.ord_type = OrdType::StopLimit;
                    order.stop_price = Price(95 + rng.below(11) as i64);
                }
                2 => order.display_qty = Qty(1 + rng.below(qty)),
                _ => {}
            }
            ids.push((*first_id, account));
            out.push(CommandKind::NewOrder(order));
        } else {
            let (id, account) = ids[rng.below(ids.len() as u64) as usize];
            if roll < 9 {
                out.push(CommandKind::Cancel(CancelOrder {
                    order_id: OrderId(id),
                    account: AccountId(account),
                    ..CancelOrder::default()
                }));
            } else {
                out.push(CommandKind::Replace(ReplaceOrder {
                    order_id: OrderId(id),
                    account: AccountId(account),
                    price: Price(95 + rng.below(11) as i64),
                    qty: Qty(1 + rng.below(30)),
                    stop_price: Price(95 + rng.below(11) as i64),
                    ..ReplaceOrder::default()
                }));
            }
        }
    }
    out
}

struct Run {
    engine: Engine,
    seq: u64,
    /// Account of every order id accepted so far.
    owners: HashMap<u64, u32>,
}

impl Run {
    fn new() -> Self {
        Run {
            engine: engine(),
            seq: 0,
            owners: HashMap::new(),
        }
    }

    fn apply(&mut self, kind: CommandKind) -> Vec<Event> {
        self.seq += 1;
        if let CommandKind::NewOrder(o) = kind {
            self.owners.insert(o.order_id.0, o.account.0);
        }
        let mut events = Vec::new();
        self.engine.apply(
            &Command::new(Seq(self.seq), TimestampNs(1_000 + self.seq), kind),
            &mut events,
        );
        events
    }
}

fn cancels(events: &[Event]) -> Vec<(u64, u64)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Cancelled { order_id, qty, .. } => Some((order_id.0, qty.0)),
            _ => None,
        })
        .collect()
}

/// Everything a reader can see of the books and risk figures, other than the kill latch.
fn observable(engine: &Engine) -> Vec<String> {
    let mut out = vec![format!("live={}", engine.live_orders())];
    for i in 0..INSTRUMENTS {
        for side in [Side::Buy, Side::Sell] {
            let orders: Vec<_> = engine.orders_by_priority(InstrumentId(i), side).collect();
            out.push(format!("{i} {side:?} {orders:?}"));
            out.push(format!("{:?}", engine.depth(InstrumentId(i), side, 100)));
        }
    }
    let scopes = (0..2)
        .map(|f| RiskScope::Firm(FirmId(f)))
        .chain((0..ACCOUNTS).map(|a| RiskScope::Account(AccountId(a))))
        .chain((0..ACCOUNTS).map(|s| RiskScope::Strategy(StrategyId(s))));
    for scope in scopes {
        let positions: Vec<_> = (0..INSTRUMENTS)
            .map(|i| engine.position(scope, InstrumentId(i)))
            .collect();
        out.push(format!(
            "{scope:?} {positions:?} {:?} {:?}",
            engine.open_notional(scope),
            engine.daily_pnl(scope)
        ));
    }
    out
}

/// Whether a cancelled order belongs to the scope (per the ids seen in the commands).
fn check_kill(seed: u64, scope: KillScope, one_owner: bool) {
    let mut rng = Rng(seed);
    let mut next_id = 0;
    let setup = commands(&mut rng, 300, &mut next_id, one_owner);
    let later = commands(&mut rng, 300, &mut next_id, one_owner);
    let mut killed = Run::new();
    let mut reference = Run::new();
    for &kind in &setup {
        assert_eq!(killed.apply(kind), reference.apply(kind));
    }
    let gateway = matches!(scope, KillScope::Session(_)) && (seed >> 7) % 2 == 0;
    let kill = if gateway {
        let KillScope::Session(session) = scope else {
            unreachable!()
        };
        RiskCommand::CancelOnDisconnect { session }
    } else {
        RiskCommand::Kill {
            operator: OPERATOR,
            scope,
            reason: KillReason::Drill,
        }
    };
    let live_before = killed.engine.live_orders();
    let kill_events = killed.apply(CommandKind::Risk(kill));
    let expected_reason = if gateway {
        CancelReason::CancelOnDisconnect
    } else {
        CancelReason::KillSwitch
    };
    assert!(kill_events[1..].iter().all(|e| matches!(
        e,
        Event::Cancelled { reason, .. } if *reason == expected_reason
    )));
    let killed_cancels = cancels(&kill_events);
    if scope == KillScope::Global {
        assert_eq!(killed_cancels.len() as u32, live_before);
    }
    // The reference cancels the same orders one at a time, in the order the kill reported.
    for &(id, qty) in &killed_cancels {
        let account = reference.owners[&id];
        let events = reference.apply(CommandKind::Cancel(CancelOrder {
            order_id: OrderId(id),
            account: AccountId(account),
            ..CancelOrder::default()
        }));
        assert_eq!(cancels(&events), vec![(id, qty)], "seed {seed} {scope:?}");
    }
    assert_eq!(
        observable(&killed.engine),
        observable(&reference.engine),
        "seed {seed} {scope:?}"
    );
    // Nothing of the scope is left: a second kill finds no order.
    let mut probe = Run {
        engine: killed.engine,
        seq: killed.seq,
        owners: killed.owners,
    };
    let again = probe.apply(CommandKind::Risk(RiskCommand::Kill {
        operator: OPERATOR,
        scope,
        reason: KillReason::Drill,
    }));
    assert!(cancels(&again).is_empty(), "seed {seed} {scope:?}");
    if gateway {
        // Without the second kill: replay both from scratch to compare later commands.
        let mut rng = Rng(seed);
        let mut next_id = 0;
        let setup = commands(&mut rng, 300, &mut next_id, one_owner);
        let mut killed = Run::new();
        let mut reference = Run::new();
        for &kind in &setup {
            killed.apply(kind);
            reference.apply(kind);
        }
        let events = killed.apply(CommandKind::Risk(kill));
        for (id, _) in cancels(&events) {
            let account = reference.owners[&id];
            reference.apply(CommandKind::Cancel(CancelOrder {
                order_id: OrderId(id),
                account: AccountId(account),
                ..CancelOrder::default()
            }));
        }
        for &kind in &later {
            assert_eq!(
                killed.apply(kind),
                reference.apply(kind),
                "seed {seed} {scope:?}"
            );
        }
        assert_eq!(killed.engine.digest(), reference.engine.digest());
    }
}

#[test]
fn every_scope_and_path() {
    for seed in 1..=40u64 {
        let seed = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let scopes = [
            KillScope::Global,
            KillScope::Instrument(InstrumentId(1)),
            KillScope::Account(AccountId(2)),
            KillScope::Strategy(StrategyId(1)),
            KillScope::Session(SessionId(3)),
        ];
        for scope in scopes {
            check_kill(seed, scope, false);
        }
        // Scopes holding every live order (the bulk path).
        for scope in [
            KillScope::Account(AccountId(0)),
            KillScope::Strategy(StrategyId(0)),
            KillScope::Session(SessionId(0)),
            KillScope::Instrument(InstrumentId(0)),
        ] {
            check_kill(seed, scope, true);
        }
    }
}
