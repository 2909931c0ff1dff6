//! `export`: the journal as a table (commands, events, trades or order lifecycle) in CSV or
//! Parquet. The lifecycle table carries the MiFID II RTS 6 (Art. 28) / RTS 24 order
//! record-keeping fields: time to the microsecond, order and client order ids, instrument,
//! side, original/filled/remaining quantity, price, order type, time in force, venue, the
//! status after each step, strategy id and the trader/algo (account).
use std::path::Path;

use arbiter_engine::{CommandKind, Event, OrdType};
use arbiter_journal::Reader;

use crate::error::ReplayError;
use crate::filter::Filter;
use crate::names::{command_word, event_word, word};
use crate::render::annotation_text;
use crate::replayer::Replayer;
use crate::source::Item;
use crate::table::{int, open, text, Cell, Column, Format};
use crate::time::{format_iso_us, micros};
use crate::venue::Venue;
use crate::walk::{walk, Flow};
use crate::Outcome;

/// Which table to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TableKind {
    /// One row per command record.
    Commands,
    /// One row per event the commands caused.
    Events,
    /// One row per trade, both sides named.
    Trades,
    /// One row per order lifecycle step (MiFID II RTS 6 record keeping).
    Lifecycle,
}

/// Columns of the commands table.
pub const COMMAND_COLUMNS: &[Column] = &[
    int("seq"),
    int("timestamp_us"),
    text("time"),
    text("kind"),
    int("order_id"),
    text("client_order_id"),
    text("instrument"),
    text("account"),
    int("strategy_id"),
    int("session_id"),
    text("side"),
    text("order_type"),
    text("tif"),
    text("price"),
    text("stop_price"),
    int("qty"),
    int("display_qty"),
    text("detail"),
];

/// Columns of the events table.
pub const EVENT_COLUMNS: &[Column] = &[
    int("seq"),
    int("timestamp_us"),
    text("time"),
    int("event_index"),
    text("command"),
    text("kind"),
    int("order_id"),
    text("instrument"),
    text("side"),
    text("order_type"),
    text("price"),
    int("qty"),
    int("leaves"),
    int("maker_order_id"),
    int("taker_order_id"),
    text("reason"),
    text("detail"),
];

/// Columns of the trades table.
pub const TRADE_COLUMNS: &[Column] = &[
    int("seq"),
    int("timestamp_us"),
    text("time"),
    int("trade_id"),
    text("instrument"),
    text("price"),
    int("qty"),
    text("taker_side"),
    int("maker_order_id"),
    int("taker_order_id"),
    text("maker_client_order_id"),
    text("taker_client_order_id"),
    text("maker_account"),
    text("taker_account"),
    int("maker_strategy_id"),
    int("taker_strategy_id"),
    int("maker_leaves"),
    int("taker_leaves"),
];

/// Columns of the lifecycle table.
pub const LIFECYCLE_COLUMNS: &[Column] = &[
    int("timestamp_us"),
    text("time"),
    int("seq"),
    int("order_id"),
    text("client_order_id"),
    text("instrument"),
    text("side"),
    int("original_qty"),
    int("filled_qty"),
    int("remaining_qty"),
    text("price"),
    text("order_type"),
    text("tif"),
    text("venue"),
    text("status"),
    text("reason"),
    int("last_qty"),
    text("last_price"),
    int("strategy_id"),
    text("trader_id"),
    int("account_id"),
];

impl TableKind {
    /// The table's columns.
    #[must_use]
    pub fn columns(self) -> &'static [Column] {
        match self {
            TableKind::Commands => COMMAND_COLUMNS,
            TableKind::Events => EVENT_COLUMNS,
            TableKind::Trades => TRADE_COLUMNS,
            TableKind::Lifecycle => LIFECYCLE_COLUMNS,
        }
    }
}

