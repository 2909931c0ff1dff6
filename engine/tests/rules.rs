//! One test per rule of `docs/matching-rules.md`, through the public API only. Each test
//! spells out the exact events the spec asks for, so a failure names the rule it breaks.

use arbiter_engine::{
    AccountId, CancelOrder, CancelReason, Command, CommandKind, Engine, EngineConfig, Event,
    Instrument, InstrumentId, InstrumentRegistry, MassCancel, NewOrder, OrdType, OrderId, Phase,
    Price, Qty, RejectReason, RejectedKind, ReplaceOrder, Seq, Side, StpGroup, StpMode,
    TimeInForce, TimestampNs, Trade,
};

const I0: InstrumentId = InstrumentId(0);
const I1: InstrumentId = InstrumentId(1);

/// Instrument 0: tick 1, lot 1, no collar. Instrument 1: tick 1, collar of 2 ticks.
fn registry() -> InstrumentRegistry {
    let mut collared = Instrument::simple(1, "COLLAR");
    collared.market_collar_ticks = 2;
    InstrumentRegistry::new(vec![Instrument::simple(0, "PLAIN"), collared]).unwrap()
}

fn config() -> EngineConfig {
    EngineConfig {
        orders_max: 64,
        levels_per_side_max: 16,
        accounts_max: 4,
        stop_triggers_per_command_max: 16,
        ..EngineConfig::default()
    }
}

/// An engine plus a sequencer that stamps seq and time.
struct Venue {
    engine: Engine,
    seq: u64,
    now: u64,
}

impl Venue {
    fn new() -> Self {
        Venue::with_config(config())
    }

    fn with_config(config: EngineConfig) -> Self {
        Venue {
            engine: Engine::new(config, registry()),
            seq: 0,
            now: 1_000,
        }
    }

    fn at(&mut self, now: u64, kind: CommandKind) -> Vec<Event> {
        assert!(now >= self.now);
        self.now = now;
        self.seq += 1;
        let mut events = Vec::new();
        self.engine.apply(
            &Command::new(Seq(self.seq), TimestampNs(now), kind),
            &mut events,
        );
        events
    }

    fn run(&mut self, kind: CommandKind) -> Vec<Event> {
        let now = self.now + 1;
        self.at(now, kind)
    }

    fn order(&mut self, order: NewOrder) -> Vec<Event> {
        self.run(CommandKind::NewOrder(order))
    }

    fn cancel(&mut self, id: u64, account: u32) -> Vec<Event> {
        self.run(CommandKind::Cancel(CancelOrder {
            order_id: OrderId(id),
            account: AccountId(account),
            ..CancelOrder::default()
        }))
    }

    fn replace(&mut self, id: u64, account: u32, price: i64, qty: u64) -> Vec<Event> {
        self.run(CommandKind::Replace(ReplaceOrder {
            order_id: OrderId(id),
            account: AccountId(account),
            price: Price(price),
            qty: Qty(qty),
            ..ReplaceOrder::default()
        }))
    }
}

/// A GTC limit order on instrument 0.
fn limit(id: u64, account: u32, side: Side, price: i64, qty: u64) -> NewOrder {
    NewOrder {
        order_id: OrderId(id),
        instrument: I0,
        account: AccountId(account),
        side,
        ord_type: OrdType::Limit,
        tif: TimeInForce::Gtc,
        price: Price(price),
        qty: Qty(qty),
        ..NewOrder::default()
    }
}

fn accepted(order: &NewOrder) -> Event {
    Event::Accepted {
        order_id: order.order_id,
        instrument: order.instrument,
        side: order.side,
        ord_type: order.ord_type,
        price: match order.ord_type {
            OrdType::Limit | OrdType::StopLimit => order.price,
            OrdType::Market | OrdType::Stop => Price(0),
        },
        qty: order.qty,
        display_qty: order.display_qty,
    }
}

fn trade(maker: u64, taker: u64, side: Side, price: i64, qty: u64, leaves: (u64, u64)) -> Event {
    trade_on(I0, maker, taker, side, price, qty, leaves)
}

