//! Readable lines and JSON objects for records, commands and events: symbols instead of
//! instrument ids, decimal prices, account names, words for sides, types and reasons, and
//! ISO 8601 UTC times with microseconds. Variants this module does not know (risk commands
//! and events, and any added later) are shown with their Debug text.
use std::fmt::Write as _;

use arbiter_engine::{CommandKind, Event, InstrumentId, OrdType, StpMode, TimeInForce};
use serde_json::{json, Map, Value};

use crate::names::{command_word, event_word, word};
use crate::source::Item;
use crate::time::format_iso_us;
use crate::venue::Venue;

/// Annotation bytes as text (lossy UTF-8).
#[must_use]
pub fn annotation_text(annotation: &[u8]) -> String {
    String::from_utf8_lossy(annotation).into_owned()
}

/// The record line without events: `SEQ TIME KIND details`.
pub fn text_record(
    out: &mut String,
    venue: &Venue,
    sequence: u64,
    timestamp_ns: u64,
    item: &Item<'_>,
    replaced_instrument: Option<InstrumentId>,
) {
    let _ = write!(out, "{sequence} {} ", format_iso_us(timestamp_ns));
    match item {
        Item::Command {
            command,
            annotation,
        } => text_command(out, venue, &command.kind, annotation, replaced_instrument),
        Item::Digest(Some(digest)) => {
            let _ = write!(out, "DIGEST {digest:016x}");
        }
        Item::Digest(None) => out.push_str("DIGEST (malformed: not 8 bytes)"),
        Item::Config(bytes) => {
            let _ = write!(out, "CONFIG ({} bytes)", bytes.len());
            if let Ok(parsed) = std::str::from_utf8(bytes)
                .map_err(|_| ())
                .and_then(|t| Venue::parse(t).map_err(|_| ()))
            {
                let _ = write!(
                    out,
                    " venue={} instruments={} accounts={}",
                    parsed.name(),
                    parsed.instrument_count(),
                    parsed.config.accounts.len()
                );
            }
        }
        Item::SessionMark(Some(mark)) => {
            let _ = write!(
                out,
                "SESSION session={} reset={} sequence_started={} next_target={} \
                 sender_through={}",
                mark.session,
                if mark.reset { "Y" } else { "N" },
                crate::time::format_iso_us(mark.creation_ns),
                mark.next_target,
                mark.sender_through
            );
        }
        Item::SessionMark(None) => {
            let _ = write!(out, "SESSION (unreadable mark)");
        }
        Item::Other(record_type) => {
            let _ = write!(out, "RECORD type={record_type}");
        }
    }
}