/// Exports `table` of the records passing `filter` to `path`; returns the rows written.
///
/// # Errors
/// Journal, decoding and file errors.
pub fn run(
    reader: &Reader,
    venue: Venue,
    follow_configs: bool,
    filter: &Filter,
    table: TableKind,
    format: Format,
    path: &Path,
) -> Result<(Outcome, u64), ReplayError> {
    let mut sink = open(format, path, table.columns())?;
    let mut replayer = Replayer::new(venue, true);
    let mut rows = 0u64;
    let mut trade_id = 0u64;
    let mut cells: Vec<Cell> = Vec::with_capacity(32);
    walk(
        reader,
        &mut replayer,
        filter,
        follow_configs,
        |replayer, view, item| {
            let Item::Command {
                command,
                annotation,
            } = item
            else {
                return Ok(Flow::Continue);
            };
            let trades_before = trade_id;
            trade_id += replayer
                .events
                .iter()
                .filter(|e| matches!(e, Event::Trade(_)))
                .count() as u64;
            let (sequence, timestamp_ns) = (view.sequence().0, view.timestamp().0);
            if !filter.in_range(sequence, timestamp_ns) || !filter.passes(item, replayer) {
                return Ok(Flow::Continue);
            }
            let venue = &replayer.venue;
            let stamp = |cells: &mut Vec<Cell>| {
                cells.push(sequence.into());
                cells.push(Cell::Int(micros(timestamp_ns)));
                cells.push(format_iso_us(timestamp_ns).into());
            };
            match table {
                TableKind::Commands => {
                    cells.clear();
                    stamp(&mut cells);
                    command_cells(&mut cells, replayer, &command.kind, annotation);
                    sink.row(&cells)?;
                    rows += 1;
                }
                TableKind::Events => {
                    for (index, event) in replayer.events.iter().enumerate() {
                        cells.clear();
                        stamp(&mut cells);
                        cells.push((index as u64).into());
                        cells.push(command_word(&command.kind).into());
                        event_cells(&mut cells, venue, event);
                        sink.row(&cells)?;
                        rows += 1;
                    }
                }
                TableKind::Trades => {
                    let mut number = trades_before;
                    for event in &replayer.events {
                        let Event::Trade(t) = event else { continue };
                        number += 1;
                        if !(filter.order_passes(t.maker_order_id, replayer)
                            || filter.order_passes(t.taker_order_id, replayer))
                        {
                            continue;
                        }
                        let maker = replayer.order(t.maker_order_id);
                        let taker = replayer.order(t.taker_order_id);
                        cells.clear();
                        stamp(&mut cells);
                        cells.push(number.into());
                        cells.push(venue.symbol(t.instrument).into());
                        cells.push(venue.price(t.instrument, t.price).into());
                        cells.push(t.qty.0.into());
                        cells.push(word(&t.taker_side).into());
                        cells.push(t.maker_order_id.0.into());
                        cells.push(t.taker_order_id.0.into());
                        cells.push(maker.map(|o| o.client_order_id.text()).into());
                        cells.push(taker.map(|o| o.client_order_id.text()).into());
                        cells.push(maker.map(|o| venue.account(o.account)).into());
                        cells.push(taker.map(|o| venue.account(o.account)).into());
                        cells.push(maker.map(|o| o.strategy.0).into());
                        cells.push(taker.map(|o| o.strategy.0).into());
                        cells.push(t.maker_leaves.0.into());
                        cells.push(t.taker_leaves.0.into());
                        sink.row(&cells)?;
                        rows += 1;
                    }
                }
                TableKind::Lifecycle => {
                    for step in &replayer.steps {
                        if !filter.order_passes(step.order.order_id, replayer) {
                            continue;
                        }
                        let o = &step.order;
                        cells.clear();
                        cells.push(Cell::Int(micros(timestamp_ns)));
                        cells.push(format_iso_us(timestamp_ns).into());
                        cells.push(sequence.into());
                        cells.push(o.order_id.0.into());
                        cells.push(o.client_order_id.text().into());
                        cells.push(venue.symbol(o.instrument).into());
                        cells.push(word(&o.side).into());
                        cells.push(o.qty.0.into());
                        cells.push(o.filled.0.into());
                        cells.push(step.leaves.0.into());
                        cells.push(limit_price(venue, o.instrument, o.ord_type, o.price));
                        cells.push(word(&o.ord_type).into());
                        cells.push(word(&o.tif).into());
                        cells.push(venue.name().into());
                        cells.push(step.status.word().into());
                        cells.push(
                            step.reject_reason
                                .map(|r| word(&r))
                                .or(step.cancel_reason.map(|r| word(&r)))
                                .into(),
                        );
                        if step.last_qty.0 == 0 {
                            cells.push(Cell::Null);
                            cells.push(Cell::Null);
                        } else {
                            cells.push(step.last_qty.0.into());
                            cells.push(venue.price(o.instrument, step.last_price).into());
                        }
                        cells.push(o.strategy.0.into());
                        cells.push(venue.account(o.account).into());
                        cells.push(o.account.0.into());
                        sink.row(&cells)?;
                        rows += 1;
                    }
                }
            }
            Ok(Flow::Continue)
        },
    )?;
    sink.finish()?;
    Ok((Outcome::Clean, rows))
}

