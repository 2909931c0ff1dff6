//! Per-check rejects, every kill scope, the two-person rule, automatic triggers, and
//! determinism of all of it under replay.

use arbiter_engine::*;

const RM1: OperatorId = OperatorId(1);
const RM2: OperatorId = OperatorId(2);
const ADMIN: OperatorId = OperatorId(9);
const HOUR_NS: u64 = 3_600_000_000_000;

struct Harness {
    engine: Engine,
    seq: u64,
    now: u64,
    log: Vec<Command>,
    config: (EngineConfig, RiskConfig),
}

fn registry() -> InstrumentRegistry {
    InstrumentRegistry::new(vec![Instrument::simple(0, "A"), Instrument::simple(1, "B")]).unwrap()
}

fn engine_config() -> EngineConfig {
    EngineConfig {
        orders_max: 1024,
        levels_per_side_max: 64,
        accounts_max: 4,
        strategies_max: 4,
        sessions_max: 4,
        ..EngineConfig::default()
    }
}

fn risk_config() -> RiskConfig {
    RiskConfig {
        firms_max: 2,
        account_firms: vec![(AccountId(2), FirmId(1)), (AccountId(3), FirmId(1))],
        operators: vec![
            Operator {
                id: RM1,
                role: OperatorRole::RiskManager,
            },
            Operator {
                id: RM2,
                role: OperatorRole::RiskManager,
            },
            Operator {
                id: OperatorId(3),
                role: OperatorRole::RiskManager,
            },
            Operator {
                id: ADMIN,
                role: OperatorRole::Admin,
            },
        ],
        approval_window_ns: 1_000,
        ..RiskConfig::default()
    }
}

impl Harness {
    fn new(risk: RiskConfig) -> Self {
        Harness {
            engine: Engine::with_risk(engine_config(), registry(), &risk),
            seq: 0,
            now: 10 * HOUR_NS,
            log: Vec::new(),
            config: (engine_config(), risk),
        }
    }

    fn run(&mut self, kind: CommandKind) -> Vec<Event> {
        self.seq += 1;
        self.now += 1;
        let command = Command::new(Seq(self.seq), TimestampNs(self.now), kind);
        self.log.push(command);
        let mut events = Vec::new();
        self.engine.apply(&command, &mut events);
        events
    }

    fn risk(&mut self, command: RiskCommand) -> Vec<Event> {
        self.run(CommandKind::Risk(command))
    }

    fn limit(&mut self, scope: RiskScope, instrument: Option<u32>, kind: LimitKind, value: u64) {
        let events = self.risk(RiskCommand::SetLimit {
            operator: ADMIN,
            scope,
            instrument: instrument.map(InstrumentId),
            kind,
            value,
        });
        assert!(
            matches!(events[..], [Event::Risk(RiskEvent::LimitSet { .. })]),
            "{events:?}"
        );
    }

    fn order(&mut self, o: NewOrder) -> Vec<Event> {
        self.run(CommandKind::NewOrder(o))
    }
}

fn order(id: u64, account: u32, side: Side, price: i64, qty: u64) -> NewOrder {
    NewOrder {
        order_id: OrderId(id),
        account: AccountId(account),
        strategy: StrategyId(account),
        session: SessionId(account),
        side,
        price: Price(price),
        qty: Qty(qty),
        tif: TimeInForce::Gtc,
        ..NewOrder::default()
    }
}

fn reject(events: &[Event]) -> Option<RejectReason> {
    match events {
        [Event::Rejected { reason, .. }, ..] => Some(*reason),
        _ => None,
    }
}

fn accepted(events: &[Event]) -> bool {
    matches!(events.first(), Some(Event::Accepted { .. }))
}

#[test]
fn no_limits_changes_nothing() {
    let mut h = Harness::new(RiskConfig::default());
    assert!(accepted(&h.order(order(1, 0, Side::Sell, 100, 1_000_000))));
    assert!(accepted(&h.order(order(2, 1, Side::Buy, 100, 1_000_000))));
    assert_eq!(h.engine.risk_utilisations(), vec![]);
}

