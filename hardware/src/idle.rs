//! Idle strategies: what an agent thread does when `do_work` found nothing.
//!
//! Modelled on Agrona's `IdleStrategy` family. Work and waiting stay separate:
//! the agent reports a work count, the strategy reacts to it. Production pins to
//! isolated cores and uses [`BusySpin`]; laptops, CI and shared boxes use
//! [`Backoff`] so that an idle engine does not starve its neighbours.

use std::fmt;
use std::thread;
use std::time::Duration;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// Reacts to the work count of one duty cycle.
///
/// Called once per duty cycle on the agent's own thread, so implementations
/// need no synchronisation.
pub trait IdleStrategy {
    /// Called after each duty cycle with the amount of work it did.
    /// `work_count > 0` resets the strategy; `0` advances it.
    fn idle(&mut self, work_count: u32);
    /// Returns to the most eager state (e.g. after a burst of work).
    fn reset(&mut self);
}

/// Spins with the CPU's spin-loop hint (`pause` on x86): the lowest wake-up
/// latency, at the price of one whole core. Only for pinned, isolated cores.
#[derive(Clone, Copy, Debug, Default)]
pub struct BusySpin;

impl IdleStrategy for BusySpin {
    #[inline]
    fn idle(&mut self, work_count: u32) {
        if work_count == 0 {
            std::hint::spin_loop();
        }
    }

    #[inline]
    fn reset(&mut self) {}
}

/// Yields the CPU to the scheduler on every idle cycle: cheaper than spinning
/// on a shared core, still wakes within a scheduler tick.
#[derive(Clone, Copy, Debug, Default)]
pub struct Yielding;

impl IdleStrategy for Yielding {
    #[inline]
    fn idle(&mut self, work_count: u32) {
        if work_count == 0 {
            thread::yield_now();
        }
    }

    #[inline]
    fn reset(&mut self) {}
}

/// Parks for a fixed period on every idle cycle. For agents whose latency does
/// not matter (reporters, metrics). `thread::park_timeout` is used so that an
/// [`crate::AgentHandle`] can wake the thread early on shutdown.
#[derive(Clone, Copy, Debug)]
pub struct Sleeping {
    park_ns: u64,
}

impl Sleeping {
    /// Parks for `park_ns` per idle cycle.
    ///
    /// # Panics
    /// When `park_ns == 0` (that would be a busy spin through the scheduler).
    #[must_use]
    pub fn new(park_ns: u64) -> Self {
        assert!(park_ns > 0, "Sleeping park period must be > 0 ns");
        Self { park_ns }
    }

    /// The fixed park period.
    #[must_use]
    pub fn park_ns(&self) -> u64 {
        self.park_ns
    }
}

impl IdleStrategy for Sleeping {
    #[inline]
    fn idle(&mut self, work_count: u32) {
        if work_count == 0 {
            thread::park_timeout(Duration::from_nanos(self.park_ns));
        }
    }

    #[inline]
    fn reset(&mut self) {}
}

/// Limits of the [`Backoff`] strategy. Units last, as everywhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackoffConfig {
    /// Idle cycles spent spinning before yielding.
    #[serde(default = "BackoffConfig::default_spins_max")]
    pub spins_max: u64,
    /// Idle cycles spent yielding before parking.
    #[serde(default = "BackoffConfig::default_yields_max")]
    pub yields_max: u64,
    /// First park period; doubles on each further idle cycle.
    #[serde(default = "BackoffConfig::default_park_ns_min")]
    pub park_ns_min: u64,
    /// Upper bound of the park period (the worst-case wake-up delay).
    #[serde(default = "BackoffConfig::default_park_ns_max")]
    pub park_ns_max: u64,
}

impl BackoffConfig {
    const fn default_spins_max() -> u64 {
        10
    }
    const fn default_yields_max() -> u64 {
        5
    }
    const fn default_park_ns_min() -> u64 {
        1_000
    }
    const fn default_park_ns_max() -> u64 {
        1_000_000
    }

    /// Checks the limits.
    ///
    /// # Errors
    /// [`IdleConfigError`] when `park_ns_min` is zero or greater than `park_ns_max`.
    pub fn validate(&self) -> Result<(), IdleConfigError> {
        if self.park_ns_min == 0 {
            return Err(IdleConfigError("backoff park_ns_min must be > 0".into()));
        }
        if self.park_ns_min > self.park_ns_max {
            return Err(IdleConfigError(format!(
                "backoff park_ns_min ({}) > park_ns_max ({})",
                self.park_ns_min, self.park_ns_max
            )));
        }
        Ok(())
    }
}

