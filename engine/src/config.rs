//! Capacities fixed at start-up. The engine never grows past them: it rejects with `BookFull`.

/// Sizes of the preallocated arenas.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EngineConfig {
    /// Live orders (resting and untriggered stops) across all instruments.
    pub orders_max: u32,
    /// Price levels per side per instrument (limit book and stop book each).
    pub levels_per_side_max: u32,
    /// Accounts: account ids must be below this.
    pub accounts_max: u32,
    /// Stop orders triggered by one command before the rest wait for the next command.
    pub stop_triggers_per_command_max: u32,
    /// Strategies: strategy ids must be below this (per-strategy order lists and risk rows).
    pub strategies_max: u32,
    /// Sessions: session ids must be below this (per-session order lists, rate limits,
    /// ClOrdID sets).
    pub sessions_max: u32,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            orders_max: 1 << 20,
            levels_per_side_max: 1 << 16,
            accounts_max: 1024,
            stop_triggers_per_command_max: 1024,
            strategies_max: 256,
            sessions_max: 256,
        }
    }
}
