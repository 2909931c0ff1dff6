//! `what-if`: the same commands through two engines, one built from the journal's
//! configuration and one from another file, and what came out differently: orders accepted
//! or rejected differently, fills that changed, and P&L per account and instrument.
//!
//! Both engines start empty at `--from-seq` (default: the journal's start) and stop after
//! `--to-seq`: a window that starts mid-day starts without the orders resting before it.
use std::collections::BTreeMap;
use std::io::Write;

use arbiter_engine::{AccountId, CommandKind, Event, InstrumentId};
use arbiter_journal::{Reader, Sequence};

use crate::error::ReplayError;
use crate::names::word;
use crate::progress::Progress;
use crate::render::text_event;
use crate::replayer::Replayer;
use crate::source::{decode, Item};
use crate::venue::{format_units, Venue};
use crate::Outcome;

/// Position and cash of one account in one instrument.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Book {
    position: i128,
    cash: i128,
}

#[derive(Debug, Default)]
struct Ledger {
    books: BTreeMap<(u32, u32), Book>,
    last_price: BTreeMap<u32, i64>,
}

impl Ledger {
    fn record(&mut self, replayer: &Replayer) {
        for event in &replayer.events {
            let Event::Trade(t) = event else { continue };
            let qty = i128::from(t.qty.0);
            let notional = qty * i128::from(t.price.0);
            for (order_id, buys) in [
                (t.taker_order_id, t.taker_side == arbiter_engine::Side::Buy),
                (t.maker_order_id, t.taker_side != arbiter_engine::Side::Buy),
            ] {
                let Some(info) = replayer.order(order_id) else {
                    continue;
                };
                let book = self
                    .books
                    .entry((info.account.0, t.instrument.0))
                    .or_default();
                if buys {
                    book.position += qty;
                    book.cash -= notional;
                } else {
                    book.position -= qty;
                    book.cash += notional;
                }
            }
            self.last_price.insert(t.instrument.0, t.price.0);
        }
    }

    /// Cash plus position marked at the run's last trade price, in price units × quantity.
    fn pnl(&self, key: (u32, u32)) -> (i128, i128) {
        let book = self.books.get(&key).copied().unwrap_or_default();
        let mark = i128::from(self.last_price.get(&key.1).copied().unwrap_or(0));
        (book.position, book.cash + book.position * mark)
    }
}

/// One command whose outcome differs.
#[derive(Debug)]
struct Difference {
    sequence: u64,
    line: String,
}

