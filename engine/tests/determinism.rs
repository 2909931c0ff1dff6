//! Determinism: the engine's output is a function of its commands alone.
//!
//! Two engines fed the same generated commands emit identical events and report identical
//! digests after every command; a fresh engine replaying the same commands ends with the
//! same digest; and replaying any prefix reproduces the digest seen at that point.

mod model;

use arbiter_engine::Engine;
use model::generate::{registry, scenario};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn same_commands_same_events_and_digest(scenario in scenario(300)) {
        let config = scenario.config();
        let commands = scenario.commands();
        let mut first = Engine::new(config, registry());
        let mut second = Engine::new(config, registry());
        let mut digests = Vec::with_capacity(commands.len());
        for (index, command) in commands.iter().enumerate() {
            let mut first_events = Vec::new();
            let mut second_events = Vec::new();
            first.apply(command, &mut first_events);
            second.apply(command, &mut second_events);
            prop_assert_eq!(&first_events, &second_events, "events differ at #{}", index);
            prop_assert_eq!(first.digest(), second.digest(), "digest differs at #{}", index);
            digests.push(first.digest());
        }

        let mut replay = Engine::new(config, registry());
        let mut sink = Vec::new();
        for command in &commands {
            replay.apply(command, &mut sink);
        }
        prop_assert_eq!(replay.digest(), first.digest());

        // A prefix replayed into a fresh engine lands on the digest seen at that point.
        let cut = commands.len() / 2;
        let mut prefix = Engine::new(config, registry());
        for command in &commands[..=cut] {
            prefix.apply(command, &mut sink);
        }
        prop_assert_eq!(prefix.digest(), digests[cut]);
    }
}

/// A digest that ignored the book would pass every test above: it must change when an order
/// rests.
#[test]
fn digest_changes_when_an_order_rests() {
    use arbiter_engine::{
        AccountId, Command, CommandKind, NewOrder, OrderId, Price, Qty, Seq, Side, TimeInForce,
        TimestampNs,
    };
    let mut engine = Engine::new(model::generate::config_roomy(), registry());
    let empty = engine.digest();
    let command = Command::new(
        Seq(1),
        TimestampNs(1_000),
        CommandKind::NewOrder(NewOrder {
            order_id: OrderId(1),
            instrument: model::generate::EASY,
            account: AccountId(0),
            side: Side::Buy,
            price: Price(100),
            qty: Qty(5),
            tif: TimeInForce::Gtc,
            ..NewOrder::default()
        }),
    );
    let mut events = Vec::new();
    engine.apply(&command, &mut events);
    assert_ne!(engine.digest(), empty, "events: {events:?}");
}