/// A command's details. `replaced_instrument` is the instrument of the order a replace
/// names (a replace carries only the order id), for decimal prices.
pub fn text_command(
    out: &mut String,
    venue: &Venue,
    kind: &CommandKind,
    annotation: &[u8],
    replaced_instrument: Option<InstrumentId>,
) {
    out.push_str(command_word(kind));
    match kind {
        CommandKind::NewOrder(o) => {
            let symbol = venue.symbol(o.instrument);
            let _ = write!(out, " {symbol} {} {}", word(&o.side), o.qty.0);
            if matches!(o.ord_type, OrdType::Limit | OrdType::StopLimit) {
                let _ = write!(out, " @ {}", venue.price(o.instrument, o.price));
            }
            let _ = write!(out, " {} {}", word(&o.ord_type), word(&o.tif));
            if matches!(o.ord_type, OrdType::Stop | OrdType::StopLimit) {
                let _ = write!(out, " stop={}", venue.price(o.instrument, o.stop_price));
            }
            let _ = write!(
                out,
                " order={} account={} strategy={} session={}",
                o.order_id.0,
                venue.account(o.account),
                o.strategy.0,
                o.session.0
            );
            if o.display_qty.0 != 0 {
                let _ = write!(out, " display={}", o.display_qty.0);
            }
            if o.post_only {
                out.push_str(" post_only");
            }
            if o.stp_mode != StpMode::Off {
                let _ = write!(
                    out,
                    " stp={} stp_group={}",
                    word(&o.stp_mode),
                    o.stp_group.0
                );
            }
            if o.tif == TimeInForce::Gtd {
                let _ = write!(out, " expire={}", format_iso_us(o.expire_time.0));
            }
        }
        CommandKind::Cancel(c) => {
            let _ = write!(
                out,
                " order={} account={} session={}",
                c.order_id.0,
                venue.account(c.account),
                c.session.0
            );
        }
        CommandKind::Replace(r) => {
            let _ = write!(
                out,
                " order={} account={} session={} qty={}",
                r.order_id.0,
                venue.account(r.account),
                r.session.0,
                r.qty.0
            );
            match replaced_instrument {
                Some(instrument) => {
                    let _ = write!(
                        out,
                        " {} price={}",
                        venue.symbol(instrument),
                        venue.price(instrument, r.price)
                    );
                    if r.stop_price.0 != 0 {
                        let _ = write!(out, " stop={}", venue.price(instrument, r.stop_price));
                    }
                }
                // An unknown order: the replace does not name its instrument.
                None => {
                    let _ = write!(out, " price_units={}", r.price.0);
                }
            }
        }
        CommandKind::MassCancel(m) => {
            let _ = write!(out, " account={}", venue.account(m.account));
            if let Some(instrument) = m.instrument {
                let _ = write!(out, " instrument={}", venue.symbol(instrument));
            }
            if let Some(side) = m.side {
                let _ = write!(out, " side={}", word(&side));
            }
            let _ = write!(out, " session={}", m.session.0);
        }
        CommandKind::SetPhase { instrument, phase } => {
            let _ = write!(out, " {} {}", venue.symbol(*instrument), word(phase));
        }
        CommandKind::Clock | CommandKind::EndOfDay => {}
        other => {
            let _ = write!(out, " {other:?}");
        }
    }
    if !annotation.is_empty() {
        let _ = write!(out, " clordid={:?}", annotation_text(annotation));
    }
}

/// An event's details.
pub fn text_event(out: &mut String, venue: &Venue, event: &Event) {
    out.push_str(event_word(event));
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
            let _ = write!(
                out,
                " order={} {} {} {}",
                order_id.0,
                venue.symbol(instrument),
                word(&side),
                qty.0
            );
            if matches!(ord_type, OrdType::Limit | OrdType::StopLimit) {
                let _ = write!(out, " @ {}", venue.price(instrument, price));
            }
            let _ = write!(out, " {}", word(&ord_type));
        }
        Event::Rejected {
            order_id,
            reason,
            kind,
        } => {
            let _ = write!(
                out,
                " order={} of={} reason={} ({})",
                order_id.0,
                word(&kind),
                word(&reason),
                reason.text()
            );
        }
        Event::Trade(t) => {
            let _ = write!(
                out,
                " {} {} @ {} maker={} taker={} taker_side={} maker_leaves={} taker_leaves={}",
                venue.symbol(t.instrument),
                t.qty.0,
                venue.price(t.instrument, t.price),
                t.maker_order_id.0,
                t.taker_order_id.0,
                word(&t.taker_side),
                t.maker_leaves.0,
                t.taker_leaves.0
            );
        }
        Event::Cancelled {
            order_id,
            instrument,
            qty,
            reason,
        } => {
            let _ = write!(
                out,
                " order={} {} qty={} reason={} ({})",
                order_id.0,
                venue.symbol(instrument),
                qty.0,
                word(&reason),
                reason.text()
            );
        }
        Event::Replaced {
            order_id,
            instrument,
            price,
            leaves,
            priority_kept,
        } => {
            let _ = write!(
                out,
                " order={} {} @ {} leaves={} priority={}",
                order_id.0,
                venue.symbol(instrument),
                venue.price(instrument, price),
                leaves.0,
                if priority_kept { "kept" } else { "lost" }
            );
        }
        Event::Triggered {
            order_id,
            instrument,
        } => {
            let _ = write!(out, " order={} {}", order_id.0, venue.symbol(instrument));
        }
        Event::Refreshed {
            order_id,
            instrument,
            visible,
        } => {
            let _ = write!(
                out,
                " order={} {} visible={}",
                order_id.0,
                venue.symbol(instrument),
                visible.0
            );
        }
        Event::PhaseChanged { instrument, phase } => {
            let _ = write!(out, " {} {}", venue.symbol(instrument), word(&phase));
        }
        Event::MassCancelled { account, count } => {
            let _ = write!(out, " account={} count={count}", venue.account(account));
        }
        ref other => {
            let _ = write!(out, " {other:?}");
        }
    }
}

