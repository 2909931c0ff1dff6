//! The filters every reading command takes: sequence and time ranges, instrument, account,
//! strategy, order and kind. A command record passes when the command or any event it
//! caused involves the instrument/account/strategy/order asked for.
use arbiter_engine::{AccountId, CommandKind, Event, InstrumentId, OrderId, StrategyId};
use clap::Args;

use crate::error::ReplayError;
use crate::names::{command_word, event_word};
use crate::replayer::Replayer;
use crate::source::Item;
use crate::time::parse_iso;
use crate::venue::Venue;

/// Filter options, as given on the command line.
#[derive(Args, Debug, Clone, Default)]
pub struct FilterArgs {
    /// Only records with sequence >= N.
    #[arg(long, value_name = "N")]
    pub from_seq: Option<u64>,
    /// Only records with sequence <= N (reading stops after it).
    #[arg(long, value_name = "N")]
    pub to_seq: Option<u64>,
    /// Only records at or after this time (ISO 8601 UTC, e.g. 2024-03-01T09:30:00.000125Z).
    #[arg(long, value_name = "TIME")]
    pub from_time: Option<String>,
    /// Only records at or before this time (ISO 8601 UTC; reading stops after it).
    #[arg(long, value_name = "TIME")]
    pub to_time: Option<String>,
    /// Only records involving this instrument.
    #[arg(long, value_name = "SYMBOL")]
    pub instrument: Option<String>,
    /// Only records involving this account (name or numeric id).
    #[arg(long, value_name = "NAME|ID")]
    pub account: Option<String>,
    /// Only records involving this strategy id.
    #[arg(long, value_name = "ID")]
    pub strategy: Option<u32>,
    /// Only records involving this engine order id.
    #[arg(long, value_name = "ID")]
    pub order: Option<u64>,
    /// Only records of this kind: a command (new_order, cancel, replace, mass_cancel, clock,
    /// end_of_day, set_phase, risk), an event it caused (accepted, rejected, trade,
    /// cancelled, replaced, triggered, refreshed, phase_changed, mass_cancelled), or digest,
    /// config.
    #[arg(long, value_name = "KIND")]
    pub kind: Option<String>,
}

/// Filters resolved against the venue (symbols and account names to ids).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Lowest sequence shown.
    pub from_seq: u64,
    /// Highest sequence read.
    pub to_seq: u64,
    /// Earliest timestamp shown (ns).
    pub from_time_ns: u64,
    /// Latest timestamp read (ns).
    pub to_time_ns: u64,
    instrument: Option<InstrumentId>,
    account: Option<AccountId>,
    strategy: Option<StrategyId>,
    order: Option<OrderId>,
    kind: Option<String>,
}

impl Filter {
    /// A filter that passes everything.
    #[must_use]
    pub fn all() -> Filter {
        Filter {
            to_seq: u64::MAX,
            to_time_ns: u64::MAX,
            ..Filter::default()
        }
    }

    /// Resolves command-line filters.
    ///
    /// # Errors
    /// [`ReplayError::Usage`] for an unknown symbol or account or a bad time.
    pub fn resolve(args: &FilterArgs, venue: &Venue) -> Result<Filter, ReplayError> {
        let time = |t: &Option<String>, default: u64| -> Result<u64, ReplayError> {
            t.as_deref()
                .map_or(Ok(default), parse_iso)
                .map_err(ReplayError::Usage)
        };
        let instrument = match &args.instrument {
            Some(symbol) => Some(venue.instrument_by_symbol(symbol).ok_or_else(|| {
                ReplayError::Usage(format!("no instrument {symbol:?} in the configuration"))
            })?),
            None => None,
        };
        let account = match &args.account {
            Some(text) => Some(venue.account_by_name_or_id(text).ok_or_else(|| {
                ReplayError::Usage(format!("no account {text:?} in the configuration"))
            })?),
            None => None,
        };
        let kind = args
            .kind
            .as_ref()
            .map(|k| k.trim().to_ascii_uppercase().replace('-', "_"));
        Ok(Filter {
            from_seq: args.from_seq.unwrap_or(0),
            to_seq: args.to_seq.unwrap_or(u64::MAX),
            from_time_ns: time(&args.from_time, 0)?,
            to_time_ns: time(&args.to_time, u64::MAX)?,
            instrument,
            account,
            strategy: args.strategy.map(StrategyId),
            order: args.order.map(OrderId),
            kind,
        })
    }

