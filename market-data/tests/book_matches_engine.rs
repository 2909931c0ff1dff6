//! Property: the public book built from the engine's events alone, and the book a receiver
//! rebuilds from the encoded, packetized feed (even with packets lost, repeated and
//! reordered, recovered through the retransmission window and snapshots) equal the
//! engine's own book (`Engine::orders_by_priority`, `Engine::depth`) after every command.

mod common;

use arbiter_market_data::sim::{FlowConfig, SplitMix64};
use arbiter_market_data::{decode_snapshot, Receiver, ReceiverCounters, Recovery, SessionName};
use common::{Run, SESSION};
use proptest::prelude::*;

const WINDOW_LARGE: usize = 1 << 16;

/// Lossless: builder and receiver both equal the engine at every command.
fn lossless(seed: u64, commands: usize, config: FlowConfig, hints: bool) -> Result<(), String> {
    let mut run = Run::new(seed, config, hints, WINDOW_LARGE);
    let orders_max = run.engine.config().orders_max as usize;
    let mut receiver = Receiver::new(Some(SessionName::from_text(SESSION)), orders_max, 1024);
    for packet in run.start() {
        receiver.on_packet(&packet).map_err(|e| e.to_string())?;
    }
    for step in 0..commands {
        let (sim, packets) = run.step();
        for packet in &packets {
            receiver.on_packet(packet).map_err(|e| e.to_string())?;
        }
        let context = |e: String| format!("after command {step} {:?}: {e}", sim.command.kind);
        run.check(run.publisher.builder().books())
            .map_err(context)?;
        if !receiver.books().same_as(run.publisher.builder().books()) {
            return Err(context("receiver differs from publisher".into()));
        }
        if receiver.recovery() != Recovery::UpToDate {
            return Err(context("lossless receiver wants recovery".into()));
        }
    }
    Ok(())
}

fn chance(net: &mut SplitMix64, per_mille: u64) -> bool {
    net.next_u64() % 1000 < per_mille
}

/// Lossy delivery with recovery; returns the receiver's counters.
fn lossy(seed: u64, commands: usize, window: usize) -> Result<ReceiverCounters, String> {
    let config = FlowConfig::default();
    let mut run = Run::new(seed, config, true, window);
    let orders_max = run.engine.config().orders_max as usize;
    let mut receiver = Receiver::new(Some(SessionName::from_text(SESSION)), orders_max, 256);
    let mut net = SplitMix64(seed ^ 0x5EED);
    let mut held: Vec<Vec<u8>> = Vec::new();
    let mut deaf_for = 0u32;
    let mut in_flight = run.start();
    for step in 0..commands {
        let (sim, packets) = run.step();
        in_flight.extend(packets);
        if deaf_for == 0 && chance(&mut net, 15) {
            deaf_for = 5 + u32::try_from(net.next_u64() % 40).unwrap();
        }
        // Lose, repeat, hold back (deliver later) and reorder.
        let mut deliver: Vec<Vec<u8>> = std::mem::take(&mut held);
        for packet in in_flight.drain(..) {
            if deaf_for > 0 || chance(&mut net, 120) {
                continue;
            }
            if chance(&mut net, 60) {
                deliver.push(packet.clone());
            }
            if chance(&mut net, 150) {
                held.push(packet);
            } else {
                deliver.push(packet);
            }
        }
        for i in (1..deliver.len()).rev() {
            let j = usize::try_from(net.next_u64() % (i as u64 + 1)).unwrap();
            deliver.swap(i, j);
        }
        for packet in &deliver {
            receiver.on_packet(packet).map_err(|e| e.to_string())?;
        }
        if deaf_for > 0 {
            deaf_for -= 1;
            continue;
        }
        // The idle heartbeat tells the receiver where the feed is.
        receiver
            .on_packet(&run.publisher.heartbeat())
            .map_err(|e| e.to_string())?;
        for _ in 0..64 {
            match receiver.recovery() {
                Recovery::UpToDate => break,
                Recovery::Retransmit(request) => {
                    let mut responses: Vec<Vec<u8>> = Vec::new();
                    let _ = run.publisher.answer(&request.encode(), &mut |p: &[u8]| {
                        responses.push(p.to_vec())
                    });
                    for packet in &responses {
                        receiver.on_packet(packet).map_err(|e| e.to_string())?;
                    }
                }
                Recovery::Snapshot => {
                    let snapshot = decode_snapshot(&run.publisher.snapshot(), orders_max)
                        .map_err(|e| e.to_string())?;
                    receiver.on_snapshot(snapshot).map_err(|e| e.to_string())?;
                }
            }
        }
        let context = |e: String| format!("after command {step} {:?}: {e}", sim.command.kind);
        if receiver.recovery() != Recovery::UpToDate
            || receiver.next_seq() != run.publisher.builder().next_seq()
        {
            return Err(context(format!(
                "receiver did not catch up: {:?} next {:?}",
                receiver.recovery(),
                receiver.next_seq()
            )));
        }
        if !receiver.books().same_as(run.publisher.builder().books()) {
            return Err(context("receiver differs from publisher".into()));
        }
        run.check(receiver.books()).map_err(context)?;
    }
    Ok(receiver.counters())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn book_from_events_equals_engine_with_display_known(seed in any::<u64>(), commands in 1000usize..2500) {
        prop_assert_eq!(lossless(seed, commands, FlowConfig::default(), true), Ok(()));
    }

    #[test]
    fn book_from_events_alone_equals_engine(seed in any::<u64>(), commands in 1000usize..2500) {
        prop_assert_eq!(lossless(seed, commands, FlowConfig::default(), false), Ok(()));
    }

    #[test]
    fn book_from_events_alone_is_exact_without_icebergs(seed in any::<u64>(), commands in 1000usize..2500) {
        let config = FlowConfig { icebergs: false, ..FlowConfig::default() };
        prop_assert_eq!(lossless(seed, commands, config, false), Ok(()));
    }

    #[test]
    fn receiver_recovers_from_loss_duplication_and_reordering(seed in any::<u64>(), commands in 800usize..2000) {
        prop_assert!(lossy(seed, commands, 48).is_ok(), "{:?}", lossy(seed, commands, 48));
    }
}