#[test]
fn trading_hours() {
    let mut risk = risk_config();
    risk.trading_hours = vec![(
        InstrumentId(0),
        TradingHours {
            open_ns: 9 * HOUR_NS,
            close_ns: 17 * HOUR_NS,
        },
    )];
    let mut h = Harness::new(risk);
    h.now = 8 * HOUR_NS;
    assert_eq!(
        reject(&h.order(order(1, 0, Side::Buy, 100, 1))),
        Some(RejectReason::OutsideTradingHours)
    );
    let mut other = order(2, 0, Side::Buy, 100, 1);
    other.instrument = InstrumentId(1);
    assert!(accepted(&h.order(other)));
    h.now = 24 * HOUR_NS + 9 * HOUR_NS;
    assert!(accepted(&h.order(order(3, 0, Side::Buy, 100, 1))));
    h.now = 17 * HOUR_NS;
    assert_eq!(
        reject(&h.order(order(4, 0, Side::Buy, 100, 1))),
        Some(RejectReason::OutsideTradingHours)
    );
}

#[test]
fn order_size_tightest_applies() {
    let mut h = Harness::new(risk_config());
    h.limit(RiskScope::Global, None, LimitKind::MaxOrderQty, 100);
    h.limit(
        RiskScope::Account(AccountId(0)),
        Some(0),
        LimitKind::MaxOrderQty,
        50,
    );
    assert_eq!(
        reject(&h.order(order(1, 0, Side::Buy, 10, 60))),
        Some(RejectReason::RiskMaxOrderQty)
    );
    let mut b = order(2, 0, Side::Buy, 10, 60);
    b.instrument = InstrumentId(1);
    assert!(accepted(&h.order(b)));
    assert!(accepted(&h.order(order(3, 1, Side::Buy, 10, 60))));
    assert_eq!(
        reject(&h.order(order(4, 1, Side::Buy, 10, 101))),
        Some(RejectReason::RiskMaxOrderQty)
    );

    h.limit(
        RiskScope::Firm(FirmId(1)),
        None,
        LimitKind::MaxOrderNotional,
        1_000,
    );
    assert_eq!(
        reject(&h.order(order(5, 2, Side::Sell, 101, 10))),
        Some(RejectReason::RiskMaxOrderNotional)
    );
    assert!(accepted(&h.order(order(6, 2, Side::Sell, 100, 10))));
    // A market order without a reference price cannot be sized: refused.
    let mut market = order(7, 3, Side::Buy, 0, 5);
    market.ord_type = OrdType::Market;
    market.instrument = InstrumentId(1);
    assert_eq!(
        reject(&h.order(market)),
        Some(RejectReason::RiskMaxOrderNotional)
    );
    h.risk(RiskCommand::SetReferencePrice {
        operator: ADMIN,
        instrument: InstrumentId(1),
        price: Price(100),
    });
    assert!(accepted(&h.order(market)));
}

#[test]
fn price_deviation_bps_and_ticks() {
    let mut h = Harness::new(risk_config());
    h.limit(
        RiskScope::Global,
        Some(0),
        LimitKind::PriceDeviationBps,
        100,
    );
    // No reference yet: no check.
    assert!(accepted(&h.order(order(1, 0, Side::Buy, 5, 1))));
    h.risk(RiskCommand::SetReferencePrice {
        operator: ADMIN,
        instrument: InstrumentId(0),
        price: Price(1_000),
    });
    assert_eq!(
        reject(&h.order(order(2, 0, Side::Buy, 1_011, 1))),
        Some(RejectReason::RiskPriceDeviation)
    );
    assert!(accepted(&h.order(order(3, 0, Side::Buy, 990, 1))));
    h.limit(
        RiskScope::Strategy(StrategyId(1)),
        None,
        LimitKind::PriceDeviationTicks,
        5,
    );
    assert_eq!(
        reject(&h.order(order(4, 1, Side::Sell, 1_006, 1))),
        Some(RejectReason::RiskPriceDeviation)
    );
    assert!(accepted(&h.order(order(5, 1, Side::Sell, 1_005, 1))));
}