    /// Whether reading can stop: the record is past `--to-seq` or `--to-time`.
    #[must_use]
    pub fn past_end(&self, sequence: u64, timestamp_ns: u64) -> bool {
        sequence > self.to_seq || timestamp_ns > self.to_time_ns
    }

    /// Whether the record is inside the sequence and time ranges.
    #[must_use]
    pub fn in_range(&self, sequence: u64, timestamp_ns: u64) -> bool {
        sequence >= self.from_seq
            && sequence <= self.to_seq
            && timestamp_ns >= self.from_time_ns
            && timestamp_ns <= self.to_time_ns
    }

    /// Whether any filter needs order information (the replayer must track orders).
    #[must_use]
    pub fn needs_tracking(&self) -> bool {
        self.instrument.is_some() || self.account.is_some() || self.strategy.is_some()
    }

    /// Whether an instrument passes the instrument filter.
    #[must_use]
    pub fn instrument_passes(&self, instrument: InstrumentId) -> bool {
        self.instrument.is_none_or(|i| i == instrument)
    }

    /// Whether a decoded record (after the replayer applied it, if a command) passes the
    /// entity and kind filters. Ranges are checked separately ([`Filter::in_range`]).
    #[must_use]
    pub fn passes(&self, item: &Item<'_>, replayer: &Replayer) -> bool {
        let entity = self.instrument.is_some()
            || self.account.is_some()
            || self.strategy.is_some()
            || self.order.is_some();
        match item {
            Item::Command { command, .. } => {
                if let Some(kind) = &self.kind {
                    let matches = command_word(&command.kind) == kind
                        || replayer.events.iter().any(|e| event_word(e) == kind);
                    if !matches {
                        return false;
                    }
                }
                !entity || self.command_involves(&command.kind, replayer)
            }
            Item::Digest(_) => !entity && self.kind.as_deref().is_none_or(|k| k == "DIGEST"),
            Item::Config(_) => !entity && self.kind.as_deref().is_none_or(|k| k == "CONFIG"),
            Item::SessionMark(_) => !entity && self.kind.as_deref().is_none_or(|k| k == "SESSION"),
            Item::Other(_) => !entity && self.kind.is_none(),
        }
    }

    /// Whether an order passes the order, instrument, account and strategy filters.
    #[must_use]
    pub fn order_passes(&self, order_id: OrderId, replayer: &Replayer) -> bool {
        if self.order.is_some_and(|o| o != order_id) {
            return false;
        }
        if !(self.instrument.is_some() || self.account.is_some() || self.strategy.is_some()) {
            return true;
        }
        let Some(info) = replayer.order(order_id) else {
            return false;
        };
        self.instrument.is_none_or(|i| i == info.instrument)
            && self.account.is_none_or(|a| a == info.account)
            && self.strategy.is_none_or(|s| s == info.strategy)
    }

    fn command_involves(&self, kind: &CommandKind, replayer: &Replayer) -> bool {
        let named = match kind {
            CommandKind::NewOrder(o) => Some(o.order_id),
            CommandKind::Cancel(c) => Some(c.order_id),
            CommandKind::Replace(r) => Some(r.order_id),
            _ => None,
        };
        if named.is_some_and(|id| self.order_passes(id, replayer)) {
            return true;
        }
        if let CommandKind::MassCancel(m) = kind {
            if self.order.is_none()
                && self.strategy.is_none()
                && self.account.is_none_or(|a| a == m.account)
                && (self.instrument.is_none()
                    || m.instrument.is_none_or(|i| Some(i) == self.instrument))
                && (self.account.is_some() || self.instrument.is_some())
            {
                return true;
            }
        }
        if let CommandKind::SetPhase { instrument, .. } = kind {
            if self.instrument == Some(*instrument)
                && self.account.is_none()
                && self.strategy.is_none()
                && self.order.is_none()
            {
                return true;
            }
        }
        replayer.events.iter().any(|event| match *event {
            Event::Accepted { order_id, .. }
            | Event::Rejected { order_id, .. }
            | Event::Cancelled { order_id, .. }
            | Event::Replaced { order_id, .. }
            | Event::Triggered { order_id, .. }
            | Event::Refreshed { order_id, .. } => self.order_passes(order_id, replayer),
            Event::Trade(t) => {
                self.order_passes(t.maker_order_id, replayer)
                    || self.order_passes(t.taker_order_id, replayer)
            }
            _ => false,
        })
    }
}