/// A record as a JSON object, with `events` for a command record.
#[must_use]
pub fn json_record(
    venue: &Venue,
    sequence: u64,
    timestamp_ns: u64,
    item: &Item<'_>,
    events: &[Event],
    replaced_instrument: Option<InstrumentId>,
) -> Value {
    let mut object = Map::new();
    object.insert("seq".into(), json!(sequence));
    object.insert("time".into(), json!(format_iso_us(timestamp_ns)));
    object.insert("timestamp_ns".into(), json!(timestamp_ns));
    match item {
        Item::Command {
            command,
            annotation,
        } => {
            object.insert("record".into(), json!("COMMAND"));
            object.insert(
                "command".into(),
                json_command(venue, &command.kind, replaced_instrument),
            );
            object.insert("clordid".into(), json!(annotation_text(annotation)));
            object.insert(
                "events".into(),
                Value::Array(events.iter().map(|e| json_event(venue, e)).collect()),
            );
        }
        Item::Digest(digest) => {
            object.insert("record".into(), json!("DIGEST"));
            object.insert(
                "digest".into(),
                digest.map_or(Value::Null, |d| json!(format!("{d:016x}"))),
            );
        }
        Item::Config(bytes) => {
            object.insert("record".into(), json!("CONFIG"));
            object.insert("text".into(), json!(String::from_utf8_lossy(bytes)));
        }
        Item::SessionMark(mark) => {
            object.insert("record".into(), json!("SESSION"));
            if let Some(mark) = mark {
                object.insert("session".into(), json!(mark.session));
                object.insert("reset".into(), json!(mark.reset));
                object.insert("sequence_started_ns".into(), json!(mark.creation_ns));
                object.insert("next_target".into(), json!(mark.next_target));
                object.insert("sender_through".into(), json!(mark.sender_through));
            }
        }
        Item::Other(record_type) => {
            object.insert("record".into(), json!("OTHER"));
            object.insert("record_type".into(), json!(record_type));
        }
    }
    Value::Object(object)
}

/// A command as a JSON object (`kind` plus its fields); `replaced_instrument` as for
/// [`text_command`].
#[must_use]
pub fn json_command(
    venue: &Venue,
    kind: &CommandKind,
    replaced_instrument: Option<InstrumentId>,
) -> Value {
    let mut object = Map::new();
    object.insert("kind".into(), json!(command_word(kind)));
    match kind {
        CommandKind::NewOrder(o) => {
            let fields = json!({
                "order_id": o.order_id.0,
                "instrument": venue.symbol(o.instrument),
                "account": venue.account(o.account),
                "strategy": o.strategy.0,
                "session": o.session.0,
                "side": word(&o.side),
                "ord_type": word(&o.ord_type),
                "tif": word(&o.tif),
                "price": venue.price(o.instrument, o.price),
                "stop_price": venue.price(o.instrument, o.stop_price),
                "qty": o.qty.0,
                "display_qty": o.display_qty.0,
                "post_only": o.post_only,
                "stp_mode": word(&o.stp_mode),
                "stp_group": o.stp_group.0,
                "expire_time": if o.tif == TimeInForce::Gtd { json!(format_iso_us(o.expire_time.0)) } else { Value::Null },
            });
            merge(&mut object, fields);
        }
        CommandKind::Cancel(c) => merge(
            &mut object,
            json!({"order_id": c.order_id.0, "account": venue.account(c.account), "session": c.session.0}),
        ),
        CommandKind::Replace(r) => merge(
            &mut object,
            json!({
                "order_id": r.order_id.0,
                "account": venue.account(r.account),
                "session": r.session.0,
                "instrument": replaced_instrument.map(|i| venue.symbol(i)),
                "price": replaced_instrument.map(|i| venue.price(i, r.price)),
                "stop_price": replaced_instrument.map(|i| venue.price(i, r.stop_price)),
                "price_units": r.price.0,
                "qty": r.qty.0,
            }),
        ),
        CommandKind::MassCancel(m) => merge(
            &mut object,
            json!({
                "account": venue.account(m.account),
                "instrument": m.instrument.map(|i| venue.symbol(i)),
                "side": m.side.map(|s| word(&s)),
                "session": m.session.0,
            }),
        ),
        CommandKind::SetPhase { instrument, phase } => merge(
            &mut object,
            json!({"instrument": venue.symbol(*instrument), "phase": word(phase)}),
        ),
        CommandKind::Clock | CommandKind::EndOfDay => {}
        other => {
            object.insert("debug".into(), json!(format!("{other:?}")));
        }
    }
    Value::Object(object)
}

