//! Criterion benchmarks for pre-trade risk: the added cost of every risk check on the order
//! path. Both benches send the same flow (a non-crossing IOC limit order: accepted, then its
//! remainder cancelled, so the book stays the same size), to an engine without limits
//! (`no_checks`) and to one with a limit of every kind at every scope, a reference price,
//! restrictions and the duplicate-ClOrdID set (`all_checks`).
use std::time::{Duration, Instant};

use arbiter_engine::{
    AccountId, Command, CommandKind, Engine, EngineConfig, Event, EventSink, FirmId, Instrument,
    InstrumentId, InstrumentRegistry, LimitKind, LimitSetting, NewOrder, OrderId, Price, Qty,
    RiskConfig, RiskScope, Seq, SessionId, Side, StrategyId, TimeInForce, TimestampNs,
};
use criterion::{black_box, criterion_group, criterion_main, Criterion};

const INSTRUMENTS: u32 = 4;
const ACCOUNTS: u32 = 8;
/// ClOrdIDs a session may send per day in the bench; an end of day (untimed) clears them.
const CLIENT_REFS: u32 = 1 << 14;

#[derive(Default)]
struct Sink {
    accepted: u64,
}

impl EventSink for Sink {
    #[inline]
    fn emit(&mut self, event: Event) {
        if matches!(event, Event::Accepted { .. }) {
            self.accepted += 1;
        }
    }
}

fn engine(checks: bool) -> Engine {
    let registry = InstrumentRegistry::new(
        (0..INSTRUMENTS)
            .map(|i| Instrument::simple(i, &format!("I{i}")))
            .collect(),
    )
    .unwrap();
    let config = EngineConfig {
        orders_max: 1 << 12,
        levels_per_side_max: 256,
        accounts_max: ACCOUNTS,
        strategies_max: ACCOUNTS,
        sessions_max: ACCOUNTS,
        ..EngineConfig::default()
    };
    let mut risk = RiskConfig {
        firms_max: 2,
        account_firms: (0..ACCOUNTS)
            .map(|a| (AccountId(a), FirmId(a % 2)))
            .collect(),
        ..RiskConfig::default()
    };
    if checks {
        risk.client_refs_per_session_max = CLIENT_REFS;
        risk.velocity_window_ns = 1_000_000;
        risk.restricted = vec![(AccountId(ACCOUNTS - 1), InstrumentId(0))];
        let big = 1u64 << 40;
        let scopes = [
            RiskScope::Global,
            RiskScope::Firm(FirmId(0)),
            RiskScope::Firm(FirmId(1)),
        ]
        .into_iter()
        .chain((0..ACCOUNTS).map(|a| RiskScope::Account(AccountId(a))))
        .chain((0..ACCOUNTS).map(|s| RiskScope::Strategy(StrategyId(s))))
        .chain((0..ACCOUNTS).map(|x| RiskScope::Session(SessionId(x))));
        for scope in scopes {
            for kind in LimitKind::ALL {
                let value = match kind {
                    LimitKind::OrdersPerWindow | LimitKind::MessagesPerWindow => 60,
                    LimitKind::PriceDeviationBps => 500,
                    LimitKind::PriceDeviationTicks => 100,
                    _ => big,
                };
                if kind.applies_to(scope, false) {
                    risk.limits.push(LimitSetting {
                        scope,
                        instrument: None,
                        kind,
                        value,
                    });
                }
            }
        }
        // Per-instrument rows too, so the hash lookups are on the path.
        for a in 0..ACCOUNTS {
            risk.limits.push(LimitSetting {
                scope: RiskScope::Account(AccountId(a)),
                instrument: Some(InstrumentId(a % INSTRUMENTS)),
                kind: LimitKind::MaxOrderQty,
                value: big,
            });
        }
    }
    let mut engine = Engine::with_risk(config, registry, &risk);
    // Resting liquidity on both sides, and a last price (the deviation reference).
    let mut sink = Sink::default();
    let mut seq = 0;
    for instrument in 0..INSTRUMENTS {
        for (n, (side, price)) in [
            (Side::Sell, 1_000),
            (Side::Buy, 1_000),
            (Side::Buy, 990),
            (Side::Sell, 1_010),
        ]
        .into_iter()
        .enumerate()
        {
            seq += 1;
            let order = NewOrder {
                order_id: OrderId((1 << 60) + seq),
                instrument: InstrumentId(instrument),
                account: AccountId(n as u32 % 2),
                side,
                price: Price(price),
                qty: Qty(if price == 1_000 { 1 } else { 1_000_000 }),
                tif: TimeInForce::Gtc,
                ..NewOrder::default()
            };
            engine.apply(
                &Command::new(Seq(seq), TimestampNs(seq), CommandKind::NewOrder(order)),
                &mut sink,
            );
        }
    }
    engine
}

/// Sends `iters` non-crossing IOC orders, timing only them (end of day, every
/// `CLIENT_REFS` orders per session, is not timed).
fn flow(engine: &mut Engine, iters: u64, clock: &mut u64, ids: &mut u64) -> Duration {
    let mut sink = Sink::default();
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let batch = (iters - done).min(u64::from(CLIENT_REFS));
        let start = Instant::now();
        for _ in 0..batch {
            *ids += 1;
            *clock += 20_000;
            let n = *ids;
            let account = (n % u64::from(ACCOUNTS - 1)) as u32;
            let buy = n % 2 == 0;
            let order = NewOrder {
                order_id: OrderId(n),
                instrument: InstrumentId((n % u64::from(INSTRUMENTS)) as u32),
                account: AccountId(account),
                strategy: StrategyId(account),
                session: SessionId(account),
                side: if buy { Side::Buy } else { Side::Sell },
                price: Price(if buy { 995 } else { 1_005 }),
                qty: Qty(10),
                tif: TimeInForce::Ioc,
                client_ref: n,
                ..NewOrder::default()
            };
            let command = Command::new(Seq(n), TimestampNs(*clock), CommandKind::NewOrder(order));
            engine.apply(black_box(&command), &mut sink);
        }
        total += start.elapsed();
        done += batch;
        *clock += 1;
        engine.apply(
            &Command::new(Seq(*ids), TimestampNs(*clock), CommandKind::EndOfDay),
            &mut sink,
        );
    }
    assert_eq!(sink.accepted, iters, "every bench order is accepted");
    total
}

fn risk_new_order(c: &mut Criterion) {
    let mut group = c.benchmark_group("risk/new_order");
    for (name, checks) in [("no_checks", false), ("all_checks", true)] {
        let mut engine = engine(checks);
        let mut clock = 1_000_000u64;
        let mut ids = 0u64;
        group.bench_function(name, |b| {
            b.iter_custom(|iters| flow(&mut engine, iters, &mut clock, &mut ids));
        });
    }
    group.finish();
}

criterion_group!(benches, risk_new_order);
criterion_main!(benches);