impl Default for BackoffConfig {
    /// Agrona's defaults: 10 spins, 5 yields, park 1 µs growing to 1 ms.
    fn default() -> Self {
        Self {
            spins_max: Self::default_spins_max(),
            yields_max: Self::default_yields_max(),
            park_ns_min: Self::default_park_ns_min(),
            park_ns_max: Self::default_park_ns_max(),
        }
    }
}

/// The state of a [`Backoff`] strategy, explicit so tests can walk it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackoffState {
    /// Last cycle did work.
    NotIdle,
    /// Spinning with the spin-loop hint.
    Spinning,
    /// Yielding to the scheduler.
    Yielding,
    /// Parking with a growing period.
    Parking,
}

/// What one idle cycle of [`Backoff`] does; returned by [`Backoff::step`] so the
/// state machine can be tested without sleeping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdleAction {
    /// Nothing: work was done.
    None,
    /// One spin-loop hint.
    Spin,
    /// `thread::yield_now`.
    Yield,
    /// Park for this many nanoseconds.
    Park(u64),
}

/// Spin, then yield, then park with exponential growth bounded by
/// `park_ns_max`: Agrona's `BackoffIdleStrategy`.
///
/// The mutable state sits alone in a 128-byte aligned block (two cache lines,
/// covering the adjacent-line prefetcher) so a neighbouring hot field can never
/// false-share with it.
#[derive(Clone, Debug)]
#[repr(C, align(128))]
pub struct Backoff {
    state: BackoffState,
    spins: u64,
    yields: u64,
    park_ns: u64,
    config: BackoffConfig,
}

const _: () = assert!(core::mem::align_of::<Backoff>() == 128);
const _: () = assert!(core::mem::size_of::<Backoff>() == 128);

impl Backoff {
    /// Builds the strategy in the `NotIdle` state.
    ///
    /// # Panics
    /// When `config` fails [`BackoffConfig::validate`]; use
    /// [`IdleConfig`] to get an error instead.
    #[must_use]
    pub fn new(config: BackoffConfig) -> Self {
        if let Err(error) = config.validate() {
            panic!("{error}");
        }
        Self {
            state: BackoffState::NotIdle,
            spins: 0,
            yields: 0,
            park_ns: config.park_ns_min,
            config,
        }
    }

    /// Current state.
    #[must_use]
    pub fn state(&self) -> BackoffState {
        self.state
    }

    /// The park period the next park will use.
    #[must_use]
    pub fn park_ns(&self) -> u64 {
        self.park_ns
    }

    /// Advances the state machine by one cycle and returns what to do, without doing it.
    #[inline]
    pub fn step(&mut self, work_count: u32) -> IdleAction {
        if work_count > 0 {
            self.reset();
            return IdleAction::None;
        }
        match self.state {
            BackoffState::NotIdle => {
                self.state = BackoffState::Spinning;
                self.spins = 1;
                if self.config.spins_max == 0 {
                    self.enter_yielding()
                } else {
                    IdleAction::Spin
                }
            }
            BackoffState::Spinning => {
                self.spins += 1;
                if self.spins > self.config.spins_max {
                    self.enter_yielding()
                } else {
                    IdleAction::Spin
                }
            }
            BackoffState::Yielding => {
                self.yields += 1;
                if self.yields > self.config.yields_max {
                    self.enter_parking()
                } else {
                    IdleAction::Yield
                }
            }
            BackoffState::Parking => {
                self.park_ns = self.park_ns.saturating_mul(2).min(self.config.park_ns_max);
                debug_assert!(self.park_ns >= self.config.park_ns_min);
                IdleAction::Park(self.park_ns)
            }
        }
    }

    fn enter_yielding(&mut self) -> IdleAction {
        self.state = BackoffState::Yielding;
        self.yields = 1;
        if self.config.yields_max == 0 {
            self.enter_parking()
        } else {
            IdleAction::Yield
        }
    }

    fn enter_parking(&mut self) -> IdleAction {
        self.state = BackoffState::Parking;
        self.park_ns = self.config.park_ns_min;
        IdleAction::Park(self.park_ns)
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(BackoffConfig::default())
    }
}

impl IdleStrategy for Backoff {
    #[inline]
    fn idle(&mut self, work_count: u32) {
        match self.step(work_count) {
            IdleAction::None => {}
            IdleAction::Spin => std::hint::spin_loop(),
            IdleAction::Yield => thread::yield_now(),
            IdleAction::Park(ns) => thread::park_timeout(Duration::from_nanos(ns)),
        }
    }