fn trade_on(
    instrument: InstrumentId,
    maker: u64,
    taker: u64,
    side: Side,
    price: i64,
    qty: u64,
    (maker_leaves, taker_leaves): (u64, u64),
) -> Event {
    Event::Trade(Trade {
        maker_order_id: OrderId(maker),
        taker_order_id: OrderId(taker),
        instrument,
        taker_side: side,
        price: Price(price),
        qty: Qty(qty),
        maker_leaves: Qty(maker_leaves),
        taker_leaves: Qty(taker_leaves),
    })
}

fn cancelled(id: u64, qty: u64, reason: CancelReason) -> Event {
    Event::Cancelled {
        order_id: OrderId(id),
        instrument: I0,
        qty: Qty(qty),
        reason,
    }
}

fn rejected(id: u64, reason: RejectReason, kind: RejectedKind) -> Event {
    Event::Rejected {
        order_id: OrderId(id),
        reason,
        kind,
    }
}

fn replaced(id: u64, price: i64, leaves: u64, priority_kept: bool) -> Event {
    Event::Replaced {
        order_id: OrderId(id),
        instrument: I0,
        price: Price(price),
        leaves: Qty(leaves),
        priority_kept,
    }
}

fn ioc(mut order: NewOrder) -> NewOrder {
    order.tif = TimeInForce::Ioc;
    order
}

/// Who is first at a level: an IOC of `qty` from account 3 takes from it.
fn first_maker(venue: &mut Venue, id: u64, side: Side, price: i64, qty: u64) -> OrderId {
    let events = venue.order(ioc(limit(id, 3, side, price, qty)));
    match events.get(1) {
        Some(Event::Trade(t)) => t.maker_order_id,
        other => panic!("expected a trade, got {other:?} in {events:?}"),
    }
}

#[test]
fn replace_with_lower_qty_keeps_priority() {
    let mut venue = Venue::new();
    venue.order(limit(1, 0, Side::Sell, 100, 10));
    venue.order(limit(2, 1, Side::Sell, 100, 10));
    assert_eq!(venue.replace(1, 0, 100, 6), vec![replaced(1, 100, 6, true)]);
    assert_eq!(first_maker(&mut venue, 9, Side::Buy, 100, 1), OrderId(1));
}

#[test]
fn replace_with_higher_qty_loses_priority() {
    let mut venue = Venue::new();
    venue.order(limit(1, 0, Side::Sell, 100, 10));
    venue.order(limit(2, 1, Side::Sell, 100, 10));
    assert_eq!(
        venue.replace(1, 0, 100, 12),
        vec![replaced(1, 100, 12, false)]
    );
    assert_eq!(first_maker(&mut venue, 9, Side::Buy, 100, 1), OrderId(2));
}

#[test]
fn replace_price_change_loses_priority() {
    let mut venue = Venue::new();
    venue.order(limit(1, 0, Side::Sell, 100, 10));
    venue.order(limit(2, 1, Side::Sell, 101, 10));
    // Same quantity, new price: re-enters at the back of 101, behind order 2.
    assert_eq!(
        venue.replace(1, 0, 101, 10),
        vec![replaced(1, 101, 10, false)]
    );
    assert_eq!(first_maker(&mut venue, 9, Side::Buy, 101, 1), OrderId(2));
}

#[test]
fn replace_same_price_same_qty_loses_priority() {
    // Rule 6 keeps priority only when new leaves < leaves; equal leaves is "otherwise".
    let mut venue = Venue::new();
    venue.order(limit(1, 0, Side::Sell, 100, 10));
    venue.order(limit(2, 1, Side::Sell, 100, 10));
    assert_eq!(
        venue.replace(1, 0, 100, 10),
        vec![replaced(1, 100, 10, false)]
    );
    assert_eq!(first_maker(&mut venue, 9, Side::Buy, 100, 1), OrderId(2));
}