#[test]
fn position_worst_case_and_credit() {
    let mut h = Harness::new(risk_config());
    h.limit(
        RiskScope::Strategy(StrategyId(0)),
        Some(0),
        LimitKind::LongPosition,
        10,
    );
    assert!(accepted(&h.order(order(1, 0, Side::Buy, 100, 6))));
    assert_eq!(
        reject(&h.order(order(2, 0, Side::Buy, 100, 5))),
        Some(RejectReason::RiskPositionLimit)
    );
    assert!(accepted(&h.order(order(3, 0, Side::Buy, 100, 4))));
    // Fills move open quantity into position: still 10 in the worst case.
    assert!(accepted(&h.order(order(4, 1, Side::Sell, 100, 10))));
    assert_eq!(
        h.engine
            .position(RiskScope::Strategy(StrategyId(0)), InstrumentId(0)),
        Some(10)
    );
    assert_eq!(
        reject(&h.order(order(5, 0, Side::Buy, 100, 1))),
        Some(RejectReason::RiskPositionLimit)
    );
    // Selling is not limited on the long side.
    assert!(accepted(&h.order(order(6, 0, Side::Sell, 200, 3))));

    h.limit(
        RiskScope::Account(AccountId(2)),
        None,
        LimitKind::OpenNotional,
        1_000,
    );
    assert!(accepted(&h.order(order(10, 2, Side::Buy, 50, 10))));
    assert_eq!(
        reject(&h.order(order(11, 2, Side::Sell, 300, 2))),
        Some(RejectReason::RiskCreditLimit)
    );
    let u = h
        .engine
        .risk_utilisation(
            RiskScope::Account(AccountId(2)),
            None,
            LimitKind::OpenNotional,
        )
        .unwrap();
    assert_eq!((u.used, u.limit), (500, 1_000));
    h.run(CommandKind::Cancel(CancelOrder {
        order_id: OrderId(10),
        account: AccountId(2),
        session: SessionId(2),
    }));
    assert!(accepted(&h.order(order(12, 2, Side::Sell, 300, 2))));
}

#[test]
fn daily_loss_latches_and_kills_automatically() {
    let mut risk = risk_config();
    risk.auto_kill.daily_loss = true;
    let mut h = Harness::new(risk);
    h.limit(
        RiskScope::Strategy(StrategyId(0)),
        None,
        LimitKind::DailyLoss,
        50,
    );
    assert!(accepted(&h.order(order(1, 1, Side::Sell, 100, 10))));
    assert!(accepted(&h.order(order(2, 0, Side::Buy, 100, 10))));
    assert!(accepted(&h.order(order(3, 0, Side::Buy, 80, 1)))); // resting, will be killed
                                                                // Others trade at 90: strategy 0 marks at −100.
    h.order(order(4, 2, Side::Sell, 90, 1));
    let events = h.order(order(5, 3, Side::Buy, 90, 1));
    assert_eq!(
        h.engine.daily_pnl(RiskScope::Strategy(StrategyId(0))),
        Some(-100)
    );
    assert!(events.contains(&Event::Risk(RiskEvent::LimitBreached {
        scope: RiskScope::Strategy(StrategyId(0)),
        kind: LimitKind::DailyLoss,
        figure: -100,
        limit: -50,
    })));
    assert!(
        events.contains(&Event::Risk(RiskEvent::KillSwitchActivated {
            scope: KillScope::Strategy(StrategyId(0)),
            trigger: KillTrigger::DailyLoss,
            reason: KillReason::DailyLossBreach,
            operator: OperatorId(0),
            figure: -100,
            limit: -50,
        }))
    );
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Cancelled {
            order_id: OrderId(3),
            reason: CancelReason::KillSwitch,
            ..
        }
    )));
    assert_eq!(
        reject(&h.order(order(6, 0, Side::Sell, 95, 1))),
        Some(RejectReason::KillSwitchActive)
    );
    // Released, the daily breach still holds until end of day.
    h.risk(RiskCommand::Approve {
        operator: RM1,
        action: ApprovalAction::Release(KillScope::Strategy(StrategyId(0))),
    });
    h.risk(RiskCommand::Approve {
        operator: RM2,
        action: ApprovalAction::Release(KillScope::Strategy(StrategyId(0))),
    });
    assert_eq!(
        reject(&h.order(order(7, 0, Side::Sell, 95, 1))),
        Some(RejectReason::RiskDailyLoss)
    );
    h.run(CommandKind::EndOfDay);
    assert!(accepted(&h.order(order(8, 0, Side::Sell, 95, 1))));
}

