//! `dump --access`: the access trail (logons, logouts, disconnects, refusals, admin
//! requests) one line per event, or one JSON object per line.
use std::io::Write;
use std::path::Path;

use arbiter_journal::trail::{kind_name, AccessEvent};
use arbiter_journal::{Reader, Sequence};

use crate::error::ReplayError;
use crate::time::format_iso_us;
use crate::Outcome;

/// Dumps every event of the access trail in `dir`. A record that does not decode as an
/// access event is printed as such and makes the outcome [`Outcome::Findings`].
///
/// # Errors
/// Journal and output errors.
pub fn run(dir: &Path, json: bool, out: &mut dyn Write) -> Result<Outcome, ReplayError> {
    let reader = Reader::open(dir)?;
    let mut outcome = Outcome::Clean;
    for record in reader.iter_from_seq(Sequence(0)) {
        let view = record?;
        let (sequence, timestamp) = (view.sequence().0, view.timestamp().0);
        let Some(event) = AccessEvent::decode(view.record_type(), view.payload()) else {
            writeln!(
                out,
                "{sequence} {} not an access event (type {})",
                format_iso_us(timestamp),
                view.record_type().0
            )?;
            outcome = Outcome::Findings;
            continue;
        };
        if json {
            let line = serde_json::json!({
                "seq": sequence,
                "time": format_iso_us(timestamp),
                "kind": kind_name(event.kind),
                "outcome": event.outcome.text(),
                "subject": event.subject,
                "source": event.source,
                "principal": event.principal,
                "action": event.action,
                "reason": event.reason,
            });
            writeln!(out, "{line}")?;
        } else {
            writeln!(
                out,
                "{sequence} {} {} {} subject={} source={:?} principal={:?} action={:?} reason={:?}",
                format_iso_us(timestamp),
                kind_name(event.kind),
                event.outcome.text(),
                event.subject,
                event.source,
                event.principal,
                event.action,
                event.reason
            )?;
        }
    }
    Ok(outcome)
}