fn limit_price(
    venue: &Venue,
    instrument: arbiter_engine::InstrumentId,
    ord_type: OrdType,
    price: arbiter_engine::Price,
) -> Cell {
    if matches!(ord_type, OrdType::Limit | OrdType::StopLimit) {
        venue.price(instrument, price).into()
    } else {
        Cell::Null
    }
}

fn command_cells(
    cells: &mut Vec<Cell>,
    replayer: &Replayer,
    kind: &CommandKind,
    annotation: &[u8],
) {
    let venue = &replayer.venue;
    cells.push(command_word(kind).into());
    let clordid = if annotation.is_empty() {
        Cell::Null
    } else {
        annotation_text(annotation).into()
    };
    match kind {
        CommandKind::NewOrder(o) => {
            cells.push(o.order_id.0.into());
            cells.push(clordid);
            cells.push(venue.symbol(o.instrument).into());
            cells.push(venue.account(o.account).into());
            cells.push(o.strategy.0.into());
            cells.push(o.session.0.into());
            cells.push(word(&o.side).into());
            cells.push(word(&o.ord_type).into());
            cells.push(word(&o.tif).into());
            cells.push(limit_price(venue, o.instrument, o.ord_type, o.price));
            cells.push(
                if matches!(o.ord_type, OrdType::Stop | OrdType::StopLimit) {
                    venue.price(o.instrument, o.stop_price).into()
                } else {
                    Cell::Null
                },
            );
            cells.push(o.qty.0.into());
            cells.push(o.display_qty.0.into());
            cells.push(Cell::Null);
        }
        CommandKind::Cancel(c) => {
            cells.push(c.order_id.0.into());
            cells.push(clordid);
            let instrument = replayer.order(c.order_id).map(|o| o.instrument);
            cells.push(instrument.map(|i| venue.symbol(i)).into());
            cells.push(venue.account(c.account).into());
            cells.push(Cell::Null);
            cells.push(c.session.0.into());
            cells.extend(std::iter::repeat_n(Cell::Null, 7));
            cells.push(Cell::Null);
        }
        CommandKind::Replace(r) => {
            cells.push(r.order_id.0.into());
            cells.push(clordid);
            let instrument = replayer.order(r.order_id).map(|o| o.instrument);
            cells.push(instrument.map(|i| venue.symbol(i)).into());
            cells.push(venue.account(r.account).into());
            cells.push(Cell::Null);
            cells.push(r.session.0.into());
            cells.extend(std::iter::repeat_n(Cell::Null, 3));
            match instrument {
                Some(i) => {
                    cells.push(venue.price(i, r.price).into());
                    cells.push(if r.stop_price.0 == 0 {
                        Cell::Null
                    } else {
                        venue.price(i, r.stop_price).into()
                    });
                }
                None => {
                    cells.push(Cell::Null);
                    cells.push(Cell::Null);
                }
            }
            cells.push(r.qty.0.into());
            cells.push(Cell::Null);
            cells.push(Cell::Null);
        }
        CommandKind::MassCancel(m) => {
            cells.push(Cell::Null);
            cells.push(clordid);
            cells.push(m.instrument.map(|i| venue.symbol(i)).into());
            cells.push(venue.account(m.account).into());
            cells.push(Cell::Null);
            cells.push(m.session.0.into());
            cells.push(m.side.map(|s| word(&s)).into());
            cells.extend(std::iter::repeat_n(Cell::Null, 7));
        }
        CommandKind::SetPhase { instrument, phase } => {
            cells.push(Cell::Null);
            cells.push(clordid);
            cells.push(venue.symbol(*instrument).into());
            cells.extend(std::iter::repeat_n(Cell::Null, 10));
            cells.push(word(phase).into());
        }
        other => {
            cells.push(Cell::Null);
            cells.push(clordid);
            cells.extend(std::iter::repeat_n(Cell::Null, 11));
            let detail = match other {
                CommandKind::Clock | CommandKind::EndOfDay => Cell::Null,
                _ => format!("{other:?}").into(),
            };
            cells.push(detail);
        }
    }
}

