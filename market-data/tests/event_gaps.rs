//! What the engine's events cannot tell a market-data builder: two different books that
//! come with identical event streams. Each test is the argument for an engine change
//! proposed in `docs/market-data.md` (section "Gaps").

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

/// `Accepted` has no display quantity: an iceberg and a plain order look the same.
#[test]
fn iceberg_display_is_not_in_accepted() {
    let plain = run(&[new_order(1, limit(1, Side::Buy, 10))]);
    let iceberg = run(&[new_order(
        1,
        NewOrder {
            display_qty: Qty(2),
            ..limit(1, Side::Buy, 10)
        },
    )]);
    assert_eq!(plain.1, iceberg.1, "same events");
    assert_ne!(
        plain.0.depth(InstrumentId(0), Side::Buy, 1),
        iceberg.0.depth(InstrumentId(0), Side::Buy, 1),
        "different displayed books"
    );
}

/// A self-trade decrement that removes the whole resting order and leaves the taker
/// smaller emits only the maker's `Cancelled`, exactly as `CancelResting` does.
#[test]
fn stp_decrement_of_the_taker_is_not_in_the_events() {
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
    assert_eq!(cancel_resting.1, decrement.1, "same events");
    let leaves = |engine: &Engine| engine.order(OrderId(2)).unwrap().leaves;
    assert_eq!(leaves(&cancel_resting.0), Qty(10));
    assert_eq!(leaves(&decrement.0), Qty(6), "different books");
}