    #[inline]
    fn reset(&mut self) {
        self.state = BackoffState::NotIdle;
        self.spins = 0;
        self.yields = 0;
        self.park_ns = self.config.park_ns_min;
    }
}

/// Enum dispatch over the strategies: no vtable call in the agent loop.
#[derive(Clone, Debug)]
pub enum AnyIdle {
    /// See [`BusySpin`].
    BusySpin(BusySpin),
    /// See [`Yielding`].
    Yield(Yielding),
    /// See [`Backoff`].
    Backoff(Backoff),
    /// See [`Sleeping`].
    Sleep(Sleeping),
}

impl IdleStrategy for AnyIdle {
    #[inline]
    fn idle(&mut self, work_count: u32) {
        match self {
            AnyIdle::BusySpin(s) => s.idle(work_count),
            AnyIdle::Yield(s) => s.idle(work_count),
            AnyIdle::Backoff(s) => s.idle(work_count),
            AnyIdle::Sleep(s) => s.idle(work_count),
        }
    }

    #[inline]
    fn reset(&mut self) {
        match self {
            AnyIdle::BusySpin(s) => s.reset(),
            AnyIdle::Yield(s) => s.reset(),
            AnyIdle::Backoff(s) => s.reset(),
            AnyIdle::Sleep(s) => s.reset(),
        }
    }
}

/// An invalid idle configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdleConfigError(String);

impl fmt::Display for IdleConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid idle strategy: {}", self.0)
    }
}

impl std::error::Error for IdleConfigError {}

/// Which idle strategy an agent uses: configuration, not code (architecture rule 6).
///
/// Deserializes from a plain string (`"busy-spin"`, `"yield"`, `"backoff"`,
/// `"sleep"`, defaults for the parameters) or from a table tagged with `kind`:
///
/// ```
/// use arbiter_hardware::IdleConfig;
/// let a: IdleConfig = serde_json::from_str(r#""busy-spin""#).unwrap();
/// assert_eq!(a, IdleConfig::BusySpin);
/// let b: IdleConfig =
///     serde_json::from_str(r#"{"kind": "backoff", "park_ns_max": 500000}"#).unwrap();
/// assert!(matches!(b, IdleConfig::Backoff(c) if c.park_ns_max == 500_000));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdleConfig {
    /// [`BusySpin`].
    BusySpin,
    /// [`Yielding`].
    Yield,
    /// [`Backoff`] with its limits.
    Backoff(BackoffConfig),
    /// [`Sleeping`] with its fixed park period.
    Sleep {
        /// Park period per idle cycle.
        park_ns: u64,
    },
}

/// Default park period of `"sleep"` given as a bare string: 1 ms.
pub const SLEEP_PARK_NS_DEFAULT: u64 = 1_000_000;

impl Default for IdleConfig {
    /// Backoff: safe on any machine; production configs opt into busy-spin.
    fn default() -> Self {
        IdleConfig::Backoff(BackoffConfig::default())
    }
}

impl IdleConfig {
    /// Checks parameters.
    ///
    /// # Errors
    /// [`IdleConfigError`] for a zero sleep period or inconsistent backoff limits.
    pub fn validate(&self) -> Result<(), IdleConfigError> {
        match self {
            IdleConfig::BusySpin | IdleConfig::Yield => Ok(()),
            IdleConfig::Backoff(config) => config.validate(),
            IdleConfig::Sleep { park_ns: 0 } => {
                Err(IdleConfigError("sleep park_ns must be > 0".into()))
            }
            IdleConfig::Sleep { .. } => Ok(()),
        }
    }

    /// Builds the enum-dispatched strategy used by the agent runner.
    ///
    /// # Errors
    /// As [`IdleConfig::validate`].
    pub fn build(&self) -> Result<AnyIdle, IdleConfigError> {
        self.validate()?;
        Ok(match *self {
            IdleConfig::BusySpin => AnyIdle::BusySpin(BusySpin),
            IdleConfig::Yield => AnyIdle::Yield(Yielding),
            IdleConfig::Backoff(config) => AnyIdle::Backoff(Backoff::new(config)),
            IdleConfig::Sleep { park_ns } => AnyIdle::Sleep(Sleeping::new(park_ns)),
        })
    }

    /// Builds a boxed strategy, for callers that store heterogeneous strategies.
    ///
    /// # Errors
    /// As [`IdleConfig::validate`].
    pub fn build_boxed(&self) -> Result<Box<dyn IdleStrategy + Send>, IdleConfigError> {
        Ok(Box::new(self.build()?))
    }