#[test]
fn replace_to_filled_cancels_rest() {
    let mut venue = Venue::new();
    venue.order(limit(1, 0, Side::Sell, 100, 10));
    venue.order(ioc(limit(2, 1, Side::Buy, 100, 4)));
    // Filled 4, leaves 6: a new total of 4 (or less) cancels the 6 left.
    assert_eq!(
        venue.replace(1, 0, 100, 4),
        vec![cancelled(1, 6, CancelReason::ReplacedToFilled)]
    );
    assert_eq!(
        venue.cancel(1, 0),
        vec![rejected(
            1,
            RejectReason::UnknownOrder,
            RejectedKind::Cancel
        )]
    );
}

#[test]
fn replace_above_filled_counts_filled_in_new_qty() {
    let mut venue = Venue::new();
    venue.order(limit(1, 0, Side::Sell, 100, 10));
    venue.order(ioc(limit(2, 1, Side::Buy, 100, 4)));
    // New total 7, filled 4: leaves 3, fewer than 6, same price: priority kept.
    assert_eq!(venue.replace(1, 0, 100, 7), vec![replaced(1, 100, 3, true)]);
}

#[test]
fn iceberg_refresh_goes_to_back_of_level() {
    let mut venue = Venue::new();
    let mut iceberg = limit(1, 0, Side::Sell, 100, 10);
    iceberg.display_qty = Qty(3);
    venue.order(iceberg);
    venue.order(limit(2, 1, Side::Sell, 100, 5));
    let taker = limit(3, 2, Side::Buy, 100, 10);
    assert_eq!(
        venue.order(taker),
        vec![
            accepted(&taker),
            trade(1, 3, Side::Buy, 100, 3, (7, 7)),
            Event::Refreshed {
                order_id: OrderId(1),
                instrument: I0,
                visible: Qty(3)
            },
            // The refreshed slice is now behind order 2.
            trade(2, 3, Side::Buy, 100, 5, (0, 2)),
            trade(1, 3, Side::Buy, 100, 2, (5, 0)),
        ]
    );
}

#[test]
fn iceberg_taker_meets_its_refreshed_slice_again() {
    let mut venue = Venue::new();
    let mut iceberg = limit(1, 0, Side::Sell, 100, 7);
    iceberg.display_qty = Qty(3);
    venue.order(iceberg);
    let taker = limit(3, 2, Side::Buy, 100, 7);
    let refreshed = |visible| Event::Refreshed {
        order_id: OrderId(1),
        instrument: I0,
        visible: Qty(visible),
    };
    assert_eq!(
        venue.order(taker),
        vec![
            accepted(&taker),
            trade(1, 3, Side::Buy, 100, 3, (4, 4)),
            refreshed(3),
            trade(1, 3, Side::Buy, 100, 3, (1, 1)),
            refreshed(1),
            trade(1, 3, Side::Buy, 100, 1, (0, 0)),
        ]
    );
}

#[test]
fn post_only_that_would_cross_is_rejected() {
    let mut venue = Venue::new();
    venue.order(limit(1, 0, Side::Sell, 100, 10));
    let mut crossing = limit(2, 1, Side::Buy, 100, 5);
    crossing.post_only = true;
    assert_eq!(
        venue.order(crossing),
        vec![rejected(
            2,
            RejectReason::PostOnlyWouldCross,
            RejectedKind::NewOrder
        )]
    );
    let mut passive = limit(3, 1, Side::Buy, 99, 5);
    passive.post_only = true;
    assert_eq!(venue.order(passive), vec![accepted(&passive)]);
}

#[test]
fn fok_not_fillable_is_rejected_without_trades() {
    let mut venue = Venue::new();
    venue.order(limit(1, 0, Side::Sell, 100, 5));
    let mut iceberg = limit(2, 0, Side::Sell, 100, 20);
    iceberg.display_qty = Qty(4);
    venue.order(iceberg);
    // Visible 5 + 4 = 9 < 10: hidden quantity never counts.
    let mut fok = limit(3, 1, Side::Buy, 100, 10);
    fok.tif = TimeInForce::Fok;
    assert_eq!(
        venue.order(fok),
        vec![rejected(
            3,
            RejectReason::FokNotFillable,
            RejectedKind::NewOrder
        )]
    );
    // Nothing changed: order 1 is still first with all of its 5.
    let taker = ioc(limit(4, 1, Side::Buy, 100, 5));
    assert_eq!(
        venue.order(taker),
        vec![accepted(&taker), trade(1, 4, Side::Buy, 100, 5, (0, 0))]
    );
}

