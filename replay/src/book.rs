//! `book`: the engine state at a sequence or a time — L2 depth and L3 orders per
//! instrument. The state is rebuilt from the nearest snapshot at or before the point when
//! one is given or found beside the journal ([`crate::resume`]), else by replaying from the
//! journal's start; both paths print the same.
use std::io::Write;
use std::path::Path;

use arbiter_engine::{InstrumentId, Side};
use arbiter_journal::{Reader, Sequence};
use serde_json::{json, Value};

use crate::error::ReplayError;
use crate::filter::Filter;
use crate::names::word;
use crate::replayer::Replayer;
use crate::resume::{resume, Limit, Resumed};
use crate::source::Item;
use crate::time::format_iso_us;
use crate::venue::Venue;
use crate::walk::{walk, walk_from, Flow};
use crate::Outcome;

/// Where to stop.
#[derive(Debug, Clone, Copy)]
pub enum Point {
    /// After the record with this sequence.
    Sequence(u64),
    /// After the last record stamped at or before this time (ns).
    Time(u64),
}

/// The rebuilt state at the point.
struct AtPoint {
    replayer: Replayer,
    /// Sequence of the last record replayed (0 when none).
    sequence: u64,
    /// Its timestamp.
    time_ns: u64,
}

/// Replays from the journal's start.
fn from_start(
    reader: &Reader,
    venue: Venue,
    follow_configs: bool,
    filter: &Filter,
) -> Result<AtPoint, ReplayError> {
    let mut replayer = Replayer::new(venue, true);
    let mut time_ns = 0;
    let summary = walk(
        reader,
        &mut replayer,
        filter,
        follow_configs,
        |_, view, _| {
            time_ns = view.timestamp().0;
            Ok(Flow::Continue)
        },
    )?;
    Ok(AtPoint {
        replayer,
        sequence: summary.last_sequence,
        time_ns,
    })
}

/// Replays the records after a restored snapshot, checking every DIGEST record on the way;
/// `Ok(Err(why))` when one differs (the snapshot does not hold this journal's state).
fn from_snapshot(
    reader: &Reader,
    resumed: Resumed,
    follow_configs: bool,
    filter: &Filter,
) -> Result<Result<AtPoint, String>, ReplayError> {
    let Resumed {
        mut replayer,
        sequence,
        timestamp_ns,
        path,
    } = resumed;
    let mut time_ns = timestamp_ns;
    let mut diverged = None;
    let summary = walk_from(
        reader,
        &mut replayer,
        Sequence(sequence + 1),
        filter,
        follow_configs,
        |replayer, view, item| {
            time_ns = view.timestamp().0;
            if let Item::Digest(expected) = item {
                let actual = replayer.engine.digest();
                if *expected != Some(actual) {
                    diverged = Some(view.sequence().0);
                    return Ok(Flow::Stop);
                }
            }
            Ok(Flow::Continue)
        },
    )?;
    if let Some(at) = diverged {
        return Ok(Err(format!(
            "the state restored from snapshot {} differs from the journal's DIGEST record {at}",
            path.display()
        )));
    }
    Ok(Ok(AtPoint {
        replayer,
        sequence: if summary.records == 0 {
            sequence
        } else {
            summary.last_sequence
        },
        time_ns,
    }))
}

/// Prints the book at `point`, starting from the nearest usable snapshot in `snapshots`
/// when given.
///
/// # Errors
/// Journal, decoding and output errors.
#[allow(clippy::too_many_arguments)]
pub fn run(
    reader: &Reader,
    venue: Venue,
    follow_configs: bool,
    point: Point,
    instrument: Option<InstrumentId>,
    levels_max: usize,
    json: bool,
    snapshots: Option<&Path>,
    out: &mut dyn Write,
) -> Result<Outcome, ReplayError> {
    let mut filter = Filter::all();
    let limit = match point {
        Point::Sequence(sequence) => {
            filter.to_seq = sequence;
            Limit::Sequence(sequence)
        }
        Point::Time(time_ns) => {
            filter.to_time_ns = time_ns;
            Limit::Time(time_ns)
        }
    };
    let mut state = None;
    if let Some(dir) = snapshots {
        match resume(reader, &venue, follow_configs, dir, limit, true) {
            Some(resumed) => match from_snapshot(reader, resumed, follow_configs, &filter)? {
                Ok(at) => state = Some(at),
                Err(why) => eprintln!("arbiter-replay: {why}; replaying the whole journal"),
            },
            None => eprintln!(
                "arbiter-replay: no usable snapshot at or before the point in {}; replaying the \
                 whole journal",
                dir.display()
            ),
        }
    }
    let at = match state {
        Some(at) => at,
        None => from_start(reader, venue, follow_configs, &filter)?,
    };
    let AtPoint {
        replayer,
        sequence: last_sequence,
        time_ns: at_time_ns,
    } = at;
    let instruments: Vec<InstrumentId> = (0..replayer.venue.instrument_count())
        .filter_map(|i| u32::try_from(i).ok().map(InstrumentId))
        .filter(|i| instrument.is_none_or(|only| only == *i))
        .collect();
    let digest = replayer.engine.digest();
    if json {
        let books: Vec<Value> = instruments
            .iter()
            .map(|&i| json_book(&replayer, i, levels_max))
            .collect();
        let value = json!({
            "seq": last_sequence,
            "time": format_iso_us(at_time_ns),
            "venue": replayer.venue.name(),
            "digest": format!("{digest:016x}"),
            "live_orders": replayer.engine.live_orders(),
            "instruments": books,
        });
        writeln!(out, "{value}")?;
    } else {
        writeln!(
            out,
            "book at seq {} ({}) venue={} live_orders={} digest={digest:016x}",
            last_sequence,
            format_iso_us(at_time_ns),
            replayer.venue.name(),
            replayer.engine.live_orders()
        )?;
        for &i in &instruments {
            text_book(&replayer, i, levels_max, out)?;
        }
    }
    out.flush()?;
    Ok(Outcome::Clean)
}