#[test]
fn velocity_per_account_and_session() {
    let mut risk = risk_config();
    risk.velocity_window_ns = 100;
    risk.auto_kill.velocity = true;
    let mut h = Harness::new(risk);
    h.limit(
        RiskScope::Account(AccountId(0)),
        None,
        LimitKind::OrdersPerWindow,
        3,
    );
    h.limit(
        RiskScope::Session(SessionId(1)),
        None,
        LimitKind::MessagesPerWindow,
        2,
    );
    for id in 1..=3 {
        assert!(accepted(&h.order(order(id, 0, Side::Buy, 10, 1))));
    }
    let events = h.order(order(4, 0, Side::Buy, 10, 1));
    assert_eq!(reject(&events), Some(RejectReason::RiskVelocity));
    assert_eq!(
        cancelled_ids(&events, CancelReason::KillSwitch),
        vec![1, 2, 3]
    );
    assert_eq!(
        h.engine
            .kill_status(KillScope::Account(AccountId(0)))
            .unwrap()
            .trigger,
        KillTrigger::Velocity
    );

    // Session 1: two messages (a cancel and an order), the third is one too many.
    h.run(CommandKind::Cancel(CancelOrder {
        order_id: OrderId(99),
        account: AccountId(1),
        session: SessionId(1),
    }));
    assert!(accepted(&h.order(order(10, 1, Side::Sell, 50, 1))));
    let events = h.order(order(11, 1, Side::Sell, 50, 1));
    assert_eq!(reject(&events), Some(RejectReason::RiskVelocity));
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Risk(RiskEvent::KillSwitchActivated {
            scope: KillScope::Session(SessionId(1)),
            trigger: KillTrigger::Velocity,
            ..
        })
    )));
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Cancelled {
            order_id: OrderId(10),
            reason: CancelReason::KillSwitch,
            ..
        }
    )));
    assert!(
        h.engine
            .kill_status(KillScope::Session(SessionId(1)))
            .unwrap()
            .active
    );
}

#[test]
fn velocity_window_slides() {
    let mut risk = risk_config();
    risk.velocity_window_ns = 100;
    let mut h = Harness::new(risk);
    h.limit(
        RiskScope::Session(SessionId(0)),
        None,
        LimitKind::OrdersPerWindow,
        2,
    );
    assert!(accepted(&h.order(order(1, 0, Side::Buy, 10, 1))));
    assert!(accepted(&h.order(order(2, 0, Side::Buy, 10, 1))));
    assert_eq!(
        reject(&h.order(order(3, 0, Side::Buy, 10, 1))),
        Some(RejectReason::RiskVelocity)
    );
    let used = h
        .engine
        .risk_utilisation(
            RiskScope::Session(SessionId(0)),
            None,
            LimitKind::OrdersPerWindow,
        )
        .unwrap();
    assert_eq!((used.used, used.limit), (2, 2));
    h.now += 100;
    assert!(accepted(&h.order(order(4, 0, Side::Buy, 10, 1))));
    assert!(
        !h.engine
            .kill_status(KillScope::Session(SessionId(0)))
            .unwrap()
            .active
    );
}

#[test]
fn compliance_restricted_and_duplicate_clordid() {
    let mut risk = risk_config();
    risk.client_refs_per_session_max = 2;
    risk.restricted = vec![(AccountId(0), InstrumentId(1))];
    let mut h = Harness::new(risk);
    let mut b = order(1, 0, Side::Buy, 10, 1);
    b.instrument = InstrumentId(1);
    assert_eq!(
        reject(&h.order(b)),
        Some(RejectReason::RiskRestrictedInstrument)
    );
    h.risk(RiskCommand::SetRestricted {
        operator: ADMIN,
        account: AccountId(0),
        instrument: InstrumentId(1),
        restricted: false,
    });
    assert!(accepted(&h.order(b)));

    let with_ref = |id, client_ref| NewOrder {
        client_ref,
        ..order(id, 2, Side::Buy, 10, 1)
    };
    assert!(accepted(&h.order(with_ref(10, 77))));
    assert_eq!(
        reject(&h.order(with_ref(11, 77))),
        Some(RejectReason::RiskDuplicateClOrdId)
    );
    assert!(accepted(&h.order(with_ref(12, 78))));
    assert_eq!(
        reject(&h.order(with_ref(13, 79))),
        Some(RejectReason::RiskClOrdIdCapacity)
    );
    // Zero means "no ClOrdID": never checked.
    assert!(accepted(&h.order(with_ref(14, 0))));
    h.run(CommandKind::EndOfDay);
    assert!(accepted(&h.order(with_ref(15, 77))));
}