#[test]
fn lossy_run_exercises_every_recovery_path() {
    let counters = lossy(7, 3000, 48).unwrap();
    assert!(counters.duplicates > 0, "{counters:?}");
    assert!(counters.buffered > 0, "{counters:?}");
    assert!(counters.refusals > 0, "{counters:?}");
    assert!(counters.snapshots > 0, "{counters:?}");
}

#[test]
fn same_journal_gives_the_same_feed() {
    let feed = |seed| {
        let mut run = Run::new(seed, FlowConfig::default(), false, WINDOW_LARGE);
        let mut bytes = run.start();
        for _ in 0..1500 {
            bytes.extend(run.step().1);
        }
        bytes
    };
    assert_eq!(feed(11), feed(11));
    assert_ne!(feed(11), feed(12));
}

/// The flow is only a good test if it reaches every event the builder handles.
#[test]
fn flow_reaches_every_event_kind() {
    use arbiter_engine::{CancelReason, Event};
    use std::collections::BTreeMap;
    let mut run = Run::new(3, FlowConfig::default(), true, WINDOW_LARGE);
    run.start();
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    for _ in 0..4000 {
        run.step();
        for event in &run.events {
            let name = match event {
                Event::Accepted { ord_type, .. } => format!("Accepted {ord_type:?}"),
                Event::Cancelled { reason, .. } => format!("Cancelled {reason:?}"),
                Event::Replaced { priority_kept, .. } => format!("Replaced kept={priority_kept}"),
                Event::Rejected { .. } => "Rejected".into(),
                Event::Trade(_) => "Trade".into(),
                Event::Triggered { .. } => "Triggered".into(),
                Event::Refreshed { .. } => "Refreshed".into(),
                Event::PhaseChanged { .. } => "PhaseChanged".into(),
                Event::MassCancelled { .. } => "MassCancelled".into(),
                _ => "other".into(),
            };
            *seen.entry(name).or_default() += 1;
        }
    }
    eprintln!("{seen:#?}");
    for kind in [
        "Accepted Limit",
        "Accepted Market",
        "Accepted Stop",
        "Accepted StopLimit",
        "Trade",
        "Triggered",
        "Refreshed",
        "PhaseChanged",
        "MassCancelled",
        "Replaced kept=true",
        "Replaced kept=false",
    ] {
        assert!(
            seen.get(kind).copied().unwrap_or(0) > 0,
            "{kind} never happened"
        );
    }
    for reason in [
        CancelReason::Requested,
        CancelReason::IocRemainder,
        CancelReason::MarketRemainder,
        CancelReason::SelfTrade,
        CancelReason::Expired,
        CancelReason::MassCancel,
        CancelReason::ReplacedToFilled,
        CancelReason::CancelOnDisconnect,
    ] {
        let kind = format!("Cancelled {reason:?}");
        assert!(
            seen.get(&kind).copied().unwrap_or(0) > 0,
            "{kind} never happened"
        );
    }
}
