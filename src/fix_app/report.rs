//! Read-only reports of the gateway's state for the admin socket: live orders and net
//! positions, limited to the accounts an operator may read (a `trader` reads its own).
//!
//! The admin thread asks through a bounded channel ([`ReportRequest`]); the gateway thread,
//! which owns the order table and the positions, answers between duty cycles. Formatting
//! happens there, off the order path (an admin request is never in a client's way for
//! longer than one bounded pass over the live orders).

use std::fmt::Write;
use std::sync::mpsc::SyncSender;

use arbiter_engine::{InstrumentId, Side};
use arbiter_fix::entitlement::Entitlement;

use super::FixApp;

/// Rows one answer holds at most; beyond, a count of the rows left out.
pub const REPORT_ROWS_MAX: usize = 1000;

/// Which report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportKind {
    /// Live orders: id, ClOrdID, account, symbol, side, price, quantity, leaves.
    Orders,
    /// Net positions per account and instrument (from trades since the journal began).
    Positions,
}

/// One admin request for a report.
#[derive(Debug)]
pub struct ReportRequest {
    /// What to report.
    pub kind: ReportKind,
    /// Accounts the caller may read; `None`: all.
    pub accounts: Option<Entitlement>,
    /// Where the answer goes (one line).
    pub reply: SyncSender<String>,
}

impl FixApp {
    /// The report, one line: `ok orders=N` or `ok positions=N`, then the rows separated by
    /// ` | `, in account and then id order.
    #[must_use]
    pub fn report(&self, kind: ReportKind, accounts: Option<&Entitlement>) -> String {
        let readable = |account: u32| accounts.is_none_or(|a| a.allows(account));
        let mut rows: Vec<(u32, u64, String)> = Vec::new();
        match kind {
            ReportKind::Orders => {
                for (order_id, record) in self.orders.iter() {
                    if !readable(record.account) {
                        continue;
                    }
                    let decimals = self.price_decimals[record.instrument.0 as usize];
                    let row = format!(
                        "order={} clordid={} account={} symbol={} side={} price={} qty={} leaves={}",
                        order_id.0,
                        String::from_utf8_lossy(record.client_id.as_bytes()),
                        self.account_names.name(record.account).unwrap_or("?"),
                        self.symbol(record.instrument),
                        if record.side == Side::Buy { "buy" } else { "sell" },
                        decimal(record.price.0, decimals),
                        record.qty.0,
                        record.leaves.0,
                    );
                    rows.push((record.account, order_id.0, row));
                }
            }
            ReportKind::Positions => {
                let count = self.instruments_count.max(1);
                for (cell, &position) in self.positions.iter().enumerate() {
                    let account = (cell / count) as u32;
                    if position == 0 || !readable(account) {
                        continue;
                    }
                    let instrument = InstrumentId((cell % count) as u32);
                    let row = format!(
                        "account={} symbol={} position={position}",
                        self.account_names.name(account).unwrap_or("?"),
                        self.symbol(instrument),
                    );
                    rows.push((account, u64::from(instrument.0), row));
                }
            }
        }
        rows.sort_unstable_by_key(|(account, id, _)| (*account, *id));
        let name = match kind {
            ReportKind::Orders => "orders",
            ReportKind::Positions => "positions",
        };
        let mut line = format!("ok {name}={}", rows.len());
        for (_, _, row) in rows.iter().take(REPORT_ROWS_MAX) {
            let _ = write!(line, " | {row}");
        }
        if rows.len() > REPORT_ROWS_MAX {
            let _ = write!(line, " | ({} more not shown)", rows.len() - REPORT_ROWS_MAX);
        }
        line
    }

    fn symbol(&self, instrument: InstrumentId) -> &str {
        self.instruments
            .get(instrument)
            .map_or("?", |i| i.symbol.as_str())
    }
}

/// `units` with `decimals` decimals, e.g. 10025 with 2 → "100.25".
fn decimal(units: i64, decimals: u32) -> String {
    if decimals == 0 {
        return units.to_string();
    }
    let scale = 10i64.pow(decimals);
    let sign = if units < 0 { "-" } else { "" };
    let units = units.unsigned_abs();
    let scale = scale.unsigned_abs();
    format!(
        "{sign}{}.{:0width$}",
        units / scale,
        units % scale,
        width = decimals as usize
    )
}

#[cfg(test)]
mod tests {
    use super::decimal;

    #[test]
    fn prices_print_with_their_decimals() {
        assert_eq!(decimal(10025, 2), "100.25");
        assert_eq!(decimal(5, 2), "0.05");
        assert_eq!(decimal(-150, 2), "-1.50");
        assert_eq!(decimal(7, 0), "7");
    }
}