#[test]
fn fok_walk_stops_at_self_order_unless_cancel_resting() {
    let mut venue = Venue::new();
    venue.order(limit(1, 1, Side::Sell, 100, 5)); // own (account 1)
    venue.order(limit(2, 0, Side::Sell, 100, 5));
    let mut fok = limit(3, 1, Side::Buy, 100, 5);
    fok.tif = TimeInForce::Fok;
    fok.stp_mode = StpMode::CancelAggressor;
    assert_eq!(
        venue.order(fok),
        vec![rejected(
            3,
            RejectReason::FokNotFillable,
            RejectedKind::NewOrder
        )]
    );
    fok.stp_mode = StpMode::CancelResting;
    assert_eq!(
        venue.order(fok),
        vec![
            accepted(&fok),
            cancelled(1, 5, CancelReason::SelfTrade),
            trade(2, 3, Side::Buy, 100, 5, (0, 0)),
        ]
    );
}

#[test]
fn market_order_stops_at_collar() {
    let mut venue = Venue::new();
    for (id, price) in [(1, 100), (2, 102), (3, 103)] {
        let mut sell = limit(id, 0, Side::Sell, price, 5);
        sell.instrument = I1;
        venue.order(sell);
    }
    let market = NewOrder {
        order_id: OrderId(9),
        instrument: I1,
        account: AccountId(1),
        side: Side::Buy,
        ord_type: OrdType::Market,
        tif: TimeInForce::Day,
        qty: Qty(15),
        ..NewOrder::default()
    };
    // Collar: best ask 100 + 2 ticks = 102; 103 is out of reach.
    assert_eq!(
        venue.order(market),
        vec![
            accepted(&market),
            trade_on(I1, 1, 9, Side::Buy, 100, 5, (0, 10)),
            trade_on(I1, 2, 9, Side::Buy, 102, 5, (0, 5)),
            Event::Cancelled {
                order_id: OrderId(9),
                instrument: I1,
                qty: Qty(5),
                reason: CancelReason::MarketRemainder
            },
        ]
    );
}

#[test]
fn market_order_on_empty_book_is_accepted_then_cancelled() {
    let mut venue = Venue::new();
    let market = NewOrder {
        order_id: OrderId(9),
        side: Side::Buy,
        ord_type: OrdType::Market,
        qty: Qty(15),
        ..NewOrder::default()
    };
    assert_eq!(
        venue.order(market),
        vec![
            accepted(&market),
            cancelled(9, 15, CancelReason::MarketRemainder)
        ]
    );
}

#[test]
fn stop_triggers_on_last_trade() {
    let mut venue = Venue::new();
    let stop = NewOrder {
        order_id: OrderId(1),
        account: AccountId(0),
        side: Side::Buy,
        ord_type: OrdType::Stop,
        tif: TimeInForce::Gtc,
        stop_price: Price(101),
        qty: Qty(5),
        ..NewOrder::default()
    };
    // No last price yet: the stop waits.
    assert_eq!(venue.order(stop), vec![accepted(&stop)]);
    venue.order(limit(2, 1, Side::Sell, 100, 5));
    venue.order(limit(3, 1, Side::Sell, 101, 5));
    venue.order(limit(4, 1, Side::Sell, 105, 5));
    // A trade at 100 < 101: no trigger.
    let below = ioc(limit(5, 2, Side::Buy, 100, 5));
    assert_eq!(
        venue.order(below),
        vec![accepted(&below), trade(2, 5, Side::Buy, 100, 5, (0, 0))]
    );
    // A trade at 101 >= 101: the buy stop triggers and buys as a market order.
    let at = ioc(limit(6, 2, Side::Buy, 101, 5));
    assert_eq!(
        venue.order(at),
        vec![
            accepted(&at),
            trade(3, 6, Side::Buy, 101, 5, (0, 0)),
            Event::Triggered {
                order_id: OrderId(1),
                instrument: I0
            },
            trade(4, 1, Side::Buy, 105, 5, (0, 0)),
        ]
    );
}

