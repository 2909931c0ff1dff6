//! Counters and gauges of the running venue, as padded atomics in a registry built once at
//! start-up. Updating one is a single relaxed atomic operation on its own cache line.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// A monotonically increasing count on its own cache line (no false sharing between the
/// gateway's and the sequencer's counters).
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    #[inline]
    pub fn increment(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `n`.
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The current value.
    #[must_use]
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down, on its own cache line.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct Gauge(AtomicI64);

impl Gauge {
    /// Sets the value.
    #[inline]
    pub fn set(&self, value: i64) {
        self.0.store(value, Ordering::Relaxed);
    }

    /// Adds `delta` (may be negative).
    #[inline]
    pub fn add(&self, delta: i64) {
        self.0.fetch_add(delta, Ordering::Relaxed);
    }

    /// The current value.
    #[must_use]
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

const _: () = assert!(core::mem::size_of::<Counter>() == 64);
const _: () = assert!(core::mem::size_of::<Gauge>() == 64);

/// Index of a ring named in [`MetricsLayout::rings`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RingIndex(pub usize);
/// Index of an agent named in [`MetricsLayout::agents`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AgentIndex(pub usize);
/// Index of a FIX session named in [`MetricsLayout::sessions`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SessionIndex(pub usize);

/// Names of the things counted per instance, fixed at start-up.
#[derive(Clone, Debug, Default)]
pub struct MetricsLayout {
    /// Rings whose occupancy is published (e.g. `gateway_to_sequencer`).
    pub rings: Vec<String>,
    /// Agents whose duty cycle is published (e.g. `gateway`, `sequencer`, `flusher`).
    pub agents: Vec<String>,
    /// FIX sessions whose state is published (e.g. `ARBITER-CLIENT1`).
    pub sessions: Vec<String>,
}

/// Work and idle cycles of one agent: duty cycle = work / (work + idle).
#[derive(Debug, Default)]
pub struct AgentDuty {
    /// `do_work` calls that returned a non-zero work count.
    pub work_cycles: Counter,
    /// `do_work` calls that found nothing to do (the idle strategy ran).
    pub idle_cycles: Counter,
}

impl AgentDuty {
    /// Counts one agent cycle from its work count (the `Agent`/`IdleStrategy` contract).
    #[inline]
    pub fn cycle(&self, work_count: u32) {
        if work_count == 0 {
            self.idle_cycles.increment();
        } else {
            self.work_cycles.increment();
        }
    }

    /// Fraction of cycles that did work, in `[0, 1]`; 0 before the first cycle.
    #[must_use]
    pub fn duty_cycle(&self) -> f64 {
        let work = self.work_cycles.get();
        let idle = self.idle_cycles.get();
        if work + idle == 0 {
            0.0
        } else {
            work as f64 / (work + idle) as f64
        }
    }
}

/// Number of reject reason codes (reason codes are `u8`).
pub const REJECT_REASONS: usize = 256;

/// Every counter and gauge of the venue. Built once; the hot path only touches atomics.
#[derive(Debug)]
pub struct Metrics {
    /// New orders accepted by the gateway for sequencing.
    pub orders: Counter,
    /// Fills (trades) emitted.
    pub fills: Counter,
    /// Cancels emitted (requested, IOC remainder, kill switch, disconnect).
    pub cancels: Counter,
    /// Replaces applied.
    pub replaces: Counter,
    rejects: Box<[Counter]>,
    rings: Box<[Gauge]>,
    agents: Box<[AgentDuty]>,
    sessions: Box<[Gauge]>,
    /// Records appended but not yet durable.
    pub durable_lag_records: Gauge,
    /// Age in ns of the oldest record not yet durable.
    pub durable_lag_ns: Gauge,
    /// Kill switch: 0 off, 1 engaged (firm, account or venue: the daemon's choice of code).
    pub kill_switch: Gauge,
    /// Journal records written locally but not yet acknowledged by JetStream.
    pub replication_lag_records: Gauge,
    /// Age in µs of the oldest record read for replication and not yet acknowledged.
    pub replication_lag_us: Gauge,
    /// Batch publish-to-acknowledgement latency, p50 and p99 in µs.
    pub replication_publish_p50_us: Gauge,
    /// See `replication_publish_p50_us`.
    pub replication_publish_p99_us: Gauge,
    /// Replication state: 0 not clustered, 1 replicating, 2 lost (NATS unreachable), 3 fenced.
    pub replication_state: Gauge,
    layout: MetricsLayout,
}

impl Metrics {
    /// A registry with zeroed metrics for `layout`.
    #[must_use]
    pub fn new(layout: MetricsLayout) -> Self {
        Metrics {
            orders: Counter::default(),
            fills: Counter::default(),
            cancels: Counter::default(),
            replaces: Counter::default(),
            rejects: (0..REJECT_REASONS).map(|_| Counter::default()).collect(),
            rings: layout.rings.iter().map(|_| Gauge::default()).collect(),
            agents: layout.agents.iter().map(|_| AgentDuty::default()).collect(),
            sessions: layout.sessions.iter().map(|_| Gauge::default()).collect(),
            durable_lag_records: Gauge::default(),
            durable_lag_ns: Gauge::default(),
            kill_switch: Gauge::default(),
            replication_lag_records: Gauge::default(),
            replication_lag_us: Gauge::default(),
            replication_publish_p50_us: Gauge::default(),
            replication_publish_p99_us: Gauge::default(),
            replication_state: Gauge::default(),
            layout,
        }
    }

    /// The layout the registry was built for.
    #[must_use]
    pub fn layout(&self) -> &MetricsLayout {
        &self.layout
    }

    /// Rejects counter of `reason` (the engine's `RejectReason` code).
    #[inline]
    #[must_use]
    pub fn rejects(&self, reason: u8) -> &Counter {
        &self.rejects[usize::from(reason)]
    }

    /// Occupancy gauge of a ring.
    ///
    /// # Panics
    /// If `ring` is not in the layout: a wiring bug.
    #[inline]
    #[must_use]
    pub fn ring_occupancy(&self, ring: RingIndex) -> &Gauge {
        &self.rings[ring.0]
    }

    /// Duty cycle counters of an agent.
    ///
    /// # Panics
    /// If `agent` is not in the layout.
    #[inline]
    #[must_use]
    pub fn agent(&self, agent: AgentIndex) -> &AgentDuty {
        &self.agents[agent.0]
    }

    /// State gauge of a session (the daemon's state code, e.g. 0 disconnected, 1 logon
    /// pending, 2 active, 3 logout pending).
    ///
    /// # Panics
    /// If `session` is not in the layout.
    #[inline]
    #[must_use]
    pub fn session_state(&self, session: SessionIndex) -> &Gauge {
        &self.sessions[session.0]
    }

    /// Index of the ring called `name`.
    #[must_use]
    pub fn ring_index(&self, name: &str) -> Option<RingIndex> {
        self.layout
            .rings
            .iter()
            .position(|r| r == name)
            .map(RingIndex)
    }

    /// Index of the agent called `name`.
    #[must_use]
    pub fn agent_index(&self, name: &str) -> Option<AgentIndex> {
        self.layout
            .agents
            .iter()
            .position(|r| r == name)
            .map(AgentIndex)
    }

    /// Index of the session called `name`.
    #[must_use]
    pub fn session_index(&self, name: &str) -> Option<SessionIndex> {
        self.layout
            .sessions
            .iter()
            .position(|r| r == name)
            .map(SessionIndex)
    }

    /// Non-zero reject counters as `(reason, count)`.
    #[must_use]
    pub fn reject_counts(&self) -> Vec<(u8, u64)> {
        (0..=u8::MAX)
            .map(|r| (r, self.rejects(r).get()))
            .filter(|(_, c)| *c > 0)
            .collect()
    }

    /// `(name, gauge)` of every ring.
    pub fn rings(&self) -> impl Iterator<Item = (&str, &Gauge)> {
        self.layout
            .rings
            .iter()
            .map(String::as_str)
            .zip(&*self.rings)
    }

    /// `(name, duty)` of every agent.
    pub fn agents(&self) -> impl Iterator<Item = (&str, &AgentDuty)> {
        self.layout
            .agents
            .iter()
            .map(String::as_str)
            .zip(&*self.agents)
    }

    /// `(name, gauge)` of every session.
    pub fn sessions(&self) -> impl Iterator<Item = (&str, &Gauge)> {
        self.layout
            .sessions
            .iter()
            .map(String::as_str)
            .zip(&*self.sessions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_counts() {
        let m = Metrics::new(MetricsLayout {
            rings: vec!["in".into()],
            agents: vec!["gateway".into()],
            sessions: vec!["S1".into()],
        });
        m.orders.increment();
        m.rejects(3).add(2);
        m.ring_occupancy(m.ring_index("in").unwrap()).set(17);
        let agent = m.agent(m.agent_index("gateway").unwrap());
        agent.cycle(1);
        agent.cycle(0);
        agent.cycle(0);
        agent.cycle(4);
        assert_eq!(m.orders.get(), 1);
        assert_eq!(m.reject_counts(), vec![(3, 2)]);
        assert_eq!(m.rings().next().unwrap().1.get(), 17);
        assert!((agent.duty_cycle() - 0.5).abs() < 1e-9);
        assert_eq!(m.session_index("nope"), None);
    }
}
