//! The network edge: who may connect and how often, before any FIX is parsed.
//!
//! - [`Cidr`] (from `arbiter-access`): allowed source ranges per session (IPv4 and IPv6).
//! - [`EdgePolicy`]: connection rate per source address and the failed-logon backoff.
//! - [`SourceTable`]: the per-source state, a fixed-size table allocated at start-up.
//! - [`EdgeEvents`]: hooks for an access trail; every decision is also logged on stderr
//!   with the prefix `arbiter: fix edge:`.

use std::net::{IpAddr, SocketAddr};

pub use arbiter_access::Cidr;

use crate::session::DisconnectReason;

/// Limits applied per source address and per CompID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EdgePolicy {
    /// New connections per source address per second; beyond it they are closed at once.
    /// 0: no limit.
    pub connections_per_source_per_second_max: u32,
    /// Failed logons (per source address, and per CompID) tolerated before a backoff;
    /// 0: never back off.
    pub logon_failures_before_backoff: u32,
    /// First backoff; each further failure doubles it.
    pub logon_backoff_base_ns: u64,
    /// Longest backoff.
    pub logon_backoff_max_ns: u64,
    /// Source addresses remembered; beyond it the least recently seen one not in backoff is
    /// forgotten. Allocated at start-up.
    pub sources_tracked_max: usize,
}

impl Default for EdgePolicy {
    fn default() -> Self {
        EdgePolicy {
            connections_per_source_per_second_max: 20,
            logon_failures_before_backoff: 5,
            logon_backoff_base_ns: 1_000_000_000,
            logon_backoff_max_ns: 300_000_000_000,
            sources_tracked_max: 4096,
        }
    }
}

impl EdgePolicy {
    /// The wait after `failures` consecutive failed logons (0 below the threshold):
    /// `base × 2^(failures − threshold)`, capped at the maximum.
    #[must_use]
    pub fn backoff_ns(&self, failures: u32) -> u64 {
        if self.logon_failures_before_backoff == 0 || failures < self.logon_failures_before_backoff
        {
            return 0;
        }
        let doublings = (failures - self.logon_failures_before_backoff).min(40);
        self.logon_backoff_base_ns
            .saturating_mul(1u64 << doublings)
            .min(self.logon_backoff_max_ns)
    }
}

/// Failed logons and backoff of one key (a source address or a CompID).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FailureState {
    /// Consecutive failed logons.
    pub failures: u32,
    /// No logon is considered before this time (ns since epoch).
    pub backoff_until_ns: u64,
}

impl FailureState {
    /// Remaining wait, if in backoff at `now_ns`.
    #[must_use]
    pub fn waiting_ns(&self, now_ns: u64) -> Option<u64> {
        (self.backoff_until_ns > now_ns).then(|| self.backoff_until_ns - now_ns)
    }

    /// Counts one failure; returns the backoff it starts (0: none yet).
    pub fn fail(&mut self, policy: &EdgePolicy, now_ns: u64) -> u64 {
        self.failures = self.failures.saturating_add(1);
        let wait_ns = policy.backoff_ns(self.failures);
        if wait_ns > 0 {
            self.backoff_until_ns = now_ns.saturating_add(wait_ns);
        }
        wait_ns
    }

    /// A successful logon clears the count.
    pub fn succeed(&mut self) {
        *self = FailureState::default();
    }
}

#[derive(Clone, Copy, Debug)]
struct SourceEntry {
    ip: IpAddr,
    last_seen_ns: u64,
    window_start_ns: u64,
    connections_in_window: u32,
    logons: FailureState,
}

/// Per-source-address state, bounded by [`EdgePolicy::sources_tracked_max`].
#[derive(Debug)]
pub struct SourceTable {
    entries: Vec<SourceEntry>,
    capacity: usize,
}

/// Why a connection is refused before any byte is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectRefusal {
    /// More than the allowed connections from this source in the last second.
    Rate {
        /// Connections counted in the window.
        connections: u32,
    },
    /// The source is waiting out a failed-logon backoff.
    Backoff {
        /// Remaining wait, ns.
        remaining_ns: u64,
        /// Consecutive failures that caused it.
        failures: u32,
    },
}

impl ConnectRefusal {
    /// As a disconnect reason.
    #[must_use]
    pub fn reason(&self) -> DisconnectReason {
        match self {
            ConnectRefusal::Rate { .. } => DisconnectReason::ConnectionRateExceeded,
            ConnectRefusal::Backoff { .. } => DisconnectReason::LogonBackoff,
        }
    }
}

const NS_PER_SECOND: u64 = 1_000_000_000;

impl SourceTable {
    /// A table for `capacity` sources (at least one), allocated now.
    #[must_use]
    pub fn with_capacity(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        SourceTable {
            entries: Vec::with_capacity(capacity),
            capacity,
        }
    }

    fn entry(&mut self, ip: IpAddr, now_ns: u64) -> &mut SourceEntry {
        if let Some(i) = self.entries.iter().position(|e| e.ip == ip) {
            return &mut self.entries[i];
        }
        let fresh = SourceEntry {
            ip,
            last_seen_ns: now_ns,
            window_start_ns: now_ns,
            connections_in_window: 0,
            logons: FailureState::default(),
        };
        if self.entries.len() < self.capacity {
            self.entries.push(fresh);
            return self.entries.last_mut().expect("just pushed");
        }
        // Full: forget the least recently seen source, preferring one not in backoff.
        let victim = self
            .entries
            .iter()
            .enumerate()
            .min_by_key(|(_, e)| (e.logons.waiting_ns(now_ns).is_some(), e.last_seen_ns))
            .map_or(0, |(i, _)| i);
        self.entries[victim] = fresh;
        &mut self.entries[victim]
    }