/// Two orders per (account, instrument); account = strategy = session.
fn populated() -> Harness {
    let mut h = Harness::new(risk_config());
    let mut id = 0;
    for account in 0..4 {
        for instrument in 0..2 {
            for k in 0..2 {
                id += 1;
                let mut o = order(id, account, Side::Buy, 10 + k, 1);
                o.instrument = InstrumentId(instrument);
                assert!(accepted(&h.order(o)));
            }
        }
    }
    h
}

fn cancelled_ids(events: &[Event], reason: CancelReason) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Cancelled {
                order_id,
                reason: r,
                ..
            } if *r == reason => Some(order_id.0),
            _ => None,
        })
        .collect()
}

#[test]
fn every_kill_scope_cancels_exactly_its_orders_and_blocks_new_ones() {
    let cases: [(KillScope, Vec<u64>); 5] = [
        (KillScope::Global, (1..=16).collect()),
        (
            KillScope::Instrument(InstrumentId(1)),
            vec![4, 8, 12, 16, 3, 7, 11, 15],
        ),
        (KillScope::Account(AccountId(2)), vec![9, 10, 11, 12]),
        (KillScope::Strategy(StrategyId(1)), vec![5, 6, 7, 8]),
        (KillScope::Session(SessionId(3)), vec![13, 14, 15, 16]),
    ];
    for (scope, expected) in cases {
        let mut h = populated();
        let events = h.risk(RiskCommand::Kill {
            operator: ADMIN,
            scope,
            reason: KillReason::FatFinger,
        });
        assert_eq!(
            events[0],
            Event::Risk(RiskEvent::KillSwitchActivated {
                scope,
                trigger: KillTrigger::Operator,
                reason: KillReason::FatFinger,
                operator: ADMIN,
                figure: 0,
                limit: 0
            })
        );
        let mut got = cancelled_ids(&events, CancelReason::KillSwitch);
        assert_eq!(events.len(), 1 + got.len());
        if matches!(scope, KillScope::Instrument(_)) {
            // Ladder order: best bid level first.
            assert_eq!(got, expected, "{scope:?}");
        } else {
            got.sort_unstable();
            let mut expected = expected.clone();
            expected.sort_unstable();
            assert_eq!(got, expected, "{scope:?}");
        }
        assert_eq!(h.engine.live_orders(), 16 - expected.len() as u32);
        let status = h.engine.kill_status(scope).unwrap();
        assert!(status.active && status.operator == ADMIN && status.pending_release.is_none());
        // New orders in scope are refused; one outside (if any) is accepted.
        let (inside, outside) = match scope {
            KillScope::Global => (order(100, 0, Side::Sell, 99, 1), None),
            KillScope::Instrument(_) => (
                NewOrder {
                    instrument: InstrumentId(1),
                    ..order(100, 0, Side::Sell, 99, 1)
                },
                Some(order(101, 0, Side::Sell, 99, 1)),
            ),
            KillScope::Account(_) => (
                order(100, 2, Side::Sell, 99, 1),
                Some(order(101, 1, Side::Sell, 99, 1)),
            ),
            KillScope::Strategy(_) => (
                order(100, 1, Side::Sell, 99, 1),
                Some(order(101, 0, Side::Sell, 99, 1)),
            ),
            KillScope::Session(_) => (
                order(100, 3, Side::Sell, 99, 1),
                Some(order(101, 2, Side::Sell, 99, 1)),
            ),
        };
        assert_eq!(
            reject(&h.order(inside)),
            Some(RejectReason::KillSwitchActive),
            "{scope:?}"
        );
        if let Some(outside) = outside {
            assert!(accepted(&h.order(outside)), "{scope:?}");
        }
    }
}