/// An event as a JSON object (`kind` plus its fields).
#[must_use]
pub fn json_event(venue: &Venue, event: &Event) -> Value {
    let mut object = Map::new();
    object.insert("kind".into(), json!(event_word(event)));
    let fields = match *event {
        Event::Accepted {
            order_id,
            instrument,
            side,
            ord_type,
            price,
            qty,
            ..
        } => json!({
            "order_id": order_id.0, "instrument": venue.symbol(instrument), "side": word(&side),
            "ord_type": word(&ord_type), "price": venue.price(instrument, price), "qty": qty.0,
        }),
        Event::Rejected {
            order_id,
            reason,
            kind,
        } => json!({
            "order_id": order_id.0, "of": word(&kind), "reason": word(&reason),
            "reason_text": reason.text(),
        }),
        Event::Trade(t) => json!({
            "instrument": venue.symbol(t.instrument), "price": venue.price(t.instrument, t.price),
            "qty": t.qty.0, "maker_order_id": t.maker_order_id.0,
            "taker_order_id": t.taker_order_id.0, "taker_side": word(&t.taker_side),
            "maker_leaves": t.maker_leaves.0, "taker_leaves": t.taker_leaves.0,
        }),
        Event::Cancelled {
            order_id,
            instrument,
            qty,
            reason,
        } => json!({
            "order_id": order_id.0, "instrument": venue.symbol(instrument), "qty": qty.0,
            "reason": word(&reason), "reason_text": reason.text(),
        }),
        Event::Replaced {
            order_id,
            instrument,
            price,
            leaves,
            priority_kept,
        } => json!({
            "order_id": order_id.0, "instrument": venue.symbol(instrument),
            "price": venue.price(instrument, price), "leaves": leaves.0,
            "priority_kept": priority_kept,
        }),
        Event::Triggered {
            order_id,
            instrument,
        } => json!({"order_id": order_id.0, "instrument": venue.symbol(instrument)}),
        Event::Refreshed {
            order_id,
            instrument,
            visible,
        } => json!({
            "order_id": order_id.0, "instrument": venue.symbol(instrument), "visible": visible.0,
        }),
        Event::PhaseChanged { instrument, phase } => {
            json!({"instrument": venue.symbol(instrument), "phase": word(&phase)})
        }
        Event::MassCancelled { account, count } => {
            json!({"account": venue.account(account), "count": count})
        }
        ref other => json!({"debug": format!("{other:?}")}),
    };
    merge(&mut object, fields);
    Value::Object(object)
}

fn merge(object: &mut Map<String, Value>, fields: Value) {
    if let Value::Object(fields) = fields {
        object.extend(fields);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbiter::session_ledger::SessionMark;

    #[test]
    fn a_session_mark_is_shown_with_its_numbers() {
        let venue = Venue::parse(arbiter_config::DEFAULT_CONFIG).unwrap();
        let mark = SessionMark {
            session: 1,
            reset: true,
            creation_ns: 1_700_000_000_000_000_000,
            next_target: 7,
            sender_through: 262_144,
        };
        let mut text = String::new();
        text_record(
            &mut text,
            &venue,
            12,
            0,
            &Item::SessionMark(Some(mark)),
            None,
        );
        assert!(
            text.ends_with(
                "SESSION session=1 reset=Y sequence_started=2023-11-14T22:13:20.000000Z \
                 next_target=7 sender_through=262144"
            ),
            "{text}"
        );
        let json = json_record(&venue, 12, 0, &Item::SessionMark(Some(mark)), &[], None);
        assert_eq!(json["record"], "SESSION");
        assert_eq!(json["sender_through"], 262_144);
    }
}