    /// A new connection from `ip`: counted against the rate, refused during a backoff.
    ///
    /// # Errors
    /// Why the connection must be closed.
    pub fn on_connect(
        &mut self,
        policy: &EdgePolicy,
        ip: IpAddr,
        now_ns: u64,
    ) -> Result<(), ConnectRefusal> {
        let entry = self.entry(ip, now_ns);
        entry.last_seen_ns = now_ns;
        if now_ns.saturating_sub(entry.window_start_ns) >= NS_PER_SECOND {
            entry.window_start_ns = now_ns;
            entry.connections_in_window = 0;
        }
        entry.connections_in_window = entry.connections_in_window.saturating_add(1);
        if let Some(remaining_ns) = entry.logons.waiting_ns(now_ns) {
            return Err(ConnectRefusal::Backoff {
                remaining_ns,
                failures: entry.logons.failures,
            });
        }
        let limit = policy.connections_per_source_per_second_max;
        if limit > 0 && entry.connections_in_window > limit {
            return Err(ConnectRefusal::Rate {
                connections: entry.connections_in_window,
            });
        }
        Ok(())
    }

    /// A failed logon from `ip`; returns the state after counting it.
    pub fn on_logon_failed(
        &mut self,
        policy: &EdgePolicy,
        ip: IpAddr,
        now_ns: u64,
    ) -> FailureState {
        let entry = self.entry(ip, now_ns);
        entry.last_seen_ns = now_ns;
        entry.logons.fail(policy, now_ns);
        entry.logons
    }

    /// A successful logon from `ip` clears its failures.
    pub fn on_logon_succeeded(&mut self, ip: IpAddr, now_ns: u64) {
        let entry = self.entry(ip, now_ns);
        entry.last_seen_ns = now_ns;
        entry.logons.succeed();
    }

    /// Sources currently tracked.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no source is tracked.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Outcome of a Logon attempt, for [`EdgeEvents::on_logon`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogonOutcome {
    /// The session is logged on.
    Accepted,
    /// The logon was refused and the connection closed for this reason.
    Refused(DisconnectReason),
}

/// Hooks called at every edge decision, for an access trail. Every method has a no-op
/// default; the gateway also logs each decision on stderr. Called on the gateway thread:
/// keep them short and non-blocking.
pub trait EdgeEvents: Send {
    /// A connection was closed before its Logon was considered.
    fn on_connect_refused(&mut self, _peer: SocketAddr, _reason: DisconnectReason) {}
    /// A Logon was accepted or refused. `comp_id` is the counterparty's SenderCompID as
    /// sent (empty if unreadable).
    fn on_logon(&mut self, _peer: SocketAddr, _comp_id: &str, _outcome: LogonOutcome) {}
    /// A session's password was changed by NewPassword (925). Never carries the secret.
    fn on_credential_changed(&mut self, _peer: SocketAddr, _comp_id: &str) {}
}

/// The default [`EdgeEvents`]: does nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoEdgeEvents;

impl EdgeEvents for NoEdgeEvents {}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let policy = EdgePolicy {
            logon_failures_before_backoff: 3,
            logon_backoff_base_ns: 10,
            logon_backoff_max_ns: 100,
            ..EdgePolicy::default()
        };
        let waits: Vec<u64> = (0..9).map(|f| policy.backoff_ns(f)).collect();
        assert_eq!(waits, [0, 0, 0, 10, 20, 40, 80, 100, 100]);
        assert_eq!(policy.backoff_ns(u32::MAX), 100);
        let never = EdgePolicy {
            logon_failures_before_backoff: 0,
            ..policy
        };
        assert_eq!(never.backoff_ns(1000), 0);
    }

    #[test]
    fn sources_are_rate_limited_and_backed_off() {
        let policy = EdgePolicy {
            connections_per_source_per_second_max: 2,
            logon_failures_before_backoff: 2,
            logon_backoff_base_ns: 1_000,
            logon_backoff_max_ns: 1_000_000,
            sources_tracked_max: 2,
        };
        let mut table = SourceTable::with_capacity(policy.sources_tracked_max);
        let a = ip("127.0.0.2");
        assert!(table.on_connect(&policy, a, 0).is_ok());
        assert!(table.on_connect(&policy, a, 1).is_ok());
        assert_eq!(
            table.on_connect(&policy, a, 2),
            Err(ConnectRefusal::Rate { connections: 3 })
        );
        // A new second, a new window.
        assert!(table.on_connect(&policy, a, NS_PER_SECOND + 2).is_ok());
        let t = 2 * NS_PER_SECOND;
        assert_eq!(table.on_logon_failed(&policy, a, t).backoff_until_ns, 0);
        assert_eq!(
            table.on_logon_failed(&policy, a, t).backoff_until_ns,
            t + 1_000
        );
        assert_eq!(
            table.on_connect(&policy, a, t + 10),
            Err(ConnectRefusal::Backoff {
                remaining_ns: 990,
                failures: 2
            })
        );
        assert!(table.on_connect(&policy, a, t + 1_000).is_ok());
        assert_eq!(
            table
                .on_logon_failed(&policy, a, t + 1_000)
                .backoff_until_ns,
            t + 3_000
        );
        table.on_logon_succeeded(a, t + 5_000);
        assert_eq!(table.on_logon_failed(&policy, a, t + 5_000).failures, 1);
        // Bounded: a third source evicts the least recently seen one not in backoff.
        table
            .on_connect(&policy, ip("10.0.0.1"), t + 6_000)
            .unwrap();
        table
            .on_connect(&policy, ip("10.0.0.2"), t + 7_000)
            .unwrap();
        assert_eq!(table.len(), 2);
    }
}