    /// The configuration's name as written in config files.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            IdleConfig::BusySpin => "busy-spin",
            IdleConfig::Yield => "yield",
            IdleConfig::Backoff(_) => "backoff",
            IdleConfig::Sleep { .. } => "sleep",
        }
    }

    /// True for strategies that never give the core away: only for isolated cores.
    #[must_use]
    pub fn spins(&self) -> bool {
        matches!(self, IdleConfig::BusySpin)
    }

    fn from_name(name: &str) -> Option<Self> {
        match name {
            "busy-spin" => Some(IdleConfig::BusySpin),
            "yield" => Some(IdleConfig::Yield),
            "backoff" => Some(IdleConfig::Backoff(BackoffConfig::default())),
            "sleep" => Some(IdleConfig::Sleep {
                park_ns: SLEEP_PARK_NS_DEFAULT,
            }),
            _ => None,
        }
    }
}

/// The table form, `{ kind = "...", ... }`.
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
enum IdleConfigTable {
    BusySpin,
    Yield,
    Backoff {
        #[serde(default = "BackoffConfig::default_spins_max")]
        spins_max: u64,
        #[serde(default = "BackoffConfig::default_yields_max")]
        yields_max: u64,
        #[serde(default = "BackoffConfig::default_park_ns_min")]
        park_ns_min: u64,
        #[serde(default = "BackoffConfig::default_park_ns_max")]
        park_ns_max: u64,
    },
    Sleep {
        #[serde(default = "default_sleep_park_ns")]
        park_ns: u64,
    },
}

const fn default_sleep_park_ns() -> u64 {
    SLEEP_PARK_NS_DEFAULT
}

const IDLE_NAMES: &[&str] = &["busy-spin", "yield", "backoff", "sleep"];