fn text_book(
    replayer: &Replayer,
    instrument: InstrumentId,
    levels_max: usize,
    out: &mut dyn Write,
) -> Result<(), ReplayError> {
    let venue = &replayer.venue;
    let engine = &replayer.engine;
    let phase = engine
        .phase(instrument)
        .map_or_else(|| "?".to_owned(), |p| word(&p));
    let last = engine
        .last_price(instrument)
        .map_or_else(|| "-".to_owned(), |p| venue.price(instrument, p));
    writeln!(out)?;
    writeln!(
        out,
        "{} phase={phase} last={last}",
        venue.symbol(instrument)
    )?;
    let bids = engine.depth(instrument, Side::Buy, levels_max);
    let asks = engine.depth(instrument, Side::Sell, levels_max);
    writeln!(
        out,
        "  {:>7} {:>10} {:>12} | {:<12} {:<10} {:<7}",
        "orders", "bid_qty", "bid", "ask", "ask_qty", "orders"
    )?;
    for level in 0..bids.len().max(asks.len()) {
        let (bid_orders, bid_qty, bid) = bids.get(level).map_or_else(
            || (String::new(), String::new(), String::new()),
            |(p, q, n)| (n.to_string(), q.0.to_string(), venue.price(instrument, *p)),
        );
        let (ask, ask_qty, ask_orders) = asks.get(level).map_or_else(
            || (String::new(), String::new(), String::new()),
            |(p, q, n)| (venue.price(instrument, *p), q.0.to_string(), n.to_string()),
        );
        writeln!(
            out,
            "  {bid_orders:>7} {bid_qty:>10} {bid:>12} | {ask:<12} {ask_qty:<10} {ask_orders:<7}"
        )?;
    }
    for (side, levels) in [(Side::Buy, &bids), (Side::Sell, &asks)] {
        let prices: Vec<_> = levels.iter().map(|(p, _, _)| *p).collect();
        let orders: Vec<_> = engine
            .orders_by_priority(instrument, side)
            .filter(|o| prices.contains(&o.price))
            .collect();
        if orders.is_empty() {
            continue;
        }
        writeln!(out, "  L3 {}", word(&side))?;
        for o in orders {
            let clordid = replayer
                .order(o.id)
                .map(|info| info.client_order_id.text())
                .unwrap_or_default();
            writeln!(
                out,
                "    {:>12} order={} qty={} filled={} leaves={} visible={} {} {} account={} strategy={} clordid={clordid:?}",
                venue.price(instrument, o.price),
                o.id.0,
                o.qty.0,
                o.filled.0,
                o.leaves.0,
                o.visible.0,
                word(&o.ord_type),
                word(&o.tif),
                venue.account(o.account),
                o.strategy.0,
            )?;
        }
    }
    Ok(())
}

fn json_book(replayer: &Replayer, instrument: InstrumentId, levels_max: usize) -> Value {
    let venue = &replayer.venue;
    let engine = &replayer.engine;
    let side_json = |side: Side| {
        let levels = engine.depth(instrument, side, levels_max);
        let prices: Vec<_> = levels.iter().map(|(p, _, _)| *p).collect();
        let l2: Vec<Value> = levels
            .iter()
            .map(|(p, q, n)| json!({"price": venue.price(instrument, *p), "qty": q.0, "orders": n}))
            .collect();
        let l3: Vec<Value> = engine
            .orders_by_priority(instrument, side)
            .filter(|o| prices.contains(&o.price))
            .map(|o| {
                json!({
                    "order_id": o.id.0,
                    "price": venue.price(instrument, o.price),
                    "qty": o.qty.0,
                    "filled": o.filled.0,
                    "leaves": o.leaves.0,
                    "visible": o.visible.0,
                    "ord_type": word(&o.ord_type),
                    "tif": word(&o.tif),
                    "account": venue.account(o.account),
                    "strategy": o.strategy.0,
                    "clordid": replayer.order(o.id).map(|i| i.client_order_id.text()),
                })
            })
            .collect();
        (l2, l3)
    };
    let (bids, bid_orders) = side_json(Side::Buy);
    let (asks, ask_orders) = side_json(Side::Sell);
    json!({
        "symbol": venue.symbol(instrument),
        "phase": engine.phase(instrument).map(|p| word(&p)),
        "last_price": engine.last_price(instrument).map(|p| venue.price(instrument, p)),
        "bids": bids,
        "asks": asks,
        "orders": {"buy": bid_orders, "sell": ask_orders},
    })
}
