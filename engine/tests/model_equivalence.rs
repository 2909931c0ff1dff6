//! The engine and the reference model, fed the same generated commands, emit the same events.
//!
//! In the style of TigerBeetle's `cache_map_fuzz`: generated operations go to the real
//! structure and to a plain model, and after every command the two event streams must be
//! equal and the model's invariants must hold. On a failure proptest shrinks the sequence and
//! the message shows the first diverging command, the commands before it, both event lists,
//! and the model's book just before the command.
//!
//! `ARBITER_MODEL_CASES` raises the case count (default 256) for longer local runs.

mod model;

use std::collections::HashMap;
use std::fmt::Write as _;

use arbiter_engine::{Command, CommandKind, Engine, Event, OrderId};
use model::generate::{registry, scenario, Scenario};
use model::{Model, Readings};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

fn cases() -> u32 {
    std::env::var("ARBITER_MODEL_CASES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(256)
}

/// Checks, from the event stream, that no order trades more than its total quantity and that
/// the leaves reported by trades add up.
#[derive(Default)]
struct FillTracker {
    /// Per live incarnation of an order id: (total quantity, traded so far).
    orders: HashMap<OrderId, (u64, u64)>,
}

impl FillTracker {
    fn observe(&mut self, command: &Command, events: &[Event]) -> Result<(), String> {
        for event in events {
            match *event {
                Event::Accepted { order_id, qty, .. } => {
                    self.orders.insert(order_id, (qty.0, 0));
                }
                Event::Replaced { order_id, .. } => {
                    let CommandKind::Replace(replace) = command.kind else {
                        return Err(format!("Replaced for {order_id:?} outside a replace"));
                    };
                    let entry = self
                        .orders
                        .get_mut(&order_id)
                        .ok_or_else(|| format!("Replaced for unknown {order_id:?}"))?;
                    entry.0 = replace.qty.0;
                }
                Event::Trade(trade) => {
                    if trade.qty.0 == 0 {
                        return Err(format!("zero-quantity trade {trade:?}"));
                    }
                    for (id, leaves) in [
                        (trade.maker_order_id, trade.maker_leaves),
                        (trade.taker_order_id, trade.taker_leaves),
                    ] {
                        let entry = self
                            .orders
                            .get_mut(&id)
                            .ok_or_else(|| format!("trade for unknown {id:?}"))?;
                        entry.1 += trade.qty.0;
                        if entry.1 > entry.0 {
                            return Err(format!(
                                "{id:?} traded {} > its quantity {}",
                                entry.1, entry.0
                            ));
                        }
                        if entry.1 + leaves.0 > entry.0 {
                            return Err(format!(
                                "{id:?} traded {} + leaves {} > its quantity {}",
                                entry.1, leaves.0, entry.0
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn describe_divergence(
    scenario: &Scenario,
    commands: &[Command],
    index: usize,
    engine_events: &[Event],
    model_events: &[Event],
) -> String {
    let config = scenario.config();
    let registry = registry();
    let mut before = Model::with_readings(config, &registry, Readings::engine());
    for command in &commands[..index] {
        before.apply(command);
    }
    let mut text = String::new();
    let _ = writeln!(text, "engine and model diverge at command #{index}");
    let _ = writeln!(text, "config: {config:?}");
    let _ = writeln!(text, "commands before it:");
    for (i, command) in commands[..index].iter().enumerate() {
        let _ = writeln!(text, "  #{i}: {:?} {:?}", command.timestamp, command.kind);
    }
    let _ = writeln!(
        text,
        "diverging command: {:?} {:?}",
        commands[index].timestamp, commands[index].kind
    );
    let _ = writeln!(text, "model book before it (live orders):");
    for order in &before.orders {
        let _ = writeln!(text, "  {order:?}");
    }
    let _ = writeln!(text, "last prices: {:?}", before.last_price);
    let _ = writeln!(text, "engine events:");
    for event in engine_events {
        let _ = writeln!(text, "  {event:?}");
    }
    let _ = writeln!(text, "model events:");
    for event in model_events {
        let _ = writeln!(text, "  {event:?}");
    }
    text
}

fn check_scenario(scenario: &Scenario) -> Result<(), TestCaseError> {
    let config = scenario.config();
    let commands = scenario.commands();
    let mut engine = Engine::new(config, registry());
    let mut model = Model::with_readings(config, &registry(), Readings::engine());
    let mut tracker = FillTracker::default();
    for (index, command) in commands.iter().enumerate() {
        let mut engine_events = Vec::new();
        engine.apply(command, &mut engine_events);
        let model_events = model.apply(command);
        if engine_events != model_events {
            return Err(TestCaseError::fail(describe_divergence(
                scenario,
                &commands,
                index,
                &engine_events,
                &model_events,
            )));
        }
        model.check_invariants().map_err(|broken| {
            TestCaseError::fail(format!("model invariant after #{index}: {broken}"))
        })?;
        tracker.observe(command, &engine_events).map_err(|broken| {
            TestCaseError::fail(format!("event invariant after #{index}: {broken}"))
        })?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 4096,
        ..ProptestConfig::default()
    })]

    #[test]
    fn engine_events_equal_model_events(scenario in scenario(300)) {
        check_scenario(&scenario)?;
    }
}

/// The generator is only as good as what it reaches: run the model alone on a fixed set of
/// generated scenarios and require that every reject reason, cancel reason and event kind
/// of the spec shows up at least once.
#[test]
fn generator_reaches_every_rule() {
    use arbiter_engine::{CancelReason, RejectReason};
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let mut counts: HashMap<String, u64> = HashMap::new();
    let strategy = scenario(300);
    for _ in 0..128 {
        let scenario = strategy.new_tree(&mut runner).unwrap().current();
        let mut model = Model::new(scenario.config(), &registry());
        for command in scenario.commands() {
            for event in model.apply(&command) {
                let key = match event {
                    Event::Rejected { reason, kind, .. } => format!("Rejected {reason:?} {kind:?}"),
                    Event::Cancelled { reason, .. } => format!("Cancelled {reason:?}"),
                    Event::Replaced { priority_kept, .. } => {
                        format!("Replaced priority_kept={priority_kept}")
                    }
                    other => format!("{other:?}")
                        .split([' ', '(', '{'])
                        .next()
                        .unwrap()
                        .to_owned(),
                };
                *counts.entry(key).or_default() += 1;
            }
        }
    }
    let mut table: Vec<_> = counts.iter().collect();
    table.sort();
    for (key, count) in &table {
        println!("{count:>8}  {key}");
    }
    let mut missing = Vec::new();
    let new_order_rejects = [
        RejectReason::UnknownInstrument,
        RejectReason::UnknownAccount,
        RejectReason::InstrumentHalted,
        RejectReason::InstrumentClosed,
        RejectReason::InvalidOrder,
        RejectReason::QtyOffLot,
        RejectReason::QtyBelowMin,
        RejectReason::QtyAboveMax,
        RejectReason::PriceOffTick,
        RejectReason::PriceOutsideBand,
        RejectReason::InvalidExpireTime,
        RejectReason::DuplicateOrderId,
        RejectReason::PostOnlyWouldCross,
        RejectReason::BookFull,
        RejectReason::FokNotFillable,
    ];
    for reason in new_order_rejects {
        missing.push(format!("Rejected {reason:?} NewOrder"));
    }
    for reason in [
        RejectReason::UnknownOrder,
        RejectReason::InstrumentHalted,
        RejectReason::QtyOffLot,
        RejectReason::PriceOffTick,
        RejectReason::PriceOutsideBand,
        RejectReason::PostOnlyWouldCross,
        RejectReason::BookFull,
    ] {
        missing.push(format!("Rejected {reason:?} Replace"));
    }
    missing.push("Rejected UnknownOrder Cancel".to_owned());
    missing.push("Rejected UnknownAccount Control".to_owned());
    missing.push("Rejected UnknownInstrument Control".to_owned());
    for reason in [
        CancelReason::Requested,
        CancelReason::IocRemainder,
        CancelReason::MarketRemainder,
        CancelReason::SelfTrade,
        CancelReason::Expired,
        CancelReason::MassCancel,
        CancelReason::ReplacedToFilled,
    ] {
        missing.push(format!("Cancelled {reason:?}"));
    }
    for kind in [
        "Accepted",
        "Trade",
        "Triggered",
        "Refreshed",
        "PhaseChanged",
        "MassCancelled",
        "Replaced priority_kept=true",
        "Replaced priority_kept=false",
    ] {
        missing.push(kind.to_owned());
    }
    missing.retain(|key| !counts.contains_key(key));
    assert!(
        missing.is_empty(),
        "the generator never reached: {missing:?}"
    );
}