#[test]
fn gtd_expires_on_clock() {
    let mut venue = Venue::new();
    let mut gtd = limit(1, 0, Side::Buy, 100, 5);
    gtd.tif = TimeInForce::Gtd;
    gtd.expire_time = TimestampNs(2_000);
    let mut earlier = limit(2, 0, Side::Buy, 99, 5);
    earlier.tif = TimeInForce::Gtd;
    earlier.expire_time = TimestampNs(1_500);
    venue.order(gtd);
    venue.order(earlier);
    assert_eq!(venue.at(1_499, CommandKind::Clock), vec![]);
    assert_eq!(
        venue.at(1_500, CommandKind::Clock),
        vec![cancelled(2, 5, CancelReason::Expired)]
    );
    assert_eq!(venue.at(1_999, CommandKind::Clock), vec![]);
    assert_eq!(
        venue.at(2_000, CommandKind::Clock),
        vec![cancelled(1, 5, CancelReason::Expired)]
    );
}

#[test]
fn gtd_expire_time_not_in_future_is_rejected() {
    let mut venue = Venue::new();
    let mut gtd = limit(1, 0, Side::Buy, 100, 5);
    gtd.tif = TimeInForce::Gtd;
    gtd.expire_time = TimestampNs(venue.now + 1);
    // The command is stamped now + 1: expire_time <= timestamp.
    assert_eq!(
        venue.order(gtd),
        vec![rejected(
            1,
            RejectReason::InvalidExpireTime,
            RejectedKind::NewOrder
        )]
    );
}

#[test]
fn day_expires_at_end_of_day() {
    let mut venue = Venue::new();
    let mut day_b = limit(1, 0, Side::Buy, 100, 5);
    day_b.tif = TimeInForce::Day;
    let gtc = limit(2, 0, Side::Buy, 100, 5);
    let mut day_a = limit(3, 1, Side::Sell, 110, 5);
    day_a.tif = TimeInForce::Day;
    let mut gtd = limit(4, 1, Side::Sell, 111, 5);
    gtd.tif = TimeInForce::Gtd;
    gtd.expire_time = TimestampNs(1_100);
    for order in [day_b, gtc, day_a, gtd] {
        venue.order(order);
    }
    // DAY orders in acceptance order, then the clock rule (GTD due at 1 200).
    assert_eq!(
        venue.at(1_200, CommandKind::EndOfDay),
        vec![
            cancelled(1, 5, CancelReason::Expired),
            cancelled(3, 5, CancelReason::Expired),
            cancelled(4, 5, CancelReason::Expired),
        ]
    );
    assert_eq!(
        venue.cancel(2, 0),
        vec![cancelled(2, 5, CancelReason::Requested)]
    );
}

fn stp_taker(mode: StpMode, qty: u64) -> NewOrder {
    let mut taker = limit(9, 0, Side::Buy, 100, qty);
    taker.stp_mode = mode;
    taker
}

/// Order 1: own sell 10 @ 100 (account 0); order 2: another account's sell 10 @ 100.
fn stp_book() -> Venue {
    let mut venue = Venue::new();
    venue.order(limit(1, 0, Side::Sell, 100, 10));
    venue.order(limit(2, 1, Side::Sell, 100, 10));
    venue
}

#[test]
fn stp_off_trades_with_self() {
    let mut venue = stp_book();
    let taker = stp_taker(StpMode::Off, 5);
    assert_eq!(
        venue.order(taker),
        vec![accepted(&taker), trade(1, 9, Side::Buy, 100, 5, (5, 0))]
    );
}

#[test]
fn stp_cancel_resting() {
    let mut venue = stp_book();
    let taker = stp_taker(StpMode::CancelResting, 5);
    assert_eq!(
        venue.order(taker),
        vec![
            accepted(&taker),
            cancelled(1, 10, CancelReason::SelfTrade),
            trade(2, 9, Side::Buy, 100, 5, (5, 0)),
        ]
    );
}

