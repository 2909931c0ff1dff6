//! Minimal reproducers of places where the engine differs from `docs/matching-rules.md`.
//!
//! Each test is `#[ignore]`d with the reason until the engine is fixed; then remove the
//! `#[ignore]` and flip the matching switch in `model::Readings::engine()`.

use arbiter_engine::{
    AccountId, Command, CommandKind, Engine, EngineConfig, Event, Instrument, InstrumentId,
    InstrumentRegistry, NewOrder, OrdType, OrderId, Price, Qty, RejectReason, RejectedKind, Seq,
    Side, TimeInForce, TimestampNs,
};

fn apply(engine: &mut Engine, seq: u64, order: NewOrder) -> Vec<Event> {
    let mut events = Vec::new();
    engine.apply(
        &Command::new(
            Seq(seq),
            TimestampNs(1_000 + seq),
            CommandKind::NewOrder(order),
        ),
        &mut events,
    );
    events
}

/// Rule 10: "the order could rest (Limit/StopLimit that is not IOC/FOK; ...) at a price whose
/// level does not exist and the side's ladder already holds `levels_per_side_max` levels →
/// `BookFull`". The engine checks only the stop ladder for a StopLimit, accepts it, and
/// later cancels it with `CancelReason::BookFull` when it triggers and finds no room.
#[test]
fn stop_limit_needs_room_for_its_limit_price() {
    let registry = InstrumentRegistry::new(vec![Instrument::simple(0, "A")]).unwrap();
    let config = EngineConfig {
        orders_max: 16,
        levels_per_side_max: 1,
        accounts_max: 4,
        stop_triggers_per_command_max: 16,
        ..EngineConfig::default()
    };
    let mut engine = Engine::new(config, registry);
    let resting = NewOrder {
        order_id: OrderId(1),
        account: AccountId(0),
        side: Side::Sell,
        ord_type: OrdType::Limit,
        tif: TimeInForce::Gtc,
        price: Price(100),
        qty: Qty(5),
        ..NewOrder::default()
    };
    apply(&mut engine, 1, resting);
    // The sell ladder holds its one level (100); a sell stop-limit at 103 could rest at 103.
    let stop_limit = NewOrder {
        order_id: OrderId(2),
        instrument: InstrumentId(0),
        account: AccountId(1),
        side: Side::Sell,
        ord_type: OrdType::StopLimit,
        tif: TimeInForce::Gtc,
        price: Price(103),
        stop_price: Price(90),
        qty: Qty(5),
        ..NewOrder::default()
    };
    assert_eq!(
        apply(&mut engine, 2, stop_limit),
        vec![Event::Rejected {
            order_id: OrderId(2),
            reason: RejectReason::BookFull,
            kind: RejectedKind::NewOrder,
        }]
    );
}