fn event_cells(cells: &mut Vec<Cell>, venue: &Venue, event: &Event) {
    cells.push(event_word(event).into());
    // order_id, instrument, side, order_type, price, qty, leaves, maker, taker, reason, detail
    let mut row: [Cell; 11] = Default::default();
    match *event {
        Event::Accepted {
            order_id,
            instrument,
            side,
            ord_type,
            price,
            qty,
            ..
        } => {
            row[0] = order_id.0.into();
            row[1] = venue.symbol(instrument).into();
            row[2] = word(&side).into();
            row[3] = word(&ord_type).into();
            row[4] = limit_price(venue, instrument, ord_type, price);
            row[5] = qty.0.into();
        }
        Event::Rejected {
            order_id,
            reason,
            kind,
        } => {
            row[0] = order_id.0.into();
            row[9] = word(&reason).into();
            row[10] = format!("of {}", word(&kind)).into();
        }
        Event::Trade(t) => {
            row[0] = t.taker_order_id.0.into();
            row[1] = venue.symbol(t.instrument).into();
            row[2] = word(&t.taker_side).into();
            row[4] = venue.price(t.instrument, t.price).into();
            row[5] = t.qty.0.into();
            row[6] = t.taker_leaves.0.into();
            row[7] = t.maker_order_id.0.into();
            row[8] = t.taker_order_id.0.into();
            row[10] = format!("maker_leaves={}", t.maker_leaves.0).into();
        }
        Event::Cancelled {
            order_id,
            instrument,
            qty,
            reason,
        } => {
            row[0] = order_id.0.into();
            row[1] = venue.symbol(instrument).into();
            row[5] = qty.0.into();
            row[6] = 0u64.into();
            row[9] = word(&reason).into();
        }
        Event::Replaced {
            order_id,
            instrument,
            price,
            leaves,
            priority_kept,
        } => {
            row[0] = order_id.0.into();
            row[1] = venue.symbol(instrument).into();
            row[4] = venue.price(instrument, price).into();
            row[6] = leaves.0.into();
            row[10] = (if priority_kept {
                "priority kept"
            } else {
                "priority lost"
            })
            .into();
        }
        Event::Triggered {
            order_id,
            instrument,
        } => {
            row[0] = order_id.0.into();
            row[1] = venue.symbol(instrument).into();
        }
        Event::Refreshed {
            order_id,
            instrument,
            visible,
        } => {
            row[0] = order_id.0.into();
            row[1] = venue.symbol(instrument).into();
            row[10] = format!("visible={}", visible.0).into();
        }
        Event::PhaseChanged { instrument, phase } => {
            row[1] = venue.symbol(instrument).into();
            row[10] = word(&phase).into();
        }
        Event::MassCancelled { account, count } => {
            row[10] = format!("account={} count={count}", venue.account(account)).into();
        }
        ref other => {
            row[10] = format!("{other:?}").into();
        }
    }
    cells.extend(row);
}