impl<'de> Deserialize<'de> for IdleConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdleVisitor;

        impl<'de> Visitor<'de> for IdleVisitor {
            type Value = IdleConfig;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    r#"one of "busy-spin", "yield", "backoff", "sleep" or a table with `kind`"#,
                )
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<IdleConfig, E> {
                IdleConfig::from_name(value).ok_or_else(|| E::unknown_variant(value, IDLE_NAMES))
            }

            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<IdleConfig, M::Error> {
                let table =
                    IdleConfigTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                let config = match table {
                    IdleConfigTable::BusySpin => IdleConfig::BusySpin,
                    IdleConfigTable::Yield => IdleConfig::Yield,
                    IdleConfigTable::Backoff {
                        spins_max,
                        yields_max,
                        park_ns_min,
                        park_ns_max,
                    } => IdleConfig::Backoff(BackoffConfig {
                        spins_max,
                        yields_max,
                        park_ns_min,
                        park_ns_max,
                    }),
                    IdleConfigTable::Sleep { park_ns } => IdleConfig::Sleep { park_ns },
                };
                config.validate().map_err(de::Error::custom)?;
                Ok(config)
            }
        }

        deserializer.deserialize_any(IdleVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(
        spins_max: u64,
        yields_max: u64,
        park_ns_min: u64,
        park_ns_max: u64,
    ) -> BackoffConfig {
        BackoffConfig {
            spins_max,
            yields_max,
            park_ns_min,
            park_ns_max,
        }
    }

    #[test]
    fn backoff_walks_spin_yield_park_in_order() {
        let mut backoff = Backoff::new(config(3, 2, 100, 1_000));
        assert_eq!(backoff.state(), BackoffState::NotIdle);
        let actions: Vec<IdleAction> = (0..6).map(|_| backoff.step(0)).collect();
        assert_eq!(
            actions,
            vec![
                IdleAction::Spin,
                IdleAction::Spin,
                IdleAction::Spin,
                IdleAction::Yield,
                IdleAction::Yield,
                IdleAction::Park(100),
            ]
        );
        assert_eq!(backoff.state(), BackoffState::Parking);
    }

    #[test]
    fn backoff_park_doubles_and_is_bounded() {
        let mut backoff = Backoff::new(config(0, 0, 100, 1_000));
        let parks: Vec<IdleAction> = (0..7).map(|_| backoff.step(0)).collect();
        assert_eq!(
            parks,
            [100, 200, 400, 800, 1_000, 1_000, 1_000]
                .map(IdleAction::Park)
                .to_vec()
        );
        for _ in 0..10_000 {
            let IdleAction::Park(ns) = backoff.step(0) else {
                panic!("left Parking")
            };
            assert!((100..=1_000).contains(&ns));
        }
    }

    #[test]
    fn backoff_park_growth_saturates_near_u64_max() {
        let mut backoff = Backoff::new(config(0, 0, u64::MAX / 2 + 1, u64::MAX));
        assert_eq!(backoff.step(0), IdleAction::Park(u64::MAX / 2 + 1));
        assert_eq!(backoff.step(0), IdleAction::Park(u64::MAX));
        assert_eq!(backoff.step(0), IdleAction::Park(u64::MAX));
    }

    #[test]
    fn backoff_work_resets_from_any_state() {
        let mut backoff = Backoff::new(config(2, 2, 10, 80));
        for steps in 1..12 {
            for _ in 0..steps {
                backoff.step(0);
            }
            assert_eq!(backoff.step(1), IdleAction::None);
            assert_eq!(backoff.state(), BackoffState::NotIdle);
            assert_eq!(backoff.park_ns(), 10);
            assert_eq!(backoff.step(0), IdleAction::Spin);
            backoff.reset();
        }
    }

    #[test]
    fn backoff_min_equal_max_parks_fixed() {
        let mut backoff = Backoff::new(config(0, 0, 50, 50));
        for _ in 0..5 {
            assert_eq!(backoff.step(0), IdleAction::Park(50));
        }
    }

    #[test]
    fn backoff_rejects_bad_limits() {
        assert!(config(1, 1, 0, 10).validate().is_err());
        assert!(config(1, 1, 20, 10).validate().is_err());
        assert!(config(1, 1, 10, 10).validate().is_ok());
    }

    #[test]
    fn backoff_idle_parks_without_hanging() {
        // Real parks, tiny bounds: proves the effectful path runs, asserts nothing about time.
        let mut backoff = Backoff::new(config(1, 1, 1, 4));
        for _ in 0..8 {
            backoff.idle(0);
        }
        assert_eq!(backoff.state(), BackoffState::Parking);
        assert_eq!(backoff.park_ns(), 4);
    }

    #[test]
    fn idle_config_from_strings() {
        for (text, kind) in [
            ("busy-spin", "busy-spin"),
            ("yield", "yield"),
            ("backoff", "backoff"),
            ("sleep", "sleep"),
        ] {
            let parsed: IdleConfig = serde_json::from_str(&format!("\"{text}\"")).unwrap();
            assert_eq!(parsed.kind(), kind);
            assert!(parsed.build().is_ok());
        }
        assert!(serde_json::from_str::<IdleConfig>("\"spin\"").is_err());
    }

    #[test]
    fn idle_config_from_toml_table() {
        #[derive(Deserialize)]
        struct Wrapper {
            idle: IdleConfig,
        }
        let text = "idle = { kind = \"backoff\", spins_max = 20, park_ns_max = 2000 }";
        let wrapper: Wrapper = toml::from_str(text).unwrap();
        assert_eq!(
            wrapper.idle,
            IdleConfig::Backoff(BackoffConfig {
                spins_max: 20,
                yields_max: 5,
                park_ns_min: 1_000,
                park_ns_max: 2_000
            })
        );
        let sleep: Wrapper = toml::from_str("idle = { kind = \"sleep\", park_ns = 5 }").unwrap();
        assert_eq!(sleep.idle, IdleConfig::Sleep { park_ns: 5 });
        let plain: Wrapper = toml::from_str("idle = \"busy-spin\"").unwrap();
        assert!(plain.idle.spins());
    }

    #[test]
    fn idle_config_rejects_bad_tables() {
        assert!(
            serde_json::from_str::<IdleConfig>(r#"{"kind":"backoff","park_ns_min":0}"#).is_err()
        );
        assert!(serde_json::from_str::<IdleConfig>(r#"{"kind":"sleep","park_ns":0}"#).is_err());
        assert!(serde_json::from_str::<IdleConfig>(r#"{"kind":"backoff","bogus":1}"#).is_err());
        assert!(serde_json::from_str::<IdleConfig>(r#"{"kind":"warp"}"#).is_err());
    }

    #[test]
    fn boxed_and_enum_strategies_accept_work_and_idle() {
        let mut boxed = IdleConfig::Yield.build_boxed().unwrap();
        boxed.idle(1);
        boxed.idle(0);
        boxed.reset();
        let mut any = IdleConfig::Sleep { park_ns: 1 }.build().unwrap();
        any.idle(0);
        any.reset();
    }
}