#[test]
fn stp_cancel_aggressor() {
    let mut venue = stp_book();
    let taker = stp_taker(StpMode::CancelAggressor, 5);
    assert_eq!(
        venue.order(taker),
        vec![accepted(&taker), cancelled(9, 5, CancelReason::SelfTrade)]
    );
    // The resting order is untouched and still first.
    assert_eq!(first_maker(&mut venue, 8, Side::Buy, 100, 1), OrderId(1));
}

#[test]
fn stp_cancel_both() {
    let mut venue = stp_book();
    let taker = stp_taker(StpMode::CancelBoth, 5);
    assert_eq!(
        venue.order(taker),
        vec![
            accepted(&taker),
            cancelled(1, 10, CancelReason::SelfTrade),
            cancelled(9, 5, CancelReason::SelfTrade),
        ]
    );
    assert_eq!(first_maker(&mut venue, 8, Side::Buy, 100, 1), OrderId(2));
}

#[test]
fn stp_decrement_and_cancel() {
    // Taker smaller than the resting order: both reduced by 4, the resting order stays.
    let mut venue = stp_book();
    let taker = stp_taker(StpMode::DecrementAndCancel, 4);
    assert_eq!(
        venue.order(taker),
        vec![
            accepted(&taker),
            cancelled(1, 4, CancelReason::SelfTrade),
            cancelled(9, 4, CancelReason::SelfTrade),
        ]
    );
    let probe = ioc(limit(8, 3, Side::Buy, 100, 1));
    assert_eq!(
        venue.order(probe),
        vec![accepted(&probe), trade(1, 8, Side::Buy, 100, 1, (5, 0))]
    );

    // Taker larger than the resting order: the resting order goes, the taker's decrement is
    // reported too, and it trades on.
    let mut venue = stp_book();
    let taker = stp_taker(StpMode::DecrementAndCancel, 15);
    assert_eq!(
        venue.order(taker),
        vec![
            accepted(&taker),
            cancelled(1, 10, CancelReason::SelfTrade),
            cancelled(9, 10, CancelReason::SelfTrade),
            trade(2, 9, Side::Buy, 100, 5, (5, 0)),
        ]
    );
}

#[test]
fn stp_key_is_group_when_set() {
    let mut venue = Venue::new();
    let mut resting = limit(1, 1, Side::Sell, 100, 10);
    resting.stp_group = StpGroup(7);
    venue.order(resting);
    // Another account, same group: a self-trade.
    let mut taker = stp_taker(StpMode::CancelAggressor, 5);
    taker.stp_group = StpGroup(7);
    assert_eq!(
        venue.order(taker),
        vec![accepted(&taker), cancelled(9, 5, CancelReason::SelfTrade)]
    );
    // Same account number as a group number is not the same key: account 1, no group, vs
    // group 1.
    let mut grouped = limit(2, 2, Side::Sell, 99, 5);
    grouped.stp_group = StpGroup(1);
    venue.order(grouped);
    let mut taker = limit(3, 1, Side::Buy, 99, 5);
    taker.stp_mode = StpMode::CancelAggressor;
    assert_eq!(
        venue.order(taker),
        vec![accepted(&taker), trade(2, 3, Side::Buy, 99, 5, (0, 0))]
    );
}

#[test]
fn mass_cancel_by_instrument_and_side() {
    let mut venue = Venue::new();
    let mut other_instrument = limit(1, 0, Side::Buy, 100, 5);
    other_instrument.instrument = I1;
    venue.order(other_instrument);
    venue.order(limit(2, 0, Side::Buy, 100, 5));
    venue.order(limit(3, 0, Side::Sell, 110, 5));
    venue.order(limit(4, 1, Side::Buy, 100, 5)); // another account
    venue.order(limit(5, 0, Side::Buy, 101, 5));
    let stop = NewOrder {
        order_id: OrderId(6),
        side: Side::Buy,
        ord_type: OrdType::Stop,
        tif: TimeInForce::Gtc,
        stop_price: Price(120),
        qty: Qty(5),
        ..NewOrder::default()
    };
    venue.order(stop);
    let events = venue.run(CommandKind::MassCancel(MassCancel {
        account: AccountId(0),
        instrument: Some(I0),
        side: Some(Side::Buy),
        ..MassCancel::default()
    }));
    assert_eq!(
        events,
        vec![
            cancelled(2, 5, CancelReason::MassCancel),
            cancelled(5, 5, CancelReason::MassCancel),
            cancelled(6, 5, CancelReason::MassCancel),
            Event::MassCancelled {
                account: AccountId(0),
                count: 3
            },
        ]
    );
    let events = venue.run(CommandKind::MassCancel(MassCancel {
        account: AccountId(9),
        ..MassCancel::default()
    }));
    assert_eq!(
        events,
        vec![rejected(
            0,
            RejectReason::UnknownAccount,
            RejectedKind::Control
        )]
    );
}

