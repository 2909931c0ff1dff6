//! Two engine books that once came with identical event streams, which a market-data builder
//! could not tell apart; the events now carry what tells them apart (`Accepted.display_qty`,
//! and the incoming order's own `Cancelled` in a self-trade decrement).

use arbiter_engine::{
    AccountId, Command, CommandKind, Engine, EngineConfig, Event, Instrument, InstrumentId,
    InstrumentRegistry, NewOrder, OrderId, Price, Qty, Seq, Side, StpMode, TimeInForce,
    TimestampNs,
};

fn engine() -> Engine {
    let registry = InstrumentRegistry::new(vec![Instrument::simple(0, "GAP")]).unwrap();
    Engine::new(EngineConfig::default(), registry)
}

fn new_order(seq: u64, order: NewOrder) -> Command {
    Command::new(Seq(seq), TimestampNs(seq), CommandKind::NewOrder(order))
}

fn limit(id: u64, side: Side, qty: u64) -> NewOrder {
    NewOrder {
        order_id: OrderId(id),
        instrument: InstrumentId(0),
        account: AccountId(0),
        side,
        price: Price(100),
        qty: Qty(qty),
        tif: TimeInForce::Gtc,
        ..NewOrder::default()
    }
}

fn run(commands: &[Command]) -> (Engine, Vec<Event>) {
    let mut engine = engine();
    let mut events = Vec::new();
    for command in commands {
        engine.apply(command, &mut events);
    }
    (engine, events)
}

/// `Accepted` carries the display quantity: an iceberg and a plain order differ.
#[test]
fn iceberg_display_is_in_accepted() {
    let plain = run(&[new_order(1, limit(1, Side::Buy, 10))]);
    let iceberg = run(&[new_order(
        1,
        NewOrder {
            display_qty: Qty(2),
            ..limit(1, Side::Buy, 10)
        },
    )]);
    assert_ne!(plain.1, iceberg.1, "the events differ");
    assert_ne!(
        plain.0.depth(InstrumentId(0), Side::Buy, 1),
        iceberg.0.depth(InstrumentId(0), Side::Buy, 1),
        "different displayed books"
    );
}

/// A self-trade decrement that removes the whole resting order and leaves the taker
/// smaller reports the taker's decrement too, unlike `CancelResting`.
#[test]
fn stp_decrement_of_the_taker_is_in_the_events() {
    let with_mode = |stp_mode| {
        run(&[
            new_order(1, limit(1, Side::Sell, 4)),
            new_order(
                2,
                NewOrder {
                    stp_mode,
                    ..limit(2, Side::Buy, 10)
                },
            ),
        ])
    };
    let cancel_resting = with_mode(StpMode::CancelResting);
    let decrement = with_mode(StpMode::DecrementAndCancel);
    assert_ne!(cancel_resting.1, decrement.1, "the events differ");
    let leaves = |engine: &Engine| engine.order(OrderId(2)).unwrap().leaves;
    assert_eq!(leaves(&cancel_resting.0), Qty(10));
    assert_eq!(leaves(&decrement.0), Qty(6), "different books");
}