#[test]
fn release_needs_two_distinct_risk_managers_within_the_window() {
    let mut h = populated();
    let scope = KillScope::Account(AccountId(1));
    let release = ApprovalAction::Release(scope);
    // Not active yet: nothing to release.
    assert_eq!(
        h.risk(RiskCommand::Approve {
            operator: RM1,
            action: release
        }),
        vec![Event::Risk(RiskEvent::ApprovalRefused {
            action: release,
            operator: RM1,
            refusal: ApprovalRefusal::NotApplicable
        })]
    );
    assert_eq!(
        reject(&h.risk(RiskCommand::Kill {
            operator: OperatorId(77),
            scope,
            reason: KillReason::Drill
        })),
        Some(RejectReason::NotAuthorized)
    );
    h.risk(RiskCommand::Kill {
        operator: ADMIN,
        scope,
        reason: KillReason::Drill,
    });

    let approve = |h: &mut Harness, operator| {
        h.risk(RiskCommand::Approve {
            operator,
            action: release,
        })
    };
    let first = approve(&mut h, RM1);
    assert!(matches!(
        first[..],
        [Event::Risk(RiskEvent::ApprovalRequested {
            operator: RM1,
            ..
        })]
    ));
    assert_eq!(
        h.engine
            .kill_status(scope)
            .unwrap()
            .pending_release
            .unwrap()
            .approvals,
        1
    );
    assert_eq!(
        approve(&mut h, RM1),
        vec![Event::Risk(RiskEvent::ApprovalRefused {
            action: release,
            operator: RM1,
            refusal: ApprovalRefusal::SameOperator
        })]
    );
    assert_eq!(
        approve(&mut h, ADMIN),
        vec![Event::Risk(RiskEvent::ApprovalRefused {
            action: release,
            operator: ADMIN,
            refusal: ApprovalRefusal::WrongRole
        })]
    );
    assert_eq!(
        approve(&mut h, OperatorId(55)),
        vec![Event::Risk(RiskEvent::ApprovalRefused {
            action: release,
            operator: OperatorId(55),
            refusal: ApprovalRefusal::UnknownOperator
        })]
    );
    assert!(h.engine.kill_status(scope).unwrap().active);

    // The window (1,000 ns) passes: the request expires on the next command.
    h.now += 2_000;
    let events = h.run(CommandKind::Clock);
    assert_eq!(
        events,
        vec![Event::Risk(RiskEvent::ApprovalExpired {
            action: release,
            approvals: 1
        })]
    );
    assert_eq!(h.engine.pending_approvals().count(), 0);
    // A late second approval opens a new request instead of completing the old one.
    assert!(matches!(
        approve(&mut h, RM2)[..],
        [Event::Risk(RiskEvent::ApprovalRequested { .. })]
    ));
    let done = approve(&mut h, RM1);
    assert_eq!(
        done,
        vec![
            Event::Risk(RiskEvent::ApprovalGranted {
                action: release,
                operator: RM1
            }),
            Event::Risk(RiskEvent::KillSwitchReleased {
                scope,
                operator: RM1
            }),
        ]
    );
    assert!(!h.engine.kill_status(scope).unwrap().active);
    assert!(accepted(&h.order(order(200, 1, Side::Sell, 99, 1))));
}

#[test]
fn bypass_needs_approval_and_ends_at_end_of_day() {
    let mut risk = risk_config();
    risk.restricted = vec![(AccountId(0), InstrumentId(0))];
    let mut h = Harness::new(risk);
    let action = ApprovalAction::Bypass {
        account: AccountId(0),
        check: RiskCheck::Restricted,
    };
    h.risk(RiskCommand::Approve {
        operator: RM1,
        action,
    });
    assert_eq!(
        reject(&h.order(order(1, 0, Side::Buy, 10, 1))),
        Some(RejectReason::RiskRestrictedInstrument)
    );
    h.risk(RiskCommand::Approve {
        operator: RM2,
        action,
    });
    assert!(accepted(&h.order(order(2, 0, Side::Buy, 10, 1))));
    h.run(CommandKind::EndOfDay);
    assert_eq!(
        reject(&h.order(order(3, 0, Side::Buy, 10, 1))),
        Some(RejectReason::RiskRestrictedInstrument)
    );
}