#[test]
fn halted_instrument_rejects_new_orders_but_allows_cancel() {
    let mut venue = Venue::new();
    venue.order(limit(1, 0, Side::Buy, 100, 5));
    assert_eq!(
        venue.run(CommandKind::SetPhase {
            instrument: I0,
            phase: Phase::Halted
        }),
        vec![Event::PhaseChanged {
            instrument: I0,
            phase: Phase::Halted
        }]
    );
    assert_eq!(
        venue.order(limit(2, 0, Side::Buy, 100, 5)),
        vec![rejected(
            2,
            RejectReason::InstrumentHalted,
            RejectedKind::NewOrder
        )]
    );
    assert_eq!(
        venue.replace(1, 0, 100, 3),
        vec![rejected(
            1,
            RejectReason::InstrumentHalted,
            RejectedKind::Replace
        )]
    );
    assert_eq!(
        venue.cancel(1, 0),
        vec![cancelled(1, 5, CancelReason::Requested)]
    );
    venue.run(CommandKind::SetPhase {
        instrument: I0,
        phase: Phase::Closed,
    });
    assert_eq!(
        venue.order(limit(3, 0, Side::Buy, 100, 5)),
        vec![rejected(
            3,
            RejectReason::InstrumentClosed,
            RejectedKind::NewOrder
        )]
    );
}

#[test]
fn book_full_rejects_never_grows() {
    // Order slots.
    let mut venue = Venue::with_config(EngineConfig {
        orders_max: 2,
        ..config()
    });
    venue.order(limit(1, 0, Side::Buy, 100, 5));
    venue.order(limit(2, 0, Side::Buy, 100, 5));
    assert_eq!(
        venue.order(limit(3, 0, Side::Buy, 100, 5)),
        vec![rejected(3, RejectReason::BookFull, RejectedKind::NewOrder)]
    );
    // Even an IOC needs a slot while it is in the engine.
    assert_eq!(
        venue.order(ioc(limit(4, 1, Side::Sell, 100, 5))),
        vec![rejected(4, RejectReason::BookFull, RejectedKind::NewOrder)]
    );
    venue.cancel(2, 0);
    let fits = limit(3, 0, Side::Buy, 100, 5);
    assert_eq!(venue.order(fits), vec![accepted(&fits)]);

    // Levels per side.
    let mut venue = Venue::with_config(EngineConfig {
        levels_per_side_max: 2,
        ..config()
    });
    venue.order(limit(1, 0, Side::Buy, 100, 5));
    venue.order(limit(2, 0, Side::Buy, 99, 5));
    assert_eq!(
        venue.order(limit(3, 0, Side::Buy, 98, 5)),
        vec![rejected(3, RejectReason::BookFull, RejectedKind::NewOrder)]
    );
    // An existing level has room; so has the other side.
    let same_level = limit(4, 0, Side::Buy, 99, 5);
    assert_eq!(venue.order(same_level), vec![accepted(&same_level)]);
    let other_side = limit(5, 0, Side::Sell, 110, 5);
    assert_eq!(venue.order(other_side), vec![accepted(&other_side)]);
    // A replace that needs a new level is refused and changes nothing.
    assert_eq!(
        venue.replace(1, 0, 97, 5),
        vec![rejected(1, RejectReason::BookFull, RejectedKind::Replace)]
    );
    assert_eq!(first_maker(&mut venue, 9, Side::Sell, 100, 1), OrderId(1));
}