/// Runs `what-if`: returns the output's outcome (differences are not failures).
///
/// # Errors
/// Journal and decoding errors; [`ReplayError::Config`] when the other configuration
/// renumbers the journal's instruments.
#[allow(clippy::too_many_lines)]
pub fn run(
    reader: &Reader,
    base: Venue,
    other: Venue,
    from_seq: u64,
    to_seq: u64,
    shown_max: usize,
    out: &mut dyn Write,
) -> Result<Outcome, ReplayError> {
    for index in 0..base.instrument_count() {
        let id = InstrumentId(u32::try_from(index).unwrap_or(u32::MAX));
        if other.symbol(id) != base.symbol(id) {
            return Err(ReplayError::Config(format!(
                "the other configuration has {} where the journal's has {} (instrument {index}): \
                 keep the instruments in the same order",
                other.symbol(id),
                base.symbol(id)
            )));
        }
    }
    let mut before = Replayer::new(base, true);
    let mut after = Replayer::new(other, true);
    let (mut ledger_before, mut ledger_after) = (Ledger::default(), Ledger::default());
    let mut differences = Vec::new();
    let (mut commands, mut outcome_changed, mut fills_changed, mut other_changed) = (0u64, 0, 0, 0);
    let mut progress = Progress::new("what-if");
    for record in reader.iter_from_seq(Sequence(from_seq)) {
        let view = record?;
        if view.sequence().0 > to_seq {
            break;
        }
        let Item::Command {
            command,
            annotation,
        } = decode(&view)?
        else {
            continue;
        };
        before.apply(&command, annotation);
        after.apply(&command, annotation);
        commands += 1;
        progress.tick(commands);
        ledger_before.record(&before);
        ledger_after.record(&after);
        if before.events == after.events {
            continue;
        }
        let sequence = view.sequence().0;
        let trades = |r: &Replayer| -> Vec<Event> {
            r.events
                .iter()
                .filter(|e| matches!(e, Event::Trade(_)))
                .copied()
                .collect()
        };
        let mut line = String::new();
        if let CommandKind::NewOrder(o) = command.kind {
            let verdict = |r: &Replayer| {
                r.events
                    .iter()
                    .find_map(|e| match e {
                        Event::Accepted { order_id, .. } if *order_id == o.order_id => {
                            Some("accepted".to_owned())
                        }
                        Event::Rejected {
                            order_id, reason, ..
                        } if *order_id == o.order_id => Some(format!("rejected {}", word(reason))),
                        _ => None,
                    })
                    .unwrap_or_else(|| "no verdict".to_owned())
            };
            let (was, now) = (verdict(&before), verdict(&after));
            if was != now {
                outcome_changed += 1;
                line = format!(
                    "seq {sequence}: order {} {} {} {} {}: {was} -> {now}",
                    o.order_id.0,
                    crate::render::annotation_text(annotation),
                    before.venue.symbol(o.instrument),
                    word(&o.side),
                    o.qty.0
                );
            }
        }
        let (trades_before, trades_after) = (trades(&before), trades(&after));
        if trades_before != trades_after {
            fills_changed += 1;
            let show = |r: &Replayer, list: &[Event]| {
                let mut text = String::new();
                for (i, event) in list.iter().enumerate() {
                    if i > 0 {
                        text.push_str("; ");
                    }
                    text_event(&mut text, &r.venue, event);
                }
                if text.is_empty() {
                    text.push_str("no fill");
                }
                text
            };
            if !line.is_empty() {
                line.push('\n');
            }
            line.push_str(&format!(
                "seq {sequence}: fills {} -> {}",
                show(&before, &trades_before),
                show(&after, &trades_after)
            ));
        }
        if line.is_empty() {
            other_changed += 1;
            let show = |r: &Replayer| {
                let mut text = String::new();
                for (i, event) in r.events.iter().enumerate() {
                    if i > 0 {
                        text.push_str("; ");
                    }
                    text_event(&mut text, &r.venue, event);
                }
                text
            };
            line = format!(
                "seq {sequence}: events {} -> {}",
                show(&before),
                show(&after)
            );
        }
        differences.push(Difference { sequence, line });
    }
    progress.finish(commands);
    if differences.is_empty() {
        writeln!(
            out,
            "no difference ({commands} commands replayed under both configurations)"
        )?;
        return Ok(Outcome::Clean);
    }
    writeln!(
        out,
        "{} of {commands} commands differ: {outcome_changed} orders accepted/rejected differently, \
         {fills_changed} with different fills, {other_changed} otherwise",
        differences.len()
    )?;
    for difference in differences.iter().take(shown_max) {
        writeln!(out, "{}", difference.line)?;
    }
    if differences.len() > shown_max {
        writeln!(
            out,
            "... {} more (first not shown: seq {}; raise --show)",
            differences.len() - shown_max,
            differences[shown_max].sequence
        )?;
    }
    writeln!(
        out,
        "P&L per account and instrument (marked at each run's last trade price):"
    )?;
    writeln!(
        out,
        "  {:<10} {:<10} {:>14} {:>14} {:>18} {:>18} {:>18}",
        "account",
        "instrument",
        "position_before",
        "position_after",
        "pnl_before",
        "pnl_after",
        "pnl_change"
    )?;
    let mut keys: Vec<(u32, u32)> = ledger_before.books.keys().copied().collect();
    keys.extend(ledger_after.books.keys().copied());
    keys.sort_unstable();
    keys.dedup();
    for key in keys {
        let (position_before, pnl_before) = ledger_before.pnl(key);
        let (position_after, pnl_after) = ledger_after.pnl(key);
        if position_before == position_after && pnl_before == pnl_after {
            continue;
        }
        let instrument = InstrumentId(key.1);
        let decimals = before.venue.price_decimals(instrument);
        writeln!(
            out,
            "  {:<10} {:<10} {:>14} {:>14} {:>18} {:>18} {:>18}",
            before.venue.account(AccountId(key.0)),
            before.venue.symbol(instrument),
            position_before,
            position_after,
            format_units(pnl_before, decimals),
            format_units(pnl_after, decimals),
            format_units(pnl_after - pnl_before, decimals),
        )?;
    }
    Ok(Outcome::Clean)
}