#[test]
fn cancel_on_disconnect_cancels_without_latching() {
    let mut h = populated();
    let events = h.risk(RiskCommand::CancelOnDisconnect {
        session: SessionId(0),
    });
    assert!(matches!(
        events[0],
        Event::Risk(RiskEvent::KillSwitchActivated {
            trigger: KillTrigger::Gateway,
            ..
        })
    ));
    assert_eq!(
        cancelled_ids(&events, CancelReason::CancelOnDisconnect),
        vec![1, 2, 3, 4]
    );
    assert!(
        !h.engine
            .kill_status(KillScope::Session(SessionId(0)))
            .unwrap()
            .active
    );
    assert!(accepted(&h.order(order(50, 0, Side::Buy, 10, 1))));
}

#[test]
fn replace_is_checked_with_the_old_terms_set_aside() {
    let mut h = Harness::new(risk_config());
    h.limit(
        RiskScope::Account(AccountId(0)),
        Some(0),
        LimitKind::LongPosition,
        10,
    );
    assert!(accepted(&h.order(order(1, 0, Side::Buy, 100, 8))));
    let replace = |qty| {
        CommandKind::Replace(ReplaceOrder {
            order_id: OrderId(1),
            account: AccountId(0),
            session: SessionId(0),
            price: Price(101),
            qty: Qty(qty),
            ..ReplaceOrder::default()
        })
    };
    assert!(matches!(h.run(replace(10))[..], [Event::Replaced { .. }]));
    assert_eq!(
        reject(&h.run(replace(11))),
        Some(RejectReason::RiskPositionLimit)
    );
    assert_eq!(
        h.engine.open_notional(RiskScope::Account(AccountId(0))),
        Some(1_010)
    );
}

#[test]
fn same_commands_same_events_and_digest() {
    let mut risk = risk_config();
    risk.auto_kill = AutoKill {
        daily_loss: true,
        velocity: true,
        position: true,
    };
    risk.client_refs_per_session_max = 64;
    let mut h = populated();
    h.config.1 = risk.clone();
    let mut h = Harness {
        engine: Engine::with_risk(engine_config(), registry(), &risk),
        ..h
    };
    h.log.clear();
    h.limit(
        RiskScope::Strategy(StrategyId(0)),
        None,
        LimitKind::DailyLoss,
        5,
    );
    h.limit(
        RiskScope::Account(AccountId(1)),
        None,
        LimitKind::MessagesPerWindow,
        10,
    );
    for id in 1..40u64 {
        let account = (id % 4) as u32;
        let side = if id % 3 == 0 { Side::Sell } else { Side::Buy };
        h.order(NewOrder {
            client_ref: id % 7,
            ..order(id, account, side, 95 + (id % 11) as i64, id % 5 + 1)
        });
    }
    h.risk(RiskCommand::Kill {
        operator: ADMIN,
        scope: KillScope::Instrument(InstrumentId(0)),
        reason: KillReason::MarketEvent,
    });
    h.risk(RiskCommand::Approve {
        operator: RM1,
        action: ApprovalAction::Release(KillScope::Instrument(InstrumentId(0))),
    });
    h.now += 5_000;
    h.run(CommandKind::Clock);

    let replay = |log: &[Command]| {
        let mut engine = Engine::with_risk(engine_config(), registry(), &risk);
        let mut events = Vec::new();
        let mut digests = Vec::new();
        for command in log {
            engine.apply(command, &mut events);
            digests.push(engine.digest());
        }
        (events, digests)
    };
    let (first_events, first_digests) = replay(&h.log);
    let (second_events, second_digests) = replay(&h.log);
    assert_eq!(first_events, second_events);
    assert_eq!(first_digests, second_digests);
    assert_eq!(*first_digests.last().unwrap(), h.engine.digest());
    assert!(first_events
        .iter()
        .any(|e| matches!(e, Event::Risk(RiskEvent::ApprovalExpired { .. }))));

    // The journal encoding carries risk commands: decode(encode) replays identically.
    let decoded: Vec<Command> = h
        .log
        .iter()
        .map(|c| {
            let mut buffer = [0u8; wire::COMMAND_BYTES_MAX];
            let len = wire::encode(&c.kind, &mut buffer);
            wire::decode(c.seq, c.timestamp, &buffer[..len]).unwrap()
        })
        .collect();
    assert_eq!(decoded, h.log);

    // Risk state is in the digest: a limit change alone changes it.
    let before = h.engine.digest();
    h.limit(RiskScope::Global, None, LimitKind::MaxOrderQty, 1);
    assert_ne!(before, h.engine.digest());
}