#[test]
fn cancel_by_other_account_is_unknown_order() {
    let mut venue = Venue::new();
    venue.order(limit(1, 0, Side::Buy, 100, 5));
    assert_eq!(
        venue.cancel(1, 1),
        vec![rejected(
            1,
            RejectReason::UnknownOrder,
            RejectedKind::Cancel
        )]
    );
    assert_eq!(
        venue.replace(1, 1, 100, 3),
        vec![rejected(
            1,
            RejectReason::UnknownOrder,
            RejectedKind::Replace
        )]
    );
}

fn buy_stop(id: u64, instrument: InstrumentId, stop_price: i64) -> NewOrder {
    NewOrder {
        order_id: OrderId(id),
        instrument,
        account: AccountId(0),
        side: Side::Buy,
        ord_type: OrdType::Stop,
        tif: TimeInForce::Gtc,
        stop_price: Price(stop_price),
        qty: Qty(1),
        ..NewOrder::default()
    }
}

#[test]
fn stop_trigger_budget_is_per_command_across_instruments() {
    let mut venue = Venue::with_config(EngineConfig {
        stop_triggers_per_command_max: 1,
        ..config()
    });
    for id in [1, 2, 3] {
        venue.order(buy_stop(id, I0, 100));
    }
    venue.order(buy_stop(4, I1, 100));
    venue.order(limit(5, 1, Side::Sell, 100, 5));
    let triggered = |id, instrument| Event::Triggered {
        order_id: OrderId(id),
        instrument,
    };
    let remainder = |id, instrument| Event::Cancelled {
        order_id: OrderId(id),
        instrument,
        qty: Qty(1),
        reason: CancelReason::MarketRemainder,
    };
    // A trade at 100 on I0 makes stops 1, 2 and 3 eligible; the budget lets one go.
    let taker = ioc(limit(6, 2, Side::Buy, 100, 5));
    assert_eq!(
        venue.order(taker),
        vec![
            accepted(&taker),
            trade(5, 6, Side::Buy, 100, 5, (0, 0)),
            triggered(1, I0),
            remainder(1, I0),
        ]
    );
    let mut resting = limit(7, 1, Side::Sell, 100, 5);
    resting.instrument = I1;
    assert_eq!(
        venue.order(resting),
        vec![accepted(&resting), triggered(2, I0), remainder(2, I0)]
    );
    // A trade on I1 makes stop 4 eligible, but I0 is checked first and takes the budget.
    let mut taker = ioc(limit(8, 2, Side::Buy, 100, 5));
    taker.instrument = I1;
    assert_eq!(
        venue.order(taker),
        vec![
            accepted(&taker),
            trade_on(I1, 7, 8, Side::Buy, 100, 5, (0, 0)),
            triggered(3, I0),
            remainder(3, I0),
        ]
    );
    // The next command, whatever it is (even a refused one), lets stop 4 go.
    assert_eq!(
        venue.cancel(99, 0),
        vec![
            rejected(99, RejectReason::UnknownOrder, RejectedKind::Cancel),
            triggered(4, I1),
            remainder(4, I1),
        ]
    );
}

#[test]
fn replaced_stop_goes_to_back_of_its_stop_price() {
    let mut venue = Venue::new();
    venue.order(buy_stop(1, I0, 100));
    venue.order(buy_stop(2, I0, 100));
    // A higher quantity at the same stop price loses the place in the stop book.
    let events = venue.run(CommandKind::Replace(ReplaceOrder {
        order_id: OrderId(1),
        account: AccountId(0),
        stop_price: Price(100),
        qty: Qty(2),
        ..ReplaceOrder::default()
    }));
    assert_eq!(events, vec![replaced(1, 0, 2, false)]);
    venue.order(limit(5, 1, Side::Sell, 100, 5));
    let events = venue.order(ioc(limit(6, 2, Side::Buy, 100, 5)));
    let order: Vec<OrderId> = events
        .iter()
        .filter_map(|e| match e {
            Event::Triggered { order_id, .. } => Some(*order_id),
            _ => None,
        })
        .collect();
    assert_eq!(order, vec![OrderId(2), OrderId(1)]);
}
